/**
 * The chaos soak: split roles (two schedulers, three worker processes) on a
 * nats-server of its own, a steady load of mixed tasks, and a fault injector
 * that kills, stops, cuts and restarts processes every few seconds; at the
 * end an independent checker, which reads only `tasks.result.>` and the
 * `RESULTS` stream, decides whether every acknowledged task ended exactly
 * once, no result came from nowhere, dependants waited for their
 * dependencies, and memory stayed bounded. Prints a one-screen summary and
 * exits 0 when every check holds, 1 otherwise.
 *
 * ```
 * deno task soak [--minutes 3] [--rate 100] [--seed N] [--rss-limit-mb 600]
 *                [--faults kill-worker,kill-leader,sigstop,restart-nats,cut]
 *                [--drain-seconds 120] [--report-dir .data/soak]
 * ```
 *
 * The run: start the cluster and the checker, offer the load, inject faults
 * for `--minutes`, then stop injecting (the fault in progress is healed),
 * stop the load (waiting for the PubAcks of what was sent), wait up to
 * `--drain-seconds` for every acknowledged task's result, read the stream,
 * check, and stop everything. A JSON report (faults, every problem found,
 * logs of the processes on failure) is written under `--report-dir`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { mintToken } from "../../src/internal_mod.ts";
import { SECRET } from "../../test/_cluster.ts";
import { Watch } from "../../test/fault/_fault.ts";
import { random } from "../_random.ts";
import { Checker, type StoredResults } from "./checker.ts";
import {
  checkDependencies,
  checkExactlyOnce,
  checkNoOrphans,
  type CheckOutcome,
  checkRss,
  checkSignatures,
} from "./checks.ts";
import { SoakCluster } from "./cluster.ts";
import {
  DEFAULT_INJECTOR,
  FAULT_KINDS,
  FaultInjector,
  type FaultKind,
  type FaultRecord,
} from "./faults.ts";
import { SoakLoad, type Submission } from "./load.ts";
import { RssSampler } from "./rss.ts";
import { summarize } from "./summary.ts";

const USAGE = `deno task soak [options]

  --minutes N         how long faults are injected (default 3)
  --rate R            tasks offered per second (default 100)
  --seed S            seed of the task mix and the faults (default: random, printed)
  --rss-limit-mb M    highest RSS allowed for any process (default 600)
  --faults LIST       kinds to inject, comma-separated (default: all of
                      ${FAULT_KINDS.join(",")}); none: the load alone
  --drain-seconds D   how long to wait at the end for outstanding tasks (default 120)
  --report-dir DIR    where the JSON report goes (default .data/soak)
  --log-level L       log level of the node processes (default info; "node started" is info)
  -h, --help          this help`;

interface Options {
  minutes: number;
  rate: number;
  seed: number;
  rssLimitMb: number;
  faults: FaultKind[];
  drainSeconds: number;
  reportDir: string;
  logLevel: string;
}

function parseOptions(args: string[]): Options | undefined {
  const { values } = parseArgs({
    args,
    options: {
      minutes: { type: "string", default: "3" },
      rate: { type: "string", default: "100" },
      seed: { type: "string" },
      "rss-limit-mb": { type: "string", default: "600" },
      faults: { type: "string", default: FAULT_KINDS.join(",") },
      "drain-seconds": { type: "string", default: "120" },
      "report-dir": { type: "string", default: ".data/soak" },
      "log-level": { type: "string", default: "info" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return undefined;
  const num = (name: string, v: string, min: number) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) {
      throw new Error(`--${name} must be a number ≥ ${min}: got ${v}`);
    }
    return n;
  };
  const faults = values.faults === "none"
    ? []
    : values.faults.split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = faults.filter((f) => !FAULT_KINDS.includes(f as FaultKind));
  if (unknown.length > 0 || (faults.length === 0 && values.faults !== "none")) {
    throw new Error(
      `--faults takes some of ${FAULT_KINDS.join(",")}, or none: got ${values.faults}`,
    );
  }
  return {
    minutes: num("minutes", values.minutes, 0),
    rate: num("rate", values.rate, 1),
    seed: values.seed === undefined
      ? crypto.getRandomValues(new Uint32Array(1))[0]
      : num("seed", values.seed, 0) >>> 0,
    rssLimitMb: num("rss-limit-mb", values["rss-limit-mb"], 1),
    faults: faults as FaultKind[],
    drainSeconds: num("drain-seconds", values["drain-seconds"], 0),
    reportDir: values["report-dir"],
    logLevel: values["log-level"],
  };
}

/** The commit under test, and whether actors/ or src/ differ from it (for a replay). */
async function codeState(): Promise<string> {
  const git = async (...args: string[]) => {
    const out = await new Deno.Command("git", { args, stdout: "piped", stderr: "null" }).output();
    return new TextDecoder().decode(out.stdout).trim();
  };
  try {
    const head = await git("rev-parse", "--short", "HEAD");
    if (!head) return "unknown (not a git checkout)";
    const changed = (await git("status", "--porcelain", "--", "actors", "src"))
      .split("\n").filter(Boolean).length;
    return changed ? `${head} + uncommitted changes in ${changed} files of actors/, src/` : head;
  } catch {
    return "unknown (no git)";
  }
}

