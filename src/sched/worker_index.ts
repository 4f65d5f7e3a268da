/**
 * An index of worker slots by capability and load, for dispatch decisions
 * that never scan all workers.
 *
 * Workers are grouped into classes by their exact capability set. A class
 * files its available workers in buckets by free slots (concurrency minus
 * in flight), each bucket a circular doubly linked list, and keeps an upper
 * bound on the highest non-empty bucket. For each distinct `requires` set
 * the index remembers which classes have every required capability. A
 * decision looks at the best bucket of each matching class: O(k) in the
 * number of matching classes, however many workers there are.
 *
 * @module
 */

import { SchedulerError, show } from "../errors.ts";

/**
 * One worker as the index sees it. The fields are the index's to change:
 * read them, and change them only through {@link WorkerIndex} methods.
 */
export interface WorkerEntry {
  /** Worker id, unique in the index. */
  readonly id: string;
  /** The node (process or machine) the worker runs on. */
  readonly node: string;
  /** What the worker can run; shared by every worker with the same set. */
  readonly capabilities: ReadonlySet<string>;
  /** Tasks the worker runs at once. */
  concurrency: number;
  /** Tasks dispatched to it and not yet released. */
  inFlight: number;
  /** False while draining or lost: never chosen. */
  available: boolean;
}

/** The largest concurrency a worker may declare; bounds a class's buckets. */
export const MAX_WORKER_CONCURRENCY = 65_536;

/** Remembered `requires` sets before the memo starts over. */
const MAX_MEMO = 4_096;

class Slot implements WorkerEntry {
  node: string;
  capabilities: ReadonlySet<string>;
  inFlight = 0;
  available = true;
  /** Free slots it is filed under; 0 when in no bucket. */
  bucket = 0;
  prev: Slot | null = null;
  next: Slot | null = null;

  constructor(readonly id: string, node: string, public concurrency: number, public cls: CapClass) {
    this.node = node;
    this.capabilities = cls.caps;
  }
}

class CapClass {
  /** Index = free slots; bucket 0 is never used. */
  readonly buckets: (Slot | null)[] = [null];
  /** At least the highest non-empty bucket; lowered lazily by `best()`. */
  top = 0;
  /** Sum of free slots over filed workers. */
  free = 0;
  members = 0;

  constructor(readonly key: string, readonly caps: ReadonlySet<string>) {}

  /** The highest non-empty bucket, 0 when none. Amortised O(1). */
  best(): number {
    let t = this.top;
    while (t > 0 && this.buckets[t] === null) t--;
    return (this.top = t);
  }

  has(requires: readonly string[]): boolean {
    for (const r of requires) if (!this.caps.has(r)) return false;
    return true;
  }
}

interface Match {
  readonly requires: readonly string[];
  readonly classes: CapClass[];
}

/** An unambiguous key for a sorted list of strings, whatever they contain. */
function keyOf(sorted: readonly string[]): string {
  let key = "";
  for (const s of sorted) key += `${s.length}:${s}`;
  return key;
}

/**
 * Worker slots indexed for dispatch.
 *
 * Costs, with k the number of capability classes that match a `requires`
 * set, r the size of that set, c a worker's capability count and C the
 * largest concurrency in a class. None of them depends on the number of
 * workers (beyond hash-map lookups by id).
 * - `choose`, `freeSlots`: O(k) amortised, plus O(r log r) to key a set of
 *   two or more; the first time a set is seen (or after the memo starts over
 *   at 4,096 sets) O(classes × r) to find its classes.
 * - `acquire`, `release`: O(1) (a move between adjacent buckets); the worker
 *   `choose` just returned skips even the id lookup.
 * - `setAvailable`: O(1), plus up to O(C) charged to the next `choose` that
 *   lowers the class's top bucket (amortised O(1)).
 * - `upsert`: O(c log c) to key the capability set, then as `setAvailable`;
 *   creating a class extends the memo, O(remembered sets × r).
 * - `remove`: O(1), or O(remembered sets × k) when it empties a class.
 *
 * @example
 * ```ts
 * const index = new WorkerIndex();
 * index.upsert("w1", "node-a", ["gpu"], 4);
 * index.upsert("w2", "node-b", [], 16);
 * const w = index.choose(["gpu"]); // w1
 * if (w) index.acquire(w.id);
 * ```
 */
