import assert from "node:assert/strict";
import { connectNats } from "../../src/mod.ts";
import { TestCluster } from "../_nats_server.ts";
import { FULL, kill, Load, node, report } from "./_fault.ts";

Deno.test({
  name:
    "fault - a 3-node nats-server cluster with replicas 3 loses one node mid-run: every task ends exactly once",
  ignore: !FULL,
  // The server the node talks to: the node's connection has to fail over as well.
  fn: () => loseOneServer("connected", (log, cluster, _leaders) => connectedServer(log, cluster)),
});

Deno.test({
  name:
    "fault - a 3-node nats-server cluster with replicas 3 loses the server leading the lease bucket: every task ends exactly once",
  ignore: !FULL,
  // The lease bucket's stream has no leader until the two others elect one.
  fn: () =>
    loseOneServer("lease leader", (_log, cluster, leaders) => {
      const i = cluster.servers.findIndex((_, j) => leaders.leaseLeader === `n${j}`);
      assert.ok(i >= 0, `no server logged leading KV_sched_lease: ${JSON.stringify(leaders)}`);
      return i;
    }),
});

/** Run 150 tasks on an R3 cluster, SIGKILL the server `pick` names after 30 results, verify. */
async function loseOneServer(
  which: string,
  pick: (log: string[], cluster: TestCluster, leaders: Record<string, string>) => number,
): Promise<void> {
  const startedAt = Date.now();
  await using cluster = await TestCluster.start(3);
  const readyMs = await waitForJetStream(cluster);
  const n1 = await node(cluster.urls, ["--node-id", "r1", "--workers", "2", "--concurrency", "4"], {
    TASK_SCHEDULER_REPLICAS: "3",
  });
  await using load = await Load.start(cluster.urls);
  const arrived: number[] = [];
  load.client.onResult((_r, at) => arrived.push(at));
  try {
    await load.submit("r3", 150, (i) => ({ payload: { ms: 100 + (i % 3) * 50 } }));
    await load.until(30);
    const leaders = streamLeaders(cluster);
    const victim = pick(n1.log, cluster, leaders);
    const connected = connectedServer(n1.log, cluster);
    const killedAt = Date.now();
    await cluster.servers[victim].stop("SIGKILL");
    // A node that exits has no service manager here to restart it: fail at once, saying why.
    let verified = false; // then its exit (our SIGTERM) is no failure
    const exited = n1.exited.then((s): Promise<never> => {
      if (verified) return new Promise<never>(() => {});
      throw new Error(
        `the node exited with ${s.code} ${Date.now() - killedAt} ms after n${victim} was killed ` +
          `(${JSON.stringify(leaders)}, node on n${connected}); log:\n${
            n1.log.slice(-12).join("\n")
          }`,
      );
    });
    let states;
    try {
      ({ states } = await Promise.race([load.verify(), exited]));
    } finally {
      verified = true;
    }
    assert.deepEqual(states, { succeeded: 150 });
    assert.ok(!n1.log.some((l) => l.includes("root supervisor")), "no escalation");
    const after = arrived.filter((t) => t >= killedAt);
    const gaps = after.map((t, i) => t - (i ? after[i - 1] : killedAt));
    report(`3-node cluster loses a server (${which})`, {
      tasks: 150,
      lost: 0,
      duplicates: 0,
      killed: `n${victim}`,
      nodeOn: `n${connected}`,
      ...leaders,
      jetStreamReadyMs: readyMs,
      nextResultAfterKillMs: after.length ? after[0] - killedAt : "none",
      longestResultGapMs: Math.max(0, ...gaps),
      steppedDownAfterKillMs: loggedAfter(n1.log, "stepped down as leader", killedAt),
      leadingAgainAfterKillMs: loggedAfter(n1.log, "became the leading scheduler", killedAt),
      lastResultAfterKillMs: (arrived.at(-1) ?? killedAt) - killedAt,
      totalMs: Date.now() - startedAt,
    });
  } finally {
    await kill(n1, "SIGTERM");
  }
}

/**
 * Wait until the cluster can place a replicas-3 stream: a meta leader is
 * elected and every server takes part. Until then a JetStream request may go
 * unanswered, and `connectNats` waits out its API timeout (5 s) for it.
 */
async function waitForJetStream(cluster: TestCluster, timeoutMs = 30_000): Promise<number> {
  const t0 = Date.now();
  const urls = cluster.urls;
  // Cheap first: every server has seen a meta leader (asking earlier costs a 5 s timeout).
  while (!cluster.servers.every((s) => readLog(s.dir).includes("metadata leader"))) {
    if (Date.now() - t0 > timeoutMs) {
      const tails = cluster.servers.map((s) =>
        `${s.url}:\n${readLog(s.dir).trim().split("\n").slice(-8).join("\n")}`
      );
      throw new Error(`no JetStream meta leader within ${timeoutMs} ms\n${tails.join("\n")}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  let last: unknown;
  while (Date.now() - t0 < timeoutMs) {
    try {
      const t = await connectNats({ servers: urls, name: "js-ready", timeoutMs: 1_000 });
      try {
        await t.ensureStreams([{
          name: "READY_R3",
          subjects: ["ready.r3"],
          retention: "limits",
          replicas: 3,
        }]);
        return Date.now() - t0;
      } finally {
        await t.close();
      }
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`JetStream never placed a replicas-3 stream within ${timeoutMs} ms: ${last}`);
}

/** Which server the node logged `connected to NATS ... server=host:port` for. */
function connectedServer(log: string[], cluster: TestCluster): number {
  const line = log.find((l) => l.includes("connected to NATS"));
  const port = Number(line?.match(/server=[^ :]+:(\d+)/)?.[1]);
  const i = cluster.servers.findIndex((s) => s.port === port);
  assert.ok(i >= 0, `no server for the node's log line: ${line}`);
  return i;
}

/**
 * The stream leaders and the meta leader as the servers logged them: a server
 * logs becoming a stream's leader itself, so the latest such line names it.
 */
function streamLeaders(cluster: TestCluster): Record<string, string> {
  const names: Record<string, string> = {
    TASKS: "tasksLeader",
    RESULTS: "resultsLeader",
    KV_sched_lease: "leaseLeader",
  };
  const latest: Record<string, { at: string; who: string }> = {};
  const see = (key: string, at: string, who: string) => {
    if (!latest[key] || at > latest[key].at) latest[key] = { at, who };
  };
  cluster.servers.forEach((s, i) => {
    for (const line of readLog(s.dir).split("\n")) {
      const at = line.match(/^\[\d+\] (\S+ \S+)/)?.[1];
      if (!at) continue;
      const stream = line.match(/new stream leader for '\$G > (\w+)'/)?.[1];
      if (stream && names[stream]) see(names[stream], at, `n${i}`);
      if (line.includes("Self is new JetStream cluster metadata leader")) {
        see("metaLeader", at, `n${i}`);
      }
    }
  });
  return Object.fromEntries(Object.entries(latest).map(([k, v]) => [k, v.who]));
}

function readLog(dir: string): string {
  try {
    return Deno.readTextFileSync(`${dir}/server.log`);
  } catch (err) {
    // Not written yet.
    if (err instanceof Deno.errors.NotFound) return "";
    throw err;
  }
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