/** Progress lines go to stderr, the summary to stdout. */
function say(line: string): void {
  console.error(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}`);
}

/** Run the soak; resolves with the exit code. */
export async function soak(o: Options): Promise<number> {
  const replay = `deno task soak --minutes ${o.minutes} --rate ${o.rate} --seed ${o.seed}` +
    (o.faults.length < FAULT_KINDS.length ? ` --faults ${o.faults.join(",") || "none"}` : "");
  say(`seed ${o.seed}: ${replay}`);
  const stop = new AbortController();
  const onSignal = () => {
    say("interrupted: healing and stopping");
    stop.abort();
  };
  Deno.addSignalListener("SIGINT", onSignal);
  const clusterOptions = {
    schedulers: 2,
    workers: 3,
    workerActors: 2,
    concurrency: 16,
    logLevel: o.logLevel,
  };
  await using cluster = await SoakCluster.start(clusterOptions);
  await using checker = await Checker.start(cluster.server.url);
  {
    // Watched from before the nodes start, until a leader says it is ready.
    await using watch = await Watch.start(cluster.server.url, "monitor.scheduler.>");
    await cluster.startNodes();
    await watch.next((e) => e.body.ready === true, 0, 30_000);
  }
  say(
    `nats-server on port ${cluster.server.port} (${cluster.server.dir}); 2 schedulers, 3 workers up`,
  );
  // The soak's own process is shown, not judged: it is not part of the system under test.
  const rss = new RssSampler(() => [...cluster.pids(), { name: "soak", pid: Deno.pid }]);
  rss.start();
  const token = await mintToken(SECRET, { sub: "soak", roles: ["submitter"] });
  await using load = await SoakLoad.connect(cluster.server.url, token, o.rate, random(o.seed));
  const injector = new FaultInjector(cluster, checker, random(o.seed ^ 0x5bd1e995), {
    ...DEFAULT_INJECTOR,
    kinds: o.faults,
    log: say,
  });

  const code = await codeState();
  const started = Date.now();
  load.start();
  say(`load at ${o.rate} tasks/s; faults for ${o.minutes} min`);
  const progress = setInterval(
    () =>
      say(
        `${load.acknowledged} acknowledged, ${checker.live.size} results, ${injector.faults.length} faults`,
      ),
    30_000,
  );
  try {
    await injector.run(started + o.minutes * 60_000, stop.signal);
  } finally {
    clearInterval(progress);
  }
  cluster.healAll();
  const ranMs = Date.now() - started;
  say(`faults over after ${(ranMs / 1000).toFixed(0)} s; stopping the load and draining`);
  await load.stop();
  const drainFrom = Date.now();
  const acked = [...load.submissions.values()].filter((s) => s.ackedAt !== undefined).map((s) =>
    s.id
  );
  // Interrupted: a short drain, so that the summary still says something.
  const drainSeconds = stop.signal.aborted ? Math.min(10, o.drainSeconds) : o.drainSeconds;
  const undrained = await checker.drain(acked, drainFrom + drainSeconds * 1000);
  const drainMs = Date.now() - drainFrom;
  const waiting = await cluster.submissionsWaiting();
  // Triage only: what the leader says of the first few that never ended.
  const triage = await Promise.all(
    undrained.slice(0, 20).map(async (id) => ({ id, status: await load.status(id) })),
  );
  rss.stop();
  await rss.sample();
  const stored = await checker.readStored();
  const checks = [
    checkExactlyOnce(load.submissions, stored, checker),
    checkNoOrphans(load.submissions, stored, checker),
    checkDependencies(load.submissions, stored),
    checkRss(rss.figures, o.rssLimitMb * 1_048_576, ["soak"]),
    checkSignatures(stored),
  ];
  const lines = summarize({
    seed: o.seed,
    minutes: o.minutes,
    rate: o.rate,
    replay,
    code,
    cluster:
      `own nats-server, schedulers s1 s2, workers w1 w2 w3 (${clusterOptions.workerActors} actors x ${clusterOptions.concurrency} slots)`,
    ranMs,
    drainMs,
    undrained: undrained.length,
    submissionsWaiting: waiting,
    triage,
    faults: injector.faults,
    submissions: load.submissions,
    stored,
    load: load.stats,
    rss: rss.figures,
    rssLimitBytes: o.rssLimitMb * 1_048_576,
    crashes: cluster.crashes,
    checks,
    interrupted: stop.signal.aborted,
  });
  const passed = checks.every((c) => c.ok) && !stop.signal.aborted;
  const reportPath = await writeReport({
    o,
    code,
    cluster,
    faults: injector.faults,
    checks,
    triage,
    submissions: load.submissions,
    stored,
    passed,
  }).catch((err) => {
    say(`could not write the report: ${err}`);
    return undefined;
  });
  console.log(lines.join("\n"));
  if (reportPath) console.log(`report       ${reportPath}`);
  Deno.removeSignalListener("SIGINT", onSignal);
  return passed ? 0 : 1;
}

/** What the JSON report is made of. */
interface ReportInput {
  o: Options;
  code: string;
  cluster: SoakCluster;
  faults: FaultRecord[];
  checks: CheckOutcome[];
  /** `tasks.status` of tasks that never ended. */
  triage: { id: string; status: string }[];
  submissions: Map<string, Submission>;
  stored: StoredResults;
  passed: boolean;
}

/**
 * The faults, every problem, the cancels that were acknowledged but did not
 * end the task, and (on failure) the processes' logs, as JSON.
 */
async function writeReport(r: ReportInput): Promise<string> {
  const { o, cluster, stored } = r;
  await Deno.mkdir(o.reportDir, { recursive: true });
  const path = `${o.reportDir}/soak-${o.seed}-${
    new Date().toISOString().replace(/[:.]/g, "")
  }.json`;
  const cancelsNotHonoured = [...r.submissions.values()]
    .filter((s) =>
      (s.cancel?.answer === "cancelling" || s.cancel?.answer === "cancelled") &&
      stored.get(s.id)?.[0]?.result.state !== "cancelled"
    )
    .map((s) => ({
      id: s.id,
      cancelSentAt: new Date(s.cancel!.sentAt).toISOString(),
      answer: s.cancel!.answer,
      result: stored.get(s.id)?.[0]?.result,
    }));
  const report = {
    options: o,
    code: r.code,
    passed: r.passed,
    faults: r.faults.map((f) => ({
      n: f.n,
      kind: f.kind,
      target: f.target,
      plannedMs: f.plannedMs,
      injectedAt: new Date(f.injectedAt).toISOString(),
      healedAfterMs: (f.healedAt ?? f.injectedAt) - f.injectedAt,
      recoveryMs: f.recoveredAt !== undefined && f.recoveryFrom !== undefined
        ? f.recoveredAt - f.recoveryFrom
        : null,
      stallMs: f.stallMs,
      error: f.error,
    })),
    checks: r.checks,
    neverEnded: r.triage,
    cancelsNotHonoured,
    storedResults: [...stored.values()].flat().length,
    crashes: cluster.crashes,
    logs: r.passed ? undefined : {
      current: Object.fromEntries(cluster.members.map((m) => [m.name, m.proc.log.slice(-500)])),
      killed: cluster.pastLogs,
    },
  };
  await Deno.writeTextFile(path, JSON.stringify(report, null, 2) + "\n");
  return path;
}

if (import.meta.main) {
  let options;
  try {
    options = parseOptions(Deno.args);
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    Deno.exit(2);
  }
  if (!options) {
    console.log(USAGE);
    Deno.exit(0);
  }
  Deno.exit(await soak(options));
}
