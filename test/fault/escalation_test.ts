import assert from "node:assert/strict";
import { connectNats } from "../../src/internal_mod.ts";
import { TestServer } from "../_nats_server.ts";
import { kill, Load, node, report, Watch } from "./_fault.ts";

Deno.test("fault - a deleted submissions stream is recreated by the scheduler's restart, without losing the process", async () => {
  await using server = await TestServer.start();
  await using watch = await Watch.start(server.url);
  const n1 = await node(server.url, ["--node-id", "d1", "--workers", "1"]);
  try {
    await using load = await Load.start(server.url);
    await load.submit("del", 5, () => ({ payload: { ms: 10 } }));
    await load.until(5);
    const t = await connectNats({ servers: server.url });
    const at = Date.now();
    await t.request("$JS.API.STREAM.DELETE.TASKS", new Uint8Array());
    await t.close();
    const restarted = await watch.next(
      (e) =>
        e.body.type === "child.started" && e.body.child === "scheduler" &&
        Number(e.body.incarnation) >= 2,
      at,
    );
    // Leading again (with the stream back) before the next submissions: until then nothing captures them.
    const ready = await watch.next(
      (e) => e.subject.startsWith("monitor.scheduler.") && e.body.ready === true,
      restarted.at,
    );
    await load.submit("del-after", 5, () => ({ payload: { ms: 10 } }));
    const { states } = await load.verify();
    assert.deepEqual(load.refused, [], JSON.stringify(Object.fromEntries(load.refusedWhy)));
    assert.deepEqual(states, { succeeded: 10 });
    assert.equal(n1.log.some((l) => l.includes("root supervisor gave up")), false);
    report("stream deleted under the leader", {
      schedulerRestartedMs: restarted.at - at,
      leadingAgainMs: ready.at - at,
    });
  } finally {
    await kill(n1, "SIGTERM");
  }
});

Deno.test("fault - NATS back without JetStream: the scheduler's crash loop escalates past the root and the process exits 1", async () => {
  await using server = await TestServer.start();
  await using watch = await Watch.start(server.url, "monitor.supervisor.>");
  const n1 = await node(server.url, ["--node-id", "e1", "--workers", "1"]);
  try {
    await using load = await Load.start(server.url);
    await load.submit("esc", 5, () => ({ payload: { ms: 10 } }));
    await load.until(5);
    const at = Date.now();
    await server.restart(0, { jetstream: false });
    const status = await n1.exited;
    const exitMs = Date.now() - at;
    assert.equal(status.code, 1, n1.log.slice(-15).join("\n"));
    assert.ok(
      n1.log.some((l) => l.includes("root supervisor gave up")),
      n1.log.slice(-15).join("\n"),
    );
    // The process said so before it exited; the watcher may hear it a little later (a busy machine).
    await watch.next(
      (e) => e.body.type === "supervisor.escalated" && e.body.supervisor === "e1/root",
      at,
      10_000,
    );
    const restarts = watch.events.filter((e) =>
      e.body.type === "child.restarting" && e.body.supervisor === "e1/root"
    );
    assert.ok(restarts.length >= 3, `root restarted children ${restarts.length} times`);
    report("crash loop → exit 1", { exitMs, rootRestarts: restarts.length });
  } finally {
    await kill(n1);
  }
});
