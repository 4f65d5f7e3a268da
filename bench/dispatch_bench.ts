/**
 * Worker index figures: the cost of one dispatch decision (choose, acquire,
 * release) with 10^3..10^5 workers in 8 capability classes, and of upserts.
 * Prints; never fails.
 *
 * Run: `deno run -A --v8-flags=--expose-gc bench/dispatch_bench.ts`
 *
 * @module
 */

import { WorkerIndex } from "../src/sched/worker_index.ts";
import { random } from "./_random.ts";

const WORKER_COUNTS = [1_000, 10_000, 100_000];
const CONCURRENCY = 16;
const NODES = 100;
const BATCH = 1_000;
const BATCHES = 500;

/** Eight capability classes, as a mixed cluster might have them. */
const CLASSES: readonly (readonly string[])[] = [
  ["linux"],
  ["linux", "ssd"],
  ["linux", "gpu", "cuda"],
  ["linux", "gpu", "cuda", "highmem"],
  ["linux", "highmem", "ssd"],
  ["arm", "linux"],
  ["arm", "net"],
  ["fs", "net", "ssd"],
];
const UNIVERSE = ["linux", "ssd", "gpu", "cuda", "highmem", "arm", "net", "fs"];

/** 1,024 `requires` lists of 0..2 capabilities, each its own array, any order. */
function requiresPool(rnd: () => number): string[][] {
  return Array.from({ length: 1_024 }, () => {
    const size = (rnd() * 3) | 0;
    const out: string[] = [];
    while (out.length < size) {
      const cap = UNIVERSE[(rnd() * UNIVERSE.length) | 0];
      if (!out.includes(cap)) out.push(cap);
    }
    return out;
  });
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
}

interface Row {
  workers: number;
  register: number;
  update: number;
  choose: number;
  decision: number;
  decisionP99: number;
  acquire: number;
  release: number;
  hit: number;
}

function measure(workers: number): Row {
  const rnd = random(workers);
  const pool = requiresPool(rnd);
  const ids = Array.from({ length: workers }, (_, i) => `w-${i}`);
  const index = new WorkerIndex();

  let t0 = performance.now();
  for (let i = 0; i < workers; i++) {
    index.upsert(ids[i], `node-${i % NODES}`, CLASSES[i % CLASSES.length], CONCURRENCY);
  }
  const register = ((performance.now() - t0) * 1e6) / workers;

  // Half the slots busy, spread the way dispatch spreads them.
  for (let i = 0; i < (workers * CONCURRENCY) / 2; i++) {
    const w = index.choose(pool[i & 1023]) ?? index.choose([]);
    if (w !== undefined) index.acquire(w.id);
  }

  t0 = performance.now();
  for (let i = 0; i < workers; i++) {
    index.upsert(ids[i], `node-${i % NODES}`, CLASSES[i % CLASSES.length], CONCURRENCY - (i & 1));
  }
  const update = ((performance.now() - t0) * 1e6) / workers;

  let hits = 0;
  const chooseOnly: number[] = [];
  const decisions: number[] = [];
  for (let b = 0; b < BATCHES; b++) {
    const base = (b * BATCH) & 1023;
    t0 = performance.now();
    for (let i = 0; i < BATCH; i++) if (index.choose(pool[(base + i) & 1023]) !== undefined) hits++;
    chooseOnly.push(((performance.now() - t0) * 1e6) / BATCH);

    t0 = performance.now();
    for (let i = 0; i < BATCH; i++) {
      const w = index.choose(pool[(base + i) & 1023]);
      if (w !== undefined) {
        index.acquire(w.id);
        index.release(w.id);
      }
    }
    decisions.push(((performance.now() - t0) * 1e6) / BATCH);
  }

  const picks = Array.from({ length: 100_000 }, () => ids[(rnd() * workers) | 0]);
  t0 = performance.now();
  for (const id of picks) index.acquire(id);
  const acquire = ((performance.now() - t0) * 1e6) / picks.length;
  t0 = performance.now();
  for (const id of picks) index.release(id);
  const release = ((performance.now() - t0) * 1e6) / picks.length;

  return {
    workers,
    register,
    update,
    choose: percentile(chooseOnly, 0.5),
    decision: percentile(decisions, 0.5),
    decisionP99: percentile(decisions, 0.99),
    acquire,
    release,
    hit: hits / (BATCH * BATCHES),
  };
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join("  ");
  return [line(head), ...rows.map(line)].join("\n");
}

const f0 = (x: number) => Math.round(x).toLocaleString("en-US");

/** Measure every worker count and print the table and a one-line summary. */
export async function run(): Promise<void> {
  measure(WORKER_COUNTS[0]); // warm-up: compile before the figures count
  const rows: Row[] = [];
  for (const n of WORKER_COUNTS) {
    rows.push(measure(n));
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  console.log(
    `worker index: ns per op, ${CLASSES.length} capability classes, concurrency ${CONCURRENCY}, ` +
      `half the slots busy; decision = choose+acquire+release (median and p99 of ${BATCHES} batches of ${BATCH})`,
  );
  console.log(table(
    [
      "workers",
      "upsert new",
      "upsert update",
      "choose p50",
      "decision p50",
      "decision p99",
      "acquire (random id)",
      "release (random id)",
      "found",
    ],
    rows.map((r) => [
      f0(r.workers),
      f0(r.register),
      f0(r.update),
      f0(r.choose),
      f0(r.decision),
      f0(r.decisionP99),
      f0(r.acquire),
      f0(r.release),
      `${(r.hit * 100).toFixed(0)}%`,
    ]),
  ));
  const mid = rows.find((r) => r.workers === 10_000) ?? rows[0];
  const first = rows[0];
  const last = rows[rows.length - 1];
  console.log(
    `summary: with ${f0(mid.workers)} workers one decision takes ${
      f0(mid.decision)
    } ns at the median ` +
      `(p99 ${f0(mid.decisionP99)} ns; budget 2,000 ns); ${f0(first.decision)} ns at ` +
      `${f0(first.workers)} workers, ${f0(last.decision)} ns at ${f0(last.workers)}`,
  );
}

if (import.meta.main) await run();
