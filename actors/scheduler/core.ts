/**
 * The scheduler's logic, free of I/O: the task table, the ready queues (skew
 * heaps, one per distinct requirement set), the worker index, dependencies,
 * retries, deadlines and every lifecycle transition. What it wants done in the
 * world it asks of a {@link SchedulerEffects} port, so tests run it with a
 * recording port and a manual clock.
 *
 * Lifecycle: `queued → dispatched → running → succeeded | failed | expired |
 * cancelled`, `waiting` before `queued` while dependencies run, `retrying`
 * between attempts, and `rejected` at the edge.
 *
 * @module
 */

import {
  type AttemptRecord,
  type Clock,
  type ErrorInfo,
  type HeapLinks,
  type Principal,
  runsBefore,
  SchedulerError,
  SkewHeap,
  type SubmissionDraft,
  type TaskId,
  type TaskResult,
  type TaskState,
  type TerminalState,
  type TimerHandle,
  WorkerIndex,
} from "../../src/internal_mod.ts";
import type { Assignment, Report, RunningTask, WorkerInfo } from "../../src/internal_mod.ts";

/** Settles the stream message behind a task. */
export interface Settle {
  ack(): void;
}

/** One task the scheduler holds. Heap links are intrusive to save memory. */
export interface TaskEntry extends HeapLinks<TaskEntry> {
  id: TaskId;
  type: string;
  payload: unknown;
  priority: number;
  deadline: number;
  /** Stream sequence of the submission: first submitted, first served. */
  seq: number;
  timeoutMs: number;
  maxAttempts: number;
  /** The requirement key: sorted `requires` plus `type:<type>`. */
  needs: readonly string[];
  needsKey: string;
  owner: string;
  submittedAt: number;
  state: TaskState;
  attempts: number;
  /** Current dispatch (fencing token), 0 when none. */
  dispatch: number;
  worker: string;
  node: string;
  startedAt: number;
  /** When the current dispatch was sent (a start is reported at once on arrival). */
  dispatchedAt: number;
  history: AttemptRecord[] | null;
  /** Unfinished dependencies. */
  waitingOn: number;
  dependants: TaskEntry[] | null;
  timer: TimerHandle | null;
  msg: Settle;
  cancelRequested: string | null;
  /** Monitor sequence for `monitor.task.<id>`. */
  mseq: number;
  result: TaskResult | null;
  /** A retried task's outcome replaces the stored result with this RESULTS sequence. */
  replaces: number;
}

/** What the scheduler asks of the world. */
export interface SchedulerEffects {
  /** Hand tasks to a node (one call per node per dispatch round). */
  assign(node: string, tasks: Assignment[]): void;
  /** Ask a node to abort a running task. */
  cancelOnNode(node: string, id: string, dispatch: number, reason: string): void;
  /** Publish the result durably, then call {@link SchedulerCore.resultStored}. */
  publishResult(entry: TaskEntry, result: TaskResult): void;
  /** Keep a task that used up its attempts, with its history. */
  deadLetter(entry: TaskEntry, result: TaskResult): void;
  /** A delta on `monitor.task.<id>`. */
  taskDelta(id: string, delta: Record<string, unknown>): void;
  /** Something worth reporting on `monitor.scheduler.<id>` (stale results, lost nodes). */
  event(kind: string, detail: Record<string, unknown>): void;
}

/** Tuning of the core. */
export interface CoreOptions {
  clock: Clock;
  effects: SchedulerEffects;
  /** The leader's epoch: part of every dispatch number. */
  epoch: number;
  retryBaseMs: number;
  retryMaxMs: number;
  random?: () => number;
  /** Terminal task ids remembered for de-duplication and status. */
  recentLimit?: number;
}

/** A task's state as `tasks.status` reports it. */
export interface StatusView {
  id: string;
  type: string;
  state: TaskState;
  attempts: number;
  priority: number;
  worker?: string;
  submittedAt: string;
  deadline?: string;
  waitingOn?: number;
}

/** What came of a cancel request. */
export type CancelOutcome =
  | { ok: true; id: string; state: "cancelled"; was: TaskState }
  | { ok: true; id: string; state: "cancelling"; was: TaskState }
  | { ok: false; id: string; state?: TaskState; error: ErrorInfo };

