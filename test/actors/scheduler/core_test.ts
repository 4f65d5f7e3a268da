import assert from "node:assert/strict";
import { ack, ALICE, draft, T0, World } from "./_harness.ts";

const HOUR = 3_600_000;

// ---------------------------------------------------------------- lifecycle

Deno.test("scheduler core - a task goes queued, dispatched, running, succeeded with monitor seq 1 to 4 and one result", () => {
  const w = new World();
  w.node("n1", ["n1/0", 1]);
  const msg = w.submit("t1");
  const [a] = w.pump();
  assert.equal(a.id, "t1");
  assert.equal(a.attempt, 1);
  assert.equal(a.worker, "n1/0");
  assert.equal(w.start(a), true);
  assert.equal(w.done(a, "succeeded", { result: { echoed: true } }), true);

  const deltas = w.deltasOf("t1");
  assert.deepEqual(deltas.map((d) => [d.seq, d.state]), [
    [1, "queued"],
    [2, "dispatched"],
    [3, "running"],
    [4, "succeeded"],
  ]);
  const r = w.result("t1");
  assert.equal(r.state, "succeeded");
  assert.deepEqual(r.result, { echoed: true });
  assert.equal(r.attempts, 1);
  assert.equal(r.worker, "n1/0");
  assert.equal(r.history, undefined);
  assert.equal(w.fx.deadLetters.length, 0);
  assert.equal(msg.acks, 0, "the submission is acked only once the result is stored");
});

Deno.test("scheduler core - dispatches on its own in a microtask after submit", async () => {
  const w = new World();
  w.node("n1", ["n1/0", 2]);
  w.submit("a");
  w.submit("b");
  assert.equal(w.fx.assigned.length, 0, "nothing is sent synchronously inside submit");
  await Promise.resolve();
  assert.deepEqual(w.fx.assignCalls, [{ node: "n1", ids: ["a", "b"] }]);
});

Deno.test("scheduler core - one dispatch round makes one assign call per node", () => {
  const w = new World();
  w.node("n1", ["n1/0", 2], ["n1/1", 2]);
  w.node("n2", ["n2/0", 2]);
  for (const id of ["a", "b", "c", "d", "e", "f"]) w.submit(id);
  assert.equal(w.pump().length, 6);
  assert.deepEqual(w.fx.assignCalls.map((c) => c.node).sort(), ["n1", "n2"]);
  assert.equal(w.fx.assignCalls.find((c) => c.node === "n1")!.ids.length, 4);
});

// ---------------------------------------------------------------- order

Deno.test("scheduler core - a priority-9 task submitted after a priority-0 one starts first once a slot frees", () => {
  const w = new World();
  w.node("n1", ["n1/0", 1]);
  w.submit("busy");
  const [busy] = w.pump();
  w.submit("low", { priority: 0 });
  w.submit("high", { priority: 9 });
  assert.equal(w.pump().length, 0, "no free slot yet");
  w.done(busy, "succeeded");
  assert.deepEqual(w.pump().map((a) => a.id), ["high"]);
  w.done(w.sent("high"), "succeeded");
  assert.deepEqual(w.pump().map((a) => a.id), ["low"]);
});

Deno.test("scheduler core - within a priority the earlier deadline starts first, then first submitted, and no deadline last", () => {
  const w = new World();
  w.node("n1", ["n1/0", 1]);
  w.submit("busy");
  let running = w.pump()[0];
  w.submit("none", { deadline: Infinity });
  w.submit("late", { deadline: T0 + 2 * HOUR });
  w.submit("soon", { deadline: T0 + HOUR });
  w.submit("soon-too", { deadline: T0 + HOUR });
  w.submit("other-priority", { priority: 4, deadline: T0 + 1 });
  const order: string[] = [];
  for (let i = 0; i < 5; i++) {
    w.done(running, "succeeded");
    running = w.pump()[0];
    order.push(running.id);
  }
  assert.deepEqual(order, ["soon", "soon-too", "late", "none", "other-priority"]);
});

// ---------------------------------------------------------------- routing

