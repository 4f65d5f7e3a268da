/**
 * The task table's memory of finished ids (actors/scheduler/task_table.ts):
 * exactly the last `recentLimit` ids, oldest evicted first, forgotten ids
 * gone (and counted from their new place when remembered again), and
 * eviction that stays cheap however many ids went through.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { TaskTable } from "../../../actors/scheduler/task_table.ts";

Deno.test("task table - recent holds the last N finished ids, whatever was forgotten or finished again", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 20 }),
      fc.array(
        fc.oneof(
          fc.record({ op: fc.constant("remember" as const), id: fc.integer({ min: 0, max: 40 }) }),
          fc.record({ op: fc.constant("forget" as const), id: fc.integer({ min: 0, max: 40 }) }),
        ),
        { maxLength: 300 },
      ),
      (limit, ops) => {
        const table = new TaskTable(limit);
        // Model: ids in order of first remembering since last forgotten; the oldest go first.
        let model: string[] = [];
        for (const { op, id } of ops) {
          const key = `t-${id}`;
          if (op === "remember") {
            if (!model.includes(key)) model.push(key);
            table.remember(key, "succeeded");
            if (model.length > limit) model = model.slice(model.length - limit);
          } else {
            table.forget(key);
            model = model.filter((m) => m !== key);
          }
          assert.ok(table.recent.size <= limit);
          for (const k of table.recent.keys()) assert.ok(model.includes(k), `${k} should be gone`);
          // Exactly the model: a forgotten id remembered again counts from its new place.
          assert.deepEqual([...table.recent.keys()].sort(), [...model].sort());
        }
      },
    ),
  );
});

Deno.test("task table - a million finished ids through a table of 100,000: the last 100,000 are kept, cheaply", () => {
  const table = new TaskTable(100_000);
  const t0 = performance.now();
  for (let i = 0; i < 1_000_000; i++) table.remember(`t-${i}`, "succeeded");
  const ms = performance.now() - t0;
  assert.equal(table.recent.size, 100_000);
  assert.equal(table.recent.has("t-899999"), false);
  assert.equal(table.recent.get("t-900000"), "succeeded");
  assert.equal(table.recent.get("t-999999"), "succeeded");
  // Evicting with the Map's first key took minutes here (up to 100 µs an id); this takes well
  // under a second. The bound is loose on purpose: it catches the quadratic case only.
  assert.ok(ms < 20_000, `${ms.toFixed(0)} ms for a million ids`);
});

Deno.test("task table - an id forgotten and remembered again counts from its new place", () => {
  const table = new TaskTable(1);
  table.remember("t-34", "succeeded");
  table.forget("t-34"); // a rejected id, used again
  table.remember("t-0", "succeeded");
  table.remember("t-34", "succeeded");
  assert.deepEqual([...table.recent.keys()], ["t-34"]);
});
