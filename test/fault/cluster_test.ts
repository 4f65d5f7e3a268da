import assert from "node:assert/strict";
import { connectNats } from "../../src/mod.ts";
import { TestCluster } from "../_nats_server.ts";
import { FULL, kill, Load, node, report } from "./_fault.ts";

Deno.test({
  name:
    "fault - a 3-node nats-server cluster with replicas 3 loses one node mid-run: every task ends exactly once",
  ignore: !FULL,
  async fn() {
    const startedAt = Date.now();
    await using cluster = await TestCluster.start(3);
    const readyMs = await waitForJetStream(cluster);
    const n1 = await node(
      cluster.urls,
      ["--node-id", "r1", "--workers", "2", "--concurrency", "4"],
      {
        TASK_SCHEDULER_REPLICAS: "3",
      },
    );
    await using load = await Load.start(cluster.urls);
    const arrived: number[] = [];
    load.client.onResult((_r, at) => arrived.push(at));
    try {
      await load.submit("r3", 150, (i) => ({ payload: { ms: 100 + (i % 3) * 50 } }));
      await load.until(30);
      // The harder case: the server the node talks to, so it has to fail over as well.
      const victim = connectedServer(n1.log, cluster);
      const leaders = streamLeaders(cluster);
      const killedAt = Date.now();
      await cluster.servers[victim].stop("SIGKILL");
      const { states } = await load.verify();
      assert.deepEqual(states, { succeeded: 150 });
      assert.ok(!n1.log.some((l) => l.includes("root supervisor")), "no escalation");
      const after = arrived.filter((t) => t >= killedAt);
      const gaps = after.map((t, i) => t - (i ? after[i - 1] : killedAt));
      report("3-node cluster loses a server", {
        tasks: 150,
        lost: 0,
        duplicates: 0,
        killed: `n${victim}`,
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
  },
});

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

/** The stream leaders as the servers logged them (each new leader logs itself). */
function streamLeaders(cluster: TestCluster): Record<string, string> {
  const out: Record<string, string> = {};
  const names = { TASKS: "tasksLeader", RESULTS: "resultsLeader", KV_sched_lease: "leaseLeader" };
  cluster.servers.forEach((s, i) => {
    const text = readLog(s.dir);
    for (const [stream, key] of Object.entries(names)) {
      if (text.includes(`new stream leader for '$G > ${stream}'`)) out[key] = `n${i}`;
    }
    const meta = text.match(/new metadata leader: (\w+)\//g)?.at(-1);
    if (meta) out.metaLeader = meta.replace(/.*: (\w+)\//, "$1");
  });
  return out;
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
