/**
 * Batch submissions (a JSON array on `tasks.submit.<type>`): every task gets
 * its own result on its own id, a bad task is refused alone, a batch refused
 * as a whole says why, the batch message leaves the stream only when every
 * task in it has its result, and a node killed in the middle of batches
 * loses none and runs none twice. Against node processes.
 */
import assert from "node:assert/strict";
import { connectNats, mintToken, type TaskResult } from "../../src/internal_mod.ts";
import { Client, SECRET } from "../_cluster.ts";
import { TestServer } from "../_nats_server.ts";
import { kill, node } from "../fault/_fault.ts";

const enc = new TextEncoder();

/** Poll `cond` until it holds (results arrive by subscription; this only waits for them). */
async function until(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("batch - each task of a batch has its own result; bad tasks are refused alone; the message is acked when all are done", async () => {
  await using server = await TestServer.start();
  const client = await Client.connect(server.url);
  const t = await connectNats({ servers: server.url, name: "batch-test" });
  const auth = { Authorization: `Bearer ${client.token}` };
  const publish = (type: string, body: unknown, headers: Record<string, string> = auth) =>
    t.publishDurable(`tasks.submit.${type}`, enc.encode(JSON.stringify(body)), { headers });
  const n = await node(server.url, ["--node-id", "b1"]);
  try {
    await client.waitForNode();
    // 1,000 good tasks in one message, in both priorities.
    const ids = Array.from({ length: 1_000 }, (_, i) => `ok-${i}`);
    const ack = await publish("echo", ids.map((id, i) => ({ id, payload: i, priority: i % 10 })));
    assert.equal(ack.ok, true);
    await until(() => ids.every((id) => client.results.has(id)), "1,000 results");
    for (const [i, id] of ids.entries()) {
      const r = client.results.get(id)!;
      assert.equal(r.state, "succeeded", id);
      assert.equal(r.result, i);
    }
    // Good and bad tasks together: the bad ones are refused alone, each on its own id.
    const mixed = [
      { id: "m-good", payload: 1 },
      { id: "m-prio", payload: 1, priority: 12 },
      { id: "m-field", payload: 1, prio: 3 },
      { id: "m-self", payload: 1, dependsOn: ["m-self"] },
      { id: "m-nopay" },
      { id: "m-later", payload: 3, dependsOn: ["m-good"] },
    ];
    await publish("echo", mixed);
    await until(
      () =>
        ["m-good", "m-prio", "m-field", "m-self", "m-nopay", "m-later"].every((id) =>
          client.results.has(id)
        ),
      "the mixed batch's results",
    );
    const r = (id: string) => client.results.get(id) as TaskResult;
    assert.equal(r("m-good").state, "succeeded");
    assert.equal(r("m-good").result, 1);
    assert.equal(r("m-later").state, "succeeded", "a dependency in the same batch is known");
    assert.match(r("m-prio").error!.message, /priority must be an integer from 0 to 9: got 12/);
    assert.match(r("m-field").error!.message, /unknown field "prio"/);
    assert.match(r("m-self").error!.message, /dependsOn must not name the task itself/);
    assert.match(r("m-nopay").error!.message, /payload is required/);
    for (const id of ["m-prio", "m-field", "m-self", "m-nopay"]) {
      assert.equal(r(id).state, "rejected", id);
      assert.equal(r(id).error!.code, "INVALID_ARGUMENT", id);
    }
    // Refused as a whole, on the Nats-Msg-Id: not JSON, empty, too many tasks, a task that
    // could not be answered on an id of its own (none, or the same twice).
    await publish("echo", [{ id: "d-1", payload: 1 }, { id: "d-1", payload: 2 }], {
      ...auth,
      "Nats-Msg-Id": "w-twice",
    });
    await publish("echo", [{ id: "d-2", payload: 1 }, { payload: 2 }], {
      ...auth,
      "Nats-Msg-Id": "w-noid",
    });
    await publish("echo", [], { ...auth, "Nats-Msg-Id": "w-empty" });
    t.publish("tasks.submit.echo", enc.encode("[{]"), {
      headers: { ...auth, "Nats-Msg-Id": "w-json" },
    });
    const many = Array.from({ length: 1_001 }, (_, i) => ({ id: `x-${i}`, payload: 0 }));
    await publish("echo", many, { ...auth, "Nats-Msg-Id": "w-many" });
    await until(
      () =>
        ["w-empty", "w-json", "w-many", "w-twice", "w-noid"].every((id) => client.results.has(id)),
      "whole refusals",
    );
    assert.match(r("w-empty").error!.message, /a batch must hold at least one task/);
    assert.match(r("w-json").error!.message, /body is not valid JSON/);
    assert.match(r("w-many").error!.message, /a batch may hold at most 1000 tasks: got 1001/);
    assert.match(r("w-twice").error!.message, /id "d-1" appears twice in the batch \(task 1\)/);
    assert.match(r("w-noid").error!.message, /task 1 of the batch has no id/);
    assert.ok(
      [...many.map((m) => m.id), "d-1", "d-2"].every((id) => !client.results.has(id)),
      "no task of a refused batch ran",
    );
    // A bad token refuses every task of the batch, each on its own id.
    await publish("echo", [{ id: "tok-1", payload: 0 }, { id: "tok-2", payload: 0 }], {
      Authorization: "Bearer nope",
    });
    await until(() => client.results.has("tok-1") && client.results.has("tok-2"), "token refusals");
    for (const id of ["tok-1", "tok-2"]) {
      assert.equal(r(id).state, "rejected");
      assert.equal(r(id).error!.code, "UNAUTHENTICATED");
    }
    // A viewer may not submit: refused per task with PERMISSION_DENIED.
    const viewer = await mintToken(SECRET, { sub: "val", roles: ["viewer"] });
    await publish("echo", [{ id: "v-1", payload: 0 }], { Authorization: `Bearer ${viewer}` });
    await until(() => client.results.has("v-1"), "the viewer's refusal");
    assert.equal(r("v-1").error!.code, "PERMISSION_DENIED");
    // Every batch message was acked once all its tasks were settled: the stream is empty.
    const deadline = Date.now() + 10_000;
    while ((await t.streamInfo("TASKS")).messages > 0) {
      if (Date.now() > deadline) assert.fail("batch messages stayed in the TASKS stream");
      await new Promise((r) => setTimeout(r, 50));
    }
    const counts = new Map<string, number>();
    for (const x of client.received) counts.set(x.id, (counts.get(x.id) ?? 0) + 1);
    assert.deepEqual([...counts].filter(([, c]) => c > 1), [], "one result per id");
  } finally {
    await kill(n, "SIGTERM");
    await t.close();
    await client[Symbol.asyncDispose]();
  }
});

Deno.test("batch - a node killed (SIGKILL) while batches run loses no task and runs none twice", async () => {
  await using server = await TestServer.start();
  const client = await Client.connect(server.url);
  const t = await connectNats({ servers: server.url, name: "batch-kill" });
  const auth = { Authorization: `Bearer ${client.token}` };
  let n = await node(server.url, ["--node-id", "k1"]);
  try {
    await client.waitForNode();
    const batches = 20;
    const size = 200;
    const ids: string[] = [];
    for (let b = 0; b < batches; b++) {
      const tasks = Array.from({ length: size }, (_, i) => ({
        id: `k-${b}-${i}`,
        payload: { ms: 5 },
      }));
      ids.push(...tasks.map((x) => x.id));
      const ack = await t.publishDurable("tasks.submit.sleep", enc.encode(JSON.stringify(tasks)), {
        headers: auth,
      });
      assert.equal(ack.ok, true);
    }
    // Kill once some, not all, have finished.
    await until(() => ids.some((id) => client.results.has(id)), "a first result");
    await kill(n, "SIGKILL");
    const before = ids.filter((id) => client.results.has(id)).length;
    assert.ok(before < ids.length, "the kill came before the end");
    n = await node(server.url, ["--node-id", "k2"]);
    await until(() => ids.every((id) => client.results.has(id)), "every result", 90_000);
    const counts = new Map<string, number>();
    for (const x of client.received) counts.set(x.id, (counts.get(x.id) ?? 0) + 1);
    assert.deepEqual(
      ids.filter((id) => (counts.get(id) ?? 0) !== 1),
      [],
      "exactly one result each",
    );
    assert.ok(ids.every((id) => client.results.get(id)!.state === "succeeded"));
  } finally {
    await kill(n, "SIGTERM");
    await t.close();
    await client[Symbol.asyncDispose]();
  }
});

Deno.test("batch - batches beyond maxQueue wait unacked in the leader and all run once, in order of arrival", async () => {
  await using server = await TestServer.start();
  const client = await Client.connect(server.url);
  const t = await connectNats({ servers: server.url, name: "batch-park" });
  const auth = { Authorization: `Bearer ${client.token}` };
  const n = await node(server.url, ["--node-id", "p1"], { TASK_SCHEDULER_MAX_QUEUE: "300" });
  try {
    await client.waitForNode();
    const ids: string[] = [];
    for (let b = 0; b < 6; b++) {
      const tasks = Array.from({ length: 250 }, (_, i) => ({ id: `p-${b}-${i}`, payload: b }));
      ids.push(...tasks.map((x) => x.id));
      const ack = await t.publishDurable("tasks.submit.echo", enc.encode(JSON.stringify(tasks)), {
        headers: auth,
      });
      assert.equal(ack.ok, true);
    }
    await until(() => ids.every((id) => client.results.has(id)), "every result", 60_000);
    const counts = new Map<string, number>();
    for (const x of client.received) counts.set(x.id, (counts.get(x.id) ?? 0) + 1);
    assert.deepEqual(ids.filter((id) => counts.get(id) !== 1), [], "exactly one result each");
    // Parked, not put back: no batch was delivered twice.
    const batchesSeen = client.received.filter((r) => r.id.startsWith("p-"));
    const firstOf = (b: number) => batchesSeen.findIndex((r) => r.id.startsWith(`p-${b}-`));
    for (let b = 1; b < 6; b++) assert.ok(firstOf(b - 1) < firstOf(b), `batch ${b} ran in order`);
    assert.ok(!n.log.some((l) => l.includes("redelivered")), "no redelivery");
  } finally {
    await kill(n, "SIGTERM");
    await t.close();
    await client[Symbol.asyncDispose]();
  }
});