Deno.test("scheduler core - a gpu task goes only to a gpu worker", () => {
  const w = new World();
  w.node("cpu", ["cpu/0", 8]);
  w.submit("render", { requires: ["gpu"] });
  assert.equal(w.pump().length, 0, "no gpu worker yet");
  w.node("gpu", ["gpu/0", 1, ["gpu", "ssd"]]);
  const [a] = w.pump();
  assert.equal(a.worker, "gpu/0");
  assert.equal(a.node, "gpu");
});

Deno.test("scheduler core - a queued gpu task that no free worker can take does not block a plain task behind it", () => {
  const w = new World();
  w.node("gpu", ["gpu/0", 1, ["gpu"]]);
  w.node("cpu", ["cpu/0", 1]);
  w.submit("g1", { requires: ["gpu"], priority: 9 });
  assert.deepEqual(w.pump().map((a) => a.worker), ["gpu/0"]);
  w.submit("g2", { requires: ["gpu"], priority: 9 });
  w.submit("plain", { priority: 0 });
  const round = w.pump();
  assert.deepEqual(round.map((a) => [a.id, a.worker]), [["plain", "cpu/0"]]);
  assert.equal(w.state("g2"), "queued");
  w.done(w.sent("g1"), "succeeded");
  assert.deepEqual(w.pump().map((a) => [a.id, a.worker]), [["g2", "gpu/0"]]);
});

Deno.test("scheduler core - a task goes only to a worker that runs its type", () => {
  const w = new World();
  w.core.registerWorkers("n1", [{
    id: "n1/0",
    concurrency: 4,
    capabilities: [],
    types: ["sleep"],
  }]);
  w.submit("e");
  assert.equal(w.pump().length, 0);
  assert.equal(w.core.hasType("sleep"), true);
  assert.equal(w.core.hasType("echo"), false);
  w.node("n2", ["n2/0", 1]);
  assert.deepEqual(w.pump().map((a) => a.worker), ["n2/0"]);
});

Deno.test("scheduler core - chooses the least-loaded worker", () => {
  const w = new World();
  w.node("n1", ["n1/0", 4]);
  w.node("n2", ["n2/0", 4]);
  w.submit("a");
  const [a] = w.pump();
  w.submit("b");
  const [b] = w.pump();
  assert.notEqual(b.worker, a.worker, "the idle worker beats the one with a task");
  w.done(a, "succeeded");
  w.submit("c");
  const [c] = w.pump();
  assert.equal(c.worker, a.worker, "after a finishes its worker has the most free slots");
  for (const id of ["d", "e", "f", "g"]) w.submit(id);
  const round = w.pump();
  const per = new Map<string, number>();
  for (const s of [b, c, ...round]) per.set(s.worker, (per.get(s.worker) ?? 0) + 1);
  assert.deepEqual([...per.values()], [3, 3], "a batch spreads evenly");
});

Deno.test("scheduler core - a draining node gets no new tasks until it is available again", () => {
  const w = new World();
  w.node("n1", ["n1/0", 4]);
  w.core.setNodeAvailable("n1", false);
  w.submit("a");
  assert.equal(w.pump().length, 0);
  w.core.setNodeAvailable("n1", true);
  assert.equal(w.pump().length, 1);
});

// ---------------------------------------------------------------- deadlines

Deno.test("scheduler core - a task whose deadline passes while queued expires with DEADLINE_EXCEEDED", () => {
  const w = new World();
  const msg = w.submit("t", { deadline: T0 + 5_000 });
  w.clock.advance(4_999);
  assert.equal(w.state("t"), "queued");
  w.clock.advance(1);
  assert.equal(w.state("t"), "expired");
  const r = w.result("t");
  assert.equal(r.state, "expired");
  assert.equal(r.error?.code, "DEADLINE_EXCEEDED");
  assert.match(r.error!.message, /2026-01-01T00:00:05\.000Z passed before the task could start/);
  assert.equal(w.core.stats.queued, 0);
  w.node("n1", ["n1/0", 1]);
  assert.equal(w.pump().length, 0, "an expired task is never dispatched");
  w.core.resultStored("t");
  assert.equal(msg.acks, 1);
});

