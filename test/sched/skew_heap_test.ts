import assert from "node:assert/strict";
import fc from "fast-check";
import { type HeapLinks, SkewHeap } from "../../src/sched/skew_heap.ts";
import { type Ordered, runsBefore } from "../../src/sched/task_order.ts";

interface Rec extends Ordered, HeapLinks<Rec> {
  id: number;
}

type Key = Pick<Ordered, "priority" | "deadline">;

const keyArb: fc.Arbitrary<Key> = fc.record({
  priority: fc.integer({ min: 0, max: 9 }),
  deadline: fc.oneof(fc.constant(Infinity), fc.integer({ min: 0, max: 50 })),
});

function rec(key: Key, seq: number): Rec {
  return { ...key, seq, id: seq, left: null, right: null, parent: null };
}

function recs(keys: readonly Key[], firstSeq = 0): Rec[] {
  return keys.map((k, i) => rec(k, firstSeq + i));
}

function modelOrder(items: readonly Rec[]): number[] {
  return [...items].sort((a, b) => (runsBefore(a, b) ? -1 : runsBefore(b, a) ? 1 : 0))
    .map((r) => r.id);
}

function heapOf(items: readonly Rec[]): SkewHeap<Rec> {
  const heap = new SkewHeap<Rec>(runsBefore);
  for (const r of items) heap.push(r);
  return heap;
}

/**
 * Walks the whole tree without recursion and checks what every operation must
 * keep: heap order, parent pointers that mirror child pointers, a root with no
 * parent, and a node count equal to `size`.
 */
function assertHeap(heap: SkewHeap<Rec>): void {
  const root = heap.peek();
  if (root === undefined) {
    assert.equal(heap.size, 0, "empty heap has size 0");
    return;
  }
  assert.equal(root.parent, null, "root has no parent");
  let count = 0;
  const stack: Rec[] = [root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    count++;
    for (const child of [node.left, node.right]) {
      if (child === null) continue;
      assert.equal(child.parent, node, `parent pointer of ${child.id} names ${node.id}`);
      assert.ok(!runsBefore(child, node), `child ${child.id} does not run before ${node.id}`);
      stack.push(child);
    }
  }
  assert.equal(count, heap.size, "size counts every node");
}

function assertUnlinked(r: Rec): void {
  assert.deepEqual([r.left, r.right, r.parent], [null, null, null], `node ${r.id} is unlinked`);
}

function drainIds(heap: SkewHeap<Rec>): number[] {
  return [...heap.drain()].map((r) => r.id);
}

Deno.test("skew heap - pops everything in the model's order", () => {
  fc.assert(fc.property(fc.array(keyArb, { maxLength: 200 }), (keys) => {
    const items = recs(keys);
    const heap = heapOf(items);
    assertHeap(heap);
    assert.equal(heap.size, items.length);
    assert.deepEqual(drainIds(heap), modelOrder(items));
    assert.equal(heap.size, 0);
    for (const r of items) assertUnlinked(r);
  }));
});

Deno.test("skew heap - meld keeps size and order and empties the other heap", () => {
  fc.assert(
    fc.property(
      fc.array(keyArb, { maxLength: 100 }),
      fc.array(keyArb, { maxLength: 100 }),
      (ka, kb) => {
        const a = recs(ka);
        const b = recs(kb, ka.length);
        const heapA = heapOf(a);
        const heapB = heapOf(b);
        heapA.meld(heapB);
        assertHeap(heapA);
        assert.equal(heapA.size, a.length + b.length);
        assert.equal(heapB.size, 0);
        assert.equal(heapB.peek(), undefined);
        assert.deepEqual(drainIds(heapA), modelOrder([...a, ...b]));
      },
    ),
  );
});

Deno.test("skew heap - melding a heap into itself changes nothing", () => {
  const items = recs([{ priority: 1, deadline: 5 }, { priority: 2, deadline: Infinity }]);
  const heap = heapOf(items);
  heap.meld(heap);
  assertHeap(heap);
  assert.deepEqual(drainIds(heap), modelOrder(items));
});

Deno.test("skew heap - removing random nodes keeps order, size and parent pointers", () => {
  const arb = fc.array(fc.tuple(keyArb, fc.boolean()), { maxLength: 150 });
  fc.assert(fc.property(arb, (rows) => {
    const items = recs(rows.map(([k]) => k));
    const heap = heapOf(items);
    const gone = items.filter((_, i) => rows[i][1]);
    for (const r of gone) {
      assert.ok(heap.contains(r));
      assert.equal(heap.remove(r), true);
      assertUnlinked(r);
      assert.equal(heap.contains(r), false);
      assert.equal(heap.remove(r), false, "a removed node is not in the heap");
      assertHeap(heap);
    }
    assert.equal(heap.size, items.length - gone.length);
    assert.deepEqual(drainIds(heap), modelOrder(items.filter((_, i) => !rows[i][1])));
  }));
});

