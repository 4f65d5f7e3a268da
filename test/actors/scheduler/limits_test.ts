/**
 * Per-user limits: the token buckets on a manual clock, the refusal messages,
 * and the core's in-flight count per owner through retries, dependencies,
 * cancels, expiries and lost nodes (also as a property against the model run).
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { RateBuckets, UserLimits } from "../../../actors/scheduler/limits.ts";
import { ManualClock } from "../../../src/runtime/clock.ts";
import type { Principal } from "../../../src/protocol/task.ts";
import { ack, draft, T0, World } from "./_harness.ts";
import { CAPS, type FinishOutcome, Sim } from "./_model.ts";

const BOB: Principal = { sub: "bob", roles: ["submitter"] };

// ---------------------------------------------------------------- token buckets

Deno.test("limits - a bucket lets a burst through, then refills at the rate, never above the burst", () => {
  const clock = new ManualClock(T0);
  const b = new RateBuckets(10, 5); // 10/s, burst 5
  for (let i = 0; i < 5; i++) assert.ok(b.take("alice", clock.now()), `burst ${i}`);
  assert.equal(b.take("alice", clock.now()), false);
  clock.advance(99);
  assert.equal(b.take("alice", clock.now()), false, "0.99 of a token after 99 ms");
  clock.advance(1);
  assert.ok(b.take("alice", clock.now()), "one token after 100 ms");
  assert.equal(b.take("alice", clock.now()), false);
  clock.advance(60_000);
  assert.equal(b.tokens("alice", clock.now()), 5, "capped at the burst");
  for (let i = 0; i < 5; i++) assert.ok(b.take("alice", clock.now()));
  assert.equal(b.take("alice", clock.now()), false);
});

Deno.test("limits - each user has its own bucket", () => {
  const b = new RateBuckets(1, 2);
  assert.ok(b.take("alice", T0));
  assert.ok(b.take("alice", T0));
  assert.equal(b.take("alice", T0), false);
  assert.ok(b.take("bob", T0), "bob is not alice");
  assert.ok(b.take("bob", T0));
  assert.equal(b.take("bob", T0), false);
});

Deno.test("limits - a clock that steps back neither adds nor removes tokens", () => {
  const b = new RateBuckets(1_000, 3);
  assert.ok(b.take("alice", T0));
  assert.ok(b.take("alice", T0 - 5_000));
  assert.ok(b.take("alice", T0 - 5_000));
  assert.equal(b.take("alice", T0 - 5_000), false);
  assert.ok(b.take("alice", T0 + 1), "refills from the latest time seen");
});

Deno.test("limits - a sustained rate just under the limit is never refused; just over it is", () => {
  const under = new RateBuckets(100, 10);
  const over = new RateBuckets(100, 10);
  let refusedUnder = 0;
  let refusedOver = 0;
  for (let i = 0; i < 10_000; i++) {
    if (!under.take("u", T0 + i * 10)) refusedUnder++; // 100/s
    if (!over.take("u", T0 + i * 9)) refusedOver++; // 111/s
  }
  assert.equal(refusedUnder, 0);
  assert.ok(refusedOver > 800 && refusedOver < 1_100, `about 1 in 10 refused: ${refusedOver}`);
});

Deno.test("limits - buckets of idle users are swept once they filled up again", () => {
  const b = new RateBuckets(1_000, 1);
  for (let i = 0; i < 10_000; i++) b.take(`u${i}`, T0);
  assert.equal(b.size, 10_000);
  b.take("late", T0 + 10); // every bucket is full again after 1 ms
  assert.equal(b.size, 1);
  assert.equal(b.take("late", T0 + 10), false, "the newcomer's own bucket is kept");
});

Deno.test("limits - refusals are RESOURCE_EXHAUSTED and name the user, the limit and its value", () => {
  const limits = new UserLimits({ userRate: 2, userBurst: 2, userInFlight: 100 });
  assert.equal(limits.rate("alice", T0), null);
  assert.equal(limits.rate("alice", T0), null);
  assert.deepEqual(limits.rate("alice", T0), {
    code: "RESOURCE_EXHAUSTED",
    message: 'user "alice" is over its rate limit of 2 tasks/s (burst 2): slow down',
  });
  assert.equal(limits.inFlight("alice", 99), null);
  assert.deepEqual(limits.inFlight("alice", 100), {
    code: "RESOURCE_EXHAUSTED",
    message: 'user "alice" is over its in-flight limit of 100 tasks: try again when some end',
  });
});

Deno.test("limits - 0 turns a limit off", () => {
  const limits = new UserLimits({ userRate: 0, userBurst: 1, userInFlight: 0 });
  for (let i = 0; i < 100_000; i++) assert.equal(limits.rate("alice", T0), null);
  assert.equal(limits.inFlight("alice", 10_000_000), null);
});

// ---------------------------------------------------------------- in-flight count in the core

Deno.test("limits - the core counts a user's tasks from acceptance to their end, whatever ends them", () => {
  const w = new World({ retryBaseMs: 100, retryMaxMs: 100 });
  w.node("n1", ["n1/w0", 1]);
  const core = w.core;
  // a1 runs, fails once, is retried and succeeds; a2 waits on a1; a3 is cancelled while queued;
  // a4 expires while queued; b1 is bob's.
  w.submit("a1", { maxAttempts: 2 });
  w.submit("a2", { dependsOn: ["a1"] });
  w.submit("a3");
  w.submit("a4", { deadline: T0 + 50, priority: 0 });
  core.submit(draft("b1"), BOB, 100, ack());
  assert.equal(core.inFlight("alice"), 4);
  assert.equal(core.inFlight("bob"), 1);
  w.pump();
  w.start(w.sent("a1"));
  w.done(w.sent("a1"), "failed", { error: { code: "HANDLER_ERROR", message: "boom" } });
  assert.equal(w.state("a1"), "retrying");
  assert.equal(core.inFlight("alice"), 4, "a retry is still in flight");
  assert.equal(core.cancel("a3", "cancelled by alice").ok, true);
  assert.equal(core.inFlight("alice"), 3, "a cancel ends it");
  w.clock.advance(50);
  assert.equal(w.result("a4").state, "expired");
  assert.equal(core.inFlight("alice"), 2, "an expiry ends it");
  w.clock.advance(100);
  w.pump();
  w.done(w.sent("a1"), "succeeded", { result: 1 });
  assert.equal(core.inFlight("alice"), 1, "a1 ended; a2 is queued now");
  // The node is lost while a2 runs: it goes back to the queue, still in flight.
  w.pump();
  assert.equal(w.sent("a2").id, "a2");
  core.nodeGone("n1", "lost");
  assert.equal(core.inFlight("alice"), 1);
  // A result stored later does not count again; a duplicate submission is not counted.
  core.resultStored("a1");
  w.submit("a1");
  w.submit("a2");
  assert.equal(core.inFlight("alice"), 1);
  assert.equal(core.cancel("a2", "cancelled by alice").ok, true);
  assert.equal(core.inFlight("alice"), 0);
  assert.equal(core.inFlight("bob"), 1);
  assert.equal(core.cancel("b1", "cancelled by admin").ok, true);
  assert.equal(core.inFlightOwners, 0, "nothing is kept for users with nothing in flight");
});

Deno.test("limits - a dependant of a task that fails is cancelled and leaves the count", () => {
  const w = new World();
  w.node("n1", ["n1/w0", 1]);
  w.submit("p", { maxAttempts: 1 });
  w.submit("c1", { dependsOn: ["p"] });
  w.submit("c2", { dependsOn: ["p"] });
  assert.equal(w.core.inFlight("alice"), 3);
  w.pump();
  w.done(w.sent("p"), "failed", { error: { code: "HANDLER_ERROR", message: "x" } });
  assert.equal(w.result("c1").state, "cancelled");
  assert.equal(w.core.inFlight("alice"), 0);
  // A submission whose deadline had passed, or whose dependency already failed, ends at once.
  w.submit("late", { deadline: T0 - 1 });
  w.submit("c3", { dependsOn: ["p"] });
  assert.equal(w.core.inFlight("alice"), 0);
});

Deno.test("limits - property: after any sequence of operations the count is the held tasks not ended", () => {
  const pick = fc.nat({ max: 1_000 });
  const outcomes: FinishOutcome[] = [
    "succeeded",
    "failed",
    "timeout",
    "unrecoverable",
    "cancelled",
  ];
  type Op = (s: Sim) => void;
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      priority: fc.integer({ min: 0, max: 9 }),
      deadlineIn: fc.oneof(fc.constant(null), fc.integer({ min: -200, max: 8_000 })),
      requires: fc.subarray([...CAPS]),
      maxAttempts: fc.integer({ min: 1, max: 3 }),
      dep: fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: pick }),
    }).map((v): Op => (s) => s.submit(v)),
    fc.tuple(pick, fc.constantFrom(...outcomes)).map(([p, o]): Op => (s) => s.finish(p, o, null)),
    pick.map((p): Op => (s) => s.start(p)),
    pick.map((p): Op => (s) => s.refuse(p)),
    pick.map((p): Op => (s) => s.cancel(p)),
    pick.map((p): Op => (s) => s.loseNode(p)),
    fc.integer({ min: 0, max: 3_000 }).map((ms): Op => (s) => s.advance(ms)),
    fc.constant<Op>((s) => s.addNode([{ concurrency: 2, caps: [...CAPS] }])),
    fc.tuple(pick, fc.boolean()).map(([p, all]): Op => (s) => s.store(p, all)),
    fc.tuple(pick, fc.boolean()).map(([p, again]): Op => (s) => s.resubmit(p, again)),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
      const sim = new Sim();
      sim.addNode([{ concurrency: 2, caps: [] }]);
      sim.settle();
      const core = sim.w.core;
      for (const act of ops) {
        act(sim);
        sim.settle();
        const open = [...core.tasks.values()].filter((e) => e.result === null).length;
        assert.equal(core.inFlight("alice"), open);
      }
      sim.drain();
      assert.equal(core.inFlight("alice"), 0);
    }),
    { numRuns: 300 },
  );
});