Deno.test("scheduler core - a task whose deadline had passed at submission expires at once", () => {
  const w = new World();
  w.node("n1", ["n1/0", 1]);
  w.submit("late", { deadline: T0 - 1 });
  const r = w.result("late");
  assert.equal(r.state, "expired");
  assert.equal(r.error?.code, "DEADLINE_EXCEEDED");
  assert.match(r.error!.message, /had already passed at submission/);
  assert.equal(w.pump().length, 0);
  assert.equal(w.clock.pending, 0, "no timer is left behind");
});

Deno.test("scheduler core - a deadline that passes after dispatch does not stop the run", () => {
  const w = new World();
  w.node("n1", ["n1/0", 1]);
  w.submit("t", { deadline: T0 + 1_000 });
  const [a] = w.pump();
  w.start(a);
  w.clock.advance(5_000);
  assert.equal(w.state("t"), "running");
  w.done(a, "succeeded");
  assert.equal(w.result("t").state, "succeeded");
});

// ---------------------------------------------------------------- retries

Deno.test("scheduler core - a failed attempt goes retrying, then after the backoff queued and dispatched as attempt 2", () => {
  const w = new World({ retryBaseMs: 1_000 });
  w.node("n1", ["n1/0", 1]);
  w.submit("t", { maxAttempts: 3 });
  const [a1] = w.pump();
  w.start(a1);
  w.done(a1, "failed", { error: { code: "HANDLER_ERROR", message: "boom" } });
  assert.equal(w.state("t"), "retrying");
  const retrying = w.deltasOf("t").at(-1)!;
  assert.equal(retrying.state, "retrying");
  // random() = 0.5: half the base plus half of the other half.
  assert.equal(retrying.retryInMs, 750);
  assert.deepEqual(retrying.error, { code: "HANDLER_ERROR", message: "boom" });
  w.clock.advance(749);
  assert.equal(w.pump().length, 0);
  w.clock.advance(1);
  assert.equal(w.state("t"), "queued");
  const [a2] = w.pump();
  assert.equal(a2.attempt, 2);
  assert.notEqual(a2.dispatch, a1.dispatch, "each attempt has its own fencing token");
  w.done(a2, "succeeded");
  const r = w.result("t");
  assert.equal(r.state, "succeeded");
  assert.equal(r.attempts, 2);
});

Deno.test("scheduler core - the backoff grows with each attempt up to retryMaxMs", () => {
  const w = new World({ retryBaseMs: 1_000, retryMaxMs: 3_000 });
  w.node("n1", ["n1/0", 1]);
  w.submit("t", { maxAttempts: 5 });
  const delays: number[] = [];
  for (let attempt = 1; attempt < 5; attempt++) {
    const [a] = w.pump();
    assert.equal(a.attempt, attempt);
    w.done(a, "failed");
    delays.push(w.deltasOf("t").at(-1)!.retryInMs as number);
    w.clock.advance(delays.at(-1)!);
  }
  assert.deepEqual(delays, [750, 1_500, 2_250, 2_250]);
});

Deno.test("scheduler core - a handler's retryAfterMs sets the backoff", () => {
  const w = new World({ retryBaseMs: 1_000 });
  w.node("n1", ["n1/0", 1]);
  w.submit("t");
  w.done(w.pump()[0], "failed", { retryAfterMs: 10_000 });
  assert.equal(w.deltasOf("t").at(-1)!.retryInMs, 10_000);
  w.clock.advance(9_999);
  assert.equal(w.pump().length, 0);
  w.clock.advance(1);
  assert.equal(w.pump()[0].attempt, 2);
});

Deno.test("scheduler core - an unrecoverable failure skips the remaining attempts", () => {
  const w = new World();
  w.node("n1", ["n1/0", 1]);
  w.submit("t", { maxAttempts: 3 });
  const error = { code: "UNRECOVERABLE" as const, message: "payload is not valid" };
  w.done(w.pump()[0], "unrecoverable", { error });
  const r = w.result("t");
  assert.equal(r.state, "failed");
  assert.equal(r.attempts, 1);
  assert.deepEqual(r.error, error);
  assert.equal(w.fx.deadLetters.length, 1);
  w.clock.advance(HOUR);
  assert.equal(w.pump().length, 0);
});

