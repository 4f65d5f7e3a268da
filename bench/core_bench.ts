/**
 * The scheduler's own cost, without I/O: memory per queued task (the real
 * task records, ready queues and maps of `SchedulerCore`, with the id string
 * and the payload `{ i }`), and the time of one scheduling decision (choose a
 * worker, take the best task, build the assignment) with 10^4 .. 10^6 tasks
 * queued, against the budgets of 300 B and 2 µs at 10^6.
 *
 * ```
 * deno run -A --v8-flags=--expose-gc bench/core_bench.ts
 * ```
 *
 * Each size runs in a fresh core, measured in a function of its own, so that
 * nothing of the previous size is still reachable when the next is measured.
 * (An earlier version ran all sizes in one loop: the 10^5 core was still held
 * when the 10^6 baseline was taken and freed during the measurement, which
 * understated the 10^6 figure by ~45 B per task.)
 *
 * @module
 */

import { SchedulerCore, type SchedulerEffects } from "../actors/scheduler/core.ts";
import { ManualClock, type SubmissionDraft, type TaskId } from "../src/internal_mod.ts";

/** The budgets at 10^6 queued. */
const BUDGET_BYTES = 300;
const BUDGET_NS = 2_000;

const gc = (globalThis as { gc?: () => void }).gc;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Heap in use after full collections. A collection does not always free what
 * was dropped a moment ago (a background job can hold it a little longer),
 * so collect a few times, a few milliseconds apart, and take the last.
 */
async function heapUsed(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    await pause(20);
    gc?.();
  }
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

/** One size's figures. */
interface Row {
  n: number;
  bytesPerTask: number;
  /** p50 of the first batches, ns per decision. */
  decisionNs: number;
  /** p50 of as many batches after those: the code warmed up again. */
  warmNs: number;
}

const BATCHES = 20;
const BATCH = 1_000;

/** p50 of `xs` (sorted in place). */
function median(xs: number[]): number {
  xs.sort((a, b) => a - b);
  return xs[xs.length >> 1];
}

/** Fill a fresh core with `n` tasks, weigh it, then time decisions with `n` queued. */
async function measure(n: number): Promise<Row> {
  let assigned = 0;
  const c = core((k) => (assigned += k));
  c.pause();
  const before = await heapUsed();
  for (let i = 0; i < n; i++) c.submit(draft(i), principal, i + 1, settle);
  const bytesPerTask = (await heapUsed() - before) / n;
  // The forced collections above leave the collector sweeping the whole heap on
  // background threads for tens of milliseconds, and on a small machine they take the cores
  // the decisions run on. Let that finish: it is the measurement's doing, not the core's.
  await pause(300);
  c.resume();
  const times: number[] = [];
  for (let b = 0; b < 2 * BATCHES; b++) {
    // Untimed: refill the queue to n, and bring a worker with room for one batch.
    for (let k = 0; k < BATCH; k++) {
      const i = n + b * BATCH + k;
      c.submit(draft(i), principal, i + 1, settle);
    }
    c.registerWorkers(`bench-${b}`, [{
      id: `bench-${b}/w0`,
      concurrency: BATCH,
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
  return {
    n,
    bytesPerTask,
    decisionNs: median(times.slice(0, BATCHES)),
    warmNs: median(times.slice(BATCHES)),
  };
}

const within = (x: number, budget: number) => (x <= budget ? "ok" : "OVER");

/** Run and print. */
export async function run(): Promise<void> {
  if (!gc) console.log("(run with --v8-flags=--expose-gc for memory figures)");
  console.log("scheduler core: memory per queued task and one scheduling decision");
  console.log(
    `decision ns: p50 of the first ${BATCHES} batches of ${BATCH} decisions in a fresh core; ` +
      `warm ns: p50 of the ${BATCHES} batches after those`,
  );
  console.log(
    `   queued   bytes/task  budget ${BUDGET_BYTES}   decision ns  budget ${BUDGET_NS}   warm ns`,
  );
  for (const n of [10_000, 100_000, 1_000_000]) {
    const r = await measure(n);
    console.log(
      `${String(n).padStart(9)}   ${r.bytesPerTask.toFixed(0).padStart(10)}  ${
        within(r.bytesPerTask, BUDGET_BYTES).padStart(10)
      }   ${r.decisionNs.toFixed(0).padStart(11)}  ${
        within(r.decisionNs, BUDGET_NS).padStart(11)
      }   ${r.warmNs.toFixed(0).padStart(7)}`,
    );
  }
}

if (import.meta.main) await run();
