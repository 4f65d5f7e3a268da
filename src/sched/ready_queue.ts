/**
 * A queue of ready tasks in {@link runsBefore} order that stays cheap at a
 * million queued: the scheduler keeps one per requirement set.
 *
 * Most tasks have no deadline and arrive in increasing submission order, and
 * such tasks need no heap: per priority, a FIFO run holds the ones with no
 * deadline whose `seq` is above the run's last, already in order. Everything
 * else (a deadline, a task requeued with its old `seq`, a priority that is not
 * an integer 0..31) goes to a {@link SkewHeap}. The first task is the better,
 * by `runsBefore`, of the heap's top and the head of the highest non-empty
 * run, so the order is exactly the heap-only one.
 *
 * Why: at 10^6 queued, a heap pop follows some twenty links through records
 * scattered over hundreds of megabytes, a cache miss each; a run's pop reads
 * one array slot and one record, in the order they were allocated. A run also
 * costs one array slot per record where intrusive heap links cost three
 * fields on every record: heap nodes are made only for the tasks in the heap.
 *
 * Taking a record out of the middle of a run (a cancel, an expiry) is lazy:
 * the record's slot is cleared and the run skips it when it reaches the head.
 * Counts stay exact, and a run whose stale slots outnumber its live ones is
 * compacted, so stale slots never hold more than about as much as live ones.
 *
 * @module
 */

import { SchedulerError } from "../errors.ts";
import { type HeapLinks, SkewHeap } from "./skew_heap.ts";
import { type Ordered, runsBefore } from "./task_order.ts";

/**
 * A record a {@link ReadyQueue} can hold: its order keys, which must not
 * change while it is queued, and one slot the queue owns.
 */
export interface Queueable extends Ordered {
  /** Where the record is queued: owned by the queue, `null` while in none. */
  queueSlot: object | null;
}

/** Runs exist for priorities 0..MAX_RUN_PRIORITY (bits of a 32-bit mask). */
const MAX_RUN_PRIORITY = 31;
/** A run's first chunk is small (a queue per requirement set adds up); later ones double. */
const FIRST_CHUNK = 8;
const MAX_CHUNK = 1024;
/** Compact a run when it holds more than twice its live records, plus this slack. */
const COMPACT_SLACK = 64;

/** A fixed-size piece of a run: chunks are never copied or grown, only linked. */
interface Chunk<T> {
  items: (T | undefined)[];
  next: Chunk<T> | null;
}

function chunk<T>(size: number): Chunk<T> {
  return { items: new Array<T | undefined>(size), next: null };
}

/**
 * The FIFO of one priority: records with no deadline in increasing `seq`. A
 * record is live in the run while its `queueSlot` is the run; other slots are
 * stale and skipped.
 */
class Run<T extends Queueable> {
  #head: Chunk<T> = chunk(FIRST_CHUNK);
  /** Next slot to take in the head chunk. */
  #at = 0;
  #tail: Chunk<T> = this.#head;
  /** Next free slot in the tail chunk. */
  #end = 0;
  /** Slots in use, stale ones included: the run is empty when 0. */
  #slots = 0;
  /** `seq` of the last record appended: a record with a larger one keeps the run in order. */
  #lastSeq = -Infinity;
  /** Live records. */
  #live = 0;

  constructor(readonly queue: ReadyQueue<T>) {}

  /** Can `seq` go at the end without breaking the order? */
  accepts(seq: number): boolean {
    return seq > this.#lastSeq;
  }

  /** Append `x` (the caller checked {@link accepts}). */
  push(x: T): void {
    if (this.#end === this.#tail.items.length) {
      const next = chunk<T>(Math.min(MAX_CHUNK, this.#tail.items.length * 2));
      this.#tail.next = next;
      this.#tail = next;
      this.#end = 0;
    }
    this.#tail.items[this.#end++] = x;
    this.#slots++;
    this.#live++;
    this.#lastSeq = x.seq;
    x.queueSlot = this;
  }

  /** The first live record, dropping stale slots before it; `undefined` when none is live. */
  head(): T | undefined {
    while (this.#slots > 0) {
      const x = this.#head.items[this.#at]!;
      if (x.queueSlot === this) return x;
      this.#shift();
    }
    return undefined;
  }

  /** Take out the first live record (the caller has just seen it with {@link head}). */
  take(x: T): void {
    this.#shift();
    this.#live--;
    x.queueSlot = null;
  }

  /** `x`, live in this run, goes stale; compact when stale slots dominate. */
  drop(x: T): void {
    x.queueSlot = null;
    this.#live--;
    if (this.#slots > 2 * this.#live + COMPACT_SLACK) this.#compact();
  }

  #shift(): void {
    this.#head.items[this.#at++] = undefined;
    this.#slots--;
    if (this.#slots === 0) {
      // Empty: start over in one small chunk, and accept any seq again.
      this.#head = this.#tail = this.#head.items.length === FIRST_CHUNK
        ? this.#head
        : chunk(FIRST_CHUNK);
      this.#at = this.#end = 0;
      this.#lastSeq = -Infinity;
    } else if (this.#at === this.#head.items.length) {
      this.#head = this.#head.next!;
      this.#at = 0;
    }
  }

  /** Rebuild with the live records only, in order. O(slots), paid for by the drops. */
  #compact(): void {
    const live: T[] = [];
    while (this.#slots > 0) {
      const x = this.#head.items[this.#at]!;
      if (x.queueSlot === this) live.push(x);
      this.#shift();
    }
    this.#live = 0;
    for (const x of live) this.push(x);
  }
}

/** A heap record: the order keys copied, so that comparing reads one object, not two. */
class HeapNode<T extends Ordered> implements HeapLinks<HeapNode<T>>, Ordered {
  left: HeapNode<T> | null = null;
  right: HeapNode<T> | null = null;
  parent: HeapNode<T> | null = null;
  readonly priority: number;
  readonly deadline: number;
  readonly seq: number;

