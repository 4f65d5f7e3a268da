import assert from "node:assert/strict";
import { TestServer } from "../_nats_server.ts";
import { FULL, kill, Load, node, report } from "./_fault.ts";

Deno.test("fault - SIGTERM during load exits 0, hands back what runs, and after a restart every task ends exactly once", async () => {
  await using server = await TestServer.start();
  const n1 = await node(server.url, ["--node-id", "a1", "--workers", "2", "--concurrency", "4"], {
    TASK_SCHEDULER_SHUTDOWN_GRACE_MS: "300",
  });
  await using load = await Load.start(server.url);
  let n2;
  try {
    await load.submit("term", 80, () => ({ payload: { ms: 400 } }));
    await load.until(10);
    const at = Date.now();
    const status = await kill(n1, "SIGTERM");
    assert.equal(status.code, 0, n1.log.slice(-10).join("\n"));
    assert.ok(n1.log.some((l) => l.includes("stopped cleanly")));
    const handedBack = n1.log.find((l) => l.includes("handed back to the scheduler"));
    const stopMs = Date.now() - at;
    const before = load.done;
    n2 = await node(server.url, ["--node-id", "a2", "--workers", "2", "--concurrency", "4"]);
    const restartedAt = Date.now();
    await load.until(before + 1);
    const firstResultMs = Date.now() - restartedAt;
    const { states } = await load.verify();
    assert.deepEqual(states, { succeeded: 80 });
    report("SIGTERM + restart", {
      tasks: 80,
      stopMs,
      handedBack: handedBack ? "yes" : "none",
      firstResultAfterRestartMs: firstResultMs,
    });
  } finally {
    if (n2) await kill(n2, "SIGTERM");
    await kill(n1);
  }
});

Deno.test({
  name:
    "fault - kill -9 the all-in-one node mid-run and start it again: every task ends exactly once",
  ignore: !FULL,
  async fn() {
    await using server = await TestServer.start();
    const n1 = await node(server.url, ["--node-id", "b1", "--workers", "2", "--concurrency", "4"]);
    await using load = await Load.start(server.url);
    let n2;
    try {
      await load.submit("k9", 150, (i) => ({ payload: { ms: 100 + (i % 4) * 50 } }));
      await load.until(30);
      const killedAt = Date.now();
      await kill(n1);
      const before = load.done;
      n2 = await node(server.url, ["--node-id", "b2", "--workers", "2", "--concurrency", "4"]);
      await load.until(before + 1);
      const recoverMs = Date.now() - killedAt;
      const { states } = await load.verify();
      assert.deepEqual(states, { succeeded: 150 });
      report("kill -9 all-in-one + restart", {
        tasks: 150,
        lost: 0,
        duplicates: 0,
        firstResultAfterKillMs: recoverMs,
      });
    } finally {
      if (n2) await kill(n2, "SIGTERM");
      await kill(n1);
    }
  },
});

Deno.test("fault - stop and restart nats-server (file storage) mid-run: the node reconnects without restarting and every task ends exactly once", async () => {
  await using server = await TestServer.start();
  const n1 = await node(server.url, ["--node-id", "c1", "--workers", "2", "--concurrency", "4"]);
  await using load = await Load.start(server.url);
  try {
    await load.submit("nr", 100, () => ({ payload: { ms: 150 } }));
    await load.until(20);
    const stoppedAt = Date.now();
    // Down longer than the lease: the leader steps down and must lead again when NATS is back.
    await server.restart(2_000);
    const backAt = Date.now();
    const before = load.done;
    await load.until(before + 1);
    const firstResultMs = Date.now() - backAt;
    // More work after the restart, on the same node process.
    await load.submit("nr-after", 30, () => ({ payload: { ms: 10 } }));
    const { states } = await load.verify();
    assert.deepEqual(states, { succeeded: load.accepted.length });
    assert.ok(
      n1.log.some((l) => l.includes("NATS connection back")),
      "the node logged its reconnect",
    );
    assert.ok(!n1.log.some((l) => l.includes("root supervisor")), "no escalation");
    const failures = n1.log.filter((l) => l.includes("child failed"));
    assert.deepEqual(
      failures,
      [],
      "no actor was restarted: the tree survived the outage as it was",
    );
    report("nats-server restart", {
      tasks: load.accepted.length,
      lost: 0,
      duplicates: 0,
      outageMs: backAt - stoppedAt,
      firstResultAfterRestartMs: firstResultMs,
    });
  } finally {
    await kill(n1, "SIGTERM");
  }
});