type Op =
  | { op: "push"; key: Key }
  | { op: "pop" }
  | { op: "remove"; pick: number }
  | { op: "removeStranger" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: keyArb.map((key): Op => ({ op: "push", key })), weight: 4 },
  { arbitrary: fc.constant<Op>({ op: "pop" }), weight: 2 },
  { arbitrary: fc.nat().map((pick): Op => ({ op: "remove", pick })), weight: 2 },
  { arbitrary: fc.constant<Op>({ op: "removeStranger" }), weight: 1 },
);

Deno.test("skew heap - interleaved push, pop and remove agree with the model", () => {
  fc.assert(fc.property(fc.array(opArb, { maxLength: 300 }), (ops) => {
    const heap = new SkewHeap<Rec>(runsBefore);
    const other = new SkewHeap<Rec>(runsBefore);
    const stranger = rec({ priority: 9, deadline: 0 }, -1);
    other.push(stranger);
    let model: Rec[] = [];
    let seq = 0;
    for (const step of ops) {
      switch (step.op) {
        case "push": {
          const r = rec(step.key, seq++);
          heap.push(r);
          model.push(r);
          break;
        }
        case "pop": {
          const expected = modelOrder(model)[0];
          const got = heap.pop();
          assert.equal(got?.id, expected);
          if (got !== undefined) {
            assertUnlinked(got);
            model = model.filter((r) => r !== got);
          }
          break;
        }
        case "remove": {
          if (model.length === 0) break;
          const target = model[step.pick % model.length];
          assert.equal(heap.remove(target), true);
          model = model.filter((r) => r !== target);
          break;
        }
        case "removeStranger":
          assert.equal(heap.remove(stranger), false, "a node of another heap is not removed");
          assert.equal(other.size, 1);
          break;
        default: {
          const unknown: never = step;
          throw new Error(`unknown op: ${JSON.stringify(unknown)}`);
        }
      }
      assert.equal(heap.size, model.length);
      assert.equal(heap.peek()?.id, modelOrder(model)[0]);
    }
    assertHeap(heap);
    assert.deepEqual(drainIds(heap), modelOrder(model));
  }));
});

Deno.test("skew heap - 200,000 pushes in increasing or decreasing order drain without overflowing the stack", () => {
  const n = 200_000;
  const ascending = Array.from({ length: n }, (_, i) => rec({ priority: 5, deadline: i }, i));
  const descending = Array.from(
    { length: n },
    (_, i) => rec({ priority: 5, deadline: n - i }, i),
  );
  for (const items of [ascending, descending]) {
    const heap = heapOf(items);
    assertHeap(heap);
    // The last node pushed in decreasing order is at the top of a long left
    // chain, and the first is at its bottom: removing it walks the whole way.
    const deep = items[0];
    assert.equal(heap.remove(deep), true);
    heap.push(deep);
    let last: Rec | undefined;
    let count = 0;
    for (const r of heap.drain()) {
      if (last !== undefined) assert.ok(!runsBefore(r, last), "drained in order");
      last = r;
      count++;
    }
    assert.equal(count, n);
  }
});

Deno.test("skew heap - clear unlinks every node of a deep heap so each can be queued again", () => {
  const n = 100_000;
  const items = Array.from({ length: n }, (_, i) => rec({ priority: 0, deadline: n - i }, i));
  const heap = heapOf(items);
  heap.clear();
  assert.equal(heap.size, 0);
  assert.equal(heap.peek(), undefined);
  for (const r of items) assertUnlinked(r);
  const again = heapOf(items.slice(0, 10));
  assertHeap(again);
  assert.equal(again.size, 10);
});

Deno.test("skew heap - push rejects a node that is still linked into a heap", () => {
  const items = recs([{ priority: 1, deadline: 1 }, { priority: 2, deadline: 2 }]);
  const heap = heapOf(items);
  const linked = items.find((r) => r.parent !== null)!;
  assert.throws(() => new SkewHeap<Rec>(runsBefore).push(linked), { code: "INVALID_ARGUMENT" });
  assertHeap(heap);
});

Deno.test("skew heap - peek and pop on an empty heap give undefined", () => {
  const heap = new SkewHeap<Rec>(runsBefore);
  assert.equal(heap.peek(), undefined);
  assert.equal(heap.pop(), undefined);
  assert.equal(heap.size, 0);
  assert.deepEqual([...heap.drain()], []);
});

Deno.test("skew heap - contains is false after pop and for a node of another heap", () => {
  const items = recs([{ priority: 3, deadline: 1 }, { priority: 3, deadline: 2 }]);
  const heap = heapOf(items.slice(0, 1));
  const other = heapOf(items.slice(1));
  assert.equal(heap.contains(items[0]), true);
  assert.equal(heap.contains(items[1]), false);
  assert.equal(other.remove(items[0]), false);
  heap.pop();
  assert.equal(heap.contains(items[0]), false);
});
