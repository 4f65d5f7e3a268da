/**
 * The soak's steady load: groups from {@link TaskMix} offered at a fixed
 * rate (open loop, paced every 50 ms), each task sent as an acked publish on
 * `tasks.submit.<type>` with `Nats-Msg-Id` = its id, as a careful client
 * would. A task counts as acknowledged once JetStream's PubAck says it is
 * stored; a publish without one is sent again (same id, so the stream or the
 * scheduler drops a repeat) until it is acknowledged or 60 s have passed,
 * after which it is "unconfirmed": it may or may not exist, and a result for
 * it is allowed but not required.
 *
 * `cancel` tasks are cancelled with `tasks.cancel` at their first progress
 * event (`tasks.progress.<id>`), so the request meets a running task; a
 * cancel that finds no leader is asked again a few times.
 *
 * @module
 */

import { connectNats, type NatsTransport, type Subscription } from "../../src/internal_mod.ts";
import type { Group, TaskPlan } from "./mix.ts";
import { TaskMix } from "./mix.ts";

/** A task the load sent, and what became of the sending. */
export interface Submission extends TaskPlan {
  /** First publish (epoch ms). */
  publishedAt: number;
  /** PubAck received (epoch ms); absent: never acknowledged. */
  ackedAt?: number;
  publishes: number;
  /** Why it was given up, when it never was acknowledged. */
  gaveUp?: string;
  /** For `cancel` tasks: the request and its answer. */
  cancel?: { sentAt: number; answer: string };
}

/** Counters of the load. */
export interface LoadStats {
  groups: number;
  /** Publishes sent again after a missing or failed PubAck. */
  republishes: number;
  /** PubAcks that said `duplicate` (a repeat the stream dropped). */
  duplicateAcks: number;
  /** Tasks of groups dropped because a task before them was never acknowledged. */
  notSent: number;
  /** Tasks the pacer did not offer because too many publishes were waiting. */
  shed: number;
  cancelRequests: number;
}

const PUBLISH_TIMEOUT_MS = 3_000;
/** Keep re-sending for this long: well inside the stream's 2-minute de-duplication window. */
const GIVE_UP_MS = 60_000;
const TICK_MS = 50;

/** Offers the mix at `rate` tasks a second until stopped. */
export class SoakLoad implements AsyncDisposable {
  readonly submissions = new Map<string, Submission>();
  readonly stats: LoadStats = {
    groups: 0,
    republishes: 0,
    duplicateAcks: 0,
    notSent: 0,
    shed: 0,
    cancelRequests: 0,
  };
  readonly #enc = new TextEncoder();
  readonly #auth: Record<string, string>;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #watching = new Set<Subscription>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #stopping = false;

  private constructor(
    private readonly t: NatsTransport,
    private readonly mix: TaskMix,
    private readonly rate: number,
    token: string,
  ) {
    this.#auth = { Authorization: `Bearer ${token}` };
  }

  /** Connect (directly to the server, not through a proxy). */
  static async connect(
    url: string,
    token: string,
    rate: number,
    rng: () => number,
  ): Promise<SoakLoad> {
    const t = await connectNats({ servers: url, name: "soak-load" });
    return new SoakLoad(t, new TaskMix(rng), rate, token);
  }

  /** Tasks acknowledged so far. */
  get acknowledged(): number {
    let n = 0;
    for (const s of this.submissions.values()) if (s.ackedAt !== undefined) n++;
    return n;
  }

