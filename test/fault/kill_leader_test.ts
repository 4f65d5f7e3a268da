import assert from "node:assert/strict";
import { TestServer } from "../_nats_server.ts";
import { kill, Load, node, report, Watch } from "./_fault.ts";

Deno.test("fault - kill -9 the leading scheduler with a follower running: the follower takes over within 2 s, every task ends exactly once", async () => {
  await using server = await TestServer.start();
  await using watch = await Watch.start(server.url);
  // Default lease timings: the figure reported is what a deployment gets.
  const env = { TASK_SCHEDULER_LEASE_MS: "1500" };
  const s1 = await node(server.url, ["--role", "scheduler", "--node-id", "s1"], env);
  await watch.next((e) => e.body.role === "leader" && String(e.body.id).startsWith("s1-"));
  const s2 = await node(server.url, ["--role", "scheduler", "--node-id", "s2"], env);
  const w1 = await node(server.url, [
    "--role",
    "worker",
    "--node-id",
    "w1",
    "--workers",
    "2",
    "--concurrency",
    "8",
  ]);
  await using load = await Load.start(server.url);
  try {
    const submitting = load.submit("kl", 300, (i) => ({ payload: { ms: 100 + (i % 5) * 50 } }));
    await load.until(40);
    const killedAt = Date.now();
    await kill(s1);
    const took = await watch.next(
      (e) => e.body.role === "leader" && String(e.body.id).startsWith("s2-"),
      killedAt,
    );
    const ready = await watch.next(
      (e) => e.body.ready === true && String(e.body.id).startsWith("s2-"),
      killedAt,
    );
    await submitting;
    const firstAfter = Date.now();
    const { states, results } = await load.verify();
    assert.deepEqual(states, { succeeded: load.accepted.length });
    // submittedAt is when the stream stored the submission, whichever leader finished it.
    const rewritten = [...results.values()].filter((r) =>
      Date.parse(r.submittedAt!) > load.ackedAt.get(r.id)!
    ).map((r) => `${r.id}: stored by ${load.ackedAt.get(r.id)}, submittedAt ${r.submittedAt}`);
    assert.deepEqual(rewritten, [], "submittedAt after the submission's ack");
    assert.equal(Number(took.body.epoch), 2);
    const takeoverMs = took.at - killedAt;
    assert.ok(takeoverMs <= 2_500, `takeover took ${takeoverMs} ms`);
    report("kill -9 leader", {
      tasks: load.accepted.length,
      lost: 0,
      duplicates: 0,
      takeoverMs,
      dispatchingAgainMs: ready.at - killedAt,
      drainAfterMs: Date.now() - firstAfter,
    });
  } finally {
    await kill(w1, "SIGTERM");
    await kill(s2, "SIGTERM");
    await kill(s1);
  }
});
