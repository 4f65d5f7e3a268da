/**
 * Skew heap figures at 10^3..10^6 queued task records: time per operation
 * against log2(n), and bytes per queued record after gc. Prints; never fails.
 *
 * Run: `deno run -A --v8-flags=--expose-gc bench/heap_bench.ts`
 *
 * @module
 */

import { type HeapLinks, SkewHeap } from "../src/sched/skew_heap.ts";
import { runsBefore } from "../src/sched/task_order.ts";
import { random } from "./_random.ts";

/** The shape the scheduler queues: a task record carrying its heap links. */
interface TaskRecord extends HeapLinks<TaskRecord> {
  id: string;
  priority: number;
  deadline: number;
  seq: number;
}

const SIZES = [1_000, 10_000, 100_000, 1_000_000];
const STEADY_OPS = 200_000;
const REMOVE_OPS = 100_000;
const NOW = 1_763_900_000_000;

/** Three in ten tasks carry a deadline within the next minute. */
function deadlineOf(r: number): number {
  return r < 0.3 ? NOW + Math.floor(r * 200_000) : Infinity;
}

function makeRecord(i: number, rnd: () => number): TaskRecord {
  return {
    id: `t-${i}`,
    priority: (rnd() * 10) | 0,
    deadline: deadlineOf(rnd()),
    seq: i,
    left: null,
    right: null,
    parent: null,
  };
}

function makeRecords(n: number, seed: number): TaskRecord[] {
  const rnd = random(seed);
  const out = new Array<TaskRecord>(n);
  for (let i = 0; i < n; i++) out[i] = makeRecord(i, rnd);
  return out;
}

const gc = (globalThis as { gc?: () => void }).gc;