  /** Start offering tasks. */
  start(): void {
    const started = Date.now();
    let offered = 0;
    const maxInFlight = Math.max(1_000, this.rate * 20);
    this.#timer = setInterval(() => {
      const due = Math.floor((this.rate * (Date.now() - started)) / 1000);
      // After a stall, catch up at most one second's worth: the rest is not offered.
      if (due - offered > this.rate) {
        this.stats.shed += due - offered - this.rate;
        offered = due - this.rate;
      }
      while (offered < due) {
        if (this.#inFlight.size >= maxInFlight) {
          this.stats.shed += due - offered;
          offered = due;
          break;
        }
        const group = this.mix.next();
        offered += group.length;
        this.stats.groups++;
        const p = this.#sendGroup(group).finally(() => this.#inFlight.delete(p));
        this.#inFlight.add(p);
      }
    }, TICK_MS);
  }

  /** Offer nothing more; resolves when every publish was acknowledged or given up. */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    for (const s of this.#watching) s.unsubscribe();
    await this.t.close();
  }

  async #sendGroup(group: Group): Promise<void> {
    for (const [i, plan] of group.entries()) {
      if (!await this.#send(plan)) {
        this.stats.notSent += group.length - i - 1;
        return;
      }
    }
  }

  /** Publish until acknowledged or given up; true when acknowledged. */
  async #send(plan: TaskPlan): Promise<boolean> {
    const s: Submission = { ...plan, publishedAt: Date.now(), publishes: 0 };
    this.submissions.set(s.id, s);
    if (s.kind === "cancel") this.#cancelAtFirstProgress(s);
    const data = this.#enc.encode(JSON.stringify(s.body));
    for (;;) {
      s.publishes++;
      if (s.publishes > 1) this.stats.republishes++;
      const ack = await this.t.publishDurable(`tasks.submit.${s.type}`, data, {
        headers: this.#auth,
        msgId: s.id,
        timeoutMs: PUBLISH_TIMEOUT_MS,
      }).catch((err) => ({ ok: false as const, code: "ERROR", message: String(err) }));
      if (ack.ok) {
        s.ackedAt = Date.now();
        if (ack.duplicate) this.stats.duplicateAcks++;
        return true;
      }
      if (Date.now() - s.publishedAt > GIVE_UP_MS) {
        s.gaveUp = `${ack.code}: ${ack.message}`;
        return false;
      }
      // Pace the retries (the server may be down or stopped): 250 ms, 500 ms, ... up to 2 s.
      await new Promise((r) => setTimeout(r, Math.min(2_000, 250 * s.publishes)));
    }
  }

  /** Subscribe to the task's progress before it is sent; cancel it when it first reports. */
  #cancelAtFirstProgress(s: Submission): void {
    const sub = this.t.subscribe(`tasks.progress.${s.id}`, () => {
      sub.unsubscribe();
      this.#watching.delete(sub);
      void this.#cancel(s);
    });
    this.#watching.add(sub);
  }

  /**
   * What the leader says of a task (`tasks.status`), as a short string: for
   * triage of tasks that never ended, never for a verdict.
   */
  async status(id: string): Promise<string> {
    try {
      const reply = await this.t.request(
        "tasks.status",
        this.#enc.encode(JSON.stringify({ id })),
        { headers: this.#auth, timeoutMs: 2_000 },
      );
      const r = JSON.parse(new TextDecoder().decode(reply.data)) as {
        state?: string;
        attempts?: number;
        worker?: string;
        error?: { code: string };
      };
      if (r.error) return `error ${r.error.code}`;
      return `${r.state}${
        r.worker ? ` on ${r.worker.replace(/\/w\d+$/, "")}` : ""
      }, ${r.attempts} attempts`;
    } catch (err) {
      return `no answer: ${(err as Error).message}`;
    }
  }

  async #cancel(s: Submission): Promise<void> {
    const body = this.#enc.encode(JSON.stringify({ id: s.id }));
    s.cancel = { sentAt: Date.now(), answer: "no answer" };
    this.stats.cancelRequests++;
    for (let attempt = 1; attempt <= 5; attempt++) {
      try {
        const reply = await this.t.request("tasks.cancel", body, {
          headers: this.#auth,
          timeoutMs: 2_000,
        });
        const r = JSON.parse(new TextDecoder().decode(reply.data)) as {
          ok?: boolean;
          state?: string;
          error?: { code: string };
        };
        s.cancel.answer = r.ok ? String(r.state) : String(r.error?.code ?? "error");
        // INTERNAL: the scheduler that got it stopped leading meanwhile; NOT_FOUND: a new leader
        // may not hold it yet (it checks redelivered submissions first). Ask again.
        if (r.error?.code !== "INTERNAL" && r.error?.code !== "NOT_FOUND") return;
      } catch {
        s.cancel.answer = "no answer";
      }
      if (this.#stopping) return;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
