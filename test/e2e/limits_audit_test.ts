/**
 * Per-user limits and the audit trail against a real nats-server: a user over
 * its rate or at its in-flight cap gets RESOURCE_EXHAUSTED while others go on,
 * and `monitor.audit` shows rejections, cancels and schedule writes without a
 * token in sight.
 */

import assert from "node:assert/strict";
import {
  type Config,
  connectNats,
  defaultConfig,
  mintToken,
  type NatsTransport,
  silentLogger,
  type TaskResult,
} from "../../src/internal_mod.ts";
import type { AuditEvent } from "../../actors/audit.ts";
import { loadHandlers, type RunningNode, startNode } from "../../actors/node.ts";
import { Client, SECRET } from "../_cluster.ts";
import { TestServer } from "../_nats_server.ts";
import { rig } from "./_node.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

type Rig = Awaited<ReturnType<typeof rig>>;

async function token(sub: string, roles = ["submitter"]): Promise<string> {
  return await mintToken(SECRET, { sub, roles });
}

function submitAs(r: Rig, tok: string, type: string, body: Record<string, unknown>): void {
  r.client.submit(type, body, { Authorization: `Bearer ${tok}` });
}

async function request(r: Rig, subject: string, body: unknown, tok: string) {
  const m = await r.client.t.request(subject, enc.encode(JSON.stringify(body)), {
    headers: { Authorization: `Bearer ${tok}` },
    timeoutMs: 5_000,
  });
  return JSON.parse(dec.decode(m.data));
}

/** Every raw message on `monitor.audit`, from now on. */
async function auditFeed(r: Rig): Promise<{ raw: string[]; events: () => AuditEvent[] }> {
  const raw: string[] = [];
  r.client.t.subscribe("monitor.audit", (m) => raw.push(dec.decode(m.data)));
  await r.client.t.flush();
  return { raw, events: () => raw.map((s) => JSON.parse(s) as AuditEvent) };
}

