import assert from "node:assert/strict";
import fc from "fast-check";
import { ManualClock, SystemClock, TimerQueue } from "../../src/runtime/clock.ts";

Deno.test("clock - manual clock fires timers in due order, ties in insertion order", () => {
  const clock = new ManualClock(0);
  const fired: string[] = [];
  clock.setTimer(30, () => fired.push("c"));
  clock.setTimer(10, () => fired.push("a"));
  clock.setTimer(10, () => fired.push("b"));
  const d = clock.setTimer(20, () => fired.push("d"));
  d.cancel();
  clock.setTimer(5, () => clock.setTimer(0, () => fired.push("nested")));
  clock.advance(29);
  assert.deepEqual(fired, ["nested", "a", "b"]);
  clock.advance(1);
  assert.deepEqual(fired, ["nested", "a", "b", "c"]);
  assert.equal(clock.now(), 30);
});

Deno.test("clock - timer queue pops in (time, insertion) order after random cancels", () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.boolean())), (items) => {
      const q = new TimerQueue();
      const order: number[] = [];
      const handles = items.map(([at], i) => q.add(at, () => order.push(i)));
      items.forEach(([, cancel], i) => cancel && handles[i].cancel());
      for (let fn = q.takeDue(Infinity); fn; fn = q.takeDue(Infinity)) fn();
      const expected = items.map(([at, cancel], i) => ({ at, cancel, i })).filter((x) => !x.cancel)
        .sort((a, b) => a.at - b.at || a.i - b.i).map((x) => x.i);
      assert.deepEqual(order, expected);
      assert.equal(q.size, 0);
    }),
  );
});

Deno.test("clock - system clock serves many timers with one host timer and honours cancel", async () => {
  const clock = new SystemClock();
  const fired: number[] = [];
  const done = Promise.withResolvers<void>();
  for (let i = 0; i < 100; i++) {
    const h = clock.setTimer(i % 10, () => {
      fired.push(i);
      if (fired.length === 50) done.resolve();
    });
    if (i % 2) h.cancel();
  }
  await done.promise;
  assert.equal(fired.length, 50);
  assert.ok(fired.every((i) => i % 2 === 0));
});
