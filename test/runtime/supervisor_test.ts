import assert from "node:assert/strict";
import type { ActorRef } from "../../src/runtime/actor.ts";
import type { RestartType, Strategy } from "../../src/runtime/restart_policy.ts";
import type { ChildSpec } from "../../src/runtime/supervisor.ts";
import { counters, Harness, probe, type ProbeMsg } from "./_harness.ts";

function tree(
  strategy: Strategy,
  c: ReturnType<typeof counters>,
  restart: RestartType[] = ["permanent", "permanent", "permanent"],
) {
  const children: ChildSpec[] = ["a", "b", "c"].map((id, i) => ({
    kind: "actor",
    id,
    behavior: probe(id, c),
    restart: restart[i],
  }));
  return {
    kind: "supervisor" as const,
    id: "root",
    policy: {
      strategy,
      maxRestarts: 3,
      periodMs: 1_000,
      backoff: { initialMs: 100, maxMs: 1_000, factor: 2, jitter: 0 },
    },
    children,
  };
}

async function restartOf(
  h: Harness,
  root: { ref<M>(id: string): ActorRef<M> },
  id: string,
  delayMs: number,
) {
  const restarting = h.next((e) => e.type === "child.restarting");
  root.ref<ProbeMsg>(id).send({ type: "boom" });
  const ev = await restarting;
  assert.equal(ev.type === "child.restarting" && ev.delayMs, delayMs);
  const started = h.next((e) =>
    e.type === "child.started" &&
    e.child === (ev.type === "child.restarting" ? ev.children.at(-1) : "")
  );
  h.clock.advance(delayMs);
  await started;
  return ev.type === "child.restarting" ? ev.children : [];
}

Deno.test("supervisor - one-for-one restarts only the failed child", async () => {
  const h = new Harness();
  const c = counters();
  const root = await h.start(tree("one-for-one", c));
  const restarted = await restartOf(h, root, "b", 100);
  assert.deepEqual(restarted, ["b"]);
  assert.deepEqual([...c.boots.entries()].sort(), [["a", 1], ["b", 2], ["c", 1]]);
  assert.equal(c.restarts.get("b"), 1);
});

Deno.test("supervisor - one-for-all restarts every child, stopping in reverse and starting in order", async () => {
  const h = new Harness();
  const c = counters();
  const root = await h.start(tree("one-for-all", c));
  c.log.length = 0;
  const restarted = await restartOf(h, root, "b", 100);
  assert.deepEqual(restarted, ["a", "b", "c"]);
  assert.deepEqual(c.log, [
    "preRestart c",
    "preRestart b",
    "preRestart a",
    "init a",
    "init b",
    "init c",
  ]);
});

Deno.test("supervisor - rest-for-one restarts the failed child and those started after it", async () => {
  const h = new Harness();
  const c = counters();
  const root = await h.start(tree("rest-for-one", c));
  const restarted = await restartOf(h, root, "b", 100);
  assert.deepEqual(restarted, ["b", "c"]);
  assert.deepEqual([...c.boots.entries()].sort(), [["a", 1], ["b", 2], ["c", 2]]);
});

Deno.test("supervisor - backoff doubles inside the window and resets after it", async () => {
  const h = new Harness();
  const c = counters();
  const root = await h.start(tree("one-for-one", c));
  await restartOf(h, root, "a", 100);
  await restartOf(h, root, "a", 200);
  h.clock.advance(2_000);
  await restartOf(h, root, "a", 100);
});

Deno.test("supervisor - more restarts than the intensity escalates to the root and the process", async () => {
  const h = new Harness();
  const c = counters();
  const root = await h.start(tree("one-for-one", c));
  await restartOf(h, root, "a", 100);
  await restartOf(h, root, "a", 200);
  await restartOf(h, root, "a", 400);
  const escalated = h.next((e) => e.type === "supervisor.escalated");
  root.ref<ProbeMsg>("a").send({ type: "boom" });
  await escalated;
  await h.system.escalated;
  assert.equal(h.escalations.length, 1);
  assert.match(String((h.escalations[0] as Error).message), /restart intensity exceeded/);
  // Every child was cleaned up.
  assert.equal(c.restarts.get("b"), 1);
  assert.equal(c.restarts.get("c"), 1);
});

Deno.test("supervisor - a child supervisor that escalates is restarted by its parent with fresh children", async () => {
  const h = new Harness();
  const c = counters();
  const inner = {
    ...tree("one-for-one", c),
    id: "inner",
    policy: { maxRestarts: 0, periodMs: 1_000 },
  };
  const root = await h.start({
    kind: "supervisor",
    id: "root",
    policy: {
      maxRestarts: 5,
      periodMs: 1_000,
      backoff: { initialMs: 0, maxMs: 0, factor: 1, jitter: 0 },
    },
    children: [inner],
  });
  const started = h.next((e) =>
    e.type === "child.started" && e.child === "inner" && e.incarnation === 2
  );
  root.supervisor("inner").ref<ProbeMsg>("b").send({ type: "boom" });
  await started;
  assert.equal(h.escalations.length, 0);
  assert.deepEqual([...c.boots.values()], [2, 2, 2]);
  // Refs taken before the restart still reach the restarted actor.
  const state = await root.supervisor("inner").ref<ProbeMsg>("a").ask<number[]>((replyTo) => ({
    type: "get",
    replyTo,
  }));
  assert.deepEqual(state, []);
});

Deno.test("supervisor - transient child stopping normally is removed, temporary child is never restarted", async () => {
  const h = new Harness();
  const c = counters();
  const root = await h.start(tree("one-for-one", c, ["transient", "temporary", "permanent"]));
  const removedA = h.next((e) => e.type === "child.removed" && e.child === "a");
  root.ref<ProbeMsg>("a").send({ type: "stop" });
  await removedA;
  const removedB = h.next((e) => e.type === "child.removed" && e.child === "b");
  root.ref<ProbeMsg>("b").send({ type: "boom" });
  await removedB;
  assert.deepEqual(root.children, ["c"]);
  assert.equal(c.stops.get("a"), 1);
  assert.equal(c.boots.get("b"), 1);
});

Deno.test("supervisor - mailbox survives a restart and the failing message is dropped", async () => {
  const h = new Harness();
  const c = counters();
  const root = await h.start(tree("one-for-one", c));
  const a = root.ref<ProbeMsg>("a");
  const restarting = h.next((e) => e.type === "child.restarting");
  a.send({ type: "ping", n: 1 });
  a.send({ type: "boom" });
  a.send({ type: "ping", n: 2 });
  await restarting;
  const started = h.next((e) => e.type === "child.started");
  h.clock.advance(100);
  await started;
  const state = await a.ask<number[]>((replyTo) => ({ type: "get", replyTo }));
  assert.deepEqual(state, [2]);
});
