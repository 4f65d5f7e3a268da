import assert from "node:assert/strict";
import type { TerminalState } from "../../../src/protocol/task.ts";
import { T0, World } from "./_harness.ts";

const HOUR = 3_600_000;

// ---------------------------------------------------------------- cancel

Deno.test("scheduler core - cancelling a queued, waiting or retrying task ends it cancelled at once", () => {
  const w = new World();
  w.submit("queued");
  w.submit("dep");
  w.submit("waiting", { dependsOn: ["dep"] });
  assert.equal(w.state("waiting"), "waiting");
  assert.deepEqual(w.core.cancel("queued", "changed my mind"), {
    ok: true,
    id: "queued",
    state: "cancelled",
    was: "queued",
  });
  assert.deepEqual(w.core.cancel("waiting", "no longer needed"), {
    ok: true,
    id: "waiting",
    state: "cancelled",
    was: "waiting",
  });
  w.node("n1", ["n1/0", 1]);
  w.submit("retrying");
  const round = w.pump();
  assert.deepEqual(round.map((a) => a.id), ["dep"], "cancelled tasks never reach a worker");
  w.done(round[0], "succeeded");
  w.done(w.pump()[0], "failed");
  assert.equal(w.state("retrying"), "retrying");
  assert.equal(w.core.cancel("retrying", "stop").ok, true);
  w.clock.advance(HOUR);
  assert.equal(w.pump().length, 0, "a cancelled retry is not dispatched again");

  for (const [id, reason] of [["queued", "changed my mind"], ["waiting", "no longer needed"]]) {
    const r = w.result(id);
    assert.equal(r.state, "cancelled");
    assert.deepEqual(r.error, { code: "CANCELLED", message: reason });
  }
  assert.equal(w.result("retrying").state, "cancelled");
  const { queued, waiting, retrying } = w.core.stats;
  assert.deepEqual({ queued, waiting, retrying }, { queued: 0, waiting: 0, retrying: 0 });
});

Deno.test("scheduler core - cancelling a running task asks its node, and the cancelled report ends it", () => {
  const w = new World();
  w.node("n1", ["n1/0", 1]);
  w.submit("t");
  w.submit("next");
  const [a] = w.pump();
  w.start(a);
  assert.deepEqual(w.core.cancel("t", "cancelled by alice"), {
    ok: true,
    id: "t",
    state: "cancelling",
    was: "running",
  });
  assert.deepEqual(w.fx.cancels, [
    { node: "n1", id: "t", dispatch: a.dispatch, reason: "cancelled by alice" },
  ]);
  assert.equal(w.state("t"), "running", "it runs until the node says it stopped");
  assert.equal(w.resultsOf("t").length, 0);
  w.done(a, "cancelled", { error: { code: "CANCELLED", message: "aborted" } });
  const r = w.result("t");
  assert.equal(r.state, "cancelled");
  assert.deepEqual(r.error, { code: "CANCELLED", message: "cancelled by alice" });
  assert.deepEqual(w.pump().map((s) => s.id), ["next"], "the slot is free again");
});

Deno.test("scheduler core - a run that fails after a cancel request ends cancelled, not retrying", () => {
  const w = new World();
  w.node("n1", ["n1/0", 1]);
  w.submit("t", { maxAttempts: 3 });
  const [a] = w.pump();
  w.core.cancel("t", "stop");
  w.done(a, "failed");
  assert.equal(w.result("t").state, "cancelled");
  assert.equal(w.fx.deadLetters.length, 0);
});

Deno.test("scheduler core - cancelling an unknown task answers NOT_FOUND", () => {
  const w = new World();
  const out = w.core.cancel("ghost", "why not");
  assert.equal(out.ok, false);
  assert.equal(!out.ok && out.error.code, "NOT_FOUND");
});

