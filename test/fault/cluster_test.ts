/**
 * A node on a 3-node nats-server cluster (replicas 3) under a steady load of
 * acked submissions (200 a second) loses one server to SIGKILL. Every
 * accepted task must end exactly once, and the longest time without a result
 * after the kill must stay within what JetStream itself needs: a group whose
 * leader died gets a new one only after a follower's election timeout (4 to
 * 9 s in nats-server 2.9), and until TASKS, RESULTS, the scheduler's consumer
 * and the lease bucket all have leaders, results cannot flow. So the gap may
 * not exceed the last such election (seen in the JetStream advisories) by
 * more than {@link OVERHEAD_MS}, and is under 5 s when the server led none of
 * them. See docs/ARCHITECTURE.md, "Failover in a NATS cluster".
 */

import assert from "node:assert/strict";
import type { NodeProcess } from "../_cluster.ts";
import { TestCluster } from "../_nats_server.ts";
import { DATA_PATH, Elections, PacedLoad, settledLeaders } from "./_failover.ts";
import { FULL, kill, node, report } from "./_fault.ts";

/** What the node may add to JetStream's own elections before results flow again. */
const OVERHEAD_MS = 3_000;
/** The target, met whenever no group on the data path lost its leader. */
const NO_ELECTION_MS = 5_000;
const RATE = 200;
const BEFORE_MS = 4_000;
const AFTER_MS = 20_000;

Deno.test({
  name:
    "fault - 3-node cluster, replicas 3, steady acked load: kill -9 the node's own server; every task once, results stall no longer than JetStream's elections",
  ignore: !FULL,
  // The node's connection fails over as well; deliveries in flight on it are lost and come back.
  fn: () => loseOneServer("connected", (_leaders, nodeOn) => nodeOn),
});

Deno.test({
  name:
    "fault - 3-node cluster, replicas 3, steady acked load: kill -9 the lease bucket's leader; every task once, results stall no longer than JetStream's elections",
  ignore: !FULL,
  // The leader cannot renew until the bucket has a leader again: it pauses, then leads on.
  fn: () => loseOneServer("lease leader", (leaders) => leaders["KV_sched_lease"]),
});

Deno.test({
  name:
    "fault - 3-node cluster, replicas 3, steady acked load: kill -9 the TASKS stream's leader; every task once, results stall no longer than JetStream's elections",
  ignore: !FULL,
  fn: () => loseOneServer("TASKS leader", (leaders) => leaders["TASKS"]),
});

