/**
 * The work of the schedules actor while its scheduler leads: load schedules
 * from KV, fire due ticks as ordinary submissions, apply the catch-up and
 * overlap policies, follow each run to its result, and keep the stored state
 * true. The actor (`schedules.ts`) feeds it one message at a time.
 *
 * How a tick moves: the timer wakes the runner at the earliest fire time;
 * `planTicks` says which ticks fire and which were missed; each fired tick is
 * published on `tasks.submit.<type>` with the task id `<name>:<nominal>` as
 * its `Nats-Msg-Id`, and only after the stream stored it is the tick settled
 * in KV (compare-and-set, with the epoch). A crash between the two fires the
 * same tick again under the same id, which the stream and the scheduler drop.
 *
 * @module
 */

import {
  type Clock,
  type Config,
  fireAt,
  type InMsg,
  type KvBucket,
  type Logger,
  mintToken,
  planTicks,
  RESULT_SIGNATURE,
  type ResultVerifier,
  type ScheduleSpec,
  type Subjects,
  type Subscription,
  type TerminalState,
  tickId,
  type TimerHandle,
  type Transport,
  triggerId,
} from "../../src/internal_mod.ts";
import { type Item, loadAll, remember, type RunRecord, save } from "./store.ts";

/** A leadership term, as the schedules actor sees it. */
export interface Term {
  epoch: number;
  /** Whether the lease still holds this term: checked before every fire. */
  leading(): boolean;
}

/** What the runner needs from its process. */
export interface RunnerDeps {
  transport: Transport;
  subjects: Subjects;
  config: Pick<Config, "replicas">;
  /** Secret to mint the token its submissions carry. */
  jwtSecret: string;
  /** Checks the results of its runs: only what a scheduler signed ends a run. */
  results: ResultVerifier;
  clock: Clock;
  log: Logger;
  /** Deliver a run's result to the actor. */
  onResult(id: string, state: TerminalState, finishedAt: number, error?: unknown): void;
  /** Ask the actor to wake at the next fire time. */
  wakeIn(ms: number): TimerHandle;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Even with nothing due, look again this often: a clock step or a lost timer heals. */
const MAX_SLEEP_MS = 60_000;
const TOKEN_TTL_S = 86_400;

/** The schedules of one leadership term. */
export class Runner {
  readonly items = new Map<string, Item>();
  #d: RunnerDeps;
  #term: Term;
  #kv: KvBucket | null = null;
  #runs = new Map<string, Subscription>();
  #timer: TimerHandle | null = null;
  #token: { value: string; at: number } | null = null;
  #seq = new Map<string, number>();
  /** The last write asked for, per schedule, and one waiting behind it. */
  #inFlight = new Map<string, Promise<boolean>>();
  #queued = new Map<string, Promise<boolean>>();
  #results: ResultVerifier;
  /** Set when a newer epoch was met in the store: this runner must stop acting. */
  deposed = false;

  constructor(deps: RunnerDeps, term: Term) {
    this.#d = deps;
    this.#results = deps.results;
    this.#term = term;
  }

  get epoch(): number {
    return this.#term.epoch;
  }

  get kv(): KvBucket {
    if (!this.#kv) throw new Error("schedules not loaded");
    return this.#kv;
  }

  /** Open the bucket, load every schedule and follow the runs still going. */
  async load(): Promise<void> {
    this.#kv = await this.#d.transport.kv(this.#d.subjects.schedulesBucket, {
      replicas: this.#d.config.replicas,
      timeoutMs: 5_000,
    });
    const { items, bad } = await loadAll(this.#kv);
    for (const key of bad) this.#d.log.error("stored schedule unreadable; left alone", { key });
    for (const item of items) {
      this.items.set(item.spec.name, item);
      for (const id of item.state.active) await this.follow(id);
    }
  }

  /** Stop timers and subscriptions (the term ended). */
  close(): void {
    this.#timer?.cancel();
    this.#timer = null;
    for (const sub of this.#runs.values()) sub.unsubscribe();
    this.#runs.clear();
  }

  /** Listen for a run's result, and read it from the results stream in case it already came. */
  async follow(id: string): Promise<void> {
    this.#listen(id);
    await this.#lookUp(id);
  }

  #listen(id: string): void {
    if (this.#runs.has(id)) return;
    const { transport, subjects } = this.#d;
    this.#runs.set(
      id,
      transport.subscribe(
        subjects.result(id),
        (m) => this.#heard(id, m.data, m.header(RESULT_SIGNATURE)),
      ),
    );
  }