/** Counters for `monitor.scheduler.<id>` and benchmarks. */
export interface CoreStats {
  held: number;
  queued: number;
  waiting: number;
  retrying: number;
  running: number;
  accepted: number;
  finished: number;
  stale: number;
  /** Tasks queued, by priority 0..9 (their sum is `queued`). */
  queuedByPriority: number[];
}

const EPOCH_SPAN = 1_000_000_000;

/** The scheduler's state and rules. */
export class SchedulerCore {
  readonly workers = new WorkerIndex();
  readonly tasks = new Map<string, TaskEntry>();
  /** Terminal states of recent tasks, oldest first, for de-duplication and status. */
  readonly recent = new Map<string, TerminalState>();
  #ready = new Map<string, SkewHeap<TaskEntry>>();
  #clock: Clock;
  #fx: SchedulerEffects;
  #epoch: number;
  #dispatchSeq = 0;
  #retryBaseMs: number;
  #retryMaxMs: number;
  #random: () => number;
  #recentLimit: number;
  #queued = 0;
  #pumpPending = false;
  #paused = false;
  #nodeOfWorker = new Map<string, string>();
  #types = new Set<string>();
  /** One shared requirement list per distinct (type, requires): tasks only point at it. */
  #needs = new Map<string, { needs: readonly string[]; key: string }>();
  /** Until when outcomes of tasks not yet redelivered are kept (after a takeover). */
  #takeoverUntil = 0;
  /** Outcomes reported for tasks not (yet) redelivered to this leader, by task id. */
  #early = new Map<string, { node: string; report: Extract<Report, { kind: "done" }> }>();
  /** Tasks that nodes say they run, learned at a takeover before their redelivery. */
  #adopt = new Map<string, RunningTask & { node: string }>();
  /** Set while `submit` registers a submission delivered more than once. */
  #redelivered = false;
  /** Tasks held and not ended, by owner (the token's `sub`): for the per-user in-flight cap. */
  #inFlight = new Map<string, number>();
  readonly stats: CoreStats = {
    held: 0,
    queued: 0,
    waiting: 0,
    retrying: 0,
    running: 0,
    accepted: 0,
    finished: 0,
    stale: 0,
    queuedByPriority: new Array(10).fill(0),
  };

  constructor(o: CoreOptions) {
    this.#clock = o.clock;
    this.#fx = o.effects;
    this.#epoch = o.epoch;
    this.#retryBaseMs = o.retryBaseMs;
    this.#retryMaxMs = o.retryMaxMs;
    this.#random = o.random ?? Math.random;
    this.#recentLimit = o.recentLimit ?? 100_000;
  }

  get epoch(): number {
    return this.#epoch;
  }

  /** Hold dispatching (while a new leader collects what nodes run). */
  pause(): void {
    this.#paused = true;
  }

  /**
   * This leader took over from another: for `windowMs`, outcomes and runs of
   * tasks whose submissions have not been redelivered yet are kept and applied
   * when they arrive, instead of being called stale.
   */
  tookOver(windowMs: number): void {
    this.#takeoverUntil = this.#clock.now() + windowMs;
  }

  resume(): void {
    this.#paused = false;
    this.#schedulePump();
  }

  /** Forget a finished id (a rejected one, so that it may be used again). */
  forget(id: string): void {
    if (!this.tasks.has(id)) this.recent.delete(id);
  }

  /** Is this id active or recently finished? */
  knows(id: string): TaskState | undefined {
    return this.tasks.get(id)?.state ?? this.recent.get(id);
  }

  // ---------------------------------------------------------------- intake

