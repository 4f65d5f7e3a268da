/**
 * Recurring jobs against a real nats-server, through the public subjects:
 * `schedules.<op>` requests, ticks arriving as tasks with their results, and
 * the deltas on `monitor.schedule.<name>`.
 */

import assert from "node:assert/strict";
import { type InMsg, mintToken, type TaskResult } from "../../src/internal_mod.ts";
import { SECRET } from "../_cluster.ts";
import { rig } from "./_node.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

type Rig = Awaited<ReturnType<typeof rig>>;

/** `schedules.<op>` with a token of `roles`. */
async function req(
  r: Rig,
  op: string,
  body: unknown,
  roles = ["admin"],
): Promise<Record<string, unknown>> {
  const token = await mintToken(SECRET, { sub: "tester", roles });
  const reply: InMsg = await r.client.t.request(
    `schedules.${op}`,
    enc.encode(JSON.stringify(body)),
    {
      timeoutMs: 5_000,
      headers: { Authorization: `Bearer ${token}` },
    },
  );
  return JSON.parse(dec.decode(reply.data));
}

/** Results of one schedule's runs, as they arrive. */
function runsOf(r: Rig, name: string): TaskResult[] {
  const runs: TaskResult[] = [];
  r.client.onResult((res) => {
    if (res.id.startsWith(`${name}:`)) runs.push(res);
  });
  return runs;
}

async function until(what: string, ok: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

Deno.test("schedules e2e - a 1 s schedule fires once per tick with the tick's id, and get shows it", async () => {
  await using r = await rig();
  const runs = runsOf(r, "beat");
  const put = await req(r, "put", {
    name: "beat",
    every: "1s",
    overlap: "allow",
    task: { type: "echo", payload: { hi: 1 } },
  });
  assert.equal(put.ok, true, JSON.stringify(put));
  assert.equal(put.created, true);
  await until("three runs", () => runs.length >= 3);
  for (const run of runs) {
    assert.equal(run.state, "succeeded");
    assert.match(run.id, /^beat:\d{8}T\d{6}Z$/);
    assert.deepEqual(run.result, { hi: 1 });
  }
  const ids = runs.map((x) => x.id);
  assert.equal(new Set(ids).size, ids.length, "no tick twice");
  const got = await req(r, "get", { name: "beat" });
  assert.equal(got.ok, true);
  const schedule = got.schedule as Record<string, unknown>;
  const state = schedule.state as { runs: number; counts: { fired: number } };
  assert.ok(state.runs >= 3);
  assert.equal((schedule.next as unknown[]).length, 3);
  assert.ok((schedule.recent as { state?: string }[]).some((x) => x.state === "succeeded"));
  // Putting the same spec again changes nothing.
  const again = await req(r, "put", {
    name: "beat",
    every: "1s",
    overlap: "allow",
    task: { type: "echo", payload: { hi: 1 } },
  });
  assert.equal(again.changed, false);
});

Deno.test("schedules e2e - bad specs and roles get errors that name the problem", async () => {
  await using r = await rig();
  const bad = await req(r, "put", { name: "x", every: "soon", task: { type: "echo" } });
  assert.equal(bad.ok, false);
  assert.deepEqual(bad.error, {
    code: "INVALID_ARGUMENT",
    message: 'every must be a duration such as "30s", "15m", "1h" or "1d": got "soon"',
  });
  const viewer = await req(r, "put", { name: "x", every: "1s", task: { type: "echo" } }, [
    "viewer",
  ]);
  assert.equal((viewer.error as { code: string }).code, "PERMISSION_DENIED");
  const listed = await req(r, "list", {}, ["viewer"]);
  assert.equal(listed.ok, true);
  const missing = await req(r, "pause", { name: "nope" });
  assert.equal((missing.error as { code: string }).code, "NOT_FOUND");
});

Deno.test("schedules e2e - pause stops ticks, trigger runs once now, resume skips what was missed", async () => {
  await using r = await rig();
  const runs = runsOf(r, "p1");
  const deltas: Record<string, unknown>[] = [];
  r.client.t.subscribe("monitor.schedule.p1", (m) => deltas.push(JSON.parse(dec.decode(m.data))));
  await req(r, "put", {
    name: "p1",
    every: "1s",
    overlap: "allow",
    task: { type: "echo", payload: 1 },
  });
  await until("a first run", () => runs.length >= 1);
  const paused = await req(r, "pause", { name: "p1", note: "maintenance" });
  assert.equal(paused.ok, true);
  const atPause = runs.length;
  await new Promise((res) => setTimeout(res, 2_500));
  // At most one run that was already in flight when the pause came.
  assert.ok(runs.length <= atPause + 1, `ran ${runs.length - atPause} times while paused`);
  const trig = await req(r, "trigger", { name: "p1" });
  assert.equal(trig.ok, true);
  await until("the triggered run", () => runs.some((x) => x.id === trig.id));
  const before = runs.length;
  const resumed = await req(r, "resume", { name: "p1" });
  assert.equal(resumed.ok, true);
  await until("a run after resume", () => runs.length > before);
  assert.ok(deltas.some((d) => d.event === "missed"), "the paused ticks count as missed");
  assert.ok(deltas.some((d) => d.event === "paused" && d.note === "maintenance"));
  const ids = runs.map((x) => x.id);
  assert.equal(new Set(ids).size, ids.length);
});