Deno.test("scheduler core - cancelling a finished task fails and names the state it ended in", () => {
  const w = new World();
  w.submit("t", { deadline: T0 - 1 });
  const held = w.core.cancel("t", "too late");
  assert.equal(held.ok, false);
  assert.equal(held.state, "expired");
  assert.equal(!held.ok && held.error.code, "INVALID_ARGUMENT");
  assert.match(!held.ok ? held.error.message : "", /t already ended expired/);
  w.core.resultStored("t");
  const stored = w.core.cancel("t", "too late");
  assert.equal(stored.ok, false);
  assert.equal(stored.state, "expired");
  assert.match(!stored.ok ? stored.error.message : "", /already ended expired/);
  assert.equal(w.resultsOf("t").length, 1);
});

Deno.test("scheduler core - a task cancelled while dispatched and then refused by its node ends cancelled, not re-run", () => {
  const w = new World();
  w.node("n1", ["n1/0", 1]);
  w.node("n2", ["n2/0", 1]);
  w.submit("t");
  const [a] = w.pump();
  assert.equal(w.core.cancel("t", "stop").ok, true);
  w.refuse(a);
  assert.equal(w.pump().length, 0, "the cancel request outlives the refusal");
  const r = w.result("t");
  assert.equal(r.state, "cancelled");
  assert.deepEqual(r.error, { code: "CANCELLED", message: "stop" });
  assert.equal(w.core.stats.running, 0);
});

Deno.test("scheduler core - a task cancelled while running ends cancelled when its node is lost", () => {
  const w = new World();
  w.node("n1", ["n1/0", 1]);
  w.node("n2", ["n2/0", 1]);
  w.submit("t");
  const [a] = w.pump();
  w.start(a);
  w.core.cancel("t", "stop");
  assert.deepEqual(w.core.nodeGone(a.node, "heartbeat missed"), []);
  assert.equal(w.pump().length, 0);
  assert.equal(w.result("t").state, "cancelled");
});

// ---------------------------------------------------------------- dependencies

Deno.test("scheduler core - a dependant waits until its dependency succeeds, then queues", () => {
  const w = new World();
  w.node("n1", ["n1/0", 4]);
  w.submit("a");
  w.submit("b", { dependsOn: ["a"], priority: 9 });
  assert.equal(w.state("b"), "waiting");
  assert.equal((w.core.status("b") as { waitingOn?: number }).waitingOn, 1);
  assert.deepEqual(w.pump().map((s) => s.id), ["a"]);
  w.done(w.sent("a"), "succeeded");
  assert.equal(w.state("b"), "queued");
  assert.deepEqual(w.pump().map((s) => s.id), ["b"]);
  assert.deepEqual(w.deltasOf("b").map((d) => d.state), ["waiting", "queued", "dispatched"]);
  assert.equal(w.core.stats.waiting, 0);
});

Deno.test("scheduler core - a failed, cancelled or expired dependency cancels the dependant with DEPENDENCY_FAILED naming it", () => {
  const w = new World();
  w.node("n1", ["n1/0", 1, ["gpu"]]);
  w.submit("will-fail", { maxAttempts: 1, requires: ["gpu"] });
  w.submit("after-fail", { dependsOn: ["will-fail"] });
  w.submit("will-cancel", { requires: ["tpu"] });
  w.submit("after-cancel", { dependsOn: ["will-cancel"] });
  w.submit("will-expire", { requires: ["tpu"], deadline: T0 + 1_000 });
  w.submit("after-expire", { dependsOn: ["will-expire"] });

  w.done(w.pump()[0], "failed");
  w.core.cancel("will-cancel", "stop");
  w.clock.advance(1_000);

  for (const [dep, state] of [["fail", "failed"], ["cancel", "cancelled"], ["expire", "expired"]]) {
    assert.equal(w.result(`will-${dep}`).state, state);
    const r = w.result(`after-${dep}`);
    assert.equal(r.state, "cancelled");
    assert.deepEqual(r.error, {
      code: "DEPENDENCY_FAILED",
      message: `dependency will-${dep} ended ${state}`,
    });
  }
  assert.equal(w.core.stats.waiting, 0);
  assert.equal(w.fx.deadLetters.length, 1, "only the task that failed is dead-lettered");
});

