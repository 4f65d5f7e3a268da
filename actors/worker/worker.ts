/**
 * A worker actor: runs up to `concurrency` attempts at once, each with its
 * own AbortController for timeout, cancel and shutdown; passes progress on at
 * a bounded rate; reports each attempt's start and end to its node. Handlers
 * marked `pool` run on the thread pool; the rest on this event loop.
 *
 * A handler that throws fails only its attempt. A handler that ignores its
 * abort past the grace period is reported abandoned (and, on the pool, its
 * thread is ended). If the actor itself crashes, its running attempts are
 * handed back so the scheduler runs them elsewhere.
 *
 * @module
 */

import type {
  Assignment,
  Behavior,
  HandlerDefinition,
  Progress,
  Report,
  TimerHandle,
} from "../../src/internal_mod.ts";
import type { WorkerPool } from "./pool.ts";
import { AbortReason, type AttemptResult, runAttempt } from "./runner.ts";
import { ChurnMap } from "../../src/runtime/churn_map.ts";

/** A registered handler, with the module URL the pool loads it from. */
export interface HandlerEntry {
  def: HandlerDefinition;
  module?: string;
}

/** Messages of a worker actor. */
export type WorkerMsg =
  | { type: "task.assign"; task: Assignment }
  | { type: "task.cancel"; id: string; dispatch: number; reason: string }
  | { type: "task.finished"; dispatch: number; result: AttemptResult }
  | { type: "task.abandon"; dispatch: number }
  | { type: "abort.all"; kind: "shutdown" | "fenced"; reason: string }
  | { type: "progress.flush"; dispatch: number };

/** What a worker needs from its node. */
export interface WorkerDeps {
  id: string;
  concurrency: number;
  handlers: ReadonlyMap<string, HandlerEntry>;
  pool: WorkerPool | null;
  report(r: Report): void;
  progress(id: string, attempt: number, p: Progress): void;
  abortGraceMs: number;
  /** Least time between two progress events of one task. */
  progressIntervalMs: number;
  maxResultBytes: number;
  /** Folders file jobs may touch, resolved (`ctx.fsRoots`); default none: they refuse. */
  fsRoots?: readonly string[];
  /** Hosts network jobs may reach (`ctx.httpAllow`); default any. */
  httpAllow?: readonly string[];
}

interface Running {
  a: Assignment;
  controller: AbortController;
  startedAt: number;
  timer: TimerHandle | null;
  abandon: TimerHandle | null;
  lastProgress: number;
  pendingProgress: Progress | null;
  progressTimer: TimerHandle | null;
}

/** A worker's state: what it runs, by dispatch. */
export interface WorkerState {
  running: ChurnMap<number, Running>;
}

