/**
 * The scheduler core's task records and the table that holds them: active
 * tasks by id, the terminal states of recent ones, the tasks each owner has
 * in flight, and the requirement sets tasks share.
 *
 * A record is sized for a million queued tasks. What every queued task needs
 * is a field of {@link TaskEntry}; what only some need lives in side objects
 * made on first use: a {@link DispatchInfo} at the first dispatch, and
 * {@link TaskExtras} for a deadline, dependencies, a retry's history, a
 * cancel request, a timer or the result. Accessors keep the record's
 * property names, so readers (submissions, the operator, tests) need not
 * know where a field lives. The order keys, priority and `seq`, stay fields:
 * the ready queue reads them at every comparison.
 *
 * Why it pays: Deno's V8 has no pointer compression, so every field is 8
 * bytes. A queued task's record is 16 fields (152 bytes); with the dispatch
 * fields and the rarer ones inline it was 31 fields plus a boxed `Infinity`
 * deadline (288 bytes).
 *
 * @module
 */

import type {
  AttemptRecord,
  SubmissionDraft,
  TaskId,
  TaskResult,
  TaskState,
  TerminalState,
  TimerHandle,
} from "../../src/internal_mod.ts";
import type { Queueable } from "../../src/sched/ready_queue.ts";
import { ChurnMap } from "../../src/runtime/churn_map.ts";

/** Settles the stream message behind a task. */
export interface Settle {
  /** Acknowledge the message: the stream may forget it. */
  ack(): void;
}

/** What a task needs of a worker; one shared record per distinct (type, requires). */
export interface Requirements {
  /** The task type. */
  readonly type: string;
  /** Sorted `requires` plus `type:<type>`. */
  readonly needs: readonly string[];
  /** `needs` joined: the ready queue's key. */
  readonly key: string;
}

/** A task's current (or last) dispatch; made at its first. */
class DispatchInfo {
  /** Dispatch number (fencing token), 0 when none. */
  dispatch = 0;
  worker = "";
  node = "";
  startedAt = 0;
  /** When the current dispatch was sent (a start is reported at once on arrival). */
  dispatchedAt = 0;
}

/** What few queued tasks need; made on first use. */
class TaskExtras {
  deadline = Infinity;
  timer: TimerHandle | null = null;
  history: AttemptRecord[] | null = null;
  /** Unfinished dependencies. */
  waitingOn = 0;
  dependants: TaskEntry[] | null = null;
  cancelRequested: string | null = null;
  result: TaskResult | null = null;
  /** A retried task's outcome replaces the stored result with this RESULTS sequence. */
  replaces = 0;
}

/** One task the scheduler holds. */
export class TaskEntry implements Queueable {
  /** The task id, unique among held and recent tasks. */
  readonly id: TaskId;
  /** The handler's input; dropped when the task ends. */
  payload: unknown;
  /** Integer 0..9; higher runs first. */
  readonly priority: number;
  /** Stream sequence of the submission: first submitted, first served. */
  readonly seq: number;
  /** How long one attempt may run. */
  readonly timeoutMs: number;
  /** Attempts before the task fails for good. */
  readonly maxAttempts: number;
  /** Type and requirement key, shared with every task alike. */
  readonly requirements: Requirements;
  /** Who submitted it (the token's `sub`). */
  readonly owner: string;
  /** When the stream stored the submission, epoch milliseconds. */
  readonly submittedAt: number;
  /** Where the task is in its lifecycle. */
  state: TaskState = "queued";
  /** Attempts dispatched so far (a run lost with its node is not counted). */
  attempts = 0;
  /** The delivery to settle once the result is stored. */
  msg: Settle;
  /** Monitor sequence for `monitor.task.<id>`. */
  mseq = 0;
  /** Owned by the ready queue. */
  queueSlot: object | null = null;
  #run: DispatchInfo | null = null;
  #more: TaskExtras | null = null;

  /** A queued task from `draft`, held for `owner`, stored as stream sequence `seq`. */
  constructor(
    draft: SubmissionDraft,
    owner: string,
    seq: number,
    msg: Settle,
    requirements: Requirements,
    submittedAt: number,
  ) {
    this.id = draft.id;
    this.payload = draft.payload;
    this.priority = draft.priority;
    this.seq = seq;
    this.timeoutMs = draft.timeoutMs;
    this.maxAttempts = draft.maxAttempts;
    this.requirements = requirements;
    this.owner = owner;
    this.submittedAt = submittedAt;
    this.msg = msg;
    if (draft.deadline !== Infinity) this.#extras().deadline = draft.deadline;
  }

