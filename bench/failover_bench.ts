/**
 * Failover of a 3-node NATS cluster, measured: a node (scheduler and
 * workers) on a replicas-3 cluster takes acked submissions at a steady rate;
 * one server is killed with SIGKILL; the longest gap between results after
 * the kill is what a client sees. Alongside: when the JetStream advisories
 * said each stream and consumer had a new leader, what the node logged
 * (connection lost and back, lease, consumer resets), and the first result.
 *
 * `deno run -A --unstable-worker-options bench/failover_bench.ts [--runs 5]
 * [--kill tasks|results|consumer|lease|meta|none|own|any] [--rate 200] [--after 20]`
 *
 * `--kill tasks` kills the server leading the TASKS stream (`results`,
 * `consumer`: the scheduler's, `lease`: the lease bucket, `meta`: the
 * JetStream meta group), `none` the one leading the fewest of those, `own`
 * the one the node is connected to. Prints one line per run (with the node's
 * log lines about the failover) and a summary; never fails on time. Not part
 * of `deno task bench`: each run starts a cluster and takes about a minute.
 *
 * @module
 */

import { serverLog, TestCluster } from "../test/_nats_server.ts";
import { startNodeProcess } from "../test/_cluster.ts";
import { Elections, PacedLoad, settledLeaders } from "../test/fault/_failover.ts";

/** One run's figures. */
export interface FailoverRun {
  kill: string;
  victim: string;
  /** What the victim led: TASKS, RESULTS, lease, consumer, meta. */
  led: string[];
  nodeOn: string;
  firstResultMs: number | null;
  longestGapMs: number;
  /** The gap's start and end, ms after the kill. */
  gapFromMs: number;
  gapToMs: number;
  /** ms after the kill at which the advisories named new leaders. */
  elected: Record<string, number>;
  /** Node log lines after the kill, as `+ms text`. */
  log: string[];
  accepted: number;
  results: number;
  duplicates: number;
}

interface Options {
  runs: number;
  kill: string;
  rate: number;
  beforeS: number;
  afterS: number;
  env: Record<string, string>;
  quiet?: boolean;
}

const RELEVANT =
  /lease|leader|stepped|connection|consumer|retrying|failed|escalat|restart|lost|error/i;

/** Run `runs` failovers; print and return their figures. */
export async function run(o: Partial<Options> = {}): Promise<FailoverRun[]> {
  const opts: Options = {
    runs: 5,
    kill: "tasks",
    rate: 200,
    beforeS: 6,
    afterS: 20,
    env: {},
    ...o,
  };
  const out: FailoverRun[] = [];
  for (let i = 0; i < opts.runs; i++) {
    let r: FailoverRun;
    try {
      r = await once(opts);
    } catch (err) {
      // A cluster that did not come up on a busy machine: say so, go on.
      console.log(
        `run ${i + 1} kill=${opts.kill} failed: ${(err as Error).message.split("\n")[0]}`,
      );
      continue;
    }
    out.push(r);
    if (!opts.quiet) {
      console.log(
        `run ${i + 1} kill=${r.kill} victim=${r.victim} led=[${r.led}] nodeOn=${r.nodeOn} ` +
          `first=${r.firstResultMs}ms longestGap=${r.longestGapMs}ms (+${r.gapFromMs}..+${r.gapToMs}) ` +
          `elected=${JSON.stringify(r.elected)} accepted=${r.accepted} results=${r.results} ` +
          `dup=${r.duplicates}`,
      );
      for (const l of r.log) console.log(`    ${l}`);
    }
  }
  const gaps = out.map((r) => r.longestGapMs).sort((a, b) => a - b);
  console.log(
    `kill=${opts.kill}: longest gap per run ${gaps.join(", ")} ms (max ${gaps.at(-1)} ms)`,
  );
  return out;
}

