import assert from "node:assert/strict";
import {
  type HandlerDefinition,
  mintToken,
  RetryAfter,
  type TaskResult,
  Unrecoverable,
} from "../../src/internal_mod.ts";
import { SECRET } from "../_cluster.ts";
import { rig } from "./_node.ts";
import { DISRUPTION_GRACE_MS } from "../../actors/scheduler/submissions.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Fails until attempt `succeedOn`, then returns the attempt number. */
const flaky: HandlerDefinition = {
  type: "flaky",
  // deno-lint-ignore require-yield
  handler: async function* (payload, ctx) {
    const p = payload as { succeedOn: number; retryAfterMs?: number };
    if (ctx.attempt < p.succeedOn) {
      if (p.retryAfterMs !== undefined) throw new RetryAfter(p.retryAfterMs);
      throw new Error(`attempt ${ctx.attempt} failed on purpose`);
    }
    return { attempt: ctx.attempt };
  },
};

const fatal: HandlerDefinition = {
  type: "fatal",
  // deno-lint-ignore require-yield
  handler: async function* () {
    throw new Unrecoverable("the input can never work");
  },
};

const iso = (ms: number) => new Date(ms).toISOString();

Deno.test("scheduler - when every worker is busy a queued priority-9 task starts before an earlier priority-0 task", async () => {
  await using r = await rig({ config: { workers: 1, concurrency: 1 } });
  r.client.submit("sleep", { id: "blocker", payload: { ms: 300 } });
  await new Promise((res) => setTimeout(res, 50));
  r.client.submit("echo", { id: "low", payload: 0, priority: 0 });
  await r.client.t.flush();
  await new Promise((res) => setTimeout(res, 20));
  r.client.submit("echo", { id: "high", payload: 9, priority: 9 });
  const [low, high] = await Promise.all([r.client.result("low"), r.client.result("high")]);
  assert.equal(low.state, "succeeded");
  assert.equal(high.state, "succeeded");
  assert.ok(
    Date.parse(high.startedAt!) <= Date.parse(low.startedAt!),
    `${high.startedAt} vs ${low.startedAt}`,
  );
});

Deno.test("scheduler - a deadline that passes before the task can start ends it expired, as does one already past", async () => {
  await using r = await rig({ config: { workers: 1, concurrency: 1 } });
  // Higher priority: without it "late" would run first, its deadline being the earlier one.
  r.client.submit("sleep", { id: "busy", payload: { ms: 600 }, priority: 9 });
  r.client.submit("echo", { id: "late", payload: 1, deadline: iso(Date.now() + 200) });
  r.client.submit("echo", { id: "past", payload: 1, deadline: iso(Date.now() - 60_000) });
  const late = await r.client.result("late");
  assert.equal(late.state, "expired");
  assert.equal(late.error?.code, "DEADLINE_EXCEEDED");
  assert.match(late.error!.message, /passed before the task could start/);
  const past = await r.client.result("past");
  assert.equal(past.state, "expired");
  assert.match(past.error!.message, /already passed at submission/);
  assert.equal((await r.client.result("busy")).state, "succeeded");
});

Deno.test("scheduler - a running task that overruns timeoutMs is aborted and counted as a failed attempt", async () => {
  await using r = await rig();
  r.client.submit("sleep", { id: "slow", payload: { ms: 5_000 }, timeoutMs: 150, maxAttempts: 2 });
  const res = await r.client.result("slow");
  assert.equal(res.state, "failed");
  assert.equal(res.attempts, 2);
  assert.equal(res.error?.code, "TIMEOUT");
  assert.deepEqual(res.history?.map((h) => h.outcome), ["timeout", "timeout"]);
});

Deno.test("scheduler - retries with backoff until success; unrecoverable skips retries", async () => {
  await using r = await rig({ handlers: [flaky, fatal] });
  r.client.submit("flaky", { id: "f3", payload: { succeedOn: 3 }, maxAttempts: 3 });
  r.client.submit("fatal", { id: "u1", payload: {}, maxAttempts: 5 });
  r.client.submit("flaky", {
    id: "ra",
    payload: { succeedOn: 2, retryAfterMs: 250 },
    maxAttempts: 2,
  });
  const f3 = await r.client.result("f3");
  assert.equal(f3.state, "succeeded");
  assert.equal(f3.attempts, 3);
  assert.deepEqual(f3.result, { attempt: 3 });
  const u1 = await r.client.result("u1");
  assert.equal(u1.state, "failed");
  assert.equal(u1.attempts, 1);
  assert.equal(u1.error?.code, "UNRECOVERABLE");
  const ra = await r.client.result("ra");
  assert.equal(ra.state, "succeeded");
  // RetryAfter(250) was honoured: the second attempt started at least 250 ms after the first failed.
  assert.ok(ra.durationMs >= 250, `durationMs ${ra.durationMs}`);
});

