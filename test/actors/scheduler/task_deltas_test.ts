/**
 * Task deltas coalesced per window (actors/scheduler/task_deltas.ts): one
 * message per task per window, every transition in `steps`, the merged
 * fields equal to merging the steps, and a lone transition unchanged.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { coalesce, TaskDeltas } from "../../../actors/scheduler/task_deltas.ts";
import { MonitorFold } from "../../../actors/monitor/view.ts";

Deno.test("task deltas - one message per task per window; steps in order; a lone delta unchanged", async () => {
  const sent: { id: string; body: Record<string, unknown> }[] = [];
  const done = Promise.withResolvers<void>();
  const deltas = new TaskDeltas((id, body) => {
    sent.push({ id, body });
    if (sent.length === 2) done.resolve();
  }, 5);
  deltas.add({ id: "a", seq: 1, state: "queued", type: "echo", attempt: 0 });
  deltas.add({ id: "b", seq: 1, state: "queued", type: "echo", attempt: 0 });
  deltas.add({ id: "a", seq: 2, state: "dispatched", worker: "n/w0", attempt: 1 });
  deltas.add({ id: "a", seq: 3, state: "running", worker: "n/w0", attempt: 1, waitMs: 2 });
  assert.equal(sent.length, 0, "nothing before the window closes");
  await done.promise;
  const a = sent.find((s) => s.id === "a")!.body;
  assert.deepEqual(a, {
    id: "a",
    seq: 3,
    state: "running",
    type: "echo",
    attempt: 1,
    worker: "n/w0",
    waitMs: 2,
    from: 1,
    steps: [
      { seq: 1, state: "queued", type: "echo", attempt: 0 },
      { seq: 2, state: "dispatched", worker: "n/w0", attempt: 1 },
      { seq: 3, state: "running", worker: "n/w0", attempt: 1, waitMs: 2 },
    ],
  });
  assert.deepEqual(sent.find((s) => s.id === "b")!.body, {
    id: "b",
    seq: 1,
    state: "queued",
    type: "echo",
    attempt: 0,
  });
  // flush() sends at once (a term ends), and nothing is left for the timer.
  deltas.add({ id: "c", seq: 1, state: "queued" });
  deltas.flush();
  assert.equal(sent.length, 3);
  assert.equal(deltas.pending, 0);
});

Deno.test("task deltas - merging a coalesced message equals merging its steps one by one; the fold sees every step", () => {
  const stateArb = fc.constantFrom("queued", "dispatched", "running", "retrying", "succeeded");
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          state: stateArb,
          attempt: fc.nat({ max: 3 }),
          worker: fc.constantFrom("n/w0", "n/w1"),
        }, {
          requiredKeys: ["state"],
        }),
        { minLength: 2, maxLength: 8 },
      ),
      (fields) => {
        const list = fields.map((f, i) => ({ id: "t", seq: i + 1, ...f }));
        const one = coalesce(list);
        const byHand: Record<string, unknown> = {};
        for (const d of list) Object.assign(byHand, d);
        const { from, steps, ...merged } = one;
        assert.deepEqual(merged, byHand);
        assert.equal(from, 1);
        assert.equal((steps as unknown[]).length, list.length);
        // The monitor's fold applies each step: the same record as when they came one by one.
        const a = new MonitorFold({ now: () => 1_000 });
        const b = new MonitorFold({ now: () => 1_000 });
        a.apply("task", "t", one);
        for (const d of list) b.apply("task", "t", d);
        const strip = (f: MonitorFold) => {
          const { firstSeen: _f, updated: _u, ...rest } = f.tasks.get("t") as unknown as Record<
            string,
            unknown
          >;
          return rest;
        };
        assert.deepEqual(strip(a), strip(b));
        assert.equal(a.gaps, b.gaps);
      },
    ),
    { numRuns: 100 },
  );
});
