/**
 * The scheduler's own cost, without I/O: memory per queued task (the real
 * task records, heaps and maps of `SchedulerCore`, payload `{ i }`), and the
 * time of one scheduling decision (choose a worker, pop the best task, build
 * the assignment) with 10^4 .. 10^6 tasks queued.
 *
 * ```
 * deno run -A --v8-flags=--expose-gc bench/core_bench.ts
 * ```
 *
 * @module
 */

import { SchedulerCore, type SchedulerEffects } from "../actors/scheduler/core.ts";
import { ManualClock, type SubmissionDraft, type TaskId } from "../src/internal_mod.ts";

const gc = (globalThis as { gc?: () => void }).gc;

function heapUsed(): number {
  gc?.();
  gc?.();
  return Deno.memoryUsage().heapUsed;
}

function draft(i: number): SubmissionDraft {
  return {
    id: `t-${i}` as TaskId,
    type: "echo",
    payload: { i },
    priority: i % 10,
    deadline: Infinity,
    timeoutMs: 30_000,
    maxAttempts: 3,
    requires: [],
    dependsOn: [],
    idSource: "body",
  };
}

const settle = { ack() {} };
const principal = { sub: "bench", roles: ["admin"] };

function core(onAssign: (n: number) => void): SchedulerCore {
  const effects: SchedulerEffects = {
    assign: (_node, tasks) => onAssign(tasks.length),
    cancelOnNode() {},
    publishResult() {},
    deadLetter() {},
    taskDelta() {},
    event() {},
  };
  return new SchedulerCore({
    clock: new ManualClock(0),
    effects,
    epoch: 1,
    retryBaseMs: 100,
    retryMaxMs: 1000,
  });
}

/** Run and print. */
export async function run(): Promise<void> {
  if (!gc) console.log("(run with --v8-flags=--expose-gc for memory figures)");
  console.log("scheduler core: memory per queued task and one scheduling decision");
  console.log("   queued   bytes/task   decision ns (p50 of 20 batches of 1000)");
  for (const n of [10_000, 100_000, 1_000_000]) {
    let assigned = 0;
    const c = core((k) => (assigned += k));
    c.pause();
    const before = heapUsed();
    for (let i = 0; i < n; i++) c.submit(draft(i), principal, i + 1, settle);
    const perTask = (heapUsed() - before) / n;
    c.resume();
    const times: number[] = [];
    for (let b = 0; b < 20; b++) {
      const batch = 1_000;
      // Untimed: refill the queue to n, and bring a worker with room for one batch.
      for (let k = 0; k < batch; k++) {
        c.submit(draft(n + b * batch + k), principal, n + b * batch + k + 1, settle);
      }
      c.registerWorkers(`bench-${b}`, [{
        id: `bench-${b}/w0`,
        concurrency: batch,
        capabilities: [],
        types: ["echo"],
      }]);
      const before = assigned;
      const t0 = performance.now();
      c.pump();
      const t1 = performance.now();
      times.push(((t1 - t0) * 1e6) / Math.max(1, assigned - before));
      await Promise.resolve();
    }
    times.sort((a, b) => a - b);
    console.log(
      `${String(n).padStart(9)}   ${perTask.toFixed(0).padStart(10)}   ${
        times[10].toFixed(0).padStart(10)
      }`,
    );
  }
}

if (import.meta.main) await run();