Deno.test("scheduler - a task that uses up its attempts ends failed and is kept on the dead-letter stream with its history", async () => {
  await using r = await rig({ handlers: [flaky] });
  r.client.submit("flaky", { id: "dead1", payload: { succeedOn: 99 }, maxAttempts: 2 });
  const res = await r.client.result("dead1");
  assert.equal(res.state, "failed");
  assert.match(res.error!.message, /no attempts left/);
  let stored = null;
  for (let i = 0; i < 50 && !stored; i++) {
    stored = await r.transport.lastMessage("DEAD_LETTER", "tasks.dead.dead1");
    if (!stored) await new Promise((res) => setTimeout(res, 20));
  }
  const dead = JSON.parse(dec.decode(stored!.data));
  assert.equal(dead.state, "failed");
  assert.deepEqual(dead.payload, { succeedOn: 99 });
  assert.equal(dead.history.length, 2);
});

Deno.test("scheduler - a resubmission with the same Nats-Msg-Id or the same id runs once", async () => {
  await using r = await rig();
  const auth = { Authorization: `Bearer ${r.client.token}` };
  r.client.submit("echo", { payload: "h" }, { ...auth, "Nats-Msg-Id": "hdr1" });
  r.client.submit("echo", { payload: "h" }, { ...auth, "Nats-Msg-Id": "hdr1" });
  r.client.submit("sleep", { id: "body1", payload: { ms: 100 } });
  r.client.submit("sleep", { id: "body1", payload: { ms: 100 } });
  assert.equal((await r.client.result("hdr1")).state, "succeeded");
  assert.equal((await r.client.result("body1")).state, "succeeded");
  // A round trip after both: any second result would have arrived by now.
  r.client.submit("echo", { id: "after", payload: null });
  await r.client.result("after");
  await new Promise((res) => setTimeout(res, 200));
  assert.equal(r.client.received.filter((x) => x.id === "hdr1").length, 1);
  assert.equal(r.client.received.filter((x) => x.id === "body1").length, 1);
});

async function request(
  r: Awaited<ReturnType<typeof rig>>,
  subject: string,
  body: unknown,
  token = r.client.token,
) {
  const m = await r.client.t.request(subject, enc.encode(JSON.stringify(body)), {
    headers: { Authorization: `Bearer ${token}` },
    timeoutMs: 5_000,
  });
  return JSON.parse(dec.decode(m.data));
}

Deno.test("scheduler - cancel a queued task and a running one; the reply says what happened", async () => {
  await using r = await rig({ config: { workers: 1, concurrency: 1 } });
  r.client.submit("sleep", { id: "run1", payload: { ms: 10_000 } });
  r.client.submit("sleep", { id: "q1", payload: { ms: 10 } });
  await new Promise((res) => setTimeout(res, 150));
  const queued = await request(r, "tasks.cancel", { id: "q1" });
  assert.deepEqual(queued, { ok: true, id: "q1", state: "cancelled", was: "queued" });
  const running = await request(r, "tasks.cancel", { id: "run1" });
  assert.equal(running.state, "cancelling");
  assert.equal(running.was, "running");
  const q1 = await r.client.result("q1");
  assert.equal(q1.state, "cancelled");
  const run1 = await r.client.result("run1");
  assert.equal(run1.state, "cancelled");
  assert.ok(run1.durationMs < 5_000);
  const again = await request(r, "tasks.cancel", { id: "run1" });
  assert.equal(again.ok, false);
  assert.match(again.error.message, /already ended cancelled/);
  const unknown = await request(r, "tasks.cancel", { id: "nope" });
  assert.equal(unknown.error.code, "NOT_FOUND");
});