/** Steady load, SIGKILL the server `pick` names, measure the stall, verify exactly once. */
async function loseOneServer(
  which: string,
  pick: (leaders: Record<string, number>, nodeOn: number) => number,
): Promise<void> {
  const startedAt = Date.now();
  await using cluster = await TestCluster.start(3);
  const readyMs = await cluster.waitForJetStream();
  const n1 = await node(cluster.urls, ["--node-id", "r1", "--workers", "2", "--concurrency", "8"], {
    TASK_SCHEDULER_REPLICAS: "3",
  });
  let load: PacedLoad | undefined;
  let elections: Elections | undefined;
  try {
    await n1.waitFor("became the leading scheduler", 30_000);
    const leaders = await settledLeaders(cluster);
    const nodeOn = connectedServer(n1, cluster);
    const victim = pick(leaders, nodeOn);
    assert.ok(victim >= 0, `no server to kill: ${JSON.stringify(leaders)}`);
    const led = DATA_PATH.filter((g) => leaders[g] === victim);
    // Load and observers talk to a server that stays: what they see is the node's failover.
    const survivor = cluster.servers[(victim + 1) % 3].url;
    elections = await Elections.start(survivor);
    load = await PacedLoad.start(survivor, RATE, "r3");
    await new Promise((r) => setTimeout(r, BEFORE_MS));

    const killedAt = Date.now();
    await cluster.servers[victim].stop("SIGKILL");
    // A node that exits has no service manager here to restart it: fail at once, saying why.
    const exited = watchExit(n1, killedAt, victim);
    await Promise.race([new Promise((r) => setTimeout(r, AFTER_MS)), exited.failed]);
    await Promise.race([load.stop(), exited.failed]);
    const gap = load.longestGap(killedAt, killedAt + AFTER_MS);
    const elected = elections.after(killedAt);
    const floor = Math.max(0, ...led.map((g) => elected[g] ?? AFTER_MS));

    // Exactly once: every accepted task has one stored result; nobody heard one twice. Deliveries
    // lost with the node's connection come back after the consumer's ack wait (30 s).
    const unheard = await Promise.race([load.settle(60_000), exited.failed]);
    const unstored = await load.unstored(unheard);
    exited.done();
    assert.deepEqual(unstored, [], `${unstored.length} accepted tasks have no stored result`);
    // Heard twice: only as JetStream's republish of the one stored result, and only when the
    // results stream lost its leader. nats-server republishes from whichever replica leads when
    // it applies a message: an old leader that applied a result, then died, and the new leader
    // applying the same entry in its own term both send it (docs/ARCHITECTURE.md, Guarantees).
    const twice = load.duplicates();
    const said = n1.log.filter((l) => twice.some((id) => l.includes(`"${id}"`)));
    const copies = Object.fromEntries(twice.map((id) => [id, load!.copies.get(id)]));
    const why = `results heard twice (Nats-Sequence of each copy): ${JSON.stringify(copies)}; ` +
      `the node's log of them:\n${said.join("\n")}`;
    assert.deepEqual(load.distinctCopies(), [], why);
    if (!led.includes("RESULTS")) assert.deepEqual(twice, [], why);
    assert.ok(!n1.log.some((l) => l.includes("root supervisor")), "no escalation");

    report(`3-node cluster loses a server (${which})`, {
      accepted: load.accepted.size,
      unheardButStored: unheard.length,
      lost: 0,
      republishedTwice: twice.length,
      killed: `n${victim}`,
      nodeOn: `n${nodeOn}`,
      victimLed: led.join(",") || "none",
      elected: JSON.stringify(elected),
      floorMs: floor,
      longestGapMs: gap.ms,
      gapFromMs: gap.startMs,
      gapToMs: gap.endMs,
      overJetStreamMs: gap.ms - floor,
      paused: loggedAfter(n1.log, "paused as leader", killedAt),
      leadingOnAfterMs: loggedAfter(n1.log, "lease renewed again", killedAt),
      newTermAfterMs: loggedAfter(n1.log, "became the leading scheduler", killedAt),
      jetStreamReadyMs: readyMs,
      totalMs: Date.now() - startedAt,
    });
    if (led.length === 0) {
      assert.ok(gap.ms < NO_ELECTION_MS, `no election on the data path, yet ${gap.ms} ms`);
    } else {
      assert.ok(
        gap.ms <= floor + OVERHEAD_MS,
        `results stalled ${gap.ms} ms; JetStream elected the last of ${led} after ${floor} ms`,
      );
    }
  } finally {
    await load?.close();
    await elections?.close();
    await kill(n1, "SIGTERM");
  }
}

/** Rejects if the node exits before `done()`, with the tail of its log. */
function watchExit(p: NodeProcess, killedAt: number, victim: number) {
  let done = false;
  const failed = p.exited.then((s): Promise<never> => {
    if (done) return new Promise<never>(() => {});
    throw new Error(
      `the node exited with ${s.code} ${Date.now() - killedAt} ms after n${victim} was killed; ` +
        `log:\n${p.log.slice(-12).join("\n")}`,
    );
  });
  return { failed, done: () => void (done = true) };
}

/** Which server the node logged `connected to NATS ... server=host:port` for. */
function connectedServer(p: NodeProcess, cluster: TestCluster): number {
  const line = p.log.find((l) => l.includes("connected to NATS"));
  const port = Number(line?.match(/server=[^ :]+:(\d+)/)?.[1]);
  const i = cluster.servers.findIndex((s) => s.port === port);
  assert.ok(i >= 0, `no server for the node's log line: ${line}`);
  return i;
}

/** Milliseconds from `since` to the first node log line after it that contains `text`. */
function loggedAfter(log: string[], text: string, since: number): number | "never" {
  for (const l of log) {
    if (!l.includes(text)) continue;
    const at = Date.parse(l.match(/^\[([^\]]+)\]/)?.[1] ?? "");
    if (at >= since) return at - since;
  }
  return "never";
}
