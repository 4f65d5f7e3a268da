/**
 * Fault-suite plumbing: a load that submits tasks with acked publishes (so a
 * task counts as accepted only once JetStream stored it), a tally of results
 * per id, and the exactly-once check: every accepted task has one stored
 * result and no subscriber saw two.
 */

import assert from "node:assert/strict";
import { connectNats, type NatsTransport, type TaskResult } from "../../src/internal_mod.ts";
import { Client, type NodeProcess, startNodeProcess } from "../_cluster.ts";

/** Run the full fault suite, or only the fast cases? */
export const FULL = Deno.env.get("TASK_SCHEDULER_FAULTS") === "full";

/** Timings that keep fault cases short: heartbeats 200 ms, node lost after 1 s. */
export const FAST_ENV: Record<string, string> = {
  TASK_SCHEDULER_HEARTBEAT_MS: "200",
  TASK_SCHEDULER_NODE_LOST_MS: "1000",
  TASK_SCHEDULER_SHUTDOWN_GRACE_MS: "3000",
  TASK_SCHEDULER_LOG_LEVEL: "info",
};

/** Start a node process and wait until it says it started. */
export async function node(
  url: string | string[],
  args: string[],
  env: Record<string, string> = {},
): Promise<NodeProcess> {
  const p = startNodeProcess(args, {
    ...FAST_ENV,
    TASK_SCHEDULER_MESSAGE_BROKER: Array.isArray(url) ? url.join(",") : url,
    ...env,
  });
  await p.waitFor("node started");
  return p;
}

/** Kill and wait. */
export async function kill(
  p: NodeProcess,
  signal: Deno.Signal = "SIGKILL",
): Promise<Deno.CommandStatus> {
  p.kill(signal);
  return await p.exited;
}

/** Submissions and their results. */
export class Load implements AsyncDisposable {
  readonly accepted: string[] = [];
  /** Each refused submission, in order, with why: the failed ack's code and message. */
  readonly refusedWhy = new Map<string, string>();
  /** When JetStream's ack of each accepted submission arrived: it was stored no later. */
  readonly ackedAt = new Map<string, number>();

  /** The refused submissions' ids, in order. */
  get refused(): string[] {
    return [...this.refusedWhy.keys()];
  }
  #pub: NatsTransport;

  private constructor(readonly client: Client, pub: NatsTransport) {
    this.#pub = pub;
  }

  static async start(url: string | string[]): Promise<Load> {
    const client = await Client.connect(url);
    const pub = await connectNats({ servers: url, name: "load" });
    return new Load(client, pub);
  }

