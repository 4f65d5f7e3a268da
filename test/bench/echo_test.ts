import assert from "node:assert/strict";
import fc from "fast-check";
import { dueBy } from "../../bench/_echo.ts";

Deno.test("open loop: the first task is due at its intended time, not one interval later", () => {
  assert.equal(dueBy(-1, 20, 100), 0);
  assert.equal(dueBy(0, 20, 100), 1);
  assert.equal(dueBy(49.9, 20, 100), 1);
  assert.equal(dueBy(50, 20, 100), 2);
  assert.equal(dueBy(1e9, 20, 100), 100);
});

Deno.test("open loop: exactly the tasks whose intended send time has come are due", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 20_000 }),
      fc.integer({ min: 1, max: 100_000 }),
      fc.double({ min: -100, max: 10_000, noNaN: true }),
      (rate, total, elapsed) => {
        const due = dueBy(elapsed, rate, total);
        // Every task counted is due (its time came), and the next one is not yet.
        if (due > 0) assert.ok(((due - 1) * 1000) / rate <= elapsed + 1e-9);
        if (due < total) assert.ok((due * 1000) / rate > elapsed - 1e-9);
      },
    ),
  );
});
