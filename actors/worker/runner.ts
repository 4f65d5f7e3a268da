/**
 * Running one attempt of a handler: build its context, pull its generator,
 * pass progress on, and turn however it ends into an {@link AttemptResult}.
 * Used on the node's event loop and inside the pool's threads alike.
 *
 * @module
 */

import {
  type ErrorInfo,
  type HandlerDefinition,
  type Logger,
  type Progress,
  RetryAfter,
  SchedulerError,
  type TaskContext,
  Unrecoverable,
} from "../../src/internal_mod.ts";

/** Why a task's signal was aborted. */
export class AbortReason extends SchedulerError {
  override name = "AbortReason";
  constructor(readonly kind: "timeout" | "cancel" | "shutdown" | "fenced", message: string) {
    super(kind === "timeout" ? "TIMEOUT" : "CANCELLED", message);
  }
}

/** How one attempt ended. */
export type AttemptResult =
  | { outcome: "succeeded"; result: unknown }
  | {
    outcome: "failed" | "unrecoverable" | "timeout" | "cancelled" | "shutdown";
    error: ErrorInfo;
    retryAfterMs?: number;
  };

/** What a run needs. */
export interface RunInput {
  def: HandlerDefinition;
  id: string;
  payload: unknown;
  attempt: number;
  maxAttempts: number;
  signal: AbortSignal;
  /** The task's logger, or what makes it when the handler first asks (most never do). */
  log: Logger | (() => Logger);
  onProgress(p: Progress): void;
  /** Largest serialised result accepted, in bytes. */
  maxResultBytes: number;
  /** The handler's `ctx.fsRoots`: resolved roots of file jobs; default none. */
  fsRoots?: readonly string[];
  /** The handler's `ctx.httpAllow`: hosts network jobs may reach; default any. */
  httpAllow?: readonly string[];
}

/** A `sleep` that rejects with the abort reason when `signal` aborts first. */
export function abortableSleep(signal: AbortSignal): (ms: number) => Promise<void> {
  return (ms) =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal.reason);
      };
      const timer = setTimeout(() => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal.addEventListener("abort", onAbort, { once: true });
    });
}

/** Classify what a handler threw (or the abort that stopped it). */
export function classify(
  err: unknown,
  signal: AbortSignal,
): Exclude<AttemptResult, { outcome: "succeeded" }> {
  const reason = signal.aborted ? signal.reason : undefined;
  if (reason instanceof AbortReason) {
    const outcome = reason.kind === "timeout"
      ? "timeout"
      : reason.kind === "shutdown" || reason.kind === "fenced"
      ? "shutdown"
      : "cancelled";
    return { outcome, error: reason.toInfo() };
  }
  if (err instanceof Unrecoverable) return { outcome: "unrecoverable", error: err.toInfo() };
  if (err instanceof RetryAfter) {
    return { outcome: "failed", error: err.toInfo(), retryAfterMs: err.delayMs };
  }
  if (err instanceof SchedulerError) return { outcome: "failed", error: err.toInfo() };
  const message = err instanceof Error ? (err.message || err.name) : `handler threw ${String(err)}`;
  return { outcome: "failed", error: { code: "HANDLER_ERROR", message } };
}

/** Run one attempt to its end. Never throws. */
export async function runAttempt(input: RunInput): Promise<AttemptResult> {
  const { def, signal } = input;
  let log = typeof input.log === "function" ? undefined : input.log;
  const logger = () => (log ??= (input.log as () => Logger)());
  const ctx: TaskContext = {
    id: input.id,
    type: def.type,
    attempt: input.attempt,
    maxAttempts: input.maxAttempts,
    signal,
    get log() {
      return logger();
    },
    sleep: abortableSleep(signal),
    fsRoots: input.fsRoots ?? [],
    httpAllow: input.httpAllow ?? [],
  };
  try {
    const gen = def.handler(input.payload, ctx);
    for (;;) {
      const step = await gen.next();
      // A handler that caught its abort and returned anyway was still stopped: say why.
      if (step.done && signal.aborted) return classify(signal.reason, signal);
      if (step.done) return checkResult(step.value, input.maxResultBytes);
      if (signal.aborted) {
        await gen.return(undefined as never).catch(() => {});
        return classify(signal.reason, signal);
      }
      const p = step.value as Progress | undefined;
      if (p && typeof p.progress === "number" && Number.isFinite(p.progress)) {
        input.onProgress({
          progress: Math.min(1, Math.max(0, p.progress)),
          message: typeof p.message === "string" ? p.message.slice(0, 500) : undefined,
        });
      } else {
        logger().warn("handler yielded something that is not progress; ignored", {
          task: input.id,
        });
      }
    }
  } catch (err) {
    return classify(err, signal);
  }
}

const utf8 = new TextEncoder();

function checkResult(result: unknown, maxBytes: number): AttemptResult {
  if (result === undefined) return { outcome: "succeeded", result: null };
  let text: string;
  try {
    text = JSON.stringify(result);
  } catch (err) {
    return {
      outcome: "failed",
      error: { code: "HANDLER_ERROR", message: `result is not JSON: ${(err as Error).message}` },
    };
  }
  // The limit is in UTF-8 bytes (what goes on the wire); a UTF-16 unit is at most 3 of them,
  // so only a result near the limit needs encoding to be measured.
  const bytes = text.length * 3 <= maxBytes ? text.length : utf8.encode(text).length;
  if (bytes > maxBytes) {
    return {
      outcome: "unrecoverable",
      error: {
        code: "PAYLOAD_TOO_LARGE",
        message: `result is ${bytes} bytes: the limit is ${maxBytes}`,
      },
    };
  }
  return { outcome: "succeeded", result };
}
