import assert from "node:assert/strict";
import { TestServer } from "../_nats_server.ts";
import { kill, Load, node, report, Watch } from "./_fault.ts";

Deno.test("fault - kill -9 one worker process of several: its tasks run elsewhere, every task ends exactly once", async () => {
  await using server = await TestServer.start();
  const sched = await node(server.url, ["--role", "scheduler", "--node-id", "s1"]);
  const w1 = await node(server.url, [
    "--role",
    "worker",
    "--node-id",
    "w1",
    "--workers",
    "2",
    "--concurrency",
    "4",
  ]);
  const w2 = await node(server.url, [
    "--role",
    "worker",
    "--node-id",
    "w2",
    "--workers",
    "2",
    "--concurrency",
    "4",
  ]);
  await using watch = await Watch.start(server.url);
  await using load = await Load.start(server.url);
  try {
    await load.submit("kw", 120, () => ({ payload: { ms: 250 } }));
    await load.until(30);
    // Make sure w1 is running something when it dies.
    const running = await watch.next(
      (e) =>
        e.subject === "monitor.task." + e.body.id && e.body.state === "running" &&
        String(e.body.worker).startsWith("w1/"),
      Date.now() - 200,
    );
    assert.ok(running);
    const killedAt = Date.now();
    await kill(w1);
    const lost = await watch.next(
      (e) => e.body.event === "node-lost" && e.body.node === "w1",
      killedAt,
    );
    const { states, results } = await load.verify();
    assert.deepEqual(states, { succeeded: 120 });
    const afterKill = [...results.values()].filter((r) => Date.parse(r.finishedAt) > killedAt);
    assert.ok(
      afterKill.every((r) => r.worker?.startsWith("w2/")),
      "after the kill only w2 finishes tasks",
    );
    report("kill -9 worker", {
      tasks: 120,
      lost: 0,
      duplicates: 0,
      declaredLostMs: lost.at - killedAt,
      requeued: lost.body.requeued,
    });
  } finally {
    await kill(w2, "SIGTERM");
    await kill(sched, "SIGTERM");
    await kill(w1);
  }
});