async function once(o: Options): Promise<FailoverRun> {
  await using cluster = await TestCluster.start(3);
  await cluster.waitForJetStream();
  const node = startNodeProcess(["--node-id", "r1", "--workers", "2", "--concurrency", "8"], {
    TASK_SCHEDULER_MESSAGE_BROKER: cluster.urls.join(","),
    TASK_SCHEDULER_REPLICAS: "3",
    TASK_SCHEDULER_HEARTBEAT_MS: "200",
    TASK_SCHEDULER_NODE_LOST_MS: "1000",
    TASK_SCHEDULER_LOG_LEVEL: "info",
    ...o.env,
  });
  let load: PacedLoad | undefined;
  let elections: Elections | undefined;
  try {
    await node.waitFor("node started", 60_000);
    await node.waitFor("became the leading scheduler", 30_000);
    const nodeOn = serverOf(node.log, cluster);
    const leaders: Record<string, number> = { ...await settledLeaders(cluster) };
    const meta = metaLeader(cluster);
    if (meta >= 0) leaders.meta = meta;
    const victim = pick(o.kill, leaders, nodeOn);
    const survivor = cluster.servers[(victim + 1) % 3].url;
    elections = await Elections.start(survivor);
    load = await PacedLoad.start(survivor, o.rate);
    await new Promise((r) => setTimeout(r, o.beforeS * 1_000));
    const killedAt = Date.now();
    const logFrom = node.log.length;
    await cluster.servers[victim].stop("SIGKILL");
    await new Promise((r) => setTimeout(r, o.afterS * 1_000));
    await load.stop();
    const missing = await load.settle(45_000);
    const gap = load.longestGap(killedAt, killedAt + o.afterS * 1_000);
    const after = load.arrivals.filter((t) => t >= killedAt);
    const log = node.log.slice(logFrom).filter((l) => RELEVANT.test(l)).slice(0, 40).map((l) => {
      const at = Date.parse(l.match(/^\[([^\]]+)\]/)?.[1] ?? "");
      return `${Number.isFinite(at) ? `+${at - killedAt}` : "?"} ${l.replace(/^\[[^\]]+\] /, "")}`
        .slice(0, 240);
    });
    if (missing.length) {
      const unstored = await load.unstored(missing);
      log.push(`not heard: ${missing.slice(0, 10).join(",")}; not stored: ${unstored.join(",")}`);
    }
    return {
      kill: o.kill,
      victim: `n${victim}`,
      led: Object.entries(leaders).filter(([, v]) => v === victim).map(([k]) => k),
      nodeOn: `n${nodeOn}`,
      firstResultMs: after.length ? after[0] - killedAt : null,
      longestGapMs: gap.ms,
      gapFromMs: gap.startMs,
      gapToMs: gap.endMs,
      elected: elections.after(killedAt),
      log,
      accepted: load.accepted.size,
      results: load.seen.size,
      duplicates: load.duplicates().length,
    };
  } finally {
    await load?.close();
    await elections?.close();
    node.kill("SIGKILL");
    await node.exited;
  }
}

function pick(kind: string, l: Record<string, number>, nodeOn: number): number {
  if (kind === "own") return nodeOn;
  if (kind === "any") return Math.floor(Math.random() * 3);
  if (kind === "none") {
    const counts = [0, 1, 2].map((i) => Object.values(l).filter((v) => v === i).length);
    return counts.indexOf(Math.min(...counts));
  }
  const key = ({
    tasks: "TASKS",
    results: "RESULTS",
    lease: "KV_sched_lease",
    consumer: "TASKS/scheduler",
  } as Record<string, string>)[kind] ?? kind;
  const i = l[key];
  if (i === undefined || i < 0) throw new Error(`nobody leads ${key}: ${JSON.stringify(l)}`);
  return i;
}

/** The meta leader as the servers logged it (the latest "Self is new ... metadata leader"). */
function metaLeader(cluster: TestCluster): number {
  let at = "", who = -1;
  cluster.servers.forEach((s, i) => {
    for (const line of serverLog(s.dir).split("\n")) {
      const t = line.match(/^\[\d+\] (\S+ \S+)/)?.[1];
      if (t && line.includes("Self is new JetStream cluster metadata leader") && t > at) {
        at = t;
        who = i;
      }
    }
  });
  return who;
}

function serverOf(log: string[], cluster: TestCluster): number {
  const line = log.find((l) => l.includes("connected to NATS"));
  const port = Number(line?.match(/server=[^ :]+:(\d+)/)?.[1]);
  return cluster.servers.findIndex((s) => s.port === port);
}

if (import.meta.main) {
  const args = Deno.args;
  const arg = (name: string, dflt: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : dflt;
  };
  await run({
    runs: Number(arg("runs", "5")),
    kill: arg("kill", "tasks"),
    rate: Number(arg("rate", "200")),
    afterS: Number(arg("after", "20")),
  });
}
