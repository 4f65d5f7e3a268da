/**
 * The operator's requests against a real nats-server: `tasks.list` (held
 * tasks by state and type, paged; dead letters), `tasks.retry` of a failed
 * task and `tasks.purge` of dead letters, with their roles and bad bodies.
 */
import assert from "node:assert/strict";
import { type HandlerDefinition, mintToken, type TaskResult } from "../../src/internal_mod.ts";
import { SECRET } from "../_cluster.ts";
import { rig } from "./_node.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

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

async function ask(
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

/** Every result message for `id`, waiting until there are `n`. */
async function results(
  r: Awaited<ReturnType<typeof rig>>,
  id: string,
  n: number,
): Promise<TaskResult[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const all = r.client.received.filter((x) => x.id === id);
    if (all.length >= n) return all;
    if (Date.now() > deadline) throw new Error(`only ${all.length} results for ${id}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

Deno.test("operator - a failed task shows among the dead letters, is retried by an admin with a fresh budget, and its new outcome replaces the old", async () => {
  broken.now = true;
  await using r = await rig({ handlers: [fragile] });
  const viewer = await mintToken(SECRET, { sub: "vera", roles: ["viewer"] });
  r.client.submit("fragile", { id: "f1", payload: "x", maxAttempts: 2, priority: 7 });
  const [failed] = await results(r, "f1", 1);
  assert.equal(failed.state, "failed");

  const dead = await ask(r, "tasks.list", { state: "dead" }, viewer);
  assert.deepEqual(dead.tasks.map((t: TaskResult) => [t.id, t.state, t.attempts]), [
    ["f1", "failed", 2],
  ]);
  const denied = await ask(r, "tasks.retry", { id: "f1" }, viewer);
  assert.equal(denied.error.code, "PERMISSION_DENIED");

  broken.now = false;
  const retried = await ask(r, "tasks.retry", { id: "f1" });
  assert.equal(retried.ok, true, JSON.stringify(retried));
  assert.equal(retried.state, "resubmitted");
  const [, again] = await results(r, "f1", 2);
  assert.equal(again.state, "succeeded");
  assert.deepEqual(again.result, { done: "x" });
  assert.equal(again.attempts, 1, "a fresh attempt budget");
  assert.deepEqual(again.history?.map((h) => [h.outcome, h.by ?? null]), [
    ["failed", null],
    ["failed", null],
    ["retried", "client"],
    ["succeeded", null],
  ]);
  const status = await ask(r, "tasks.status", { id: "f1" });
  assert.equal(status.state, "succeeded", "the stored result was replaced");
  assert.deepEqual((await ask(r, "tasks.list", { state: "dead" })).tasks, []);
  // A finished task is not retried, and neither is one that never was.
  assert.equal((await ask(r, "tasks.retry", { id: "f1" })).error.code, "INVALID_ARGUMENT");
  assert.equal((await ask(r, "tasks.retry", { id: "nope" })).error.code, "NOT_FOUND");
});

Deno.test("operator - a forged retry mark does not run a finished task again", async () => {
  await using r = await rig();
  r.client.submit("echo", { id: "e1", payload: 1 });
  const [first] = await results(r, "e1", 1);
  r.client.submit("echo", { id: "e1", payload: 2 }, {
    Authorization: `Bearer ${r.client.token}`,
    "Ts-Retry": "1.b3.AAAA",
  });
  const [, second] = await results(r, "e1", 2);
  assert.deepEqual(second, first, "the stored result again, not a second run");
});

Deno.test("operator - tasks.list pages through held tasks by state and type; bad queries are named", async () => {
  await using r = await rig({ config: { workers: 1, concurrency: 1 } });
  r.client.submit("sleep", { id: "blocker", payload: { ms: 3_000 } });
  for (let i = 0; i < 5; i++) r.client.submit("echo", { id: `q${i}`, payload: i });
  const deadline = Date.now() + 10_000;
  let first;
  for (;;) {
    first = await ask(r, "tasks.list", { state: "queued", type: "echo", limit: 2 });
    if (first.tasks?.length === 2 && first.next) break;
    if (Date.now() > deadline) throw new Error(JSON.stringify(first));
    await new Promise((res) => setTimeout(res, 20));
  }
  const second = await ask(r, "tasks.list", { state: "queued", limit: 2, after: first.next });
  const third = await ask(r, "tasks.list", { state: "queued", limit: 2, after: second.next });
  const ids = [...first.tasks, ...second.tasks, ...third.tasks].map((t: { id: string }) => t.id);
  assert.deepEqual(ids, ["q0", "q1", "q2", "q3", "q4"]);
  assert.equal(third.next, undefined);
  const running = await ask(r, "tasks.list", { type: "sleep" });
  assert.deepEqual(running.tasks.map((t: { id: string }) => t.id), ["blocker"]);
  for (
    const [body, field] of [
      [{ state: "bogus" }, "state"],
      [{ limit: 0 }, "limit"],
      [{ after: "x" }, "after"],
      [{ colour: "red" }, "colour"],
    ] as const
  ) {
    const bad = await ask(r, "tasks.list", body);
    assert.equal(bad.error?.code, "INVALID_ARGUMENT");
    assert.match(bad.error.message, new RegExp(field));
  }
});

Deno.test("operator - tasks.purge removes one dead letter or all of them, for admins only", async () => {
  broken.now = true;
  await using r = await rig({ handlers: [fragile] });
  for (const id of ["p1", "p2", "p3"]) {
    r.client.submit("fragile", { id, payload: id, maxAttempts: 1 });
  }
  for (const id of ["p1", "p2", "p3"]) await results(r, id, 1);
  const viewer = await mintToken(SECRET, { sub: "vera", roles: ["viewer"] });
  assert.equal((await ask(r, "tasks.purge", { id: "p1" }, viewer)).error.code, "PERMISSION_DENIED");
  assert.deepEqual(await ask(r, "tasks.purge", { id: "p1" }), { ok: true, purged: 1 });
  const left = await ask(r, "tasks.list", { state: "dead" });
  assert.deepEqual(left.tasks.map((t: { id: string }) => t.id).sort(), ["p2", "p3"]);
  assert.equal((await ask(r, "tasks.purge", {})).error.code, "INVALID_ARGUMENT");
  assert.deepEqual(await ask(r, "tasks.purge", { all: true }), { ok: true, purged: 2 });
  assert.deepEqual((await ask(r, "tasks.list", { state: "dead" })).tasks, []);
  assert.equal(
    (await ask(r, "tasks.retry", { id: "p2" })).error.code,
    "NOT_FOUND",
    "its payload went with the dead letter",
  );
});
