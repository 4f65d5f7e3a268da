/**
 * What the pieces of the scheduler core share: the effects port, the
 * counters, and {@link CoreParts}, the one bundle of state that
 * `SchedulerCore` (core.ts) builds and hands to each piece (the task table,
 * the ready queues, the lifecycle rules, reports and takeover).
 *
 * @module
 */

import type { Assignment, Clock, TaskResult, WorkerIndex } from "../../src/internal_mod.ts";
import type { ReadyQueues } from "./ready.ts";
import type { TaskEntry, TaskTable } from "./task_table.ts";
import type { TaskDelta } from "./task_deltas.ts";

/** What the scheduler asks of the world. */
export interface SchedulerEffects {
  /** Hand tasks to a node (one call per node per dispatch round). */
  assign(node: string, tasks: Assignment[]): void;
  /** Ask a node to abort a running task. */
  cancelOnNode(node: string, id: string, dispatch: number, reason: string): void;
  /** Publish the result durably, then call `SchedulerCore.resultStored`. */
  publishResult(entry: TaskEntry, result: TaskResult): void;
  /** Keep a task that used up its attempts, with its history. */
  deadLetter(entry: TaskEntry, result: TaskResult): void;
  /** A delta on `monitor.task.<id>`. */
  taskDelta(id: string, delta: TaskDelta): void;
  /** Something worth reporting on `monitor.scheduler.<id>` (stale results, lost nodes). */
  event(kind: string, detail: Record<string, unknown>): void;
}

/** Counters for `monitor.scheduler.<id>` and benchmarks. */
export interface CoreStats {
  /** Tasks held: not ended, or ended and not yet stored. */
  held: number;
  /** Tasks in the ready queues. */
  queued: number;
  /** Tasks waiting on dependencies. */
  waiting: number;
  /** Tasks waiting out a backoff. */
  retrying: number;
  /** Tasks dispatched or running. */
  running: number;
  /** Submissions accepted since the core began. */
  accepted: number;
  /** Tasks ended since the core began. */
  finished: number;
  /** Reports fenced off as stale. */
  stale: number;
  /** Tasks queued, by priority 0..9 (their sum is `queued`). */
  queuedByPriority: number[];
}

/** A dispatch number is `epoch * EPOCH_SPAN + n`: the leader's epoch is part of it. */
export const EPOCH_SPAN = 1_000_000_000;

/** The epoch a dispatch number was made in. */
export function epochOf(dispatch: number): number {
  return Math.floor(dispatch / EPOCH_SPAN);
}

/** The state every piece of one core shares. */
export interface CoreParts {
  /** Time and timers. */
  readonly clock: Clock;
  /** The world. */
  readonly fx: SchedulerEffects;
  /** The leader's epoch. */
  readonly epoch: number;
  /** The counters (`SchedulerCore.stats`). */
  readonly stats: CoreStats;
  /** Held and recent tasks. */
  readonly table: TaskTable;
  /** Queued tasks. */
  readonly ready: ReadyQueues;
  /** Workers and their free slots. */
  readonly workers: WorkerIndex;
  /** Dispatch soon (in a microtask), unless paused or already due. */
  schedulePump(): void;
}