async function until(what: string, ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

Deno.test("limits e2e - a user over its rate gets RESOURCE_EXHAUSTED while another user's tasks succeed; the audit shows who and never a token", async () => {
  await using r = await rig({ config: { userRate: 5, userBurst: 5 } });
  const feed = await auditFeed(r);
  const alice = await token("alice");
  const bob = await token("bob");
  // A well-formed token signed with another secret: denied, and not to be echoed anywhere.
  const forged = await mintToken("another-secret-that-is-at-least-32-bytes", {
    sub: "mallory",
    roles: ["admin"],
  });

  const ids = Array.from({ length: 20 }, (_, i) => `a${i}`);
  for (const id of ids) submitAs(r, alice, "echo", { id, payload: { id } });
  for (const id of ["b0", "b1", "b2"]) submitAs(r, bob, "echo", { id, payload: { id } });
  submitAs(r, forged, "echo", { id: "m0", payload: {} });

  const results = await Promise.all(ids.map((id) => r.client.result(id)));
  const ok = results.filter((x) => x.state === "succeeded");
  const refused = results.filter((x) => x.state === "rejected");
  assert.ok(ok.length >= 5 && ok.length <= 7, `the burst of 5 (and a refill) ran: ${ok.length}`);
  assert.equal(ok.length + refused.length, 20);
  for (const x of refused) {
    assert.deepEqual(x.error, {
      code: "RESOURCE_EXHAUSTED",
      message: 'user "alice" is over its rate limit of 5 tasks/s (burst 5): slow down',
    });
    assert.equal(x.attempts, 0);
  }
  for (const id of ["b0", "b1", "b2"]) {
    assert.equal((await r.client.result(id)).state, "succeeded", `bob's ${id}`);
  }
  assert.equal((await r.client.result("m0")).error?.code, "UNAUTHENTICATED");
  // Exactly one result per task: the rejections too.
  for (const id of ids) {
    assert.equal(r.client.received.filter((x: TaskResult) => x.id === id).length, 1, id);
  }

  // After a second alice has tokens again.
  await new Promise((res) => setTimeout(res, 1_100));
  submitAs(r, alice, "echo", { id: "a-later", payload: {} });
  assert.equal((await r.client.result("a-later")).state, "succeeded");

  await until("the audit of alice's rejections and mallory's", () => {
    const e = feed.events();
    return e.some((x) => x.who === "alice") && e.some((x) => x.target === "m0");
  });
  const events = feed.events();
  const mine = events.filter((x) => x.who === "alice");
  for (const x of mine) {
    assert.equal(x.action, "tasks.submit");
    assert.equal(x.outcome, "rejected");
    assert.equal(x.code, "RESOURCE_EXHAUSTED");
    assert.equal(x.node, r.config.nodeId);
    assert.ok(refused.some((y) => y.id === x.target), `${x.target} was refused`);
  }
  assert.equal(mine.length, refused.length, "one audit event per rejection (under the budget)");
  const denied = events.find((x) => x.target === "m0")!;
  assert.equal(denied.who, null);
  assert.equal(denied.outcome, "denied");
  assert.equal(denied.code, "UNAUTHENTICATED");
  assert.deepEqual(events.map((x) => x.seq), events.map((_, i) => events[0].seq + i));
  // No token, no header value, no payload in the raw bytes.
  const all = feed.raw.join("\n");
  for (const secret of [alice, bob, forged, r.client.token]) {
    assert.ok(!all.includes(secret), "a token went on monitor.audit");
    assert.ok(!all.includes(secret.split(".")[2]), "a token's signature went on monitor.audit");
  }
  assert.ok(!all.includes("Bearer"));
  assert.ok(!all.includes('"payload"'));
});

Deno.test("limits e2e - a user at its in-flight cap is refused until its tasks end; cancels and schedule writes are audited", async () => {
  await using r = await rig({ config: { userInFlight: 2 } });
  const feed = await auditFeed(r);
  const carol = await token("carol");
  const bob = await token("bob");
  const admin = await token("ops", ["admin"]);

  submitAs(r, carol, "sleep", { id: "c1", payload: { ms: 800 } });
  submitAs(r, carol, "sleep", { id: "c2", payload: { ms: 800 } });
  // Once c1 and c2 are held, c3 finds carol at her cap.
  const status = async (id: string) => (await request(r, "tasks.status", { id }, carol)).state;
  for (const id of ["c1", "c2"]) {
    const end = Date.now() + 5_000;
    while (!["queued", "dispatched", "running"].includes(await status(id))) {
      if (Date.now() > end) throw new Error(`${id} never accepted`);
      await new Promise((res) => setTimeout(res, 20));
    }
  }
  submitAs(r, carol, "sleep", { id: "c3", payload: { ms: 10 } });
  submitAs(r, bob, "echo", { id: "b-free", payload: {} });
  const c3 = await r.client.result("c3");
  assert.equal(c3.state, "rejected");
  assert.deepEqual(c3.error, {
    code: "RESOURCE_EXHAUSTED",
    message: 'user "carol" is over its in-flight limit of 2 tasks: try again when some end',
  });
  assert.equal((await r.client.result("b-free")).state, "succeeded", "bob is not carol");

  // An admin cancels c2; c1 ends on its own: carol may submit again.
  const cancelled = await request(r, "tasks.cancel", { id: "c2" }, admin);
  assert.equal(cancelled.ok, true);
  // Bob may not cancel carol's task: denied, and audited.
  const refusedCancel = await request(r, "tasks.cancel", { id: "c1" }, bob);
  assert.equal(refusedCancel.error.code, "PERMISSION_DENIED");
  assert.equal((await r.client.result("c2")).state, "cancelled");
  assert.equal((await r.client.result("c1")).state, "succeeded");
  submitAs(r, carol, "sleep", { id: "c4", payload: { ms: 10 } });
  submitAs(r, carol, "sleep", { id: "c5", payload: { ms: 10 } });
  assert.equal((await r.client.result("c4")).state, "succeeded");
  assert.equal((await r.client.result("c5")).state, "succeeded");

  // A schedule written by an admin.
  const put = await request(r, "schedules.put", {
    name: "audited",
    every: "1h",
    paused: true,
    task: { type: "echo", payload: {} },
  }, admin);
  assert.equal(put.ok, true);
  const denied = await request(r, "schedules.delete", { name: "audited" }, carol);
  assert.equal(denied.error.code, "PERMISSION_DENIED");
  assert.equal((await request(r, "schedules.delete", { name: "audited" }, admin)).ok, true);

  await until(
    "the audit of the schedule's delete",
    () => feed.events().some((x) => x.action === "schedules.delete" && x.outcome === "ok"),
  );
  const events = feed.events();
  const find = (f: (x: AuditEvent) => boolean, what: string) => {
    const hit = events.find(f);
    assert.ok(hit, `${what} in ${JSON.stringify(events, null, 1)}`);
    return hit;
  };
  const capped = find((x) => x.target === "c3", "c3's rejection");
  assert.equal(capped.who, "carol");
  assert.equal(capped.code, "RESOURCE_EXHAUSTED");
  assert.equal(capped.outcome, "rejected");
  const cancel = find((x) => x.action === "tasks.cancel" && x.outcome === "ok", "the cancel");
  assert.equal(cancel.who, "ops");
  assert.equal(cancel.target, "c2");
  assert.equal(cancel.code, undefined);
  const bobs = find((x) => x.action === "tasks.cancel" && x.who === "bob", "bob's cancel");
  assert.equal(bobs.outcome, "denied");
  assert.equal(bobs.code, "PERMISSION_DENIED");
  assert.equal(bobs.target, "c1");
  const written = find((x) => x.action === "schedules.put", "the schedule's put");
  assert.deepEqual(
    { who: written.who, target: written.target, outcome: written.outcome, m: written.message },
    { who: "ops", target: "audited", outcome: "ok", m: "created" },
  );
  const refusedDelete = find(
    (x) => x.action === "schedules.delete" && x.outcome === "denied",
    "carol's delete",
  );
  assert.equal(refusedDelete.who, "carol");
  assert.equal(refusedDelete.target, null, "not read before the role was checked");
  // Reads that succeed are not audited.
  assert.ok(!events.some((x) => x.action === "tasks.status"));
  const all = feed.raw.join("\n");
  for (const secret of [carol, bob, admin]) assert.ok(!all.includes(secret));
});

Deno.test("limits e2e - a new leader counts the tasks it takes over: the in-flight cap holds across a leader change", async () => {
  await using server = await TestServer.start();
  const base: Config = {
    ...defaultConfig(),
    workers: 1,
    concurrency: 4,
    heartbeatMs: 200,
    nodeLostMs: 1_000,
    leaseMs: 600,
    shutdownGraceMs: 2_000,
    broker: server.url,
    brokerExplicit: true,
    userInFlight: 2,
  };
  const handlers = await loadHandlers([], silentLogger);
  const started: { node: RunningNode; t: NatsTransport }[] = [];
  const start = async (nodeId: string, role: Config["role"]) => {
    const t = await connectNats({ servers: server.url, name: nodeId });
    const node = await startNode({
      config: { ...base, nodeId, role },
      transport: t,
      log: silentLogger,
      jwtSecret: SECRET,
      handlers,
    });
    started.push({ node, t });
    return node;
  };
  await using client = await Client.connect(server.url);
  try {
    const first = await start("s1", "scheduler");
    await start("w1", "worker");
    client.submit("echo", { id: "ready", payload: null });
    await client.result("ready", 15_000);
    await start("s2", "scheduler");
    const carol = await token("carol");
    const send = (id: string, ms: number) =>
      client.submit("sleep", { id, payload: { ms } }, { Authorization: `Bearer ${carol}` });
    const running = async (id: string) => {
      for (const end = Date.now() + 10_000; Date.now() < end;) {
        const m = await client.t.request(
          "tasks.status",
          enc.encode(JSON.stringify({ id })),
          { headers: { Authorization: `Bearer ${carol}` }, timeoutMs: 1_000 },
        ).catch(() => null); // no leader for a moment
        if (m && JSON.parse(dec.decode(m.data)).state === "running") return;
        await new Promise((res) => setTimeout(res, 50));
      }
      throw new Error(`${id} never ran`);
    };
    send("c1", 4_000);
    send("c2", 4_000);
    await running("c1");
    await running("c2");
    await first.shutdown(500); // s2 takes over; c1 and c2 keep running on w1
    await running("c1");
    await running("c2");
    send("c3", 10);
    const c3 = await client.result("c3");
    assert.equal(c3.state, "rejected", JSON.stringify(c3));
    assert.match(c3.error!.message, /in-flight limit of 2 tasks/);
    assert.equal((await client.result("c1", 10_000)).state, "succeeded");
    assert.equal((await client.result("c2", 10_000)).state, "succeeded");
    send("c4", 10);
    assert.equal((await client.result("c4")).state, "succeeded");
  } finally {
    for (const { node, t } of started.reverse()) {
      await node.shutdown(500).catch(() => {});
      await t.close().catch(() => {});
    }
  }
});