  async #lookUp(id: string): Promise<void> {
    const { transport, subjects } = this.#d;
    const stored = await transport.lastMessage(subjects.resultsStream, subjects.outcome(id))
      .catch(() => null);
    if (stored) this.#heard(id, stored.data, stored.header(RESULT_SIGNATURE));
  }

  /** A result of one of this schedule's runs: believed only when a scheduler signed it. */
  #heard(id: string, data: Uint8Array, signature: string | undefined): void {
    const v = this.#results.verify(data, signature, id);
    if (!v.ok) {
      this.#d.log.warn("result of a scheduled run not believed", { task: id, reason: v.reason });
      return;
    }
    const r = v.result as { state: TerminalState; finishedAt?: string; error?: unknown };
    const at = r.finishedAt ? Date.parse(r.finishedAt) : this.#d.clock.now();
    this.#d.onResult(id, r.state, Number.isFinite(at) ? at : this.#d.clock.now(), r.error);
  }

  /** A delta on `monitor.schedule.<name>`. */
  delta(name: string, fields: Record<string, unknown>): void {
    const seq = (this.#seq.get(name) ?? 0) + 1;
    this.#seq.set(name, seq);
    const body = { name, seq, epoch: this.epoch, ...fields };
    this.#d.transport.publish(
      this.#d.subjects.monitorSchedule(name),
      encoder.encode(JSON.stringify(body)),
    );
  }

  /**
   * Store a schedule's state. Writes of one schedule go one at a time, each of
   * the latest state in memory; asks that come while one is waiting share it.
   * Resolves false when the write could not be made (see {@link Runner.#write}).
   */
  persist(item: Item): Promise<boolean> {
    const name = item.spec.name;
    const waiting = this.#queued.get(name);
    if (waiting) return waiting;
    const before = this.#inFlight.get(name);
    const write = async (): Promise<boolean> => {
      if (before) await before.catch(() => false);
      this.#queued.delete(name);
      return await this.#write(name);
    };
    const p = write();
    if (before) this.#queued.set(name, p);
    this.#inFlight.set(name, p);
    p.catch(() => false).finally(() => {
      if (this.#inFlight.get(name) === p) this.#inFlight.delete(name);
    });
    return p;
  }

  /**
   * Write the schedule `name` as it is in memory, by compare-and-set. On a
   * conflict, reload the entry: gone means deleted behind this term's back; a
   * newer epoch there deposes this term; otherwise (an older leader's write, or
   * this term's own) the state in memory is written over it.
   */
  async #write(name: string): Promise<boolean> {
    const item = this.items.get(name);
    if (!item) return false; // deleted or replaced meanwhile: whoever did it wrote
    item.state.epoch = this.epoch;
    if (await save(this.kv, item)) return true;
    const e = await this.kv.get(name);
    if (!e) {
      // Deleted behind this term's back (e.g. `nats kv del`): the schedule is gone.
      if (this.items.get(name) === item) {
        this.items.delete(name);
        this.delta(name, { event: "deleted", by: "the store" });
      }
      return false;
    }
    const stored = JSON.parse(decoder.decode(e.value)) as { state?: { epoch?: number } };
    if ((stored.state?.epoch ?? 0) > this.epoch) {
      this.deposed = true;
      this.#d.log.warn("a newer leader writes the schedules; stopping", { epoch: this.epoch });
      return false;
    }
    item.revision = e.revision;
    return await save(this.kv, item);
  }

  async #token_(): Promise<string> {
    const now = Date.now();
    if (!this.#token || now - this.#token.at > (TOKEN_TTL_S / 2) * 1000) {
      const value = await mintToken(this.#d.jwtSecret, {
        sub: "schedules",
        roles: ["submitter"],
        ttlSec: TOKEN_TTL_S,
      });
      this.#token = { value, at: now };
    }
    return this.#token.value;
  }

  /** Publish one run as a submission; resolves when the stream stored it (or had it already). */
  async submit(spec: ScheduleSpec, id: string, nominal: number): Promise<string | null> {
    const t = spec.task;
    const body: Record<string, unknown> = { id, payload: t.payload ?? {} };
    if (t.priority !== undefined) body.priority = t.priority;
    if (t.timeoutMs !== undefined) body.timeoutMs = t.timeoutMs;
    if (t.maxAttempts !== undefined) body.maxAttempts = t.maxAttempts;
    if (t.requires !== undefined) body.requires = t.requires;
    if (t.deadlineMs !== undefined) body.deadline = new Date(nominal + t.deadlineMs).toISOString();
    // Subscribe before publishing, so that even an instant result is heard.
    this.#listen(id);
    const ack = await this.#d.transport.publishDurable(
      this.#d.subjects.submit(t.type),
      encoder.encode(JSON.stringify(body)),
      { msgId: id, headers: { Authorization: `Bearer ${await this.#token_()}` }, timeoutMs: 5_000 },
    );
    // Published before (a restart in the middle of a fire): its result may be stored already.
    if (ack.ok && ack.duplicate) await this.#lookUp(id);
    if (ack.ok) return null;
    this.#runs.get(id)?.unsubscribe();
    this.#runs.delete(id);
    return ack.message;
  }

  /** Ask the leader to cancel a run (overlap `cancel-previous`). */
  async cancel(id: string): Promise<void> {
    const headers = { Authorization: `Bearer ${await this.#token_()}` };
    await this.#d.transport.request(
      this.#d.subjects.cancel,
      encoder.encode(JSON.stringify({ id })),
      {
        headers,
        timeoutMs: 2_000,
      },
    ).catch((err) =>
      this.#d.log.warn("could not cancel the previous run", { task: id, error: String(err) })
    );
  }

  /** Fire one run now; returns an error message when the submission was not stored. */
  async fire(
    item: Item,
    id: string,
    nominal: number,
    kind: "tick" | "trigger",
  ): Promise<string | null> {
    const error = await this.submit(item.spec, id, nominal);
    const now = this.#d.clock.now();
    if (error) {
      this.delta(item.spec.name, {
        event: "fire-failed",
        id,
        error: { code: "TRANSPORT", message: error },
      });
      this.#d.log.warn("scheduled run not submitted; will retry", { task: id, error });
      return error;
    }
    const s = item.state;
    const lateMs = kind === "tick" ? Math.max(0, now - fireAt(item.spec, nominal)) : undefined;
    if (!s.active.includes(id)) s.active.push(id);
    remember(s, {
      id,
      nominal: kind === "tick" ? nominal : undefined,
      trigger: kind === "trigger" || undefined,
      firedAt: now,
      lateMs,
    });
    if (kind === "tick") {
      s.runs++;
      s.counts.fired++;
    } else s.counts.triggered++;
    this.delta(item.spec.name, {
      event: kind === "tick" ? "fired" : "triggered",
      id,
      nominal: kind === "tick" ? new Date(nominal).toISOString() : undefined,
      lateMs,
      fired: s.counts.fired,
      triggered: s.counts.triggered,
    });
    return null;
  }

  /** Fire what is due for one schedule, settle it and store the new state. */
  async runDue(item: Item, now: number): Promise<void> {
    const s = item.state;
    if (s.paused) {
      item.next = null;
      return;
    }
    // A buffered tick whose submission failed when the last run ended: try it again now.
    await this.#fireBuffered(item);
    const plan = planTicks(item.spec, {
      after: s.settledUntil,
      now,
      runs: s.runs,
      missedUntil: s.missedUntil,
    });
    let changed = plan.settleTo > s.settledUntil;
    /** The first tick to fire that was not handled (not stored, or the term ended): it comes again. */
    let stoppedAt: number | null = null;
    for (const nominal of plan.fire) {
      if (!this.#term.leading() || this.deposed) {
        stoppedAt = nominal;
        break;
      }
      const decision = this.#overlap(item);
      const id = tickId(item.spec.name, nominal);
      if (decision === "skip" || decision === "buffer") {
        if (decision === "buffer" && s.buffered === null) {
          s.buffered = nominal;
          this.delta(item.spec.name, {
            event: "buffered",
            id,
            nominal: new Date(nominal).toISOString(),
          });
        } else {
          s.counts.skipped++;
          this.delta(item.spec.name, {
            event: "skipped",
            id,
            reason: "previous run still going",
            active: s.active,
            skipped: s.counts.skipped,
          });
        }
      } else {
        if (decision === "cancel") await Promise.all(s.active.map((prev) => this.cancel(prev)));
        if (await this.fire(item, id, nominal, "tick")) {
          stoppedAt = nominal;
          break;
        }
      }
      changed = true;
    }
    // Settled: everything the plan covered, or, when it stopped early, everything before that tick
    // (missed ticks after it are planned, and counted, again).
    const settleTo = stoppedAt === null ? plan.settleTo : stoppedAt - 1;
    this.#missed(item, plan.missed.filter((t) => t <= settleTo), plan.missedUnlisted);
    s.settledUntil = Math.max(s.settledUntil, settleTo);
    item.next = stoppedAt ?? plan.next;
    if (changed) {
      s.updatedAt = now;
      await this.persist(item);
    }
  }

  /** Fire the tick `buffer-one` held, once nothing runs; it stays held while its submission fails. */
  async #fireBuffered(item: Item): Promise<void> {
    const s = item.state;
    if (s.buffered === null || s.active.length > 0 || !this.#term.leading()) return;
    const nominal = s.buffered;
    if (!(await this.fire(item, tickId(item.spec.name, nominal), nominal, "tick"))) {
      s.buffered = null;
    }
  }

  /** Count missed ticks and say so in one delta. */
  #missed(item: Item, listed: number[], unlisted: number): void {
    const count = listed.length + unlisted;
    if (count === 0) return;
    const s = item.state;
    s.counts.missed += count;
    const iso = (
      t: number | undefined,
    ) => (t === undefined ? undefined : new Date(t).toISOString());
    this.delta(item.spec.name, {
      event: "missed",
      count,
      first: iso(listed[0]),
      last: iso(listed.at(-1)),
      catchup: item.spec.catchup,
      missed: s.counts.missed,
    });
  }

  #overlap(item: Item): "fire" | "skip" | "buffer" | "cancel" {
    if (item.state.active.length === 0) return "fire";
    switch (item.spec.overlap) {
      case "allow":
        return "fire";
      case "skip":
        return "skip";
      case "buffer-one":
        return "buffer";
      case "cancel-previous":
        return "cancel";
      default: {
        const never: never = item.spec.overlap;
        throw new Error(`unknown overlap policy ${never}`);
      }
    }
  }

  /** A run ended: record it; a buffered tick may fire now. */
  async ended(
    id: string,
    state: TerminalState,
    finishedAt: number,
    error?: unknown,
  ): Promise<void> {
    this.#runs.get(id)?.unsubscribe();
    this.#runs.delete(id);
    const item = this.items.get(id.slice(0, id.indexOf(":")));
    if (!item || !item.state.active.includes(id)) return;
    const s = item.state;
    s.active = s.active.filter((a) => a !== id);
    const run = s.recent.find((r) => r.id === id);
    const err = error as { code?: string; message?: string } | undefined;
    if (run) {
      run.state = state;
      run.finishedAt = finishedAt;
      if (err?.code) {
        run.error = { code: err.code, message: String(err.message ?? "") } as RunRecord["error"];
      }
    } else remember(s, { id, firedAt: finishedAt, state, finishedAt });
    this.delta(item.spec.name, { event: "run-ended", id, state, error: run?.error });
    await this.#fireBuffered(item);
    s.updatedAt = this.#d.clock.now();
    // Not awaited: a run's end must not hold up the next tick of any schedule.
    this.persist(item).catch((err) =>
      this.#d.log.warn("storing a scheduled run's end failed", { task: id, error: String(err) })
    );
  }

  /** Run everything due, then sleep until the next fire time. */
  async wake(): Promise<void> {
    this.#timer?.cancel();
    this.#timer = null;
    if (!this.#term.leading() || this.deposed) return;
    const now = this.#d.clock.now();
    let soonest = now + MAX_SLEEP_MS;
    // Schedules are independent: fire them all at once, so that none waits for another's acks.
    const items = [...this.items.values()];
    const results = await Promise.allSettled(items.map((item) => this.runDue(item, now)));
    for (const [i, r] of results.entries()) {
      if (r.status === "rejected") {
        this.#d.log.warn("firing a schedule failed; trying again", {
          schedule: items[i].spec.name,
          error: String((r.reason as Error)?.message ?? r.reason),
        });
        soonest = Math.min(soonest, now + 1_000);
      }
      if (items[i].next !== null) {
        soonest = Math.min(soonest, fireAt(items[i].spec, items[i].next!));
      }
    }
    this.#timer = this.#d.wakeIn(Math.max(0, soonest - this.#d.clock.now()));
  }

  /** Answer a request with JSON. */
  reply(msg: InMsg, body: unknown): void {
    this.#d.transport.respond(msg, encoder.encode(JSON.stringify(body)));
  }

  /** The trigger id for now. */
  triggerId(name: string): string {
    return triggerId(name, this.#d.clock.now());
  }
}