  /**
   * Accept a validated, authorised submission. `deps` gives the terminal
   * state of dependencies the caller looked up outside memory; `storedAt` is
   * when the stream stored it, which stays the task's `submittedAt` however
   * many leaders it meets (never later than now, should clocks disagree).
   */
  submit(
    draft: SubmissionDraft,
    principal: Principal,
    seq: number,
    msg: Settle,
    deps: ReadonlyMap<string, TerminalState | "unknown"> = new Map(),
    storedAt?: number,
    retry?: { replaces: number; history: AttemptRecord[] },
    redelivered = false,
  ): void {
    const existing = this.tasks.get(draft.id);
    if (existing) {
      if (existing.seq === seq) {
        existing.msg = msg; // a redelivery of the message we hold: settle the newest delivery
      } else {
        msg.ack();
        this.#fx.event("duplicate", { task: draft.id, streamSeq: seq });
      }
      return;
    }
    if (this.recent.has(draft.id)) {
      msg.ack();
      this.#fx.event("duplicate", { task: draft.id, streamSeq: seq });
      return;
    }
    for (const dep of draft.dependsOn) {
      const state = this.tasks.get(dep)?.state ?? this.recent.get(dep) ?? deps.get(dep);
      if (state === undefined || state === "unknown") {
        // The caller resolves every dependency first; refuse before anything is registered.
        throw new SchedulerError(
          "INTERNAL",
          `dependency ${dep} of ${draft.id} was not resolved before submit`,
        );
      }
    }
    const now = this.#clock.now();
    const { needs, key: needsKey } = this.#needsOf(draft.type, draft.requires);
    const e: TaskEntry = {
      id: draft.id,
      type: draft.type,
      payload: draft.payload,
      priority: draft.priority,
      deadline: draft.deadline,
      seq,
      timeoutMs: draft.timeoutMs,
      maxAttempts: draft.maxAttempts,
      needs,
      needsKey,
      owner: principal.sub,
      submittedAt: storedAt === undefined ? now : Math.min(storedAt, now),
      state: "queued",
      attempts: 0,
      dispatch: 0,
      worker: "",
      node: "",
      startedAt: 0,
      dispatchedAt: 0,
      history: retry ? [...retry.history] : null,
      waitingOn: 0,
      dependants: null,
      timer: null,
      msg,
      cancelRequested: null,
      mseq: 0,
      result: null,
      replaces: retry?.replaces ?? 0,
      left: null,
      right: null,
      parent: null,
    };
    this.#redelivered = redelivered;
    try {
      this.tasks.set(e.id, e);
      this.#inFlight.set(e.owner, (this.#inFlight.get(e.owner) ?? 0) + 1);
      this.stats.held++;
      this.stats.accepted++;
      if (e.deadline <= now) {
        this.#finish(e, "expired", {
          error: {
            code: "DEADLINE_EXCEEDED",
            message: `deadline ${
              new Date(e.deadline).toISOString()
            } had already passed at submission`,
          },
        });
        return;
      }
      // Dependencies: every one must be known (the caller rejected unknown ones).
      for (const dep of draft.dependsOn) {
        const d = this.tasks.get(dep);
        if (d && !d.result) {
          (d.dependants ??= []).push(e);
          e.waitingOn++;
          continue;
        }
        const state = d?.result?.state ?? this.recent.get(dep) ?? deps.get(dep);
        if (state === "succeeded") continue;
        this.#finish(e, "cancelled", {
          error: { code: "DEPENDENCY_FAILED", message: `dependency ${dep} ended ${state}` },
        });
        this.#unlinkFromDeps(e, draft.dependsOn);
        return;
      }
      if (e.deadline !== Infinity) {
        e.timer = this.#clock.setTimer(e.deadline - now, () => this.#expire(e));
      }
      const adopted = this.#adopt.get(e.id);
      if (adopted) {
        this.#adopt.delete(e.id);
        this.#adoptRunning(e, adopted);
        return;
      }
      if (e.waitingOn > 0) {
        this.#setState(e, "waiting", {
          waitingOn: e.waitingOn,
          priority: e.priority,
          type: e.type,
        });
        this.stats.waiting++;
      } else {
        this.#enqueue(e);
      }
      const early = this.#early.get(e.id);
      if (early) {
        this.#early.delete(e.id);
        this.report(early.node, early.report, true);
      }
    } finally {
      this.#redelivered = false;
    }
  }

  // ---------------------------------------------------------------- workers

  /** A node registered (or re-registered) its workers. */
  registerWorkers(node: string, workers: WorkerInfo[], draining = false): void {
    const seen = new Set<string>();
    for (const w of workers) {
      seen.add(w.id);
      const caps = [...w.capabilities, ...w.types.map((t) => `type:${t}`)];
      this.workers.upsert(w.id, node, caps, w.concurrency);
      this.workers.setAvailable(w.id, !draining);
      this.#nodeOfWorker.set(w.id, node);
      for (const t of w.types) this.#types.add(t);
    }
    for (const old of this.workers.workersOf(node)) {
      if (seen.has(old.id)) continue;
      // A worker the node no longer has: what it was running will never report.
      this.#requeueRunning((e) => e.worker === old.id, `worker ${old.id} is gone from ${node}`);
      this.workers.remove(old.id);
      this.#nodeOfWorker.delete(old.id);
    }
    this.#schedulePump();
  }

  /** Stop giving a node's workers new tasks (it is draining). */
  setNodeAvailable(node: string, available: boolean): void {
    for (const w of this.workers.workersOf(node)) this.workers.setAvailable(w.id, available);
    if (available) this.#schedulePump();
  }

  /** Has any worker ever registered this task type? */
  hasType(type: string): boolean {
    return this.#types.has(type);
  }

  /**
   * A node is gone (lost or left): forget its workers and put every task it
   * was running back in the queue, without charging the attempt.
   */
  nodeGone(node: string, reason: string): string[] {
    const requeued = this.#requeueRunning((e) => e.node === node, reason);
    for (const w of this.workers.workersOf(node)) {
      this.workers.remove(w.id);
      this.#nodeOfWorker.delete(w.id);
    }
    for (const [id, a] of this.#adopt) if (a.node === node) this.#adopt.delete(id);
    this.#schedulePump();
    return requeued;
  }

  /**
   * Put back in the queue, uncharged, every task dispatched more than
   * `olderThanMs` ago whose start was never reported: a node reports a start
   * as soon as an assignment arrives, so its assignment (or that report) was
   * lost with a connection. Should the node have it after all, its reports
   * are stale from now on (a run may happen twice; its result is stored once).
   */
  requeueUnstarted(olderThanMs: number): string[] {
    const now = this.#clock.now();
    const stuck = new Set<TaskEntry>();
    for (const e of this.tasks.values()) {
      if (e.state === "dispatched" && now - e.dispatchedAt > olderThanMs) stuck.add(e);
    }
    if (stuck.size === 0) return [];
    for (const e of stuck) if (this.workers.get(e.worker)) this.workers.release(e.worker);
    const requeued = this.#requeueRunning(
      (e) => stuck.has(e),
      `no start reported within ${olderThanMs} ms of the dispatch (assignment lost?)`,
    );
    this.#schedulePump();
    return requeued;
  }

  /** Put the running tasks that `lost` picks back in the queue, without charging the attempt. */
  #requeueRunning(lost: (e: TaskEntry) => boolean, reason: string): string[] {
    const requeued: string[] = [];
    for (const e of this.tasks.values()) {
      if ((e.state !== "dispatched" && e.state !== "running") || !lost(e)) continue;
      this.#record(e, "lost", { code: "ABANDONED", message: reason });
      e.attempts--;
      e.dispatch = 0;
      e.node = "";
      e.worker = "";
      this.stats.running--;
      if (e.cancelRequested) {
        this.#finish(e, "cancelled", { error: { code: "CANCELLED", message: e.cancelRequested } });
        continue;
      }
      if (this.#requeue(e)) requeued.push(e.id);
    }
    return requeued;
  }

  /**
   * After a takeover, a node says it runs these tasks: adopt them (their
   * submissions are being redelivered) instead of running them again.
   */
  adoptRunning(node: string, running: RunningTask[]): void {
    for (const r of running) {
      const e = this.tasks.get(r.id);
      if (!e) {
        this.#adopt.set(r.id, { ...r, node });
        continue;
      }
      if (e.state === "queued") {
        this.#removeFromReady(e);
        this.#adoptRunning(e, { ...r, node });
      }
    }
  }

  #adoptRunning(e: TaskEntry, r: RunningTask & { node: string }): void {
    e.dispatch = r.dispatch;
    e.worker = r.worker;
    e.node = r.node;
    e.attempts = Math.max(e.attempts, r.attempt);
    e.startedAt = r.startedAt;
    if (this.workers.get(r.worker)) this.workers.acquire(r.worker);
    this.stats.running++;
    this.#setState(e, "running", {
      worker: r.worker,
      attempt: e.attempts,
      type: e.type,
      adopted: true,
    });
  }

  // ---------------------------------------------------------------- reports

  /** Apply a node's report. Returns false when it was stale (fenced). */
  report(node: string, r: Report, replay = false): boolean {
    const e = this.tasks.get(r.id);
    const reportEpoch = Math.floor(r.dispatch / EPOCH_SPAN);
    if (!e || e.result) {
      const early = !e && !replay && reportEpoch < this.#epoch &&
        this.#clock.now() < this.#takeoverUntil;
      if (early && r.kind === "done") {
        // A new leader may hear an outcome before the submission is redelivered.
        this.#early.set(r.id, { node, report: r });
        return true;
      }
      if (early && r.kind === "started") {
        this.#adopt.set(r.id, {
          id: r.id,
          dispatch: r.dispatch,
          worker: r.worker,
          attempt: 1,
          startedAt: r.at,
          node,
        });
        return true;
      }
      return this.#stale(node, r, e ? "task already finished" : "unknown task");
    }
    if (e.dispatch !== r.dispatch) {
      // A run from an earlier leader that this one has not replaced: adopt it.
      const ours = e.dispatch !== 0 && Math.floor(e.dispatch / EPOCH_SPAN) === this.#epoch;
      if (reportEpoch >= this.#epoch || ours || e.state !== "queued") {
        return this.#stale(
          node,
          r,
          `dispatch ${r.dispatch} is not the current one (${e.dispatch || "none"})`,
        );
      }
      this.#removeFromReady(e);
      this.#adoptRunning(e, {
        id: e.id,
        dispatch: r.dispatch,
        worker: r.worker,
        attempt: Math.max(1, e.attempts),
        startedAt: r.kind === "done" ? r.startedAt : this.#clock.now(),
        node,
      });
    }
    switch (r.kind) {
      case "started":
        if (e.state === "dispatched" || e.state === "running") {
          e.state = "running";
          // The wait is from submission to the first start (later attempts waited on a retry);
          // a task handed back and dispatched again has started before, so it is not counted twice.
          const first = e.attempts === 1 && e.startedAt === 0;
          e.startedAt = r.at;
          this.#delta(
            e,
            first
              ? {
                state: "running",
                worker: e.worker,
                attempt: e.attempts,
                type: e.type,
                waitMs: Math.max(0, r.at - e.submittedAt),
              }
              : { state: "running", worker: e.worker, attempt: e.attempts, type: e.type },
          );
        }
        return true;
      case "progress":
        return true;
      case "refused":
        this.#release(e);
        e.attempts--;
        e.dispatch = 0;
        e.worker = "";
        e.node = "";
        this.#fx.event("refused", { task: e.id, node, reason: r.reason });
        if (e.cancelRequested) {
          // The node never ran it, so the cancel it was sent is moot: end it here.
          this.#finish(e, "cancelled", {
            error: { code: "CANCELLED", message: e.cancelRequested },
          });
          return true;
        }
        this.#requeue(e);
        return true;
      case "done":
        this.#release(e);
        this.#done(e, r);
        return true;
      default: {
        const never: never = r;
        throw new Error(`unknown report ${JSON.stringify(never)}`);
      }
    }
  }

  #stale(node: string, r: Report, why: string): false {
    this.stats.stale++;
    // Progress and hand-backs of runs this leader already took back (a fenced or
    // lost node returning its work) are expected: only a late start or outcome is news.
    if (r.kind === "started" || r.kind === "done") {
      this.#fx.event("stale", { task: r.id, node, dispatch: r.dispatch, kind: r.kind, why });
    }
    return false;
  }

  #release(e: TaskEntry): void {
    if (this.workers.get(e.worker)) this.workers.release(e.worker);
    this.stats.running--;
    this.#schedulePump();
  }

  #done(e: TaskEntry, r: Extract<Report, { kind: "done" }>): void {
    const outcome = r.outcome;
    e.history ??= [];
    e.history.push({
      attempt: e.attempts,
      worker: e.worker,
      startedAt: r.startedAt,
      endedAt: r.endedAt,
      outcome: outcome === "succeeded"
        ? "succeeded"
        : outcome === "timeout"
        ? "timeout"
        : outcome === "cancelled"
        ? "cancelled"
        : "failed",
      error: r.error,
    });
    e.startedAt = r.startedAt;
    // The attempt's own run, on the node's clock (both ends from the same machine).
    const runMs = Math.max(0, r.endedAt - r.startedAt);
    if (outcome === "succeeded") {
      this.#finish(e, "succeeded", { result: r.result, runMs });
      return;
    }
    if (outcome === "cancelled" || e.cancelRequested) {
      this.#finish(e, "cancelled", {
        error: { code: "CANCELLED", message: e.cancelRequested ?? r.error?.message ?? "cancelled" },
        runMs,
      });
      return;
    }
    const error = r.error ?? { code: "HANDLER_ERROR" as const, message: outcome };
    if (outcome === "unrecoverable" || e.attempts >= e.maxAttempts) {
      const why = outcome === "unrecoverable" ? error : {
        code: error.code,
        message: `${error.message} (attempt ${e.attempts} of ${e.maxAttempts}; no attempts left)`,
      };
      this.#finish(e, "failed", { error: why, runMs });
      return;
    }
    const now = this.#clock.now();
    if (e.deadline <= now) {
      // No later attempt could start in time.
      this.#finish(e, "expired", { error: this.#deadlineError(e) });
      return;
    }
    const base = Math.min(this.#retryMaxMs, this.#retryBaseMs * 2 ** (e.attempts - 1));
    const delay = r.retryAfterMs ?? Math.round(base / 2 + this.#random() * base / 2);
    e.dispatch = 0;
    e.node = "";
    this.stats.retrying++;
    this.#setState(e, "retrying", { attempt: e.attempts, retryInMs: delay, error });
    e.timer?.cancel();
    // Wake at the deadline if it comes first: the task expires then, not after the backoff.
    e.timer = this.#clock.setTimer(Math.min(delay, e.deadline - now), () => {
      e.timer = null;
      if (e.state !== "retrying") return;
      this.stats.retrying--;
      this.#requeue(e);
    });
  }

  // ---------------------------------------------------------------- cancel & status

  /** Cancel a task (authorisation is the caller's). */
  cancel(id: string, reason: string): CancelOutcome {
    const e = this.tasks.get(id);
    if (!e) {
      const state = this.recent.get(id);
      if (state) {
        return {
          ok: false,
          id,
          state,
          error: { code: "INVALID_ARGUMENT", message: `task ${id} already ended ${state}` },
        };
      }
      return { ok: false, id, error: { code: "NOT_FOUND", message: `no active task ${id}` } };
    }
    const was = e.state;
    if (e.result) {
      return {
        ok: false,
        id,
        state: e.state,
        error: { code: "INVALID_ARGUMENT", message: `task ${id} already ended ${e.state}` },
      };
    }
    if (was === "dispatched" || was === "running") {
      e.cancelRequested = reason;
      this.#fx.cancelOnNode(e.node, e.id, e.dispatch, reason);
      this.#delta(e, { cancelling: true });
      return { ok: true, id, state: "cancelling", was };
    }
    if (was === "queued") this.#removeFromReady(e);
    if (was === "retrying") this.stats.retrying--;
    if (was === "waiting") this.stats.waiting--;
    this.#finish(e, "cancelled", { error: { code: "CANCELLED", message: reason } });
    return { ok: true, id, state: "cancelled", was };
  }

  /** Who owns a held task (for "cancel own"). */
  ownerOf(id: string): string | undefined {
    return this.tasks.get(id)?.owner;
  }

  /** Tasks of `owner` held and not ended (waiting, queued, running, retrying). */
  inFlight(owner: string): number {
    return this.#inFlight.get(owner) ?? 0;
  }

  /** Owners with tasks in flight (for tests). */
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

  // ---------------------------------------------------------------- results

  /** The result of a task is stored: settle its message and forget it. */
  resultStored(id: string): void {
    const e = this.tasks.get(id);
    if (!e || !e.result) return;
    e.msg.ack();
    this.tasks.delete(id);
    this.stats.held--;
  }

  /** Publish a rejection for a submission that never became a task. */
  rejected(id: string, type: string, error: ErrorInfo, msg: Settle): TaskResult | null {
    if (this.tasks.has(id) || this.recent.has(id)) {
      // Never overwrite the outcome of a real task with a rejection of its duplicate.
      msg.ack();
      this.#fx.event("duplicate", { task: id, rejected: error.code });
      return null;
    }
    const now = this.#clock.now();
    const result: TaskResult = {
      id,
      type,
      state: "rejected",
      attempts: 0,
      durationMs: 0,
      error,
      finishedAt: new Date(now).toISOString(),
    };
    this.#remember(id, "rejected");
    this.#fx.taskDelta(id, { seq: 1, id, state: "rejected", error });
    return result;
  }

  // ---------------------------------------------------------------- internals

  #needsOf(type: string, requires: readonly string[]): { needs: readonly string[]; key: string } {
    const probe = requires.length === 0 ? type : `${type}\u0001${requires.join("\u0000")}`;
    let n = this.#needs.get(probe);
    if (!n) {
      const needs = [...requires, `type:${type}`].sort();
      n = { needs, key: needs.join("\u0000") };
      if (this.#needs.size < 10_000) this.#needs.set(probe, n);
    }
    return n;
  }

  #enqueue(e: TaskEntry): void {
    let heap = this.#ready.get(e.needsKey);
    if (!heap) {
      heap = new SkewHeap<TaskEntry>(runsBefore);
      this.#ready.set(e.needsKey, heap);
    }
    heap.push(e);
    e.state = "queued";
    this.stats.queued++;
    this.stats.queuedByPriority[e.priority]++;
    this.#delta(e, { state: "queued", priority: e.priority, type: e.type, attempt: e.attempts });
    this.#schedulePump();
  }

  /**
   * Put a task that has run (or was sent to run) back in the queue. Its
   * deadline timer was dropped at dispatch, so arm it again, or expire the
   * task now if the deadline has passed. Returns false when it expired.
   */
  #requeue(e: TaskEntry): boolean {
    e.timer?.cancel();
    e.timer = null;
    const now = this.#clock.now();
    if (e.deadline <= now) {
      this.#finish(e, "expired", { error: this.#deadlineError(e) });
      return false;
    }
    if (e.deadline !== Infinity) {
      e.timer = this.#clock.setTimer(e.deadline - now, () => this.#expire(e));
    }
    this.#enqueue(e);
    return true;
  }

  #removeFromReady(e: TaskEntry): void {
    const heap = this.#ready.get(e.needsKey);
    if (heap?.remove(e)) {
      this.stats.queued--;
      this.stats.queuedByPriority[e.priority]--;
    }
  }

  #schedulePump(): void {
    if (this.#pumpPending || this.#paused) return;
    this.#pumpPending = true;
    queueMicrotask(() => {
      this.#pumpPending = false;
      this.pump();
    });
  }

  /**
   * Dispatch while some ready task has a free worker: each round takes the
   * best task among the queue heads whose requirements a free worker meets.
   * O(k) per decision in the number of requirement sets in use.
   */
  pump(): number {
    if (this.#paused) return 0;
    const batches = new Map<string, Assignment[]>();
    let n = 0;
    for (;;) {
      let best: TaskEntry | undefined;
      let bestHeap: SkewHeap<TaskEntry> | undefined;
      for (const [key, heap] of this.#ready) {
        const top = heap.peek();
        if (!top) {
          this.#ready.delete(key);
          continue;
        }
        if (best && !runsBefore(top, best)) continue;
        if (!this.workers.choose(top.needs)) continue;
        best = top;
        bestHeap = heap;
      }
      if (!best || !bestHeap) break;
      const w = this.workers.choose(best.needs)!;
      bestHeap.pop();
      this.stats.queued--;
      this.stats.queuedByPriority[best.priority]--;
      this.workers.acquire(w.id);
      best.timer?.cancel();
      best.timer = null;
      best.attempts++;
      best.dispatch = this.#epoch * EPOCH_SPAN + (++this.#dispatchSeq % EPOCH_SPAN);
      best.worker = w.id;
      best.node = w.node;
      best.state = "dispatched";
      best.dispatchedAt = this.#clock.now();
      this.stats.running++;
      this.#delta(best, { state: "dispatched", worker: w.id, attempt: best.attempts });
      let batch = batches.get(w.node);
      if (!batch) batches.set(w.node, batch = []);
      batch.push({
        id: best.id,
        type: best.type,
        payload: best.payload,
        dispatch: best.dispatch,
        worker: w.id,
        attempt: best.attempts,
        maxAttempts: best.maxAttempts,
        timeoutMs: best.timeoutMs,
        deadline: best.deadline === Infinity ? null : best.deadline,
      });
      n++;
    }
    for (const [node, tasks] of batches) this.#fx.assign(node, tasks);
    return n;
  }

  #expire(e: TaskEntry): void {
    e.timer = null;
    if (e.state !== "queued" && e.state !== "waiting" && e.state !== "retrying") return;
    if (e.state === "queued") this.#removeFromReady(e);
    if (e.state === "waiting") this.stats.waiting--;
    if (e.state === "retrying") this.stats.retrying--;
    this.#finish(e, "expired", { error: this.#deadlineError(e) });
  }

  #deadlineError(e: TaskEntry): ErrorInfo {
    return {
      code: "DEADLINE_EXCEEDED",
      message: `deadline ${new Date(e.deadline).toISOString()} passed before the task could ${
        e.attempts > 0 ? "run again" : "start"
      }`,
    };
  }

  #finish(
    e: TaskEntry,
    state: TerminalState,
    fields: { result?: unknown; error?: ErrorInfo; runMs?: number },
  ): void {
    if (e.result) return;
    const held = this.#inFlight.get(e.owner) ?? 0;
    if (held > 1) this.#inFlight.set(e.owner, held - 1);
    else this.#inFlight.delete(e.owner);
    e.timer?.cancel();
    e.timer = null;
    const now = this.#clock.now();
    const result: TaskResult = {
      id: e.id,
      type: e.type,
      state,
      attempts: e.attempts,
      durationMs: now - e.submittedAt,
      worker: e.worker || undefined,
      finishedAt: new Date(now).toISOString(),
      submittedAt: new Date(e.submittedAt).toISOString(),
    };
    if (e.startedAt) result.startedAt = new Date(e.startedAt).toISOString();
    if (fields.result !== undefined) result.result = fields.result;
    if (fields.error) result.error = fields.error;
    // A success's attempts are of no interest, unless it was retried by hand.
    if (e.history && (state !== "succeeded" || e.replaces > 0)) result.history = e.history;
    e.result = result;
    e.state = state;
    this.stats.finished++;
    this.#remember(e.id, state);
    const end: Record<string, unknown> = { state, attempts: e.attempts, type: e.type };
    if (fields.error) end.error = fields.error;
    if (fields.runMs !== undefined) end.runMs = fields.runMs;
    if (e.replaces > 0) end.replaces = e.replaces;
    this.#delta(e, end);
    if (state === "failed") this.#fx.deadLetter(e, result);
    e.payload = undefined;
    this.#fx.publishResult(e, result);
    this.#settleDependants(e, state);
  }

  #settleDependants(e: TaskEntry, state: TerminalState): void {
    const deps = e.dependants;
    e.dependants = null;
    if (!deps) return;
    for (const d of deps) {
      if (d.result || d.state !== "waiting") continue;
      if (state === "succeeded") {
        if (--d.waitingOn === 0) {
          this.stats.waiting--;
          this.#enqueue(d);
        }
      } else {
        this.stats.waiting--;
        this.#finish(d, "cancelled", {
          error: { code: "DEPENDENCY_FAILED", message: `dependency ${e.id} ended ${state}` },
        });
      }
    }
  }

  #unlinkFromDeps(e: TaskEntry, deps: readonly string[]): void {
    for (const dep of deps) {
      const d = this.tasks.get(dep);
      if (d?.dependants) d.dependants = d.dependants.filter((x) => x !== e);
    }
  }

  #remember(id: string, state: TerminalState): void {
    this.recent.set(id, state);
    if (this.recent.size > this.#recentLimit) this.recent.delete(this.recent.keys().next().value!);
  }

  #record(e: TaskEntry, outcome: AttemptRecord["outcome"], error?: ErrorInfo): void {
    (e.history ??= []).push({
      attempt: e.attempts,
      worker: e.worker,
      startedAt: e.startedAt,
      endedAt: this.#clock.now(),
      outcome,
      error,
    });
  }

  #setState(e: TaskEntry, state: TaskState, extra: Record<string, unknown>): void {
    e.state = state;
    this.#delta(e, { state, ...extra });
  }

  #delta(e: TaskEntry, fields: Record<string, unknown>): void {
    // The first announcement of a submission delivered before (to a leader before this one):
    // monitors counted it then.
    if (e.mseq === 0 && this.#redelivered) fields = { ...fields, redelivered: true };
    this.#fx.taskDelta(e.id, { id: e.id, seq: ++e.mseq, ...fields });
  }
}
