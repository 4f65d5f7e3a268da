/**
 * The handler contract: a task handler is an async generator that `yield`s
 * progress and `return`s its result. It gets an AbortSignal for timeouts,
 * cancellation and shutdown, and may throw {@link Unrecoverable} (no retry)
 * or {@link RetryAfter} (retry after a given delay).
 *
 * @example
 * ```ts
 * export const handler: TaskHandler<{ ms: number }, { slept: number }> = async function* (p, ctx) {
 *   for (let i = 1; i <= 4; i++) {
 *     await ctx.sleep(p.ms / 4);
 *     yield { progress: i / 4 };
 *   }
 *   return { slept: p.ms };
 * };
 * ```
 *
 * @module
 */

import { type ErrorCode, SchedulerError } from "./errors.ts";
import type { Logger } from "./log.ts";

/** A progress report: `progress` from 0 to 1, and an optional message. */
export interface Progress {
  /** 0..1 (clamped). */
  progress: number;
  /** What the handler is doing (up to 500 characters are passed on). */
  message?: string;
}

/** What a handler gets besides its payload. */
export interface TaskContext {
  /** The task's id. */
  readonly id: string;
  /** Its task type. */
  readonly type: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** Attempts it may have in all. */
  readonly maxAttempts: number;
  /** Aborted on timeout, cancel and shutdown; `signal.reason` says which. */
  readonly signal: AbortSignal;
  /** The node's log, with the task's id on every line. */
  readonly log: Logger;
  /** Resolves after `ms`, rejects with the abort reason when the signal aborts first. */
  sleep(ms: number): Promise<void>;
  /**
   * The folders file-touching handlers may work in (TASK_SCHEDULER_FS_ROOTS),
   * as real paths; empty: none, so every path is refused. Check a payload path
   * with `checkPath(path, ctx.fsRoots, "type: field")` from src/fs_roots.ts.
   */
  readonly fsRoots: readonly string[];
  /**
   * The hosts (`name` or `name:port`) network handlers may reach
   * (TASK_SCHEDULER_HTTP_ALLOW); empty: any. See src/http_allow.ts.
   */
  readonly httpAllow: readonly string[];
}

/** A task handler. */
export type TaskHandler<P = unknown, R = unknown> = (
  payload: P,
  ctx: TaskContext,
) => AsyncGenerator<Progress, R, void>;

/** How a handler module describes itself. */
export interface HandlerDefinition<P = unknown, R = unknown> {
  /** The task type it serves: the `<type>` of `tasks.submit.<type>`. */
  type: string;
  /** The handler itself: an async generator that yields progress and returns the result. */
  handler: TaskHandler<P, R>;
  /**
   * Run in the worker thread pool rather than on the node's event loop: for
   * handlers that burn CPU. The module must then be importable by URL.
   */
  pool?: boolean;
  /** Capabilities a worker needs to run this type (added to the task's `requires`). */
  requires?: readonly string[];
}

/**
 * Thrown by a handler: fail the task now, no more attempts. Its code is
 * UNRECOVERABLE unless `options.code` names a more precise one, such as
 * PERMISSION_DENIED for a path outside the allowed folders.
 */
export class Unrecoverable extends SchedulerError {
  /** The error's name. */
  override name = "Unrecoverable";
  /** A failure no attempt will mend, with a message that names the problem. */
  constructor(message: string, options?: { cause?: unknown; code?: ErrorCode }) {
    super(options?.code ?? "UNRECOVERABLE", message, options);
  }
}

/** Thrown by a handler: this attempt failed, try again after `delayMs`. */
export class RetryAfter extends SchedulerError {
  /** The error's name. */
  override name = "RetryAfter";
  /** Try again after `delayMs` instead of the usual backoff. */
  constructor(readonly delayMs: number, message = `retry after ${delayMs} ms`) {
    super("HANDLER_ERROR", message);
  }
}
