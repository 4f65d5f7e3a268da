/**
 * The scheduler's logic, free of I/O: the task table, the ready queues (one
 * per distinct requirement set), the worker index, dependencies, retries,
 * deadlines and every lifecycle transition. What it wants done in the world
 * it asks of a {@link SchedulerEffects} port, so tests run it with a
 * recording port and a manual clock.
 *
 * Lifecycle: `queued → dispatched → running → succeeded | failed | expired |
 * cancelled`, `waiting` before `queued` while dependencies run, `retrying`
 * between attempts, and `rejected` at the edge.
 *
 * {@link SchedulerCore} is the coordinator; the pieces live beside it:
 * task_table.ts (task records, the table, status), ready.ts (ready queues),
 * deps.ts (dependencies), lifecycle.ts (transitions, retries, results),
 * reports.ts (nodes' reports), nodes.ts (workers registered and lost),
 * takeover.ts (early reports and adoption after a takeover), core_parts.ts
 * (the port, the counters, the shared state).
 *
 * @module
 */

import {
  type AttemptRecord,
  type Clock,
  type ErrorInfo,
  type Principal,
  SchedulerError,
  type SubmissionDraft,
  type TaskResult,
  type TaskState,
  type TerminalState,
  WorkerIndex,
} from "../../src/internal_mod.ts";
import type { Assignment, Report, RunningTask, WorkerInfo } from "../../src/internal_mod.ts";
import { type CoreParts, type CoreStats, EPOCH_SPAN, type SchedulerEffects } from "./core_parts.ts";
import { waitOnDependencies } from "./deps.ts";
import { type CancelOutcome, Lifecycle } from "./lifecycle.ts";
import { Nodes } from "./nodes.ts";
import { ReadyQueues } from "./ready.ts";
import { Reports } from "./reports.ts";
import { Takeover } from "./takeover.ts";
import { type Settle, type StatusView, TaskEntry, TaskTable } from "./task_table.ts";
import type { ChurnMap } from "../../src/runtime/churn_map.ts";

export type { CoreStats, SchedulerEffects } from "./core_parts.ts";
export type { CancelOutcome } from "./lifecycle.ts";
export type { Settle, StatusView } from "./task_table.ts";
export { TaskEntry } from "./task_table.ts";

/** Tuning of the core. */
export interface CoreOptions {
  /** Time and timers. */
  clock: Clock;
  /** The world. */
  effects: SchedulerEffects;
  /** The leader's epoch: part of every dispatch number. */
  epoch: number;
  /** Backoff before the second attempt; it doubles with each attempt after. */
  retryBaseMs: number;
  /** The longest backoff. */
  retryMaxMs: number;
  /** Jitter source (default `Math.random`). */
  random?: () => number;
  /** Terminal task ids remembered for de-duplication and status. */
  recentLimit?: number;
}

/** The scheduler's state and rules. */
export class SchedulerCore {
  readonly workers = new WorkerIndex();
  readonly tasks: ChurnMap<string, TaskEntry>;
  /** Terminal states of recent tasks, oldest first, for de-duplication and status. */
  readonly recent: Map<string, TerminalState>;
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
  readonly #table: TaskTable;
  readonly #ready: ReadyQueues;
  readonly #life: Lifecycle;
  readonly #takeover: Takeover;
  readonly #reports: Reports;
  readonly #nodes: Nodes;
  readonly #clock: Clock;
  readonly #fx: SchedulerEffects;
  readonly #epoch: number;
  #dispatchSeq = 0;
  #pumpPending = false;
  #paused = false;