export class WorkerIndex {
  readonly #byId = new Map<string, Slot>();
  readonly #byNode = new Map<string, Set<Slot>>();
  readonly #classes = new Map<string, CapClass>();
  /** Memo for one-capability sets, keyed by the capability itself. */
  readonly #one = new Map<string, Match>();
  /** Memo for other sets, keyed by {@link keyOf} of the sorted set. */
  readonly #many = new Map<string, Match>();
  /** The last worker chosen: `acquire` of it skips the id lookup. */
  #last: Slot | null = null;

  /**
   * Register a worker, or update one: its node, capabilities and concurrency
   * may change; `inFlight` and `available` are kept. New workers start
   * available with nothing in flight. Returns the entry, the same object for
   * the life of the worker.
   */
  upsert(
    id: string,
    node: string,
    capabilities: Iterable<string>,
    concurrency: number,
  ): WorkerEntry {
    if (!Number.isInteger(concurrency) || concurrency < 0 || concurrency > MAX_WORKER_CONCURRENCY) {
      throw new SchedulerError(
        "INVALID_ARGUMENT",
        `concurrency must be an integer from 0 to ${MAX_WORKER_CONCURRENCY}: got ${
          typeof concurrency === "number" ? String(concurrency) : show(concurrency)
        }`,
      );
    }
    const caps = [...new Set(capabilities)].sort();
    const key = keyOf(caps);
    let slot = this.#byId.get(id);
    if (slot === undefined) {
      slot = new Slot(id, node, concurrency, this.#join(key, caps));
      this.#byId.set(id, slot);
      this.#addToNode(slot);
    } else {
      this.#detach(slot);
      if (slot.cls.key !== key) {
        const old = slot.cls;
        slot.cls = this.#join(key, caps);
        slot.capabilities = slot.cls.caps;
        this.#leave(old);
      }
      if (slot.node !== node) {
        this.#removeFromNode(slot);
        slot.node = node;
        this.#addToNode(slot);
      }
      slot.concurrency = concurrency;
    }
    this.#attach(slot);
    return slot;
  }

  /** Forget a worker; returns its entry, or `undefined` if unknown. */
  remove(id: string): WorkerEntry | undefined {
    const slot = this.#byId.get(id);
    if (slot === undefined) return undefined;
    this.#detach(slot);
    if (this.#last === slot) this.#last = null;
    this.#byId.delete(id);
    this.#removeFromNode(slot);
    this.#leave(slot.cls);
    return slot;
  }

  /** The worker's entry, or `undefined` if unknown. */
  get(id: string): WorkerEntry | undefined {
    return this.#byId.get(id);
  }

  /** How many workers are registered. */
  get size(): number {
    return this.#byId.size;
  }

  /** Count one more task in flight on worker `id`. O(1). Throws `NOT_FOUND`. */
  acquire(id: string): void {
    const slot = this.#slot(id);
    this.#detach(slot);
    slot.inFlight++;
    this.#attach(slot);
  }

  /** Count one task less in flight, never below 0. O(1). Throws `NOT_FOUND`. */
  release(id: string): void {
    const slot = this.#slot(id);
    if (slot.inFlight === 0) return;
    this.#detach(slot);
    slot.inFlight--;
    this.#attach(slot);
  }

  /**
   * Mark a worker available or not (draining, lost); an unavailable worker is
   * never chosen and adds nothing to `freeSlots`. O(1). Throws `NOT_FOUND`.
   */
  setAvailable(id: string, available: boolean): void {
    const slot = this.#slot(id);
    if (slot.available === available) return;
    this.#detach(slot);
    slot.available = available;
    this.#attach(slot);
  }

  /**
   * Among available workers with every capability in `requires`, one with the
   * most free slots, if it has at least one; otherwise `undefined`. Ties go to
   * the worker that has waited longest at that level. Does not acquire.
   */
  choose(requires: readonly string[]): WorkerEntry | undefined {
    let best: CapClass | null = null;
    let bestFree = 0;
    for (const cls of this.#match(requires)) {
      const free = cls.best();
      if (free > bestFree) {
        bestFree = free;
        best = cls;
      }
    }
    if (best === null) return undefined;
    return (this.#last = best.buckets[bestFree]!);
  }

  /**
   * Total free slots among available workers with every capability in
   * `requires`; a worker with more in flight than its concurrency counts 0.
   * O(k) in matching classes.
   */
  freeSlots(requires: readonly string[]): number {
    let total = 0;
    for (const cls of this.#match(requires)) total += cls.free;
    return total;
  }

  /** Nodes that have at least one registered worker. */
  nodes(): Iterable<string> {
    return this.#byNode.keys();
  }

  /** The workers registered on `node` (a new array; empty if none). */
  workersOf(node: string): WorkerEntry[] {
    const set = this.#byNode.get(node);
    return set === undefined ? [] : [...set];
  }

  /** Every registered worker. */
  entries(): Iterable<WorkerEntry> {
    return this.#byId.values();
  }

  #slot(id: string): Slot {
    const last = this.#last;
    if (last !== null && last.id === id) return last;
    const slot = this.#byId.get(id);
    if (slot === undefined) throw new SchedulerError("NOT_FOUND", `worker not found: ${show(id)}`);
    return slot;
  }

  /** File `slot` in the bucket for its free slots, if available and free. */
  #attach(slot: Slot): void {
    if (!slot.available) return;
    const free = slot.concurrency - slot.inFlight;
    if (free <= 0) return;
    const cls = slot.cls;
    const buckets = cls.buckets;
    while (buckets.length <= free) buckets.push(null);
    const head = buckets[free];
    if (head === null) {
      slot.prev = slot.next = slot;
      buckets[free] = slot;
    } else {
      // Append at the tail, so equals are chosen in turn.
      const tail = head.prev!;
      slot.prev = tail;
      slot.next = head;
      tail.next = slot;
      head.prev = slot;
    }
    slot.bucket = free;
    cls.free += free;
    if (free > cls.top) cls.top = free;
  }

  /** Take `slot` out of its bucket, if it is in one. */
  #detach(slot: Slot): void {
    const free = slot.bucket;
    if (free === 0) return;
    const cls = slot.cls;
    if (slot.next === slot) cls.buckets[free] = null;
    else {
      slot.prev!.next = slot.next;
      slot.next!.prev = slot.prev;
      if (cls.buckets[free] === slot) cls.buckets[free] = slot.next;
    }
    slot.prev = slot.next = null;
    slot.bucket = 0;
    cls.free -= free;
  }

  /** The class for this capability set, created (and memo extended) if new. */
  #join(key: string, caps: readonly string[]): CapClass {
    let cls = this.#classes.get(key);
    if (cls === undefined) {
      cls = new CapClass(key, new Set(caps));
      this.#classes.set(key, cls);
      for (const m of this.#one.values()) if (cls.has(m.requires)) m.classes.push(cls);
      for (const m of this.#many.values()) if (cls.has(m.requires)) m.classes.push(cls);
    }
    cls.members++;
    return cls;
  }

  /** One member fewer; an empty class is dropped from the index and memo. */
  #leave(cls: CapClass): void {
    if (--cls.members > 0) return;
    this.#classes.delete(cls.key);
    for (const memo of [this.#one, this.#many]) {
      for (const m of memo.values()) {
        const at = m.classes.indexOf(cls);
        if (at >= 0) m.classes.splice(at, 1);
      }
    }
  }

  /** The classes that have every capability in `requires`, memoised. */
  #match(requires: readonly string[]): readonly CapClass[] {
    if (requires.length === 1) {
      const m = this.#one.get(requires[0]);
      return m !== undefined ? m.classes : this.#remember(this.#one, requires[0], requires);
    }
    const sorted = requires.length === 0 ? requires : requires.slice().sort();
    const key = keyOf(sorted);
    const m = this.#many.get(key);
    return m !== undefined ? m.classes : this.#remember(this.#many, key, sorted);
  }

  #remember(memo: Map<string, Match>, key: string, requires: readonly string[]): CapClass[] {
    if (this.#one.size + this.#many.size >= MAX_MEMO) {
      this.#one.clear();
      this.#many.clear();
    }
    const classes: CapClass[] = [];
    for (const cls of this.#classes.values()) if (cls.has(requires)) classes.push(cls);
    memo.set(key, { requires: [...requires], classes });
    return classes;
  }

  #addToNode(slot: Slot): void {
    let set = this.#byNode.get(slot.node);
    if (set === undefined) this.#byNode.set(slot.node, set = new Set());
    set.add(slot);
  }

  #removeFromNode(slot: Slot): void {
    const set = this.#byNode.get(slot.node);
    if (set === undefined) return;
    set.delete(slot);
    if (set.size === 0) this.#byNode.delete(slot.node);
  }
}
