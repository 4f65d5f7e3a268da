import assert from "node:assert/strict";
import fc from "fast-check";
import { type Ordered, runsBefore } from "../../src/sched/task_order.ts";

const orderedArb: fc.Arbitrary<Ordered> = fc.record({
  priority: fc.integer({ min: 0, max: 9 }),
  deadline: fc.oneof(fc.constant(Infinity), fc.integer({ min: 0, max: 20 })),
  seq: fc.integer({ min: 0, max: 20 }),
});

Deno.test("task order - higher priority runs first whatever the deadline and seq", () => {
  const urgent = { priority: 9, deadline: Infinity, seq: 100 };
  const relaxed = { priority: 0, deadline: 0, seq: 0 };
  assert.equal(runsBefore(urgent, relaxed), true);
  assert.equal(runsBefore(relaxed, urgent), false);
});

Deno.test("task order - on equal priority the earlier deadline runs first and no deadline runs last", () => {
  const soon = { priority: 5, deadline: 1_000, seq: 9 };
  const later = { priority: 5, deadline: 2_000, seq: 1 };
  const none = { priority: 5, deadline: Infinity, seq: 0 };
  assert.equal(runsBefore(soon, later), true);
  assert.equal(runsBefore(later, soon), false);
  assert.equal(runsBefore(later, none), true);
  assert.equal(runsBefore(none, later), false);
});

Deno.test("task order - on equal priority and deadline the earlier submission runs first", () => {
  for (const deadline of [Infinity, 1_700_000_000_000]) {
    const first = { priority: 3, deadline, seq: 1 };
    const second = { priority: 3, deadline, seq: 2 };
    assert.equal(runsBefore(first, second), true);
    assert.equal(runsBefore(second, first), false);
  }
});

Deno.test("task order - a task never runs before itself", () => {
  fc.assert(fc.property(orderedArb, (a) => !runsBefore(a, { ...a })));
});

Deno.test("task order - is antisymmetric", () => {
  fc.assert(fc.property(orderedArb, orderedArb, (a, b) => !(runsBefore(a, b) && runsBefore(b, a))));
});

Deno.test("task order - is transitive", () => {
  fc.assert(
    fc.property(orderedArb, orderedArb, orderedArb, (a, b, c) => {
      if (runsBefore(a, b) && runsBefore(b, c)) assert.equal(runsBefore(a, c), true);
    }),
    { numRuns: 2_000 },
  );
});

Deno.test("task order - is total over tasks with distinct seq", () => {
  fc.assert(fc.property(orderedArb, orderedArb, (a, b) => {
    fc.pre(a.seq !== b.seq);
    assert.notEqual(runsBefore(a, b), runsBefore(b, a));
  }));
});

Deno.test("task order - sorting by it matches priority, then deadline, then seq", () => {
  fc.assert(fc.property(fc.array(orderedArb, { maxLength: 50 }), (items) => {
    const tasks = items.map((t, i) => ({ ...t, seq: i }));
    const byOrder = [...tasks].sort((a, b) => (runsBefore(a, b) ? -1 : 1));
    const byKeys = [...tasks].sort((a, b) =>
      b.priority - a.priority ||
      (a.deadline === b.deadline ? 0 : a.deadline < b.deadline ? -1 : 1) ||
      a.seq - b.seq
    );
    assert.deepEqual(byOrder, byKeys);
  }));
});