/** Build a worker behavior. */
export function workerBehavior(deps: WorkerDeps): Behavior<WorkerMsg, WorkerState> {
  const handBack = (state: WorkerState, reason: string) => {
    for (const r of state.running.values()) {
      r.timer?.cancel();
      r.abandon?.cancel();
      r.progressTimer?.cancel();
      r.controller.abort(new AbortReason("shutdown", reason));
      deps.report({ kind: "refused", id: r.a.id, dispatch: r.a.dispatch, worker: deps.id, reason });
    }
    state.running.clear();
  };

  const end = (state: WorkerState, r: Running, result: AttemptResult, now: number) => {
    state.running.delete(r.a.dispatch);
    r.timer?.cancel();
    r.abandon?.cancel();
    r.progressTimer?.cancel();
    // The last progress the rate limit held back still goes out, ahead of the outcome.
    if (r.pendingProgress) {
      deps.progress(r.a.id, r.a.attempt, r.pendingProgress);
      r.pendingProgress = null;
    }
    if (result.outcome === "shutdown") {
      deps.report({
        kind: "refused",
        id: r.a.id,
        dispatch: r.a.dispatch,
        worker: deps.id,
        reason: result.error.message,
      });
      return;
    }
    deps.report({
      kind: "done",
      id: r.a.id,
      dispatch: r.a.dispatch,
      worker: deps.id,
      outcome: result.outcome,
      result: result.outcome === "succeeded" ? result.result : undefined,
      error: result.outcome === "succeeded" ? undefined : result.error,
      retryAfterMs: result.outcome === "succeeded" ? undefined : result.retryAfterMs,
      startedAt: r.startedAt,
      endedAt: now,
    });
  };

  return {
    init: () => ({ running: new ChurnMap() }),

    receive(state, msg, ctx) {
      switch (msg.type) {
        case "task.assign": {
          const a = msg.task;
          if (state.running.has(a.dispatch)) return state;
          const entry = deps.handlers.get(a.type);
          if (!entry || state.running.size >= deps.concurrency) {
            deps.report({
              kind: "refused",
              id: a.id,
              dispatch: a.dispatch,
              worker: deps.id,
              reason: entry
                ? `worker ${deps.id} is full`
                : `worker ${deps.id} has no handler for ${a.type}`,
            });
            return state;
          }
          const now = ctx.clock.now();
          const controller = new AbortController();
          const r: Running = {
            a,
            controller,
            startedAt: now,
            timer: null,
            abandon: null,
            lastProgress: 0,
            pendingProgress: null,
            progressTimer: null,
          };
          state.running.set(a.dispatch, r);
          r.timer = ctx.clock.setTimer(a.timeoutMs, () => {
            controller.abort(
              new AbortReason("timeout", `task exceeded its timeout of ${a.timeoutMs} ms`),
            );
            r.abandon ??= ctx.schedule(deps.abortGraceMs, {
              type: "task.abandon",
              dispatch: a.dispatch,
            });
          });
          deps.report({
            kind: "started",
            id: a.id,
            dispatch: a.dispatch,
            worker: deps.id,
            attempt: a.attempt,
            at: now,
          });
          const onProgress = (p: Progress) => {
            const t = ctx.clock.now();
            if (t - r.lastProgress >= deps.progressIntervalMs && !r.progressTimer) {
              r.lastProgress = t;
              deps.progress(a.id, a.attempt, p);
              return;
            }
            r.pendingProgress = p;
            r.progressTimer ??= ctx.schedule(
              Math.max(1, r.lastProgress + deps.progressIntervalMs - t),
              {
                type: "progress.flush",
                dispatch: a.dispatch,
              },
            );
          };
          const run = entry.def.pool && deps.pool && entry.module
            ? deps.pool.run({
              module: entry.module,
              taskType: a.type,
              id: a.id,
              payload: a.payload,
              attempt: a.attempt,
              maxAttempts: a.maxAttempts,
              maxResultBytes: deps.maxResultBytes,
              fsRoots: deps.fsRoots,
              httpAllow: deps.httpAllow,
              signal: controller.signal,
              onProgress,
            })
            : runAttempt({
              def: entry.def,
              id: a.id,
              payload: a.payload,
              attempt: a.attempt,
              maxAttempts: a.maxAttempts,
              signal: controller.signal,
              log: () => ctx.log.with({ task: a.id }),
              maxResultBytes: deps.maxResultBytes,
              fsRoots: deps.fsRoots,
              httpAllow: deps.httpAllow,
              onProgress,
            });
          run.then((result) =>
            ctx.self.send({ type: "task.finished", dispatch: a.dispatch, result })
          );
          return state;
        }
        case "task.finished": {
          const r = state.running.get(msg.dispatch);
          if (r) end(state, r, msg.result, ctx.clock.now());
          return state;
        }
        case "task.cancel": {
          const r = state.running.get(msg.dispatch);
          if (!r) return state;
          r.controller.abort(new AbortReason("cancel", msg.reason));
          r.abandon ??= ctx.schedule(deps.abortGraceMs, {
            type: "task.abandon",
            dispatch: msg.dispatch,
          });
          return state;
        }
        case "task.abandon": {
          const r = state.running.get(msg.dispatch);
          if (!r) return state;
          // The handler did not stop; report it and free the slot. Its promise is ignored from now on.
          const reason = r.controller.signal.reason as AbortReason | undefined;
          const kind = reason?.kind ?? "cancel";
          ctx.log.warn("handler ignored its abort signal; abandoned", {
            task: r.a.id,
            graceMs: deps.abortGraceMs,
          });
          const error = {
            code: "ABANDONED" as const,
            message: `handler ignored its abort (${
              reason?.message ?? kind
            }) for ${deps.abortGraceMs} ms and was abandoned`,
          };
          end(state, r, {
            outcome: kind === "timeout" ? "timeout" : kind === "cancel" ? "cancelled" : "shutdown",
            error,
          }, ctx.clock.now());
          return state;
        }
        case "progress.flush": {
          const r = state.running.get(msg.dispatch);
          if (!r) return state;
          r.progressTimer = null;
          if (r.pendingProgress) {
            r.lastProgress = ctx.clock.now();
            deps.progress(r.a.id, r.a.attempt, r.pendingProgress);
            r.pendingProgress = null;
          }
          return state;
        }
        case "abort.all": {
          for (const r of state.running.values()) {
            r.controller.abort(new AbortReason(msg.kind, msg.reason));
            r.abandon ??= ctx.schedule(deps.abortGraceMs, {
              type: "task.abandon",
              dispatch: r.a.dispatch,
            });
          }
          return state;
        }
        default: {
          const never: never = msg;
          throw new Error(`unknown worker message ${JSON.stringify(never)}`);
        }
      }
    },

    preRestart(state) {
      handBack(state, `worker ${deps.id} restarted`);
    },
    postStop(state) {
      handBack(state, `worker ${deps.id} stopped`);
    },
  };
}