Deno.test("scheduler core - used-up attempts fail the task and dead-letter it with its history", () => {
  const w = new World();
  w.node("n1", ["n1/0", 1]);
  w.submit("t", { maxAttempts: 2 });
  w.done(w.pump()[0], "failed", { error: { code: "HANDLER_ERROR", message: "first" } });
  w.clock.advance(HOUR);
  w.done(w.pump()[0], "failed", { error: { code: "HANDLER_ERROR", message: "second" } });
  const r = w.result("t");
  assert.equal(r.state, "failed");
  assert.equal(r.attempts, 2);
  assert.equal(r.error?.code, "HANDLER_ERROR");
  assert.match(r.error!.message, /second \(attempt 2 of 2; no attempts left\)/);
  assert.equal(w.fx.deadLetters.length, 1);
  const dead = w.fx.deadLetters[0];
  assert.equal(dead.id, "t");
  assert.deepEqual(dead.result.history?.map((h) => [h.attempt, h.outcome, h.error?.message]), [
    [1, "failed", "first"],
    [2, "failed", "second"],
  ]);
});

Deno.test("scheduler core - a timeout counts as a failed attempt", () => {
  const w = new World();
  w.node("n1", ["n1/0", 1]);
  w.submit("t", { maxAttempts: 2 });
  const timeout = { code: "TIMEOUT" as const, message: "task exceeded its timeout of 30000 ms" };
  w.done(w.pump()[0], "timeout", { error: timeout });
  assert.equal(w.state("t"), "retrying");
  w.clock.advance(HOUR);
  w.done(w.pump()[0], "timeout", { error: timeout });
  const r = w.result("t");
  assert.equal(r.state, "failed");
  assert.equal(r.error?.code, "TIMEOUT");
  assert.deepEqual(r.history?.map((h) => h.outcome), ["timeout", "timeout"]);
});

Deno.test("scheduler core - a deadline that falls inside the backoff expires the task at the deadline and leaves no retrying count", () => {
  const w = new World({ retryBaseMs: 1_000 });
  w.node("n1", ["n1/0", 1]);
  w.submit("t", { deadline: T0 + 500 });
  w.done(w.pump()[0], "failed", { retryAfterMs: 60_000 });
  assert.equal(w.core.stats.retrying, 1);
  w.clock.advance(499);
  assert.equal(w.state("t"), "retrying");
  w.clock.advance(1);
  const r = w.result("t");
  assert.equal(r.state, "expired");
  assert.equal(w.fx.results[0].at, T0 + 500, "expired at the deadline, not after the backoff");
  assert.match(r.error!.message, /before the task could run again/);
  assert.deepEqual(r.history?.map((h) => h.outcome), ["failed"]);
  assert.equal(w.core.stats.retrying, 0);
  assert.equal(w.clock.pending, 0, "no timer is left behind");
});

Deno.test("scheduler core - a failure reported after the deadline expires the task instead of retrying", () => {
  const w = new World();
  w.node("n1", ["n1/0", 1]);
  w.submit("t", { deadline: T0 + 1_000, maxAttempts: 3 });
  const [a] = w.pump();
  w.clock.advance(2_000);
  w.done(a, "failed");
  assert.equal(w.result("t").state, "expired");
  assert.equal(w.deltasOf("t").some((d) => d.state === "retrying"), false);
  assert.equal(w.core.stats.retrying, 0);
  assert.equal(w.fx.deadLetters.length, 0);
});

// ---------------------------------------------------------------- de-duplication

Deno.test("scheduler core - a resubmission with another seq is acked at once and not run twice", () => {
  const w = new World();
  w.node("n1", ["n1/0", 4]);
  const first = w.submit("t", {}, { seq: 1 });
  const again = w.submit("t", {}, { seq: 2 });
  assert.equal(again.acks, 1);
  assert.deepEqual(w.eventsOf("duplicate"), [{ task: "t", streamSeq: 2 }]);
  assert.equal(w.pump().length, 1);
  w.done(w.sent("t"), "succeeded");
  assert.equal(w.resultsOf("t").length, 1);
  w.core.resultStored("t");
  assert.equal(first.acks, 1);
  assert.equal(again.acks, 1);
});