  /** An empty core, not paused. */
  constructor(o: CoreOptions) {
    this.#clock = o.clock;
    this.#fx = o.effects;
    this.#epoch = o.epoch;
    this.#table = new TaskTable(o.recentLimit ?? 100_000);
    this.tasks = this.#table.tasks;
    this.recent = this.#table.recent;
    this.#ready = new ReadyQueues(this.stats);
    const parts: CoreParts = {
      clock: o.clock,
      fx: o.effects,
      epoch: o.epoch,
      stats: this.stats,
      table: this.#table,
      ready: this.#ready,
      workers: this.workers,
      schedulePump: () => this.#schedulePump(),
    };
    this.#life = new Lifecycle(parts, {
      retryBaseMs: o.retryBaseMs,
      retryMaxMs: o.retryMaxMs,
      random: o.random ?? Math.random,
    });
    this.#takeover = new Takeover(parts, this.#life);
    this.#reports = new Reports(parts, this.#life, this.#takeover);
    this.#nodes = new Nodes(parts, this.#life);
  }

  /** The leader's epoch. */
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
    this.#takeover.begin(windowMs);
  }

  /** Dispatch again after {@link pause}. */
  resume(): void {
    this.#paused = false;
    this.#schedulePump();
  }

  /** Forget a finished id (a rejected one, so that it may be used again). */
  forget(id: string): void {
    this.#table.forget(id);
  }

  /** Is this id active or recently finished? */
  knows(id: string): TaskState | undefined {
    return this.#table.knows(id);
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
    const e = new TaskEntry(
      draft,
      principal.sub,
      seq,
      msg,
      this.#table.requirementsOf(draft.type, draft.requires),
      storedAt === undefined ? now : Math.min(storedAt, now),
    );
    if (retry) {
      e.history = [...retry.history];
      e.replaces = retry.replaces;
    }
    this.#life.redelivered = redelivered;
    try {
      this.#admit(e, draft.dependsOn, deps, now);
    } finally {
      this.#life.redelivered = false;
    }
  }

  /** Hold a new task and take it as far as it goes: ended, waiting, running or queued. */
  #admit(
    e: TaskEntry,
    dependsOn: readonly string[],
    deps: ReadonlyMap<string, TerminalState | "unknown">,
    now: number,
  ): void {
    this.#table.add(e);
    this.stats.held++;
    this.stats.accepted++;
    if (e.deadline <= now) {
      this.#life.finish(e, "expired", {
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
    const failed = waitOnDependencies(this.#table, e, dependsOn, deps);
    if (failed) {
      this.#life.finish(e, "cancelled", {
        error: {
          code: "DEPENDENCY_FAILED",
          message: `dependency ${failed.dep} ended ${failed.state}`,
        },
      });
      return;
    }
    this.#life.armDeadline(e, now);
    const adopted = this.#takeover.takeRun(e.id);
    if (adopted) {
      this.#takeover.adopt(e, adopted);
      return;
    }
    if (e.waitingOn > 0) {
      this.#life.setState(e, "waiting", {
        waitingOn: e.waitingOn,
        priority: e.priority,
        type: e.type,
      });
      this.stats.waiting++;
    } else {
      this.#life.enqueue(e);
    }
    const early = this.#takeover.takeEarly(e.id);
    if (early) this.report(early.node, early.report, true);
  }

  // ---------------------------------------------------------------- workers

  /** A node registered (or re-registered) its workers. */
  registerWorkers(node: string, workers: WorkerInfo[], draining = false): void {
    this.#nodes.register(node, workers, draining);
  }

  /** Stop giving a node's workers new tasks (it is draining). */
  setNodeAvailable(node: string, available: boolean): void {
    this.#nodes.setAvailable(node, available);
  }

  /** Has any worker ever registered this task type? */
  hasType(type: string): boolean {
    return this.#nodes.hasType(type);
  }

  /**
   * A node is gone (lost or left): forget its workers and put every task it
   * was running back in the queue, without charging the attempt.
   */
  nodeGone(node: string, reason: string): string[] {
    const requeued = this.#nodes.gone(node, reason);
    this.#takeover.nodeGone(node);
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
    return this.#nodes.requeueUnstarted(olderThanMs);
  }

  /**
   * After a takeover, a node says it runs these tasks: adopt them (their
   * submissions are being redelivered) instead of running them again.
   */
  adoptRunning(node: string, running: RunningTask[]): void {
    this.#takeover.adoptRunning(node, running);
  }

  // ---------------------------------------------------------------- reports

  /** Apply a node's report. Returns false when it was stale (fenced). */
  report(node: string, r: Report, replay = false): boolean {
    return this.#reports.report(node, r, replay);
  }

  // ---------------------------------------------------------------- cancel & status

  /** Cancel a task (authorisation is the caller's). */
  cancel(id: string, reason: string): CancelOutcome {
    return this.#life.cancel(id, reason);
  }

  /** Who owns a held task (for "cancel own"). */
  ownerOf(id: string): string | undefined {
    return this.tasks.get(id)?.owner;
  }

  /** Tasks of `owner` held and not ended (waiting, queued, running, retrying). */
  inFlight(owner: string): number {
    return this.#table.inFlight(owner);
  }

  /** Owners with tasks in flight (for tests). */
  get inFlightOwners(): number {
    return this.#table.inFlightOwners;
  }

  /** The state of a held or recently finished task. */
  status(id: string): StatusView | { id: string; state: TerminalState } | undefined {
    return this.#table.status(id);
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
    this.#table.remember(id, "rejected");
    this.#fx.taskDelta(id, { seq: 1, id, state: "rejected", error });
    return result;
  }

  // ---------------------------------------------------------------- dispatch

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
      const e = this.#ready.takeBest(this.workers);
      if (!e) break;
      const w = this.workers.choose(e.needs)!;
      this.workers.acquire(w.id);
      e.timer?.cancel();
      e.timer = null;
      e.attempts++;
      const dispatch = this.#epoch * EPOCH_SPAN + (++this.#dispatchSeq % EPOCH_SPAN);
      e.dispatched(dispatch, w.id, w.node, this.#clock.now());
      e.state = "dispatched";
      this.stats.running++;
      this.#life.delta(e, { state: "dispatched", worker: w.id, attempt: e.attempts });
      let batch = batches.get(w.node);
      if (!batch) batches.set(w.node, batch = []);
      batch.push({
        id: e.id,
        type: e.type,
        payload: e.payload,
        dispatch,
        worker: w.id,
        attempt: e.attempts,
        maxAttempts: e.maxAttempts,
        timeoutMs: e.timeoutMs,
        deadline: e.deadline === Infinity ? null : e.deadline,
      });
      n++;
    }
    for (const [node, tasks] of batches) this.#fx.assign(node, tasks);
    return n;
  }
}
