/**
 * Failover measurement on a NATS cluster, shared by the cluster fault cases
 * and `bench/failover_bench.ts`: a steady acked load, who leads which
 * JetStream group, when the advisories said a group had a new leader, and
 * the longest gap between results after a moment.
 */

import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { connectNats, mintToken, type NatsTransport } from "../../src/internal_mod.ts";
import { SECRET } from "../_cluster.ts";
import type { TestCluster } from "../_nats_server.ts";

/** The JetStream groups results depend on: intake, results, the scheduler's consumer, the lease. */
export const DATA_PATH = ["TASKS", "RESULTS", "TASKS/scheduler", "KV_sched_lease"] as const;

/** Acked submissions of `echo` tasks at `rate` a second, open loop; a refused one is sent again (same id). */
export class PacedLoad {
  readonly accepted = new Set<string>();
  /** When each result arrived (any id), and how often each id arrived. */
  readonly arrivals: number[] = [];
  readonly seen = new Map<string, number>();
  /** The `Nats-Sequence` header of each copy heard, by id ("" for a copy without one). */
  readonly copies = new Map<string, string[]>();
  #t: NatsTransport;
  #timer: ReturnType<typeof setInterval>;
  #inflight = new Set<Promise<void>>();
  #stopping = false;

  private constructor(t: NatsTransport, token: string, rate: number, prefix: string) {
    this.#t = t;
    const enc = new TextEncoder();
    const headers = { Authorization: `Bearer ${token}` };
    t.subscribe("tasks.result.>", (m) => {
      this.arrivals.push(Date.now());
      const id = m.subject.slice("tasks.result.".length);
      this.seen.set(id, (this.seen.get(id) ?? 0) + 1);
      const copies = this.copies.get(id) ?? [];
      copies.push(m.header("Nats-Sequence") ?? "");
      this.copies.set(id, copies);
    });
    const send = async (id: string) => {
      for (let attempt = 0; attempt < 40 && !this.#stopping; attempt++) {
        const ack = await t.publishDurable(
          "tasks.submit.echo",
          enc.encode(JSON.stringify({ id, payload: { id } })),
          { headers, msgId: id, timeoutMs: 2_000 },
        );
        if (ack.ok) {
          this.accepted.add(id);
          return;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    const start = Date.now();
    let n = 0;
    this.#timer = setInterval(() => {
      const due = Math.floor((Date.now() - start) * rate / 1_000);
      while (n < due) {
        const p = send(`${prefix}-${n++}`);
        this.#inflight.add(p);
        p.finally(() => this.#inflight.delete(p));
      }
    }, 5);
  }

  /** Submit through (and hear results from) the server at `url`. */
  static async start(url: string | string[], rate = 200, prefix = "fo"): Promise<PacedLoad> {
    const t = await connectNats({ servers: url, name: "paced-load" });
    const token = await mintToken(SECRET, { sub: "client", roles: ["admin"] });
    const load = new PacedLoad(t, token, rate, prefix);
    await t.flush();
    return load;
  }

  /** Stop submitting; wait for the submissions in flight to be acked or given up. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await Promise.all(this.#inflight);
    this.#stopping = true;
  }

  /** Accepted ids without a result heard yet. */
  missing(): string[] {
    return [...this.accepted].filter((id) => !this.seen.has(id));
  }

  /** Wait until every accepted id has a result (or `timeoutMs` passed); the ids still missing. */
  async settle(timeoutMs: number): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.missing().length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    return this.missing();
  }

  /** Ids heard more than once. */
  duplicates(): string[] {
    return [...this.seen].filter(([, n]) => n > 1).map(([id]) => id);
  }

  /**
   * Ids heard more than once other than as the stream's republish of one
   * stored message: copies with different `Nats-Sequence` headers, or one
   * without (the scheduler's own republish carries none).
   */
  distinctCopies(): string[] {
    return this.duplicates().filter((id) => {
      const seqs = new Set(this.copies.get(id));
      return seqs.size > 1 || seqs.has("");
    });
  }

  /** Of `ids`, those with no result stored in RESULTS (a subscriber can miss a republished one). */
  async unstored(ids: string[]): Promise<string[]> {
    const out: string[] = [];
    for (const id of ids) {
      const m = await this.#t.lastMessage("RESULTS", `tasks.outcome.${id}`).catch(() => null);
      if (!m) out.push(id);
    }
    return out;
  }

  /**
   * The longest time without a result from `from` to `to` (gaps between
   * consecutive arrivals, the first counted from `from`), and where it was.
   */
  longestGap(from: number, to: number): { ms: number; startMs: number; endMs: number } {
    let best = { ms: 0, startMs: 0, endMs: 0 };
    let prev = from;
    for (const t of [...this.arrivals.filter((a) => a >= from && a <= to), to]) {
      if (t - prev > best.ms) best = { ms: t - prev, startMs: prev - from, endMs: t - from };
      prev = t;
    }
    return best;
  }

  async close(): Promise<void> {
    await this.stop();
    await this.#t.close();
  }
}

/** Server index (0-based) leading each of {@link DATA_PATH}, from the JetStream API; -1 if unknown. */
export async function dataPathLeaders(cluster: TestCluster): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const nc: NatsConnection = await connect({ servers: cluster.urls, name: "leaders" });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 3_000 });
    const index = (name?: string) => (name ? Number(name.replace(/^n/, "")) : -1);
    for (const group of DATA_PATH) {
      const [stream, consumer] = group.split("/");
      try {
        const info = consumer
          ? await jsm.consumers.info(stream, consumer)
          : await jsm.streams.info(stream);
        out[group] = index(info.cluster?.leader);
      } catch {
        out[group] = -1;
      }
    }
  } finally {
    await nc.close();
  }
  return out;
}

/** Wait until every data-path group has a leader (the consumer exists once a scheduler leads). */
export async function settledLeaders(
  cluster: TestCluster,
  timeoutMs = 20_000,
): Promise<Record<string, number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const l = await dataPathLeaders(cluster);
    if (Object.values(l).every((i) => i >= 0)) return l;
    if (Date.now() > deadline) throw new Error(`groups without a leader: ${JSON.stringify(l)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** `$JS.EVENT.ADVISORY.*.LEADER_ELECTED.*` as they arrive: group (`STREAM` or `STREAM/CONSUMER`) and time. */
export class Elections {
  readonly seen: { at: number; group: string }[] = [];
  #nc: NatsConnection;

  private constructor(nc: NatsConnection) {
    this.#nc = nc;
    const dec = new TextDecoder();
    nc.subscribe("$JS.EVENT.ADVISORY.*.LEADER_ELECTED.>", {
      callback: (_err, m) => {
        try {
          const b = JSON.parse(dec.decode(m.data)) as { stream?: string; consumer?: string };
          const group = m.subject.includes(".CONSUMER.") ? `${b.stream}/${b.consumer}` : b.stream;
          if (group) this.seen.push({ at: Date.now(), group });
        } catch {
          // not JSON
        }
      },
    });
  }

  static async start(url: string): Promise<Elections> {
    const nc = await connect({ servers: url, name: "elections" });
    await nc.flush();
    return new Elections(nc);
  }

  /** ms after `since` at which each group first had a new leader. */
  after(since: number): Record<string, number> {
    const out: Record<string, number> = {};
    for (const e of this.seen) if (e.at >= since && !(e.group in out)) out[e.group] = e.at - since;
    return out;
  }

  async close(): Promise<void> {
    await this.#nc.close();
  }
}