Deno.test("scheduler core - a redelivery with the same seq keeps one task and settles the newest delivery", () => {
  const w = new World();
  w.node("n1", ["n1/0", 4]);
  const first = w.submit("t", {}, { seq: 7 });
  const redelivered = w.submit("t", {}, { seq: 7 });
  assert.equal(redelivered.acks, 0);
  assert.equal(w.eventsOf("duplicate").length, 0);
  assert.equal(w.core.stats.held, 1);
  assert.equal(w.pump().length, 1);
  w.done(w.sent("t"), "succeeded");
  w.core.resultStored("t");
  assert.equal(first.acks + redelivered.acks, 1);
  assert.equal(redelivered.acks, 1);
});

Deno.test("scheduler core - a resubmission after the result was stored is acked as a duplicate", () => {
  const w = new World();
  w.node("n1", ["n1/0", 4]);
  w.submit("t");
  w.done(w.pump()[0], "succeeded");
  w.core.resultStored("t");
  const again = w.submit("t");
  assert.equal(again.acks, 1);
  assert.equal(w.pump().length, 0);
  assert.equal(w.resultsOf("t").length, 1);
});

// ---------------------------------------------------------------- status and results

Deno.test("scheduler core - status shows a held task in full and a stored one by its terminal state", () => {
  const w = new World();
  w.node("n1", ["n1/0", 1]);
  w.submit("t", { priority: 7, deadline: T0 + HOUR });
  assert.deepEqual(w.core.status("t"), {
    id: "t",
    type: "echo",
    state: "queued",
    attempts: 0,
    priority: 7,
    worker: undefined,
    submittedAt: "2026-01-01T00:00:00.000Z",
    deadline: "2026-01-01T01:00:00.000Z",
    waitingOn: undefined,
  });
  w.start(w.pump()[0]);
  const running = w.core.status("t") as { state: string; worker?: string; attempts: number };
  assert.equal(running.state, "running");
  assert.equal(running.worker, "n1/0");
  assert.equal(running.attempts, 1);
  w.done(w.sent("t"), "succeeded");
  assert.equal(w.core.status("t")?.state, "succeeded");
  w.core.resultStored("t");
  assert.deepEqual(w.core.status("t"), { id: "t", state: "succeeded" });
  assert.equal(w.core.status("ghost"), undefined);
  assert.equal(w.core.ownerOf("t"), undefined, "a forgotten task has no owner on record");
});

Deno.test("scheduler core - resultStored acks the submission once and forgets the task", () => {
  const w = new World();
  w.node("n1", ["n1/0", 1]);
  const msg = w.submit("t");
  w.core.resultStored("t");
  assert.equal(msg.acks, 0, "no result yet: nothing to settle");
  w.done(w.pump()[0], "succeeded");
  w.core.resultStored("t");
  w.core.resultStored("t");
  assert.equal(msg.acks, 1);
  assert.equal(w.core.tasks.has("t"), false);
  assert.equal(w.core.knows("t"), "succeeded");
  assert.equal(w.core.stats.held, 0);
  assert.equal(w.core.stats.finished, 1);
});

Deno.test("scheduler core - a node that registers again without one of its workers gets that worker's task back in the queue", () => {
  const w = new World();
  w.node("n1", ["n1/0", 1], ["n1/1", 1]);
  w.submit("a");
  w.submit("b");
  const sent = w.pump();
  assert.equal(sent.length, 2);
  const onGone = sent.find((s) => s.worker === "n1/1")!;
  const onKept = sent.find((s) => s.worker === "n1/0")!;
  w.start(onGone);
  w.node("n1", ["n1/0", 1]);
  assert.equal(w.core.status(onGone.id)?.state, "queued", "the gone worker's task is queued again");
  assert.equal(w.core.stats.running, 1);
  w.done(onKept, "succeeded");
  const [again] = w.pump();
  assert.equal(again.id, onGone.id);
  assert.equal(again.worker, "n1/0");
  assert.equal(again.attempt, 1, "the lost run is not charged as an attempt");
  assert.equal(w.done(onGone, "succeeded"), false, "a late word from the gone worker is stale");
  assert.equal(w.done(again, "succeeded"), true);
  assert.equal(w.resultsOf(onGone.id).length, 1);
});

