/**
 * Runs a handler the way a worker would, with a fake {@link TaskContext}: a
 * real AbortController, and the runtime's own `sleep` ({@link abortableSleep}
 * from actors/worker/runner.ts), which rejects with the abort reason. Collects
 * every progress report and the outcome.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { HandlerDefinition, Progress, TaskContext } from "../../../src/handler.ts";
import { silentLogger } from "../../../src/log.ts";
import { abortableSleep } from "../../../actors/worker/runner.ts";
import { resolveRoots } from "../../../src/fs_roots.ts";

/** The runtime's own `sleep`, which honours the signal; re-exported for the tests. */
export { abortableSleep };

/** What a run produced. */
export interface Run<R> {
  progress: Progress[];
  /** Set when the handler returned. */
  result?: R;
  /** Set when the handler threw. */
  error?: unknown;
  elapsedMs: number;
}

/** Options for {@link runHandler}. */
export interface RunOptions {
  /** Abort after this many ms. */
  abortAfterMs?: number;
  /** Abort when this many progress reports have arrived. */
  abortAfterProgress?: number;
  /** Use this controller (to abort from the test itself). */
  controller?: AbortController;
  /** Folders file jobs may touch, as TASK_SCHEDULER_FS_ROOTS gives them; default none. */
  fsRoots?: readonly string[];
  /** Hosts http-check may reach, as TASK_SCHEDULER_HTTP_ALLOW gives them; default any. */
  httpAllow?: readonly string[];
}

/** Run `def` on `payload` to the end and report what happened. Never throws for the handler. */
export async function runHandler<R>(
  def: HandlerDefinition<unknown, R>,
  payload: unknown,
  options: RunOptions = {},
): Promise<Run<R>> {
  const controller = options.controller ?? new AbortController();
  const ctx: TaskContext = {
    id: crypto.randomUUID(),
    type: def.type,
    attempt: 1,
    maxAttempts: 1,
    signal: controller.signal,
    log: silentLogger,
    sleep: abortableSleep(controller.signal),
    // Resolved as a node resolves its configured roots at start.
    fsRoots: await resolveRoots(options.fsRoots ?? []),
    httpAllow: options.httpAllow ?? [],
  };
  const timer = options.abortAfterMs === undefined
    ? undefined
    : setTimeout(() => controller.abort(new Error("test abort")), options.abortAfterMs);
  const run: Run<R> = { progress: [], elapsedMs: 0 };
  const start = performance.now();
  try {
    const gen = def.handler(payload, ctx);
    while (true) {
      const step = await gen.next();
      if (step.done) {
        run.result = step.value;
        break;
      }
      run.progress.push(step.value);
      if (run.progress.length === options.abortAfterProgress) {
        controller.abort(new Error("test abort"));
      }
    }
  } catch (err) {
    run.error = err;
  } finally {
    clearTimeout(timer);
    run.elapsedMs = performance.now() - start;
  }
  return run;
}

/** Progress values are each within 0..1 and never go down. */
export function assertProgressMonotonic(progress: Progress[]): void {
  let last = 0;
  for (const p of progress) {
    assert.ok(p.progress >= 0 && p.progress <= 1, `progress ${p.progress} is outside 0..1`);
    assert.ok(p.progress >= last, `progress went down from ${last} to ${p.progress}`);
    last = p.progress;
  }
}

/** The run ended with the test's abort reason. */
export function assertAborted(run: Run<unknown>): void {
  assert.ok(
    run.error instanceof Error,
    `expected an abort, got ${String(run.result ?? run.error)}`,
  );
  assert.equal(run.error.message, "test abort");
}

/** The run threw an error of `name` whose message contains every one of `parts`. */
export function assertThrew(run: Run<unknown>, name: string, ...parts: string[]): void {
  assert.ok(
    run.error instanceof Error,
    `expected ${name}, got result ${JSON.stringify(run.result)}`,
  );
  assert.equal(run.error.name, name, run.error.message);
  for (const part of parts) {
    assert.ok(run.error.message.includes(part), `"${run.error.message}" lacks "${part}"`);
  }
}

/** A temporary folder, removed on dispose. */
export async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "handlers_test_" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}
