/**
 * Task shapes on the wire and inside the scheduler.
 *
 * @module
 */

import type { ErrorInfo } from "../errors.ts";

declare const taskIdBrand: unique symbol;
declare const nodeIdBrand: unique symbol;

/** A task id: also the last token of `tasks.result.<id>`. */
export type TaskId = string & { readonly [taskIdBrand]: true };
/** A worker node id: the last token of `monitor.worker.<node>`. */
export type NodeId = string & { readonly [nodeIdBrand]: true };

/** Every state a task can be in. */
export type TaskState =
  | "queued"
  | "waiting"
  | "dispatched"
  | "running"
  | "retrying"
  | "succeeded"
  | "failed"
  | "expired"
  | "cancelled"
  | "rejected";

/** The states a task ends in; each task reaches exactly one, once. */
export type TerminalState = "succeeded" | "failed" | "expired" | "cancelled" | "rejected";

const TERMINAL: ReadonlySet<string> = new Set<TerminalState>([
  "succeeded",
  "failed",
  "expired",
  "cancelled",
  "rejected",
]);

/** Is this state final? */
export function isTerminal(state: TaskState): state is TerminalState {
  return TERMINAL.has(state);
}

/** Who submitted a task, from the verified token. */
export interface Principal {
  sub: string;
  roles: readonly string[];
  /** Task types this token may submit; absent means any. */
  types?: readonly string[];
}

/** A validated task, ready for the scheduler. */
export interface TaskSpec {
  id: TaskId;
  type: string;
  payload: unknown;
  /** 0..9, higher first. */
  priority: number;
  /** Epoch ms, or `Infinity` when there is none. */
  deadline: number;
  timeoutMs: number;
  maxAttempts: number;
  requires: readonly string[];
  dependsOn: readonly TaskId[];
  /** Epoch ms at which the scheduler accepted it. */
  submittedAt: number;
  principal: Principal;
}

/** One attempt in a task's history. */
export interface AttemptRecord {
  /** 1 for the first attempt (0 for a `retried` record). */
  attempt: number;
  /** The worker that ran it, `<node>/w<index>`. */
  worker: string;
  /** _Epoch ms_ the attempt started. */
  startedAt: number;
  /** _Epoch ms_ it ended. */
  endedAt: number;
  /** How it ended: `lost` when its node was lost or cut off (not charged as an attempt). */
  outcome: "succeeded" | "failed" | "timeout" | "cancelled" | "lost" | "retried";
  /** Why, when it did not succeed. */
  error?: ErrorInfo;
  /** For `retried`: who asked (`tasks.retry`); the attempts after it have a fresh budget. */
  by?: string;
}

/** The final outcome of a task, published once on `tasks.result.<id>`. */
export interface TaskResult {
  /** The task's id. */
  id: string;
  /** Its task type. */
  type: string;
  /** The state it ended in. */
  state: TerminalState;
  /** Attempts made (0 when it never ran). */
  attempts: number;
  /** From `submittedAt` to the terminal state (0 for `rejected`). */
  durationMs: number;
  /** The last worker, once dispatched. */
  worker?: string;
  /** What the handler returned, for `succeeded`. */
  result?: unknown;
  /** Why, for every state but `succeeded`. */
  error?: ErrorInfo;
  /** ISO time the `TASKS` stream stored the submission. */
  submittedAt?: string;
  /** When the last attempt started on its worker. */
  startedAt?: string;
  /** ISO time the terminal state was reached. */
  finishedAt: string;
  /** One record per attempt, for every state but `succeeded` (and for a retried task). */
  history?: AttemptRecord[];
}

/** A progress event, on `tasks.progress.<id>`. */
export interface ProgressEvent {
  /** The task's id. */
  id: string;
  /** 0..1. */
  progress: number;
  /** What the handler said it is doing. */
  message?: string;
  /** The attempt reporting it. */
  attempt: number;
  /** The worker running it. */
  worker: string;
}