Deno.test("scheduler core - a lost node handing back a task already taken back raises no stale event; a late outcome does", () => {
  const w = new World();
  w.node("n1", ["n1/0", 2]);
  w.submit("a");
  w.submit("b");
  const [a, b] = w.pump();
  w.start(a);
  w.core.nodeGone("n1", "no heartbeat");
  assert.equal(w.refuse(a, "node fenced"), false, "the hand-back is stale");
  assert.equal(w.refuse(b, "node fenced"), false);
  assert.deepEqual(w.fx.events.filter((e) => e.kind === "stale"), []);
  assert.equal(w.done(a, "succeeded"), false);
  const stale = w.fx.events.filter((e) => e.kind === "stale");
  assert.equal(stale.length, 1);
  assert.equal(stale[0].detail.task, "a");
  assert.equal(w.core.stats.stale, 3, "every stale report is still counted");
});

Deno.test("scheduler core - a dispatch whose start is never reported goes back to the queue, uncharged; a started one stays", () => {
  const w = new World();
  w.node("n1", ["n1/0", 1], ["n1/1", 1]);
  w.submit("lost");
  w.submit("ok");
  const sent = w.pump();
  const lost = sent.find((s) => s.id === "lost")!;
  const ok = sent.find((s) => s.id === "ok")!;
  w.start(ok);
  w.clock.advance(5_000);
  assert.deepEqual(w.core.requeueUnstarted(10_000), [], "not yet");
  w.clock.advance(5_001);
  assert.deepEqual(w.core.requeueUnstarted(10_000), ["lost"]);
  assert.equal(w.core.status("ok")?.state, "running");
  const [again] = w.pump();
  assert.equal(again.id, "lost");
  assert.equal(again.worker, lost.worker, "its worker's slot was freed");
  assert.equal(again.attempt, 1, "not charged");
  assert.equal(w.start(lost), false, "the first dispatch is stale now");
  assert.equal(w.start(again), true);
});

Deno.test("scheduler core - monitor deltas carry the type, the first attempt's wait and each attempt's run; a run handed back is not waited again", () => {
  const w = new World();
  w.node("n1", ["n1/0", 1]);
  w.submit("t1", { type: "echo" });
  w.clock.advance(30);
  const [a] = w.pump();
  w.start(a);
  w.clock.advance(50);
  w.done(a, "succeeded", { result: 1 });
  const [queued, , running, done] = w.deltasOf("t1");
  assert.equal(queued.redelivered, undefined);
  assert.deepEqual([running.state, running.type, running.waitMs], ["running", "echo", 30]);
  assert.deepEqual([done.state, done.type, done.runMs], ["succeeded", "echo", 50]);

  // Started, then its node goes: queued again uncharged; its next start reports no wait.
  w.node("n2", ["n2/0", 1]);
  w.submit("t2", { type: "echo" });
  const [b] = w.pump();
  w.start(b);
  w.core.nodeGone(b.node, "lost");
  const [c] = w.pump();
  assert.equal(c.id, "t2");
  w.start(c);
  const starts = w.deltasOf("t2").filter((d) => d.state === "running");
  assert.equal(starts.length, 2);
  assert.equal(typeof starts[0].waitMs, "number");
  assert.equal(starts[1].waitMs, undefined);
});

Deno.test("scheduler core - a submission delivered before is announced as redelivered, so monitors do not count it twice", () => {
  const w = new World();
  w.core.submit(draft("r1"), ALICE, 1, ack(), new Map(), undefined, undefined, true);
  w.core.submit(draft("r2"), ALICE, 2, ack());
  assert.equal(w.deltasOf("r1")[0].redelivered, true);
  assert.equal(w.deltasOf("r2")[0].redelivered, undefined);
});
