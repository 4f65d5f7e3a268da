import assert from "node:assert/strict";
import { TestServer } from "../_nats_server.ts";
import { FULL, kill, Load, node, report, requeuedFrom, Watch, worker } from "./_fault.ts";
import { TcpProxy } from "./_proxy.ts";

/** Every twelfth task sleeps 3 s: long enough to be cut off mid-run on w1. */
const LONG_MS = 3_000;
const isLong = (i: number) => i % 12 === 0;

Deno.test({
  name:
    "fault - partition a worker from NATS and heal it: its task is re-run elsewhere and its late result is fenced",
  ignore: !FULL,
  async fn() {
    await using server = await TestServer.start();
    await using proxy = TcpProxy.start({ port: server.port });
    await using watch = await Watch.start(server.url);
    const sched = await node(server.url, ["--role", "scheduler", "--node-id", "s1"]);
    const w1 = await node(proxy.url, worker("w1", 1, 2));
    const w2 = await node(server.url, worker("w2", 1, 4));
    await using load = await Load.start(server.url);
    const arrived = new Map<string, number>();
    load.client.onResult((r, at) => arrived.set(r.id, at));
    try {
      const submitting = load.submit(
        "pt",
        240,
        (i) =>
          isLong(i)
            ? { payload: { ms: LONG_MS }, timeoutMs: 60_000 }
            : { payload: { ms: 100 + (i % 4) * 50 } },
      );
      // Cut w1 off while it runs a long task: its handler goes on, its words go nowhere.
      const running = await watch.next((e) =>
        e.subject === `monitor.task.${e.body.id}` && e.body.state === "running" &&
        String(e.body.worker).startsWith("w1/") && isLong(Number(String(e.body.id).slice(3)))
      );
      const before = watch.events.filter((e) => e.subject === "monitor.worker.w1").at(-1);
      assert.ok(before, "w1 published its status before the cut");
      const incarnation = Number(before.body.incarnation);
      const cutAt = Date.now();
      proxy.blackhole();

      const lost = await watch.next(
        (e) => e.body.event === "node-lost" && e.body.node === "w1",
        cutAt,
        10_000,
      );
      const requeued = requeuedFrom(watch, "w1/", cutAt, lost.at);
      assert.equal(requeued.length, Number(lost.body.requeued), "requeued deltas match node-lost");
      assert.ok(
        requeued.includes(String(running.body.id)),
        "the long task cut mid-run is requeued",
      );

      // Re-run on w2 (the only node left); w1's handler finishes meanwhile, unheard.
      const reruns = await Promise.all(requeued.map((id) => load.client.result(id, 20_000)));
      for (const r of reruns) {
        assert.equal(r.state, "succeeded", `${r.id}: ${JSON.stringify(r.error)}`);
        assert.ok(r.worker?.startsWith("w2/"), `${r.id} re-ran on ${r.worker}, not on w2`);
      }
      const firstRerunAt = Math.min(...requeued.map((id) => arrived.get(id)!));
      // Heal only once w1's own run of the long task has ended: its outcome waits in w1's outbox.
      const w1Done = running.at + LONG_MS + 500;
      if (Date.now() < w1Done) await new Promise((r) => setTimeout(r, w1Done - Date.now()));

      const healAt = Date.now();
      proxy.heal();
      // w1's outbox still holds the outcome of the abandoned run: fenced, never applied.
      const stale = await watch.next(
        (e) =>
          e.subject.startsWith("monitor.scheduler.") && e.body.event === "stale" &&
          e.body.node === "w1",
        healAt,
        30_000,
      );
      assert.equal(stale.body.why, "node was declared lost");
      assert.equal(Number(stale.body.incarnation), incarnation);
      assert.ok(Number(stale.body.reports) >= 1, "the late outcome was among the stale reports");
      const rejoined = await watch.next(
        (e) =>
          e.subject === "monitor.worker.w1" && e.body.state === "up" &&
          Number(e.body.incarnation) !== incarnation,
        healAt,
        30_000,
      );
      await w1.waitFor("this node was fenced by the scheduler", 5_000);

      await submitting;
      // After rejoining, w1 takes work again.
      await load.submit("pt-after", 30, () => ({ payload: { ms: 200 } }));
      const { states, results } = await load.verify();
      assert.deepEqual(states, { succeeded: load.accepted.length });
      const after = [...results.values()].filter((r) => r.id.startsWith("pt-after-"));
      assert.ok(after.some((r) => r.worker?.startsWith("w1/")), "w1 runs tasks after rejoining");

      report("partition worker + heal", {
        tasks: load.accepted.length,
        lost: 0,
        duplicates: 0,
        requeued: requeued.length,
        cutToNodeLostMs: lost.at - cutAt,
        cutToFirstRerunResultMs: firstRerunAt - cutAt,
        cutToLastRerunResultMs: Math.max(...requeued.map((id) => arrived.get(id)!)) - cutAt,
        healToStaleMs: stale.at - healAt,
        staleReports: stale.body.reports,
        healToNewIncarnationMs: rejoined.at - healAt,
        droppedBytes: proxy.dropped,
        proxyConnections: proxy.accepted,
      });
    } finally {
      await kill(w2, "SIGTERM");
      await kill(sched, "SIGTERM");
      await kill(w1);
    }
  },
});
