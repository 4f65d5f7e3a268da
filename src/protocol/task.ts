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
  attempt: number;
  worker: string;
  startedAt: number;
  endedAt: number;
  outcome: "succeeded" | "failed" | "timeout" | "cancelled" | "lost" | "retried";
  error?: ErrorInfo;
  /** For `retried`: who asked (`tasks.retry`); the attempts after it have a fresh budget. */
  by?: string;
}

/** The final outcome of a task, published once on `tasks.result.<id>`. */
export interface TaskResult {
  id: string;
  type: string;
  state: TerminalState;
  attempts: number;
  /** From acceptance to the terminal state. */
  durationMs: number;
  worker?: string;
  result?: unknown;
  error?: ErrorInfo;
  submittedAt?: string;
  /** When the last attempt started on its worker. */
  startedAt?: string;
  finishedAt: string;
  history?: AttemptRecord[];
}

/** A progress event, on `tasks.progress.<id>`. */
export interface ProgressEvent {
  id: string;
  progress: number;
  message?: string;
  attempt: number;
  worker: string;
}