  /** The task type. */
  get type(): string {
    return this.requirements.type;
  }
  /** The requirement key: sorted `requires` plus `type:<type>`. */
  get needs(): readonly string[] {
    return this.requirements.needs;
  }
  /** `needs` joined: the key of the task's ready queue. */
  get needsKey(): string {
    return this.requirements.key;
  }
  /** Epoch milliseconds, `Infinity` for none. */
  get deadline(): number {
    return this.#more?.deadline ?? Infinity;
  }

  // ---------------------------------------------------------------- the dispatch

  /** Current dispatch (fencing token), 0 when none. */
  get dispatch(): number {
    return this.#run?.dispatch ?? 0;
  }
  set dispatch(v: number) {
    if (v !== 0 || this.#run) this.#dispatchInfo().dispatch = v;
  }
  /** The worker of the current (or last) dispatch, `""` when none. */
  get worker(): string {
    return this.#run?.worker ?? "";
  }
  set worker(v: string) {
    if (v !== "" || this.#run) this.#dispatchInfo().worker = v;
  }
  /** The node of the current dispatch, `""` when none. */
  get node(): string {
    return this.#run?.node ?? "";
  }
  set node(v: string) {
    if (v !== "" || this.#run) this.#dispatchInfo().node = v;
  }
  /** When the last attempt started (node's clock), 0 when none has. */
  get startedAt(): number {
    return this.#run?.startedAt ?? 0;
  }
  set startedAt(v: number) {
    if (v !== 0 || this.#run) this.#dispatchInfo().startedAt = v;
  }
  /** When the current dispatch was sent (a start is reported at once on arrival). */
  get dispatchedAt(): number {
    return this.#run?.dispatchedAt ?? 0;
  }
  set dispatchedAt(v: number) {
    if (v !== 0 || this.#run) this.#dispatchInfo().dispatchedAt = v;
  }

  // ---------------------------------------------------------------- the rarer fields

  /** The deadline or retry timer, if one is armed. */
  get timer(): TimerHandle | null {
    return this.#more?.timer ?? null;
  }
  set timer(v: TimerHandle | null) {
    if (v !== null || this.#more) this.#extras().timer = v;
  }
  /** The attempts so far, `null` before the first ends. */
  get history(): AttemptRecord[] | null {
    return this.#more?.history ?? null;
  }
  set history(v: AttemptRecord[] | null) {
    if (v !== null || this.#more) this.#extras().history = v;
  }
  /** Unfinished dependencies. */
  get waitingOn(): number {
    return this.#more?.waitingOn ?? 0;
  }
  set waitingOn(v: number) {
    if (v !== 0 || this.#more) this.#extras().waitingOn = v;
  }
  /** Tasks waiting on this one. */
  get dependants(): TaskEntry[] | null {
    return this.#more?.dependants ?? null;
  }
  set dependants(v: TaskEntry[] | null) {
    if (v !== null || this.#more) this.#extras().dependants = v;
  }
  /** Why a cancel was asked while it ran, `null` when none was. */
  get cancelRequested(): string | null {
    return this.#more?.cancelRequested ?? null;
  }
  set cancelRequested(v: string | null) {
    if (v !== null || this.#more) this.#extras().cancelRequested = v;
  }
  /** The result once it ended, `null` before. */
  get result(): TaskResult | null {
    return this.#more?.result ?? null;
  }
  set result(v: TaskResult | null) {
    if (v !== null || this.#more) this.#extras().result = v;
  }
  /** A retried task's outcome replaces the stored result with this RESULTS sequence. */
  get replaces(): number {
    return this.#more?.replaces ?? 0;
  }
  set replaces(v: number) {
    if (v !== 0 || this.#more) this.#extras().replaces = v;
  }

  /** Sent to `worker` on `node` as dispatch number `dispatch` at `at`: one call for the dispatch path. */
  dispatched(dispatch: number, worker: string, node: string, at: number): void {
    const run = this.#dispatchInfo();
    run.dispatch = dispatch;
    run.worker = worker;
    run.node = node;
    run.dispatchedAt = at;
  }

  #dispatchInfo(): DispatchInfo {
    return this.#run ??= new DispatchInfo();
  }

  #extras(): TaskExtras {
    return this.#more ??= new TaskExtras();
  }
}

/** A task's state as `tasks.status` reports it. */
export interface StatusView {
  /** Task id. */
  id: string;
  /** Task type. */
  type: string;
  /** Where it is in its lifecycle. */
  state: TaskState;
  /** Attempts dispatched so far. */
  attempts: number;
  /** 0..9. */
  priority: number;
  /** The worker running it, if any. */
  worker?: string;
  /** ISO time the submission was stored. */
  submittedAt: string;
  /** ISO deadline, if it has one. */
  deadline?: string;
  /** Unfinished dependencies, if any. */
  waitingOn?: number;
}

/** Distinct requirement sets remembered; past this, tasks get their own record. */
const MAX_REQUIREMENTS = 10_000;

/**
 * The tasks a core holds, by id, and what it remembers of finished ones.
 * Counting in-flight tasks per owner is the table's too: a task counts from
 * {@link add} until {@link ended}.
 */
export class TaskTable {
  /** Held tasks (active, or ended and not yet stored), by id. */
  readonly tasks = new ChurnMap<string, TaskEntry>();
  /** Terminal states of recent tasks, oldest first, for de-duplication and status. */
  readonly recent = new Map<string, TerminalState>();
  readonly #recentLimit: number;
  /**
   * The ids of `recent` in insertion order, from `#oldest` on (some may have
   * been forgotten since). Eviction takes the oldest from here, not with
   * `recent.keys().next()`: a Map keeps deleted entries in place until it is
   * rehashed, so its first key is found by skipping every entry deleted since,
   * and at 100,000 ids evicting that way cost up to 100 µs a task.
   */
  #order: string[] = [];
  #oldest = 0;
  /**
   * Places in `#order` of ids forgotten since they were remembered, by id:
   * each is the earliest place of its id still in the order, and eviction
   * passes over it (the id, remembered again, is further on).
   */
  #stale = new Map<string, number>();
  /** Tasks held and not ended, by owner (the token's `sub`): for the per-user in-flight cap. */
  readonly #inFlight = new ChurnMap<string, number>();
  /** One shared requirement record per distinct (type, requires): tasks only point at it. */
  readonly #requirements = new Map<string, Requirements>();

  /** A table that remembers the terminal states of the last `recentLimit` tasks. */
  constructor(recentLimit: number) {
    this.#recentLimit = recentLimit;
  }

  /** The shared requirement record of `type` and `requires`. */
  requirementsOf(type: string, requires: readonly string[]): Requirements {
    const probe = requires.length === 0 ? type : `${type}\u0001${requires.join("\u0000")}`;
    let r = this.#requirements.get(probe);
    if (!r) {
      const needs = [...requires, `type:${type}`].sort();
      r = { type, needs, key: needs.join("\u0000") };
      if (this.#requirements.size < MAX_REQUIREMENTS) this.#requirements.set(probe, r);
    }
    return r;
  }

  /** Hold a new task; it counts as in flight for its owner. */
  add(e: TaskEntry): void {
    this.tasks.set(e.id, e);
    this.#inFlight.set(e.owner, (this.#inFlight.get(e.owner) ?? 0) + 1);
  }

  /** A held task ended: it no longer counts as in flight (it stays held until stored). */
  ended(e: TaskEntry): void {
    const held = this.#inFlight.get(e.owner) ?? 0;
    if (held > 1) this.#inFlight.set(e.owner, held - 1);
    else this.#inFlight.delete(e.owner);
  }

  /** Remember a terminal state, forgetting the oldest past the limit. */
  remember(id: string, state: TerminalState): void {
    if (!this.recent.has(id)) this.#order.push(id);
    this.recent.set(id, state);
    while (this.recent.size > this.#recentLimit && this.#oldest < this.#order.length) {
      const oldest = this.#order[this.#oldest++];
      const stale = this.#stale.get(oldest);
      if (stale === undefined) this.recent.delete(oldest);
      else if (stale > 1) this.#stale.set(oldest, stale - 1);
      else this.#stale.delete(oldest);
    }
    // Drop the evicted part of the order now and then: amortised O(1) a task.
    if (this.#oldest > 4_096 && this.#oldest * 2 > this.#order.length) {
      this.#order = this.#order.slice(this.#oldest);
      this.#oldest = 0;
    }
  }

  /** Forget a finished id (a rejected one, so that it may be used again). */
  forget(id: string): void {
    if (this.tasks.has(id) || !this.recent.delete(id)) return;
    this.#stale.set(id, (this.#stale.get(id) ?? 0) + 1);
  }

  /** Is this id active or recently finished? */
  knows(id: string): TaskState | undefined {
    return this.tasks.get(id)?.state ?? this.recent.get(id);
  }

  /** Tasks of `owner` held and not ended. */
  inFlight(owner: string): number {
    return this.#inFlight.get(owner) ?? 0;
  }

  /** Owners with tasks in flight. */
  get inFlightOwners(): number {
    return this.#inFlight.size;
  }

  /** The state of a held or recently finished task. */
  status(id: string): StatusView | { id: string; state: TerminalState } | undefined {
    const e = this.tasks.get(id);
    if (e) {
      return {
        id,
        type: e.type,
        state: e.state,
        attempts: e.attempts,
        priority: e.priority,
        worker: e.worker || undefined,
        submittedAt: new Date(e.submittedAt).toISOString(),
        deadline: e.deadline === Infinity ? undefined : new Date(e.deadline).toISOString(),
        waitingOn: e.waitingOn || undefined,
      };
    }
    const state = this.recent.get(id);
    return state ? { id, state } : undefined;
  }
}