Deno.test("scheduler core - a chain runs link by link, and a failure cancels every task after it", () => {
  const w = new World();
  w.node("n1", ["n1/0", 4]);
  w.submit("a");
  w.submit("b", { dependsOn: ["a"] });
  w.submit("c", { dependsOn: ["b"] });
  const order: string[] = [];
  for (let i = 0; i < 3; i++) {
    const round = w.pump();
    assert.equal(round.length, 1);
    order.push(round[0].id);
    w.done(round[0], "succeeded");
  }
  assert.deepEqual(order, ["a", "b", "c"]);

  w.submit("x", { maxAttempts: 1 });
  w.submit("y", { dependsOn: ["x"] });
  w.submit("z", { dependsOn: ["y"] });
  w.done(w.pump()[0], "failed");
  assert.equal(w.result("y").error?.message, "dependency x ended failed");
  assert.equal(w.result("z").error?.message, "dependency y ended cancelled");
  assert.equal(w.pump().length, 0);
});

Deno.test("scheduler core - a task with several dependencies waits for the last of them", () => {
  const w = new World();
  w.node("n1", ["n1/0", 4]);
  w.submit("a");
  w.submit("b");
  w.submit("both", { dependsOn: ["a", "b"] });
  const [a, b] = w.pump();
  w.done(a, "succeeded");
  assert.equal(w.state("both"), "waiting");
  w.done(b, "succeeded");
  assert.deepEqual(w.pump().map((s) => s.id), ["both"]);
});

Deno.test("scheduler core - a dependency that already finished lets the dependant run if it succeeded and cancels it otherwise", () => {
  const w = new World();
  w.node("n1", ["n1/0", 4]);
  const deps = new Map<string, TerminalState>([["old-ok", "succeeded"], ["old-bad", "failed"]]);
  w.submit("runs", { dependsOn: ["old-ok"] }, { deps });
  assert.equal(w.state("runs"), "queued");
  w.submit("never", { dependsOn: ["old-ok", "old-bad"] }, { deps });
  const r = w.result("never");
  assert.equal(r.state, "cancelled");
  assert.deepEqual(r.error, {
    code: "DEPENDENCY_FAILED",
    message: "dependency old-bad ended failed",
  });
  assert.deepEqual(w.pump().map((s) => s.id), ["runs"]);

  // Finished in memory: held with its result, or stored and remembered.
  w.submit("held", { maxAttempts: 1 });
  w.done(w.pump()[0], "failed");
  w.submit("after-held", { dependsOn: ["held"] });
  assert.equal(w.result("after-held").error?.message, "dependency held ended failed");
  w.done(w.sent("runs"), "succeeded");
  w.core.resultStored("runs");
  w.submit("after-stored", { dependsOn: ["runs"] });
  assert.equal(w.state("after-stored"), "queued");
});

Deno.test("scheduler core - a dependency missing from memory and from the deps map is an internal error", () => {
  const w = new World();
  assert.throws(
    () => w.submit("t", { dependsOn: ["nowhere"] }),
    /dependency nowhere of t was not resolved before submit/,
  );
});

// ---------------------------------------------------------------- lost nodes, refusals, fencing

Deno.test("scheduler core - the running tasks of a lost node are re-queued without charging the attempt and run elsewhere", () => {
  const w = new World();
  w.node("n1", ["n1/0", 2]);
  w.submit("a");
  w.submit("b");
  const first = w.pump();
  w.start(first[0]);
  w.node("n2", ["n2/0", 2]);
  assert.deepEqual(w.core.nodeGone("n1", "heartbeat missed").sort(), ["a", "b"]);
  assert.equal(w.core.workers.get("n1/0"), undefined);
  const again = w.pump();
  assert.deepEqual(again.map((s) => [s.id, s.worker, s.attempt]).sort(), [
    ["a", "n2/0", 1],
    ["b", "n2/0", 1],
  ]);
  for (const s of again) w.done(s, "succeeded");
  assert.equal(w.result("a").attempts, 1);
  assert.equal(w.core.stats.running, 0);
});

