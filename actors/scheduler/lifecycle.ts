/**
 * The lifecycle rules of the scheduler core: queueing and requeueing,
 * deadlines, what an attempt's outcome leads to (success, a retry after a
 * backoff, failure, expiry, cancellation), cancel requests, and the end of a
 * task with its result, its dead letter and its dependants. Every transition is announced
 * on `monitor.task.<id>` through {@link Lifecycle.delta}.
 *
 * @module
 */

import type {
  AttemptRecord,
  ErrorInfo,
  Report,
  TaskResult,
  TaskState,
  TerminalState,
} from "../../src/internal_mod.ts";
import type { CoreParts } from "./core_parts.ts";
import { type DependantSettler, settleDependants } from "./deps.ts";
import type { TaskEntry } from "./task_table.ts";
import { isoTime } from "./iso_time.ts";

/** The backoff between attempts. */
export interface RetryPolicy {
  /** Backoff before the second attempt; it doubles with each attempt after. */
  retryBaseMs: number;
  /** The longest backoff. */
  retryMaxMs: number;
  /** Jitter source: the backoff is drawn between half of it and all of it. */
  random: () => number;
}

/** What a finished task's result carries besides its state. */
export interface EndFields {
  /** What the handler returned (on success). */
  result?: unknown;
  /** Why it did not succeed. */
  error?: ErrorInfo;
  /** The last attempt's own run, for the monitor. */
  runMs?: number;
}

/** What came of a cancel request. */
export type CancelOutcome =
  | { ok: true; id: string; state: "cancelled"; was: TaskState }
  | { ok: true; id: string; state: "cancelling"; was: TaskState }
  | { ok: false; id: string; state?: TaskState; error: ErrorInfo };

/** The transitions of a task, shared by every part of the core that moves one. */
export class Lifecycle implements DependantSettler {
  readonly #p: CoreParts;
  readonly #retry: RetryPolicy;
  /** Set while `submit` registers a submission delivered more than once. */
  redelivered = false;

  /** Transitions over the shared `parts`, retrying by `retry`. */
  constructor(parts: CoreParts, retry: RetryPolicy) {
    this.#p = parts;
    this.#retry = retry;
  }

  /** Put `e` in its ready queue, announce it, and have the queues pumped. */
  enqueue(e: TaskEntry): void {
    this.#p.ready.push(e);
    e.state = "queued";
    this.delta(e, { state: "queued", priority: e.priority, type: e.type, attempt: e.attempts });
    this.#p.schedulePump();
  }

  /**
   * Put a task that has run (or was sent to run) back in the queue. Its
   * deadline timer was dropped at dispatch, so arm it again, or expire the
   * task now if the deadline has passed. Returns false when it expired.
   */
  requeue(e: TaskEntry): boolean {
    e.timer?.cancel();
    e.timer = null;
    const now = this.#p.clock.now();
    if (e.deadline <= now) {
      this.finish(e, "expired", { error: this.deadlineError(e) });
      return false;
    }
    this.armDeadline(e, now);
    this.enqueue(e);
    return true;
  }

  /** Expire `e` at its deadline, if it has one, unless it is running by then. */
  armDeadline(e: TaskEntry, now: number): void {
    if (e.deadline !== Infinity) {
      e.timer = this.#p.clock.setTimer(e.deadline - now, () => this.#expire(e));
    }
  }

  /** The error of a task whose deadline passed before it could (re)start. */
  deadlineError(e: TaskEntry): ErrorInfo {
    return {
      code: "DEADLINE_EXCEEDED",
      message: `deadline ${new Date(e.deadline).toISOString()} passed before the task could ${
        e.attempts > 0 ? "run again" : "start"
      }`,
    };
  }

  /**
   * An attempt ended as `r` reports (the worker is released): the task
   * succeeds, is cancelled, fails for good, expires, or waits for a retry.
   */
  attemptEnded(e: TaskEntry, r: Extract<Report, { kind: "done" }>): void {
    const outcome = r.outcome;
    (e.history ??= []).push({
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
      this.finish(e, "succeeded", { result: r.result, runMs });
      return;
    }
    if (outcome === "cancelled" || e.cancelRequested) {
      this.finish(e, "cancelled", {
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
      this.finish(e, "failed", { error: why, runMs });
      return;
    }
    const now = this.#p.clock.now();
    if (e.deadline <= now) {
      // No later attempt could start in time.
      this.finish(e, "expired", { error: this.deadlineError(e) });
      return;
    }
    this.#retryLater(e, error, r.retryAfterMs, now);
  }

  #retryLater(e: TaskEntry, error: ErrorInfo, retryAfterMs: number | undefined, now: number): void {
    const { retryBaseMs, retryMaxMs, random } = this.#retry;
    const base = Math.min(retryMaxMs, retryBaseMs * 2 ** (e.attempts - 1));
    const delay = retryAfterMs ?? Math.round(base / 2 + random() * base / 2);
    e.dispatch = 0;
    e.node = "";
    this.#p.stats.retrying++;
    this.setState(e, "retrying", { attempt: e.attempts, retryInMs: delay, error });
    e.timer?.cancel();
    // Wake at the deadline if it comes first: the task expires then, not after the backoff.
    e.timer = this.#p.clock.setTimer(Math.min(delay, e.deadline - now), () => {
      e.timer = null;
      if (e.state !== "retrying") return;
      this.#p.stats.retrying--;
      this.requeue(e);
    });
  }

