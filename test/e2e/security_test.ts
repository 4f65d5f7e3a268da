/**
 * The two attacks that worked against an open NATS before internal messages
 * were sealed and results signed, repeated against a real nats-server: once
 * open (anyone may publish anything), once as the locked-down embedded
 * server that `deno task start` runs by default.
 *
 * 1. A connection with no token publishes a forged `task.assign` (epoch
 *    10^9, a cleanup with maxAgeDays 0) on `sched.node.<node>`.
 * 2. It publishes a forged `succeeded` result on `tasks.outcome.<id>` before
 *    the real task runs.
 */

import assert from "node:assert/strict";
import { pathExists as exists } from "../../src/fs_roots.ts";
import {
  connectNats,
  freePort,
  mintToken,
  RESULT_SIGNATURE,
  ResultVerifier,
  type TaskResult,
} from "../../src/internal_mod.ts";
import { Client, SECRET, startNodeProcess } from "../_cluster.ts";
import { rig } from "./_node.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const DAY = 86_400_000;

/** A folder holding one file dated ten days back. */
async function oldFile(): Promise<{ dir: string; file: string }> {
  const dir = await Deno.makeTempDir({ prefix: "ts-sec-" });
  const file = `${dir}/precious.txt`;
  await Deno.writeTextFile(file, "keep me");
  const old = new Date(Date.now() - 10 * DAY);
  await Deno.utime(file, old, old);
  return { dir, file };
}

function forgedAssign(dir: string) {
  return {
    type: "task.assign",
    epoch: 1_000_000_000,
    leader: "attacker",
    tasks: [{
      id: "forged-cleanup",
      type: "cleanup",
      payload: { dir, maxAgeDays: 0 },
      dispatch: 1,
      worker: "",
      attempt: 1,
      maxAttempts: 1,
      timeoutMs: 10_000,
      deadline: null,
    }],
  };
}