Deno.test("scheduler - status returns the current state, then the stored result; viewers may read but not submit or cancel", async () => {
  await using r = await rig({ config: { workers: 1, concurrency: 1 } });
  const viewer = await mintToken(SECRET, { sub: "v", roles: ["viewer"] });
  r.client.submit("sleep", { id: "s1", payload: { ms: 400 } });
  await new Promise((res) => setTimeout(res, 150));
  const running = await request(r, "tasks.status", { id: "s1" }, viewer);
  assert.equal(running.state, "running");
  assert.equal(running.type, "sleep");
  await r.client.result("s1");
  const done = await request(r, "tasks.status", { id: "s1" }, viewer);
  assert.equal(done.state, "succeeded");
  const cancel = await request(r, "tasks.cancel", { id: "s1" }, viewer);
  assert.equal(cancel.error.code, "PERMISSION_DENIED");
  r.client.submit("echo", { id: "by-viewer", payload: 1 }, { Authorization: `Bearer ${viewer}` });
  const rejected = await r.client.result("by-viewer");
  assert.equal(rejected.state, "rejected");
  assert.equal(rejected.error?.code, "PERMISSION_DENIED");
  const missing = await request(r, "tasks.status", { id: "never-was" }, viewer);
  assert.equal(missing.error.code, "NOT_FOUND");
});

Deno.test("scheduler - a token restricted to some types may submit only those", async () => {
  await using r = await rig();
  const echoOnly = await mintToken(SECRET, { sub: "e", roles: ["submitter"], types: ["echo"] });
  const h = { Authorization: `Bearer ${echoOnly}` };
  r.client.submit("echo", { id: "ok-type", payload: 1 }, h);
  r.client.submit("sleep", { id: "bad-type", payload: { ms: 1 } }, h);
  assert.equal((await r.client.result("ok-type")).state, "succeeded");
  const bad = await r.client.result("bad-type");
  assert.equal(bad.error?.code, "PERMISSION_DENIED");
  assert.match(bad.error!.message, /"sleep"/);
});

Deno.test("scheduler - dependencies wait for success; a failed dependency cancels the dependant; unknown ones are rejected", async () => {
  await using r = await rig({ handlers: [fatal] });
  r.client.submit("sleep", { id: "a", payload: { ms: 200 } });
  r.client.submit("echo", { id: "b", payload: "b", dependsOn: ["a"] });
  r.client.submit("fatal", { id: "x", payload: {}, maxAttempts: 1 });
  r.client.submit("echo", { id: "y", payload: "y", dependsOn: ["x"] });
  r.client.submit("echo", { id: "z", payload: "z", dependsOn: ["y"] });
  r.client.submit("echo", { id: "w", payload: "w", dependsOn: ["ghost"] });
  const [a, b] = await Promise.all([r.client.result("a"), r.client.result("b")]);
  assert.equal(b.state, "succeeded");
  assert.ok(Date.parse(b.startedAt!) >= Date.parse(a.finishedAt), "b started after a finished");
  const y = await r.client.result("y");
  assert.equal(y.state, "cancelled");
  assert.equal(y.error?.code, "DEPENDENCY_FAILED");
  assert.match(y.error!.message, /dependency x ended failed/);
  const z = await r.client.result("z");
  assert.equal(z.state, "cancelled");
  assert.match(z.error!.message, /dependency y ended cancelled/);
  // Refused at once, unless the leader was paused or disrupted in the last 45 s (then it waits).
  const w = await r.client.result("w", DISRUPTION_GRACE_MS + 15_000);
  assert.equal(w.state, "rejected");
  assert.match(w.error!.message, /unknown task ghost/);
  // A dependency that finished long ago is found in the results stream.
  r.client.submit("echo", { id: "late-dep", payload: 1, dependsOn: ["a"] });
  assert.equal((await r.client.result("late-dep")).state, "succeeded");
});

Deno.test("scheduler - at most TASK_SCHEDULER_MAX_QUEUE tasks are held; the rest wait in the stream and none is dropped", async () => {
  await using r = await rig({ config: { workers: 1, concurrency: 2, maxQueue: 5 } });
  let maxHeld = 0;
  r.client.t.subscribe("monitor.scheduler.>", (m) => {
    const d = JSON.parse(dec.decode(m.data));
    if (typeof d.held === "number") maxHeld = Math.max(maxHeld, d.held);
  });
  const ids = Array.from({ length: 40 }, (_, i) => `bp${i}`);
  for (const id of ids) r.client.submit("sleep", { id, payload: { ms: 20 } });
  const results: TaskResult[] = await Promise.all(ids.map((id) => r.client.result(id, 30_000)));
  assert.ok(results.every((x) => x.state === "succeeded"));
  assert.ok(maxHeld > 0 && maxHeld <= 5, `held at most ${maxHeld}`);
});