Deno.test("scheduler core - a late report from a lost node is fenced as stale and changes nothing", () => {
  const w = new World();
  w.node("n1", ["n1/0", 1]);
  w.submit("t");
  const [old] = w.pump();
  w.core.nodeGone("n1", "heartbeat missed");
  w.node("n2", ["n2/0", 1]);
  const [fresh] = w.pump();
  assert.equal(w.done(old, "succeeded", { result: "from the dead" }), false);
  assert.equal(w.resultsOf("t").length, 0);
  assert.equal(w.eventsOf("stale").length, 1);
  assert.equal(w.eventsOf("stale")[0].task, "t");
  w.done(fresh, "succeeded", { result: "real" });
  assert.equal(w.result("t").result, "real");
});

Deno.test("scheduler core - a task re-queued from a lost node still expires at its deadline", () => {
  const w = new World();
  w.node("n1", ["n1/0", 1]);
  w.submit("t", { deadline: T0 + 1_000 });
  w.pump();
  w.core.nodeGone("n1", "heartbeat missed");
  w.clock.advance(1_000);
  assert.equal(w.state("t"), "expired");
  w.node("n2", ["n2/0", 1]);
  assert.equal(w.pump().length, 0);
  assert.equal(w.result("t").error?.code, "DEADLINE_EXCEEDED");
});

Deno.test("scheduler core - a task whose node is lost after its deadline expires instead of running again", () => {
  const w = new World();
  w.node("n1", ["n1/0", 1]);
  w.submit("t", { deadline: T0 + 1_000 });
  w.pump();
  w.clock.advance(2_000);
  w.node("n2", ["n2/0", 1]);
  w.core.nodeGone("n1", "heartbeat missed");
  assert.equal(w.pump().length, 0);
  assert.equal(w.result("t").state, "expired");
});

Deno.test("scheduler core - a task refused by its node is re-queued without charging the attempt", () => {
  const w = new World();
  w.node("n1", ["n1/0", 1]);
  w.submit("t");
  const [a] = w.pump();
  assert.equal(w.refuse(a, "shutting down"), true);
  assert.equal(w.state("t"), "queued");
  assert.deepEqual(w.eventsOf("refused"), [{ task: "t", node: "n1", reason: "shutting down" }]);
  const [b] = w.pump();
  assert.equal(b.attempt, 1);
  assert.notEqual(b.dispatch, a.dispatch);
  assert.equal(w.done(a, "succeeded"), false, "the refused dispatch is fenced");
  w.done(b, "succeeded");
  assert.equal(w.result("t").attempts, 1);
});

Deno.test("scheduler core - a refused task still expires at its deadline", () => {
  const w = new World();
  w.node("n1", ["n1/0", 1]);
  w.submit("t", { deadline: T0 + 1_000 });
  const [a] = w.pump();
  w.core.setNodeAvailable("n1", false);
  w.refuse(a);
  w.clock.advance(1_000);
  assert.equal(w.state("t"), "expired");
});

Deno.test("scheduler core - reports for an old dispatch or a finished task are fenced: a stale event and no second result", () => {
  const w = new World();
  w.node("n1", ["n1/0", 1]);
  w.submit("t");
  const [a1] = w.pump();
  w.done(a1, "failed");
  w.clock.advance(HOUR);
  const [a2] = w.pump();
  assert.equal(w.done(a1, "succeeded"), false);
  assert.equal(w.start(a1), false);
  assert.equal(w.state("t"), "dispatched", "the stale start did not move the current run");
  w.done(a2, "succeeded");
  assert.equal(w.done(a2, "succeeded"), false, "a repeated outcome is stale");
  w.core.resultStored("t");
  assert.equal(w.done(a2, "failed"), false, "an outcome for a forgotten task is stale");
  assert.equal(w.resultsOf("t").length, 1);
  assert.deepEqual(w.eventsOf("stale").map((e) => e.why), [
    `dispatch ${a1.dispatch} is not the current one (${a2.dispatch})`,
    `dispatch ${a1.dispatch} is not the current one (${a2.dispatch})`,
    "task already finished",
    "unknown task",
  ]);
  assert.equal(w.core.stats.stale, 4);
});
