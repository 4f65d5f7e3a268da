import assert from "node:assert/strict";
import { streamSpecs } from "../../actors/node.ts";
import { connectNats, mintToken, subjects } from "../../src/internal_mod.ts";
import { SECRET } from "../_cluster.ts";
import { rig } from "./_node.ts";

const dec = new TextDecoder();

Deno.test("slice - a plain publish with a valid token gets a succeeded result on tasks.result.<id>", async () => {
  await using r = await rig();
  r.client.submit("echo", { id: "a1", payload: { hello: "world" } });
  const res = await r.client.result("a1");
  assert.equal(res.state, "succeeded");
  assert.deepEqual(res.result, { hello: "world" });
  assert.equal(res.attempts, 1);
  assert.match(res.worker ?? "", new RegExp(`^${r.config.nodeId}/w\\d$`));
  // The result is kept in a stream, readable later.
  const stored = await r.transport.lastMessage("RESULTS", "tasks.outcome.a1");
  assert.equal(JSON.parse(dec.decode(stored!.data)).state, "succeeded");
});

Deno.test("slice - no token, a bad signature or an expired token is rejected UNAUTHENTICATED", async () => {
  await using r = await rig();
  const forged = await mintToken("another-secret-that-is-32-bytes-long!!", {
    sub: "x",
    roles: ["admin"],
  });
  const expired = await mintToken(SECRET, {
    sub: "x",
    roles: ["admin"],
    ttlSec: 1,
    now: Date.now() - 10_000,
  });
  r.client.submit("echo", { id: "none", payload: {} }, {});
  r.client.submit("echo", { id: "forged", payload: {} }, { Authorization: `Bearer ${forged}` });
  r.client.submit("echo", { id: "expired", payload: {} }, { Authorization: `Bearer ${expired}` });
  r.client.submit("echo", { id: "garbage", payload: {} }, { Authorization: "Bearer not.a.jwt" });
  const cases: [string, RegExp][] = [
    ["none", /missing Authorization header/],
    ["forged", /signature is invalid/],
    ["expired", /token expired at/],
    ["garbage", /token rejected/],
  ];
  for (const [id, message] of cases) {
    const res = await r.client.result(id);
    assert.equal(res.state, "rejected", id);
    assert.equal(res.error?.code, "UNAUTHENTICATED", id);
    assert.match(res.error?.message ?? "", message, id);
  }
});

Deno.test("slice - monitor.> carries JSON deltas of the task, the worker node and the scheduler", async () => {
  await using r = await rig({ startNode: false });
  const seen: { subject: string; body: Record<string, unknown> }[] = [];
  const got = Promise.withResolvers<void>();
  const coalesced: Record<string, unknown>[] = [];
  r.client.t.subscribe("monitor.>", (m) => {
    const body = JSON.parse(dec.decode(m.data));
    // Transitions within the leader's window come in one message, each a step.
    if (Array.isArray(body.steps)) {
      coalesced.push(body);
      for (const s of body.steps) seen.push({ subject: m.subject, body: { id: body.id, ...s } });
    } else seen.push({ subject: m.subject, body });
    if (m.subject === "monitor.task.m1" && seen.at(-1)!.body.state === "succeeded") got.resolve();
  });
  await r.client.t.flush();
  await r.start();
  r.client.submit("echo", { id: "m1", payload: 1 });
  await got.promise;
  const task = seen.filter((s) => s.subject === "monitor.task.m1").map((s) => s.body);
  assert.deepEqual(task.map((d) => d.state), ["queued", "dispatched", "running", "succeeded"]);
  assert.deepEqual(task.map((d) => d.seq), [1, 2, 3, 4]);
  // Deltas carry only what changed: `type` is in the first one only.
  assert.equal(task[0].type, "echo");
  assert.equal(task[1].type, undefined);
  // A coalesced message also carries its steps merged, with the last seq and the first as `from`.
  for (const c of coalesced.filter((c) => c.id === "m1")) {
    const steps = c.steps as Record<string, unknown>[];
    assert.equal(c.seq, steps.at(-1)!.seq);
    assert.equal(c.from, steps[0].seq);
    assert.equal(c.state, steps.at(-1)!.state);
  }
  const worker = seen.filter((s) => s.subject === `monitor.worker.${r.config.nodeId}`).map((s) =>
    s.body
  );
  assert.ok(worker.length >= 1);
  for (
    const key of [
      "cpuLoad",
      "memoryUsed",
      "tasksProcessing",
      "tasksQueued",
      "capabilities",
      "health",
    ]
  ) {
    assert.ok(key in worker[0], `first worker delta has ${key}`);
  }
  assert.ok(
    seen.some((s) => s.subject.startsWith("monitor.scheduler.") && s.body.role === "leader"),
  );
});

Deno.test("slice - a submission published while no scheduler runs waits in the stream and then runs", async () => {
  await using r = await rig({ startNode: false });
  // The node creates the streams; create them first, as a previous run would have.
  const t = await connectNats({ servers: r.server.url });
  await t.ensureStreams(streamSpecs(subjects(""), 1));
  await t.close();
  r.client.submit("echo", { id: "early", payload: "kept" });
  await r.client.t.flush();
  await r.start();
  const res = await r.client.result("early");
  assert.equal(res.state, "succeeded");
  assert.equal(res.result, "kept");
});

Deno.test("slice - a second result for a finished task is refused by the stream and never reaches subscribers", async () => {
  await using r = await rig();
  r.client.submit("echo", { id: "once", payload: 1 });
  await r.client.result("once");
  const again = await r.transport.publishDurable(
    "tasks.outcome.once",
    new TextEncoder().encode('{"id":"once","state":"failed"}'),
    {
      expectLastSubjectSeq: 0,
    },
  );
  assert.equal(!again.ok && again.code, "WRONG_LAST_SEQUENCE");
  r.client.submit("echo", { id: "later", payload: 2 });
  await r.client.result("later");
  assert.equal(r.client.received.filter((x) => x.id === "once").length, 1);
  assert.equal(r.client.results.get("once")?.state, "succeeded");
});
