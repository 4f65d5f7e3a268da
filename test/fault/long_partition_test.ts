/**
 * Cuts longer than nats.js's stale-connection detection (a ping every 10 s,
 * three unanswered: the client gives up on the socket 30–40 s into a silent
 * cut and reconnects, through the still-dead proxy, until the heal). The
 * process comes back on a new connection, not the one it was cut on.
 */

import assert from "node:assert/strict";
import type { TaskResult } from "../../src/internal_mod.ts";
import { TestServer } from "../_nats_server.ts";
import { FULL, kill, Load, loggedAt, node, report, requeuedFrom, Watch, worker } from "./_fault.ts";
import { TcpProxy } from "./_proxy.ts";

const CUT_MS = 45_000;
/** Every twelfth task sleeps 3 s: long enough to be cut off mid-run. */
const LONG_MS = 3_000;
const isLong = (i: number) => i % 12 === 0;
const body = (i: number) =>
  isLong(i)
    ? { payload: { ms: LONG_MS }, timeoutMs: 60_000 }
    : { payload: { ms: 100 + (i % 4) * 50 } };
const indexOf = (id: unknown) => Number(String(id).split("-").at(-1));

/** Wait out the rest of the cut. */
async function until(at: number): Promise<void> {
  if (Date.now() < at) await new Promise((r) => setTimeout(r, at - Date.now()));
}

Deno.test({
  name:
    "fault - cut a worker off NATS for 45 s (past stale-connection detection) and heal: its tasks re-run elsewhere, its late results are fenced, it rejoins",
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
      const submitting = load.submit("lpw", 240, body);
      const running = await watch.next((e) =>
        e.subject === `monitor.task.${e.body.id}` && e.body.state === "running" &&
        String(e.body.worker).startsWith("w1/") && isLong(indexOf(e.body.id))
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
      const reruns = await Promise.all(requeued.map((id) => load.client.result(id, 20_000)));
      for (const r of reruns) {
        assert.equal(r.state, "succeeded", `${r.id}: ${JSON.stringify(r.error)}`);
        assert.ok(r.worker?.startsWith("w2/"), `${r.id} re-ran on ${r.worker}, not on w2`);
      }
      // The cut outlasts nats.js's ping-based detection: w1 drops the dead socket itself.
      await w1.waitFor("NATS connection lost", CUT_MS);
      const staleAt = loggedAt(w1.log, "NATS connection lost", cutAt)!;
      assert.ok(staleAt - cutAt >= 25_000, `w1 dropped its socket after ${staleAt - cutAt} ms`);
      await until(cutAt + CUT_MS);

      const healAt = Date.now();
      proxy.heal();
      await w1.waitFor("NATS connection back", 20_000);
      // Outcomes of the abandoned runs waited in w1's outbox for 45 s: fenced, never applied.
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
      await load.submit("lpw-after", 30, () => ({ payload: { ms: 200 } }));
      const { states, results } = await load.verify();
      assert.deepEqual(states, { succeeded: load.accepted.length });
      const after = [...results.values()].filter((r) => r.id.startsWith("lpw-after-"));
      assert.ok(after.some((r) => r.worker?.startsWith("w1/")), "w1 runs tasks after rejoining");
      assert.ok(!w1.log.some((l) => l.includes("root supervisor")), "no escalation on w1");

      report("45 s cut of a worker + heal", {
        tasks: load.accepted.length,
        lost: 0,
        duplicates: 0,
        requeued: requeued.length,
        cutToNodeLostMs: lost.at - cutAt,
        cutToLastRerunResultMs: Math.max(...requeued.map((id) => arrived.get(id)!)) - cutAt,
        cutToStaleConnectionMs: staleAt - cutAt,
        healToReconnectMs: loggedAt(w1.log, "NATS connection back", cutAt)! - healAt,
        healToStaleMs: stale.at - healAt,
        staleReports: stale.body.reports,
        healToNewIncarnationMs: rejoined.at - healAt,
        proxyConnections: proxy.accepted,
      });
    } finally {
      await kill(w2, "SIGTERM");
      await kill(sched, "SIGTERM");
      await kill(w1);
    }
  },
});

