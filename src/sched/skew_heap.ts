/**
 * An intrusive, meld-based skew heap: the scheduler's queue of ready tasks.
 *
 * Intrusive means the queued records carry their own `left`, `right` and
 * `parent` links, so queueing a task allocates nothing: three pointer fields
 * on the task record are the whole cost per queued task. Every operation is a
 * top-down meld, written as a loop: the merge path follows right spines, which
 * an unlucky order of pushes can make long, and a recursive meld would then
 * run out of stack.
 *
 * @module
 */

import { SchedulerError } from "../errors.ts";

/**
 * The links a record needs to live in a {@link SkewHeap}. A record that is in
 * no heap has all three set to `null`; the heap owns them while it is queued.
 */
export interface HeapLinks<T> {
  /** Left child; owned by the heap. */
  left: T | null;
  /** Right child; owned by the heap. */
  right: T | null;
  /** Parent, `null` at the root; owned by the heap. */
  parent: T | null;
}

/**
 * A min-heap ordered by `less`, storing its records intrusively.
 *
 * Costs (n = size): `push`, `pop` and `meld` are O(log n) amortised (the
 * skew heap bound); `peek` and `size` are O(1). `contains` and `remove` walk
 * parent pointers up to the root, so they cost O(depth): usually small, but a
 * skew heap bounds only its right spines, and a left path can grow to O(n)
 * (pushing records in strictly decreasing order builds a left chain).
 * `clear` is O(n): it unlinks every record so each can be queued again.
 *
 * A record may be in at most one heap at a time.
 *
 * @example
 * ```ts
 * interface Job extends HeapLinks<Job> { at: number }
 * const job = (at: number): Job => ({ at, left: null, right: null, parent: null });
 * const heap = new SkewHeap<Job>((a, b) => a.at < b.at);
 * heap.push(job(3));
 * heap.push(job(1));
 * heap.pop()?.at; // 1
 * ```
 */
export class SkewHeap<T extends HeapLinks<T>> {
  readonly #less: (a: T, b: T) => boolean;
  #root: T | null = null;
  #size = 0;

  /**
   * @param less strict order: `less(a, b)` is true when `a` must come out
   *   before `b`. Records that are neither less than the other come out in
   *   an unspecified order.
   */
  constructor(less: (a: T, b: T) => boolean) {
    this.#less = less;
  }

  /** How many records are queued. O(1). */
  get size(): number {
    return this.#size;
  }

  /**
   * Queue `node`. Its links must be `null`, that is, it is in no heap; a
   * record with a link set is rejected with `INVALID_ARGUMENT`. (The one case
   * this check cannot see is a record that is the only one in another heap.)
   */
  push(node: T): void {
    if (node.left !== null || node.right !== null || node.parent !== null) {
      throw new SchedulerError(
        "INVALID_ARGUMENT",
        "node must be in no heap (left, right and parent all null): got a node with links set",
      );
    }
    this.#root = this.#meld(this.#root, node);
    this.#size++;
  }

  /** The first record, left in place; `undefined` when empty. O(1). */
  peek(): T | undefined {
    return this.#root ?? undefined;
  }

  /** Take out the first record and clear its links; `undefined` when empty. */
  pop(): T | undefined {
    const root = this.#root;
    if (root === null) return undefined;
    const rest = this.#meld(root.left, root.right);
    if (rest !== null) rest.parent = null;
    this.#root = rest;
    root.left = root.right = null;
    this.#size--;
    return root;
  }

  /**
   * Take `node` out wherever it is, melding its two subtrees into its place,
   * and clear its links. Returns false, changing nothing, when `node` is not
   * in this heap. O(depth of node) to check membership, then one meld of the
   * node's two subtrees.
   */
  remove(node: T): boolean {
    if (!this.contains(node)) return false;
    const parent = node.parent;
    const sub = this.#meld(node.left, node.right);
    if (sub !== null) sub.parent = parent;
    if (parent === null) this.#root = sub;
    else if (parent.left === node) parent.left = sub;
    else parent.right = sub;
    node.left = node.right = node.parent = null;
    this.#size--;
    return true;
  }

  /**
   * Is `node` queued in this heap? Walks parent pointers to the top of the
   * node's tree and compares that with this heap's root: O(depth), no extra
   * field per record.
   */
  contains(node: T): boolean {
    let top = node;
    while (top.parent !== null) top = top.parent;
    return top === this.#root;
  }

  /**
   * Move every record of `other` into this heap; `other` is left empty. Uses
   * this heap's order. O(log n) amortised; melding a heap into itself does
   * nothing.
   */
  meld(other: SkewHeap<T>): void {
    if (other === this || other.#root === null) return;
    this.#root = this.#meld(this.#root, other.#root);
    this.#size += other.#size;
    other.#root = null;
    other.#size = 0;
  }

  /**
   * Empty the heap, clearing every record's links so each can be queued
   * again. O(n) time, O(1) extra memory: it walks the tree bottom-up through
   * parent pointers, cutting each leaf as it goes.
   */
  clear(): void {
    let node = this.#root;
    while (node !== null) {
      if (node.left !== null) node = node.left;
      else if (node.right !== null) node = node.right;
      else {
        const parent: T | null = node.parent;
        if (parent !== null) {
          if (parent.left === node) parent.left = null;
          else parent.right = null;
          node.parent = null;
        }
        node = parent;
      }
    }
    this.#root = null;
    this.#size = 0;
  }

  /** Pop records in order until the heap is empty. */
  *drain(): Generator<T> {
    while (this.#root !== null) yield this.pop()!;
  }

  /**
   * Top-down meld of two trees, as a loop. At each step the smaller of the
   * two remaining roots is hung as the left child of the last node on the
   * merge path, after that node's children are swapped: the swap is what
   * keeps right spines short amortised. Returns the new root; its parent
   * pointer is left for the caller to set.
   */
  #meld(a: T | null, b: T | null): T | null {
    if (a === null) return b;
    if (b === null) return a;
    const less = this.#less;
    if (less(b, a)) {
      const t = a;
      a = b;
      b = t;
    }
    const root = a;
    let cur = a;
    for (;;) {
      let next = cur.right;
      cur.right = cur.left;
      if (next === null) {
        cur.left = b;
        b.parent = cur;
        return root;
      }
      if (less(b, next)) {
        const t = next;
        next = b;
        b = t;
      }
      cur.left = next;
      next.parent = cur;
      cur = next;
    }
  }
}