  constructor(readonly item: T) {
    this.priority = item.priority;
    this.deadline = item.deadline;
    this.seq = item.seq;
  }
}

/**
 * Ready records in {@link runsBefore} order: FIFO runs for records with no
 * deadline arriving in `seq` order, a skew heap for the rest.
 *
 * Costs (n = size): `push` O(1) into a run, O(log n) amortised into the heap;
 * `peek` and `pop` O(1) amortised when the first record is in a run (plus
 * skipping stale slots, each once), O(log n) amortised from the heap;
 * `remove` O(1) amortised from a run, O(depth) from the heap (see
 * {@link SkewHeap.remove}). A record may be in at most one queue at a time.
 *
 * @example
 * ```ts
 * const job = (priority: number, seq: number) =>
 *   ({ priority, deadline: Infinity, seq, queueSlot: null });
 * const q = new ReadyQueue<ReturnType<typeof job>>();
 * q.push(job(1, 1));
 * q.push(job(5, 2));
 * q.pop()?.seq; // 2
 * ```
 */
export class ReadyQueue<T extends Queueable> {
  /** FIFO runs by priority, made on first use. */
  readonly #runs: (Run<T> | undefined)[] = [];
  /** Bit p is set while run p is occupied (it may hold only stale slots). */
  #occupied = 0;
  readonly #heap = new SkewHeap<HeapNode<T>>(runsBefore);
  #size = 0;

  /** How many records are queued. O(1). */
  get size(): number {
    return this.#size;
  }

  /**
   * Queue `x`. It must be in no queue (`queueSlot` null), else it is rejected
   * with `INVALID_ARGUMENT`.
   */
  push(x: T): void {
    if (x.queueSlot !== null) {
      throw new SchedulerError("INVALID_ARGUMENT", "record must be in no queue: its slot is set");
    }
    this.#size++;
    const p = x.priority;
    if (x.deadline === Infinity && p >= 0 && p <= MAX_RUN_PRIORITY && (p | 0) === p) {
      const run = this.#runs[p] ??= new Run<T>(this);
      if (run.accepts(x.seq)) {
        run.push(x);
        this.#occupied |= 1 << p;
        return;
      }
    }
    const node = new HeapNode(x);
    x.queueSlot = node;
    this.#heap.push(node);
  }

  /** The first record, left in place; `undefined` when empty. */
  peek(): T | undefined {
    const head = this.#runHead();
    const top = this.#heap.peek();
    if (top === undefined) return head;
    return head === undefined || runsBefore(top, head) ? top.item : head;
  }

  /** Take out the first record and clear its slot; `undefined` when empty. */
  pop(): T | undefined {
    const x = this.peek();
    if (x === undefined) return undefined;
    const slot = x.queueSlot;
    if (slot instanceof Run) slot.take(x);
    else {
      this.#heap.pop();
      x.queueSlot = null;
    }
    this.#size--;
    return x;
  }

  /** Take `x` out wherever it is. Returns false, changing nothing, when it is not in this queue. */
  remove(x: T): boolean {
    const slot = x.queueSlot;
    if (slot instanceof Run) {
      if (slot.queue !== this) return false;
      slot.drop(x);
    } else if (slot instanceof HeapNode) {
      if (!this.#heap.remove(slot)) return false;
      x.queueSlot = null;
    } else return false;
    this.#size--;
    return true;
  }

  /** Is `x` queued here? */
  contains(x: T): boolean {
    const slot = x.queueSlot;
    if (slot instanceof Run) return slot.queue === this;
    return slot instanceof HeapNode && this.#heap.contains(slot);
  }

  /** Pop records in order until the queue is empty. */
  *drain(): Generator<T> {
    for (let x = this.pop(); x !== undefined; x = this.pop()) yield x;
  }

  /** The head of the highest run with a live record: it beats every other run's records. */
  #runHead(): T | undefined {
    while (this.#occupied !== 0) {
      const p = 31 - Math.clz32(this.#occupied);
      const run = this.#runs[p]!;
      const head = run.head();
      if (head !== undefined) return head;
      this.#occupied &= ~(1 << p); // only stale slots were left, and head() dropped them
    }
    return undefined;
  }
}