Deno.test("security - open NATS: a forged, unsealed assignment runs nothing, does not cut the node off, and is reported", async () => {
  const target = await oldFile();
  const legit = await oldFile();
  await using r = await rig({ config: { fsRoots: ["/tmp"] } });
  const events: Record<string, unknown>[] = [];
  r.client.t.subscribe("monitor.scheduler.>", (m) => events.push(JSON.parse(dec.decode(m.data))));
  const attacker = await connectNats({ servers: r.server.url, name: "attacker" });
  try {
    const assign = forgedAssign(target.dir);
    for (const w of [0, 1]) assign.tasks[0].worker = `${r.config.nodeId}/w${w}`;
    attacker.publish(`sched.node.${r.config.nodeId}`, enc.encode(JSON.stringify(assign)));
    attacker.publish("sched.nodes", enc.encode(JSON.stringify(assign)));
    await attacker.flush();
    // A proper cleanup right after still runs: the node did not take the forged epoch.
    r.client.submit("cleanup", { id: "real-cleanup", payload: { dir: legit.dir, maxAgeDays: 0 } });
    const result = await r.client.result("real-cleanup", 20_000);
    assert.equal(result.state, "succeeded", JSON.stringify(result));
    assert.equal(await exists(legit.file), false, "the real cleanup ran");
    assert.equal(await exists(target.file), true, "the forged cleanup did not run");
    // Reported where operators look: the leader relays the node's count from its heartbeat.
    const deadline = Date.now() + 5_000;
    while (!events.some((e) => e.event === "messages-refused" && Number(e.total) >= 2)) {
      if (Date.now() > deadline) throw new Error(`no messages-refused: ${JSON.stringify(events)}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  } finally {
    await attacker.close();
    await Deno.remove(target.dir, { recursive: true });
    await Deno.remove(legit.dir, { recursive: true });
  }
});

Deno.test("security - open NATS: a forged result stored before the task runs is not believed; the real one replaces it", async () => {
  await using r = await rig();
  const verifier = await ResultVerifier.fromSecret(SECRET);
  const seen: { ok: boolean; state?: unknown }[] = [];
  r.client.t.subscribe("tasks.result.victim", (m) => {
    const v = verifier.verify(m.data, m.header(RESULT_SIGNATURE), "victim");
    seen.push({ ok: v.ok, state: v.ok ? v.result.state : JSON.parse(dec.decode(m.data)).state });
  });
  const events: Record<string, unknown>[] = [];
  r.client.t.subscribe("monitor.scheduler.>", (m) => events.push(JSON.parse(dec.decode(m.data))));
  const attacker = await connectNats({ servers: r.server.url, name: "attacker" });
  try {
    const forged = { id: "victim", type: "echo", state: "succeeded", result: { forged: true } };
    const ack = await attacker.publishDurable(
      "tasks.outcome.victim",
      enc.encode(JSON.stringify(forged)),
      { expectLastSubjectSeq: 0 },
    );
    assert.ok(ack.ok, "an open NATS stores it");
    r.client.submit("echo", { id: "victim", payload: { real: true } });
    const deadline = Date.now() + 20_000;
    while (!seen.some((s) => s.ok)) {
      if (Date.now() > deadline) throw new Error(`no signed result: ${JSON.stringify(seen)}`);
      await new Promise((res) => setTimeout(res, 50));
    }
    assert.deepEqual(seen.filter((s) => !s.ok).length, 1, "the forged one came first, unsigned");
    assert.deepEqual(seen.filter((s) => s.ok), [{ ok: true, state: "succeeded" }]);
    // The stream holds the real result now.
    const stored = await r.transport.lastMessage("RESULTS", "tasks.outcome.victim");
    assert.ok(stored);
    const v = verifier.verify(stored.data, stored.header(RESULT_SIGNATURE), "victim");
    assert.ok(v.ok && (v.result.result as { real?: boolean }).real === true);
    // The forgery was reported.
    while (!events.some((e) => e.event === "messages-refused")) {
      if (Date.now() > deadline) throw new Error("the forged result was not reported");
      await new Promise((res) => setTimeout(res, 50));
    }
  } finally {
    await attacker.close();
  }
});

Deno.test("security - the default embedded server: anonymous connections can submit and watch, not assign or store results", async () => {
  const data = await Deno.makeTempDir({ prefix: "ts-sec-embedded-" });
  const target = await oldFile();
  const port = freePort();
  const node = startNodeProcess([
    "--embedded",
    "always",
    "--broker",
    `nats://127.0.0.1:${port}`,
    "--data-dir",
    data,
    "--node-id",
    "emb",
    "--fs-roots",
    "/tmp",
  ], {});
  try {
    await node.waitFor("node started", 30_000);
    // The tour's anonymous client: submits with a token, watches results.
    await using client = await Client.connect(`nats://127.0.0.1:${port}`);
    const verifier = await ResultVerifier.fromSecret(SECRET);
    const raw: { data: Uint8Array; sig?: string }[] = [];
    client.t.subscribe("tasks.result.victim2", (m) => {
      raw.push({ data: m.data, sig: m.header(RESULT_SIGNATURE) });
    });
    await client.t.flush();
    const attacker = await connectNats({ servers: `nats://127.0.0.1:${port}`, name: "attacker" });
    const assign = forgedAssign(target.dir);
    assign.tasks[0].worker = "emb/w0";
    attacker.publish("sched.node.emb", enc.encode(JSON.stringify(assign)));
    attacker.publish(
      "tasks.outcome.victim2",
      enc.encode(JSON.stringify({ id: "victim2", state: "succeeded", result: { forged: true } })),
    );
    const stored = await attacker.publishDurable(
      "tasks.outcome.victim3",
      enc.encode(JSON.stringify({ id: "victim3", state: "succeeded" })),
    );
    assert.equal(stored.ok, false, "the client user cannot store a result");
    await attacker.flush();
    await attacker.close();
    client.submit("echo", { id: "victim2", payload: 2 });
    const result: TaskResult = await client.result("victim2", 20_000);
    assert.equal(result.state, "succeeded");
    assert.equal(raw.length, 1, "only the real result reached the subscriber");
    assert.ok(verifier.verify(raw[0].data, raw[0].sig, "victim2").ok);
    assert.equal(await exists(target.file), true, "the forged cleanup did not run");
    const log = await Deno.readTextFile(`${data}/nats/server.log`);
    assert.match(log, /Publish Violation - User "client", Subject "sched\.node\.emb"/);
    assert.match(log, /Publish Violation - User "client", Subject "tasks\.outcome\.victim2"/);
    // Node credentials are this user's only.
    assert.equal((await Deno.stat(`${data}/nats/credentials.json`)).mode! & 0o077, 0);
    const token = await mintToken(SECRET, { sub: "x", roles: ["viewer"] });
    const status = await client.t.request("tasks.status", enc.encode('{"id":"victim2"}'), {
      headers: { Authorization: `Bearer ${token}` },
      timeoutMs: 5_000,
    });
    assert.equal(JSON.parse(dec.decode(status.data)).state, "succeeded");
  } finally {
    node.kill("SIGTERM");
    await node.exited;
    await Deno.remove(data, { recursive: true }).catch(() => {});
    await Deno.remove(target.dir, { recursive: true });
  }
});

Deno.test("security - open NATS: forged reports and heartbeats to the leader are refused and counted", async () => {
  await using r = await rig();
  const events: Record<string, unknown>[] = [];
  r.client.t.subscribe("monitor.scheduler.>", (m) => events.push(JSON.parse(dec.decode(m.data))));
  const attacker = await connectNats({ servers: r.server.url, name: "attacker" });
  try {
    // A forged outcome for a task that is not even there, and a heartbeat of a node that is not.
    attacker.publish(
      "sched.report",
      enc.encode(JSON.stringify({
        type: "node.reports",
        node: r.config.nodeId,
        incarnation: 1,
        epoch: 1,
        reports: [],
      })),
    );
    attacker.publish(
      `monitor.worker.ghost`,
      enc.encode(JSON.stringify({ node: "ghost", incarnation: 1, state: "up", seq: 1 })),
    );
    await attacker.flush();
    const deadline = Date.now() + 5_000;
    const counted = () =>
      events.filter((e) => e.event === "messages-refused" && e.counts)
        .reduce((n, e) => n + Number((e.counts as Record<string, number>).unsigned ?? 0), 0);
    while (counted() < 2) {
      if (Date.now() > deadline) throw new Error(`not reported: ${JSON.stringify(events)}`);
      await new Promise((res) => setTimeout(res, 50));
    }
    // Everything still works.
    r.client.submit("echo", { id: "after", payload: 1 });
    assert.equal((await r.client.result("after")).state, "succeeded");
  } finally {
    await attacker.close();
  }
});