function heapUsedAfterGc(): number {
  if (gc !== undefined) { for (let i = 0; i < 3; i++) gc(); }
  return Deno.memoryUsage().heapUsed;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

interface Row {
  n: number;
  push: number;
  steady: number;
  steadyCmp: number;
  meld: number;
  meldCmp: number;
  remove: number;
  depth: number;
  bytes: number;
  links: number;
}

function timePush(records: TaskRecord[]): [SkewHeap<TaskRecord>, number] {
  const heap = new SkewHeap<TaskRecord>(runsBefore);
  const t0 = performance.now();
  for (const r of records) heap.push(r);
  return [heap, ((performance.now() - t0) * 1e6) / records.length];
}

/** The scheduler's steady state: take the first task, queue another. */
function steady(heap: SkewHeap<TaskRecord>, seq: number, ops: number): number {
  const rnd = random(7);
  const pri = Array.from({ length: 4096 }, () => (rnd() * 10) | 0);
  const dl = Array.from({ length: 4096 }, () => deadlineOf(rnd()));
  for (let i = 0; i < ops; i++) {
    const r = heap.pop()!;
    r.priority = pri[i & 4095];
    r.deadline = dl[i & 4095];
    // `| 0` keeps the field a small integer: without it a deopt can hand the
    // store a boxed number, and V8 then boxes `seq` in every record (+16 B).
    r.seq = seq++ | 0;
    heap.push(r);
  }
  return seq;
}

/** ns per pop+push at steady size, after a warm-up of a tenth as many. */
function timeSteady(heap: SkewHeap<TaskRecord>, seq: number): [number, number] {
  seq = steady(heap, seq, STEADY_OPS / 10);
  const t0 = performance.now();
  seq = steady(heap, seq, STEADY_OPS);
  return [((performance.now() - t0) * 1e6) / STEADY_OPS, seq];
}

function depthOf(r: TaskRecord): number {
  let d = 0;
  for (let p = r.parent; p !== null; p = p.parent) d++;
  return d;
}

/** Remove random queued records in batches (timed), then queue them again. */
function timeRemove(heap: SkewHeap<TaskRecord>, records: TaskRecord[]): [number, number] {
  const n = records.length;
  const batch = Math.max(1, Math.min(Math.floor(n / 10), 10_000));
  const rnd = random(11);
  const picked = new Set<TaskRecord>();
  let ns = 0;
  let ops = 0;
  let depth = 0;
  while (ops < REMOVE_OPS) {
    picked.clear();
    while (picked.size < batch) picked.add(records[Math.floor(rnd() * n)]);
    for (const r of picked) depth += depthOf(r);
    const t0 = performance.now();
    for (const r of picked) heap.remove(r);
    ns += (performance.now() - t0) * 1e6;
    for (const r of picked) heap.push(r);
    ops += picked.size;
  }
  return [ns / ops, depth / ops];
}

/**
 * Meld two heaps of n/2, freshly built: one meld per trial, median of trials.
 * A single meld touches nodes that are cold in cache, so this is a cold figure.
 */
function timeMeld(records: TaskRecord[]): number {
  const half = records.length >> 1;
  const trials = Math.max(5, Math.min(200, Math.floor(2_000_000 / records.length)));
  let overhead = Infinity;
  for (let i = 0; i < 100; i++) {
    const t0 = performance.now();
    overhead = Math.min(overhead, performance.now() - t0);
  }
  const samples: number[] = [];
  for (let t = 0; t < trials; t++) {
    const a = new SkewHeap<TaskRecord>(runsBefore);
    const b = new SkewHeap<TaskRecord>(runsBefore);
    for (let i = 0; i < half; i++) a.push(records[i]);
    for (let i = half; i < records.length; i++) b.push(records[i]);
    const t0 = performance.now();
    a.meld(b);
    samples.push(Math.max(0, performance.now() - t0 - overhead) * 1e6);
    a.clear();
  }
  return median(samples);
}

/** Holds what is being measured, so nothing but this holds it. */
let retained: object | null = null;

/** Heap bytes retained by what `build` returns, measured after gc. */
function retainedBytes(build: () => object): number {
  const base = heapUsedAfterGc();
  retained = build();
  const used = heapUsedAfterGc() - base;
  if (retained === null) throw new Error("retainedBytes: build returned nothing");
  retained = null;
  return used;
}

/**
 * Bytes per queued record (all in a heap, nothing else holding them), and
 * what the three link fields add: the same records with and without links,
 * each held in an array, differ by exactly that.
 */
function measureMemory(n: number): [number, number] {
  const queued = retainedBytes(() => {
    const rnd = random(3);
    const heap = new SkewHeap<TaskRecord>(runsBefore);
    for (let i = 0; i < n; i++) heap.push(makeRecord(i, rnd));
    return heap;
  });
  const withLinks = retainedBytes(() => makeRecords(n, 5));
  const withoutLinks = retainedBytes(() => {
    const rnd = random(5);
    const out = new Array<object>(n);
    for (let i = 0; i < n; i++) {
      out[i] = {
        id: `t-${i}`,
        priority: (rnd() * 10) | 0,
        deadline: deadlineOf(rnd()),
        seq: i,
      };
    }
    return out;
  });
  return [queued / n, (withLinks - withoutLinks) / n];
}

/**
 * Comparisons per pop+push and per meld of n/2, counted in an untimed pass:
 * the work the heap does, apart from what the memory hierarchy adds.
 */
function countComparisons(records: TaskRecord[], seq: number): [number, number] {
  let count = 0;
  const counting = (a: TaskRecord, b: TaskRecord) => {
    count++;
    return runsBefore(a, b);
  };
  const half = records.length >> 1;
  const a = new SkewHeap<TaskRecord>(counting);
  const b = new SkewHeap<TaskRecord>(counting);
  for (let i = 0; i < half; i++) a.push(records[i]);
  for (let i = half; i < records.length; i++) b.push(records[i]);
  count = 0;
  a.meld(b);
  const meld = count;
  count = 0;
  steady(a, seq, STEADY_OPS / 10);
  const perStep = count / (STEADY_OPS / 10);
  a.clear();
  return [perStep, meld];
}

function measure(n: number): Row {
  const records = makeRecords(n, 1);
  const [heap, push] = timePush(records);
  const [steady, seq] = timeSteady(heap, n);
  const [remove, depth] = timeRemove(heap, records);
  heap.clear();
  const meld = timeMeld(records);
  const [steadyCmp, meldCmp] = countComparisons(records, seq);
  const [bytes, links] = measureMemory(n);
  return { n, push, steady, steadyCmp, meld, meldCmp, remove, depth, bytes, links };
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join("  ");
  return [line(head), ...rows.map(line)].join("\n");
}

const f0 = (x: number) => Math.round(x).toLocaleString("en-US");
const f1 = (x: number) => x.toFixed(1);

/** Measure every size and print the table and a one-line summary. */
export async function run(): Promise<void> {
  if (gc === undefined) console.log("(no --expose-gc: memory figures include garbage)");
  measure(SIZES[0]); // warm-up: compile before the figures count
  const rows: Row[] = [];
  for (const n of SIZES) {
    rows.push(measure(n));
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  console.log(
    "skew heap: ns per op; cmp = comparisons per op; meld = one meld of two fresh n/2 heaps " +
      "(cold cache); depth = of removed nodes; bytes per queued task after gc",
  );
  console.log(table(
    [
      "n",
      "log2 n",
      "push",
      "pop+push",
      "/log2 n",
      "cmp",
      "meld n/2",
      "cmp",
      "remove",
      "depth",
      "B/task",
      "links B",
      "record B",
    ],
    rows.map((r) => {
      const lg = Math.log2(r.n);
      return [
        f0(r.n),
        f1(lg),
        f0(r.push),
        f0(r.steady),
        f1(r.steady / lg),
        f1(r.steadyCmp),
        f0(r.meld),
        f0(r.meldCmp),
        f0(r.remove),
        f1(r.depth),
        f0(r.bytes),
        f0(r.links),
        f0(r.bytes - r.links),
      ];
    }),
  ));
  const last = rows[rows.length - 1];
  console.log(
    `summary: at ${f0(last.n)} queued, pop+push ${
      f0(last.steady)
    } ns (budget 2,000 ns per decision), ` +
      `${f0(last.bytes)} B per queued task (budget 300 B), of which links ${f0(last.links)} B`,
  );
}

if (import.meta.main) await run();