  /**
   * Submit `n` tasks (acked publishes, `inFlight` at a time). A publish that
   * JetStream did not acknowledge is not accepted: the client would retry it.
   */
  async submit(
    prefix: string,
    n: number,
    body: (i: number) => Record<string, unknown>,
    type = "sleep",
    inFlight = 200,
  ): Promise<void> {
    const auth = { Authorization: `Bearer ${this.client.token}` };
    const enc = new TextEncoder();
    let next = 0;
    const lane = async () => {
      while (next < n) {
        const i = next++;
        const id = `${prefix}-${i}`;
        const ack = await this.#pub.publishDurable(
          `tasks.submit.${type}`,
          enc.encode(JSON.stringify({ id, ...body(i) })),
          {
            headers: auth,
            msgId: id,
            timeoutMs: 3_000,
          },
        );
        if (ack.ok) {
          this.accepted.push(id);
          this.ackedAt.set(id, Date.now());
        } else {
          this.refusedWhy.set(id, `${ack.code}: ${ack.message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(inFlight, n) }, lane));
  }

  /** Results seen so far for accepted tasks. */
  get done(): number {
    return this.accepted.filter((id) => this.client.results.has(id)).length;
  }

  /** Resolves when `count` accepted tasks have results. */
  async until(count: number, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.done < count) {
      if (Date.now() > deadline) {
        throw new Error(`only ${this.done} of ${count} results within ${timeoutMs} ms`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * Wait until every accepted task has a stored result, then check exactly
   * once: one stored result each, no id seen twice by the subscriber.
   * Results a subscriber missed while it was disconnected are read from the
   * stream.
   */
  async verify(
    timeoutMs = 90_000,
  ): Promise<{ states: Record<string, number>; results: Map<string, TaskResult> }> {
    const deadline = Date.now() + timeoutMs;
    const results = new Map<string, TaskResult>();
    const dec = new TextDecoder();
    for (;;) {
      for (const id of this.accepted) {
        if (results.has(id)) continue;
        const seen = this.client.results.get(id);
        if (seen) {
          results.set(id, seen);
          continue;
        }
        if (Date.now() > deadline - timeoutMs / 2) {
          const stored = await this.#pub.lastMessage("RESULTS", `tasks.outcome.${id}`).catch(() =>
            null
          );
          if (stored) results.set(id, JSON.parse(dec.decode(stored.data)));
        }
      }
      if (results.size === this.accepted.length) break;
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const lost = this.accepted.filter((id) => !results.has(id));
    const counts = new Map<string, number>();
    for (const r of this.client.received) counts.set(r.id, (counts.get(r.id) ?? 0) + 1);
    const duplicates = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
    assert.deepEqual(lost, [], `${lost.length} accepted tasks have no result`);
    assert.deepEqual(duplicates, [], `${duplicates.length} tasks got more than one result`);
    const states: Record<string, number> = {};
    for (const r of results.values()) states[r.state] = (states[r.state] ?? 0) + 1;
    return { states, results };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#pub.close();
    await this.client[Symbol.asyncDispose]();
  }
}

/** Watch `monitor.>` and record when things happen. */
export class Watch implements AsyncDisposable {
  readonly events: { at: number; subject: string; body: Record<string, unknown> }[] = [];
  #t: NatsTransport;

  private constructor(t: NatsTransport) {
    this.#t = t;
  }

  static async start(url: string | string[], subject = "monitor.>"): Promise<Watch> {
    const t = await connectNats({ servers: url, name: "watch" });
    const w = new Watch(t);
    const dec = new TextDecoder();
    t.subscribe(subject, (m) => {
      try {
        const body = JSON.parse(dec.decode(m.data));
        // A task message may carry several transitions (coalesced): one event each, in order.
        const steps: Record<string, unknown>[] = Array.isArray(body?.steps)
          ? body.steps.map((s: Record<string, unknown>) => ({ id: body.id, ...s }))
          : [body];
        for (const b of steps) w.events.push({ at: Date.now(), subject: m.subject, body: b });
      } catch {
        // not JSON
      }
    });
    await t.flush();
    return w;
  }

  /** The first event after `since` that matches, waiting for it. */
  async next(
    pred: (e: Watch["events"][number]) => boolean,
    since = 0,
    timeoutMs = 30_000,
  ): Promise<Watch["events"][number]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const e = this.events.find((x) => x.at >= since && pred(x));
      if (e) return e;
      if (Date.now() > deadline) throw new Error("event never came");
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** The scheduler id that leads now (last `role: leader` delta). */
  leader(): { id: string; node: string; epoch: number } | undefined {
    const e = this.events.filter((x) =>
      x.subject.startsWith("monitor.scheduler.") && x.body.role === "leader"
    ).at(-1);
    return e
      ? {
        id: String(e.body.id),
        node: String(e.body.id).replace(/-[0-9a-f]{8}$/, ""),
        epoch: Number(e.body.epoch),
      }
      : undefined;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#t.close();
  }
}

/** Print a recovery figure so it lands in the test output. */
export function report(name: string, fields: Record<string, unknown>): void {
  console.log(`[fault] ${name}: ${Object.entries(fields).map(([k, v]) => `${k}=${v}`).join(" ")}`);
}

/** Arguments of a worker-only node process. */
export function worker(id: string, workers: number, concurrency: number): string[] {
  return [
    "--role",
    "worker",
    "--node-id",
    id,
    "--workers",
    String(workers),
    "--concurrency",
    String(concurrency),
  ];
}

/**
 * Tasks put back in the queue between `from` and `to` whose delta before that
 * named a worker of the lost node: what node-lost requeued.
 */
export function requeuedFrom(
  watch: Watch,
  workerPrefix: string,
  from: number,
  to: number,
): string[] {
  const last = new Map<string, Record<string, unknown>>();
  const out: string[] = [];
  for (const e of watch.events) {
    if (!e.subject.startsWith("monitor.task.") || e.at > to) continue;
    const id = String(e.body.id);
    const prev = last.get(id);
    if (
      e.at >= from && e.body.state === "queued" && prev &&
      String(prev.worker).startsWith(workerPrefix)
    ) {
      out.push(id);
    }
    last.set(id, e.body);
  }
  return out;
}

/** Milliseconds since the epoch of the first log line after `since` that contains `text`, or undefined. */
export function loggedAt(log: string[], text: string, since = 0): number | undefined {
  for (const l of log) {
    if (!l.includes(text)) continue;
    const at = Date.parse(l.match(/^\[([^\]]+)\]/)?.[1] ?? "");
    if (at >= since) return at;
  }
  return undefined;
}