  #expire(e: TaskEntry): void {
    e.timer = null;
    if (e.state !== "queued" && e.state !== "waiting" && e.state !== "retrying") return;
    if (e.state === "queued") this.#p.ready.remove(e);
    if (e.state === "waiting") this.#p.stats.waiting--;
    if (e.state === "retrying") this.#p.stats.retrying--;
    this.finish(e, "expired", { error: this.deadlineError(e) });
  }

  /**
   * Cancel task `id` (authorisation is the caller's): at once unless it is
   * dispatched or running, in which case its node is asked to abort it and it
   * ends when the node reports.
   */
  cancel(id: string, reason: string): CancelOutcome {
    const p = this.#p;
    const e = p.table.tasks.get(id);
    if (!e) {
      const state = p.table.recent.get(id);
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
      p.fx.cancelOnNode(e.node, e.id, e.dispatch, reason);
      this.delta(e, { cancelling: true });
      return { ok: true, id, state: "cancelling", was };
    }
    if (was === "queued") p.ready.remove(e);
    if (was === "retrying") p.stats.retrying--;
    if (was === "waiting") p.stats.waiting--;
    this.finish(e, "cancelled", { error: { code: "CANCELLED", message: reason } });
    return { ok: true, id, state: "cancelled", was };
  }

  /**
   * End `e` in `state`: build its result, announce it, dead-letter a failure,
   * publish the result, and settle its dependants. Ending twice does nothing.
   */
  finish(e: TaskEntry, state: TerminalState, fields: EndFields): void {
    if (e.result) return;
    const p = this.#p;
    p.table.ended(e);
    e.timer?.cancel();
    e.timer = null;
    const now = p.clock.now();
    const result: TaskResult = {
      id: e.id,
      type: e.type,
      state,
      attempts: e.attempts,
      durationMs: now - e.submittedAt,
      worker: e.worker || undefined,
      finishedAt: isoTime(now),
      submittedAt: isoTime(e.submittedAt),
    };
    if (e.startedAt) result.startedAt = isoTime(e.startedAt);
    if (fields.result !== undefined) result.result = fields.result;
    if (fields.error) result.error = fields.error;
    // A success's attempts are of no interest, unless it was retried by hand.
    if (e.history && (state !== "succeeded" || e.replaces > 0)) result.history = e.history;
    e.result = result;
    e.state = state;
    p.stats.finished++;
    p.table.remember(e.id, state);
    const end: Record<string, unknown> = { state, attempts: e.attempts, type: e.type };
    if (fields.error) end.error = fields.error;
    if (fields.runMs !== undefined) end.runMs = fields.runMs;
    if (e.replaces > 0) end.replaces = e.replaces;
    this.delta(e, end);
    if (state === "failed") p.fx.deadLetter(e, result);
    e.payload = undefined;
    p.fx.publishResult(e, result);
    settleDependants(e, state, this);
  }

  /** A waiting task's last dependency succeeded: queue it. */
  dependenciesMet(d: TaskEntry): void {
    this.#p.stats.waiting--;
    this.enqueue(d);
  }

  /** A waiting task's dependency ended other than succeeded: cancel it. */
  dependencyFailed(d: TaskEntry, error: ErrorInfo): void {
    this.#p.stats.waiting--;
    this.finish(d, "cancelled", { error });
  }

  /** Add an attempt that ended without a report of its own (lost with its node) to the history. */
  record(e: TaskEntry, outcome: AttemptRecord["outcome"], error?: ErrorInfo): void {
    (e.history ??= []).push({
      attempt: e.attempts,
      worker: e.worker,
      startedAt: e.startedAt,
      endedAt: this.#p.clock.now(),
      outcome,
      error,
    });
  }

  /** Move `e` to `state` and announce it with `extra`. */
  setState(e: TaskEntry, state: TaskState, extra: Record<string, unknown>): void {
    e.state = state;
    this.delta(e, { state, ...extra });
  }

  /** Announce a change of `e` on `monitor.task.<id>`. */
  delta(e: TaskEntry, fields: Record<string, unknown>): void {
    // The first announcement of a submission delivered before (to a leader before this one):
    // monitors counted it then.
    if (e.mseq === 0 && this.redelivered) fields = { ...fields, redelivered: true };
    this.#p.fx.taskDelta(e.id, { id: e.id, seq: ++e.mseq, ...fields });
  }
}