Deno.test({
  name:
    "fault - cut the leading scheduler off NATS for 45 s while it holds running tasks, then heal: it stops acting, the standby takes over and adopts them, the old leader steps down and rejoins as a standby",
  ignore: !FULL,
  async fn() {
    await using server = await TestServer.start();
    await using proxy = TcpProxy.start({ port: server.port });
    await using watch = await Watch.start(server.url);
    const isLeader = (who: string) => (e: Watch["events"][number]) =>
      e.subject.startsWith("monitor.scheduler.") && e.body.role === "leader" &&
      String(e.body.id).startsWith(`${who}-`);
    const s1 = await node(proxy.url, ["--role", "scheduler", "--node-id", "s1"]);
    const led = await watch.next(isLeader("s1"));
    const s2 = await node(server.url, ["--role", "scheduler", "--node-id", "s2"]);
    const w1 = await node(server.url, worker("w1", 2, 4));
    await using load = await Load.start(server.url);
    const arrived = new Map<string, number>();
    load.client.onResult((r, at) => arrived.set(r.id, at));
    try {
      const submitting = load.submit("lps", 240, body);
      // Cut s1 while long tasks it dispatched run.
      await watch.next((e) =>
        e.subject === `monitor.task.${e.body.id}` && e.body.state === "running" &&
        isLong(indexOf(e.body.id))
      );
      const cutAt = Date.now();
      proxy.blackhole();
      const last = new Map<string, Record<string, unknown>>();
      for (const e of watch.events) {
        if (e.subject.startsWith("monitor.task.")) last.set(String(e.body.id), e.body);
      }
      const runningAtCut = [...last.values()].filter((b) => b.state === "running").map((b) =>
        String(b.id)
      );
      assert.ok(runningAtCut.length > 0, "s1 held running tasks at the cut");

      // s1 cannot renew: it stops acting (pauses) before s2 may take over, and s2 does, one epoch on.
      await s1.waitFor("paused as leader", 10_000);
      const took = await watch.next(isLeader("s2"), cutAt, 10_000);
      assert.equal(Number(took.body.epoch), Number(led.body.epoch) + 1);
      const ready = await watch.next(
        (e) => e.body.ready === true && String(e.body.id).startsWith("s2-"),
        cutAt,
        10_000,
      );
      const pausedAt = loggedAt(s1.log, "paused as leader", cutAt)!;
      const tookAt = loggedAt(s2.log, "became the leading scheduler", cutAt)!;
      assert.ok(
        pausedAt < tookAt,
        `s1 stopped acting ${pausedAt - cutAt} ms after the cut, s2 led after ${tookAt - cutAt} ms`,
      );
      // The tasks running at the cut go on where they run: the new leader adopts them.
      const atCut = await Promise.all(runningAtCut.map((id) => load.client.result(id, 20_000)));
      for (const r of atCut) {
        assert.equal(r.state, "succeeded", `${r.id}: ${JSON.stringify(r.error)}`);
        assert.ok(
          Date.parse(r.startedAt!) < cutAt,
          `${r.id} started again at ${r.startedAt}, after the cut`,
        );
      }
      const adopted = watch.events.filter((e) =>
        e.at >= cutAt && e.subject.startsWith("monitor.task.") && e.body.adopted === true
      ).length;

      await s1.waitFor("NATS connection lost", CUT_MS);
      const staleAt = loggedAt(s1.log, "NATS connection lost", cutAt)!;
      assert.ok(staleAt - cutAt >= 25_000, `s1 dropped its socket after ${staleAt - cutAt} ms`);
      await until(cutAt + CUT_MS);
      for (const line of ["became the leading scheduler", "lease renewed again"]) {
        assert.equal(loggedAt(s1.log, line, cutAt), undefined, `s1 logged "${line}" while cut`);
      }

      const healAt = Date.now();
      proxy.heal();
      await s1.waitFor("NATS connection back", 20_000);
      const backAt = loggedAt(s1.log, "NATS connection back", cutAt)!;
      // Back, s1 tries to renew its own lease and finds s2's: it is fenced off for good.
      await s1.waitFor("stepped down as leader", 10_000);
      const steppedDownAt = loggedAt(s1.log, "stepped down as leader", cutAt)!;
      assert.ok(
        s1.log.some((l) =>
          l.includes("stepped down as leader") && l.includes("took the lease over")
        ),
        "s1 stepped down because s2 holds the lease",
      );
      await submitting;
      await load.until(load.accepted.length, 60_000);

      // s1 is a standby now: stop s2 (it hands the lease over), s1 leads again and work goes on.
      const handoverAt = Date.now();
      await kill(s2, "SIGTERM");
      const again = await watch.next(isLeader("s1"), handoverAt, 10_000);
      assert.equal(Number(again.body.epoch), Number(took.body.epoch) + 1);
      assert.equal(
        loggedAt(s1.log, "became the leading scheduler", cutAt),
        loggedAt(s1.log, "became the leading scheduler", handoverAt),
        "s1 did not lead between the heal and the handover",
      );
      await load.submit("lps-after", 30, () => ({ payload: { ms: 200 } }));
      const { states, results } = await load.verify();
      assert.deepEqual(states, { succeeded: load.accepted.length });
      const leaders = watch.events.filter((e) =>
        e.subject.startsWith("monitor.scheduler.") && e.body.role === "leader" &&
        e.body.ready !== true
      ).map((e) =>
        `${String(e.body.id).slice(0, 2)}@${e.body.epoch}`
      );
      assert.deepEqual(leaders, [
        `s1@${led.body.epoch}`,
        `s2@${took.body.epoch}`,
        `s1@${again.body.epoch}`,
      ]);
      for (const p of [s1, s2]) {
        assert.ok(!p.log.some((l) => l.includes("root supervisor")), "no escalation");
      }
      const reran = [...results.values()].filter((r: TaskResult) =>
        runningAtCut.includes(r.id) && (r.attempts ?? 1) > 1
      );

      report("45 s cut of the leading scheduler + heal", {
        tasks: load.accepted.length,
        lost: 0,
        duplicates: 0,
        runningAtCut: runningAtCut.length,
        adopted,
        reranAtCut: reran.length,
        cutToPauseMs: pausedAt - cutAt,
        cutToTakeoverMs: tookAt - cutAt,
        cutToDispatchingMs: ready.at - cutAt,
        cutToStaleConnectionMs: staleAt - cutAt,
        healToReconnectMs: backAt - healAt,
        healToStepDownMs: steppedDownAt - healAt,
        handoverToLeadingMs: again.at - handoverAt,
        proxyConnections: proxy.accepted,
      });
    } finally {
      await kill(w1, "SIGTERM");
      await kill(s2, "SIGTERM");
      await kill(s1, "SIGTERM");
    }
  },
});
