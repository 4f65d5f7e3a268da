/**
 * Messages between the leading scheduler and worker nodes. In one process
 * they travel as objects through local refs; across processes as JSON on the
 * `sched.*` subjects. Every assignment carries the leader's epoch and a
 * dispatch number: a worker refuses assignments from an older epoch, and the
 * scheduler accepts an outcome only for the task's current dispatch, so a
 * deposed leader or a node declared lost cannot change a task twice.
 *
 * @module
 */

import type { ErrorInfo } from "../errors.ts";
import type { Progress } from "../handler.ts";

/** One task handed to one worker. */
export interface Assignment {
  id: string;
  type: string;
  payload: unknown;
  /** Unique per (task, attempt, leader): the fencing token of this run. */
  dispatch: number;
  /** The worker actor within the node. */
  worker: string;
  attempt: number;
  maxAttempts: number;
  timeoutMs: number;
  /** Epoch ms, or null for none. */
  deadline: number | null;
}

/** Scheduler to node. */
export type ToNode =
  | { type: "task.assign"; epoch: number; leader: string; tasks: Assignment[] }
  | { type: "task.cancel"; epoch: number; id: string; dispatch: number; reason: string }
  /** The leader has these outcomes durably; the node may forget them. */
  | { type: "report.ack"; epoch: number; dispatches: number[] }
  /** The node was declared lost: abandon what it runs and rejoin under a new incarnation. */
  | { type: "node.fenced"; epoch: number; incarnation: number; reason: string }
  /** A new leader asks for the node's registration and everything it runs. */
  | { type: "node.sync"; epoch: number; leader: string };

/** How an attempt ended on the worker. */
export type AttemptOutcome =
  | "succeeded"
  | "failed"
  | "timeout"
  | "cancelled"
  | "abandoned"
  | "unrecoverable";

/** One report from a node. */
export type Report =
  | { kind: "started"; id: string; dispatch: number; worker: string; attempt: number; at: number }
  | { kind: "progress"; id: string; dispatch: number; worker: string; progress: Progress }
  | {
    kind: "done";
    id: string;
    dispatch: number;
    worker: string;
    outcome: AttemptOutcome;
    result?: unknown;
    error?: ErrorInfo;
    startedAt: number;
    endedAt: number;
    /** A handler asked to be retried after this long. */
    retryAfterMs?: number;
  }
  /** The node would not take an assignment (stale epoch, shutting down, unknown worker). */
  | { kind: "refused"; id: string; dispatch: number; worker: string; reason: string };

/** A worker actor as registered with the scheduler. */
export interface WorkerInfo {
  /** `<node>/<index>`. */
  id: string;
  concurrency: number;
  capabilities: string[];
  types: string[];
}

/** A task running on a node, as the node reports it to a new leader. */
export interface RunningTask {
  id: string;
  dispatch: number;
  worker: string;
  attempt: number;
  startedAt: number;
}

/** Node to scheduler. */
export type ToScheduler =
  | { type: "node.reports"; node: string; incarnation: number; epoch: number; reports: Report[] }
  | {
    type: "node.hello";
    node: string;
    incarnation: number;
    workers: WorkerInfo[];
    running: RunningTask[];
    draining: boolean;
  }
  | { type: "node.leaving"; node: string; incarnation: number; handedBack: string[] };
