/**
 * The client's operator calls against a real nats-server with a node running
 * in process: `list` (held tasks by state and type, paged; dead letters),
 * `retry` of a failed task (its handle waits for the new outcome, not the
 * failed one still stored) and `purge` of dead letters, with roles and bad
 * queries as typed errors.
 */

import assert from "node:assert/strict";
import type { HandlerDefinition } from "../../src/internal_mod.ts";
import {
  connect,
  type DeadLetter,
  RequestRefusedError,
  SchedulerClientError,
} from "../../src/client/mod.ts";
import { rig } from "../e2e/_node.ts";
import { client, rejects } from "./_helpers.ts";

/** Fails while `broken.now` is true: the fault an operator fixes before retrying. */
const broken = { now: true };
const fragile: HandlerDefinition = {
  type: "fragile",
  // deno-lint-ignore require-yield
  handler: async function* (payload) {
    if (broken.now) throw new Error("the disk is full");
    return { done: payload };
  },
};

Deno.test("client operator - list pages through held tasks by state and type; bad queries are typed errors", async () => {
  await using r = await rig({ config: { workers: 1, concurrency: 1 } });
  await using c = await client(r, ["admin"], "ops");
  await using viewer = await client(r, ["viewer"], "vera");
  // Long enough to outlast the test under any load (it is cancelled at the end).
  const blocker = await c.submit("sleep", { ms: 60_000 }, { id: "blocker" });
  // The blocker must hold the only slot before the others come and until the end: in one CI run
  // q0 was not queued (it had the slot: either its check ended before the blocker's, or the
  // blocker, then 4 s long, had already finished).
  const end = Date.now() + 10_000;
  while ((await c.status("blocker").catch(() => null))?.state !== "running") {
    if (Date.now() > end) throw new Error("the blocker never ran");
    await new Promise((res) => setTimeout(res, 20));
  }
  for (let i = 0; i < 5; i++) await c.submit("echo", i, { id: `q${i}` });

  let first = await viewer.list({ state: "queued", type: "echo", limit: 2 });
  while (first.tasks.length < 2 || !first.next) {
    if (Date.now() > end) throw new Error(JSON.stringify(first));
    await new Promise((res) => setTimeout(res, 20));
    first = await viewer.list({ state: "queued", type: "echo", limit: 2 });
  }
  const second = await viewer.list({ state: "queued", limit: 2, after: first.next });
  const third = await viewer.list({ state: "queued", limit: 2, after: second.next });
  assert.deepEqual(
    [...first.tasks, ...second.tasks, ...third.tasks].map((t) => [t.id, t.type, t.state]),
    [0, 1, 2, 3, 4].map((i) => [`q${i}`, "echo", "queued"]),
  );
  assert.equal(third.next, undefined);
  assert.equal(typeof first.tasks[0].priority, "number", "held tasks are status views");
  const all = await c.list();
  assert.deepEqual(all.tasks.map((t) => t.id), ["blocker", "q0", "q1", "q2", "q3", "q4"]);
  assert.deepEqual((await c.list({ type: "sleep" })).tasks.map((t) => t.id), ["blocker"]);

  const bad = await rejects(c.list({ limit: 0 }), RequestRefusedError);
  assert.equal(bad.code, "INVALID_ARGUMENT");
  assert.match(bad.message, /limit/);
  assert.equal(bad.subject, "tasks.list");
  const badCursor = await rejects(c.list({ after: "x" }), RequestRefusedError);
  assert.match(badCursor.message, /after/);
  await using nobody = await connect({ servers: r.server.url, token: "not-a-token" });
  assert.equal((await rejects(nobody.list(), RequestRefusedError)).code, "UNAUTHENTICATED");

  await blocker.cancel();
  assert.equal((await blocker.result({ timeoutMs: 15_000 })).state, "cancelled");
});

Deno.test("client operator - a failed task is a dead letter; retry runs it again and its handle gets the new outcome; viewers may not", async () => {
  broken.now = true;
  await using r = await rig({ handlers: [fragile] });
  await using c = await client(r, ["admin"], "ops");
  await using viewer = await client(r, ["viewer"], "vera");
  const t = await c.submit("fragile", "x", { id: "f1", maxAttempts: 2 });
  const failed = await t.result({ timeoutMs: 20_000 });
  assert.equal(failed.state, "failed");

  const dead = await viewer.list({ state: "dead" });
  assert.deepEqual(dead.tasks.map((d: DeadLetter) => [d.id, d.type, d.state, d.attempts]), [
    ["f1", "fragile", "failed", 2],
  ]);
  assert.match(dead.tasks[0].error?.message ?? "", /the disk is full/);
  assert.equal(
    (await rejects(viewer.retry("f1"), RequestRefusedError)).code,
    "PERMISSION_DENIED",
  );

  broken.now = false;
  const retried = await c.retry("f1");
  assert.equal(retried.id, "f1");
  assert.equal(retried.state, "resubmitted");
  assert.ok(retried.replaces > 0);
  assert.equal(retried.task.id, "f1");
  // The failed result is still stored until the new one replaces it: the handle waits for that.
  const again = await retried.task.result({ timeoutMs: 20_000 });
  assert.equal(again.state, "succeeded", JSON.stringify(again));
  assert.deepEqual(again.result, { done: "x" });
  assert.deepEqual(again.history?.map((h) => [h.outcome, h.by ?? null]), [
    ["failed", null],
    ["failed", null],
    ["retried", "ops"],
    ["succeeded", null],
  ]);
  assert.equal((await c.status("f1")).state, "succeeded");
  assert.equal((await c.storedResult("f1"))?.state, "succeeded");
  assert.deepEqual((await c.list({ state: "dead" })).tasks, []);

  // Only a failed task is retried; an unknown one is not found; a bad id never leaves.
  assert.equal((await rejects(c.retry("f1"), RequestRefusedError)).code, "INVALID_ARGUMENT");
  assert.equal((await rejects(c.retry("nope"), RequestRefusedError)).code, "NOT_FOUND");
  assert.equal((await rejects(c.retry("a b"), SchedulerClientError)).code, "INVALID_ARGUMENT");
});

Deno.test("client operator - purge removes one dead letter or all of them, for admins only", async () => {
  broken.now = true;
  await using r = await rig({ handlers: [fragile] });
  await using c = await client(r, ["admin"], "ops");
  await using viewer = await client(r, ["viewer"], "vera");
  const handles = await Promise.all(
    ["p1", "p2", "p3"].map((id) => c.submit("fragile", id, { id, maxAttempts: 1 })),
  );
  for (const h of handles) assert.equal((await h.result({ timeoutMs: 20_000 })).state, "failed");

  assert.equal(
    (await rejects(viewer.purge({ id: "p1" }), RequestRefusedError)).code,
    "PERMISSION_DENIED",
  );
  assert.equal(await c.purge({ id: "p1" }), 1);
  assert.equal(await c.purge({ id: "p1" }), 0, "gone already");
  const left = await c.list({ state: "dead" });
  assert.deepEqual(left.tasks.map((d) => d.id).sort(), ["p2", "p3"]);
  assert.equal(await c.purge({ all: true }), 2);
  assert.deepEqual((await c.list({ state: "dead" })).tasks, []);
  const gone = await rejects(c.retry("p2"), RequestRefusedError);
  assert.equal(gone.code, "NOT_FOUND", "its payload went with the dead letter");
});
