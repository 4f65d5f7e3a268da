/**
 * `deno task start`: run a node. Reads the config (flags, env, file), connects
 * to NATS or starts an embedded nats-server when none answers and none was
 * configured, prints a session token when no JWT secret is set, starts the
 * actors of its role, and stops cleanly on SIGINT/SIGTERM. The root
 * supervisor giving up exits 1, for systemd or Kubernetes to restart it.
 *
 * @module
 */

import {
  type Config,
  connectNats,
  consoleSink,
  createLogger,
  decodeSchedule,
  findNatsServer,
  loadConfig,
  type Logger,
  type LogSink,
  mintToken,
  type NatsServer,
  type NatsTransport,
  SchedulerError,
  type ScheduleSpec,
  subjects,
  USAGE,
} from "../src/internal_mod.ts";
import { RotatingFileSink } from "../src/internal_mod.ts";
import { anonymousCanUseInternal, credentialsFile, natsAccess, startEmbedded } from "./embedded.ts";
import { startNode } from "./node.ts";
import { type Demo, removeDemoSchedules, startDemo, triggerDemo } from "./schedules/demo.ts";
import { describePlan, loadPlan } from "./schedules/plan.ts";

/** Signals within this long of the first are copies of it (process group, `deno task`). */
const DUPLICATE_SIGNAL_MS = 1_000;

async function main(): Promise<number> {
  const atExit: (() => Promise<void>)[] = [];
  try {
    return await run(atExit);
  } finally {
    for (const fn of atExit.reverse()) await fn().catch(() => {});
  }
}

async function run(atExit: (() => Promise<void>)[]): Promise<number> {
  let config: Config;
  let flags;
  try {
    ({ config, flags } = loadConfig({ args: Deno.args }));
  } catch (err) {
    console.error(`task-scheduler: ${(err as Error).message}`);
    console.error("Run `deno task start --help` for the options.");
    return 2;
  }
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  const sinks: LogSink[] = [consoleSink];
  if (config.logFile) {
    sinks.push(
      new RotatingFileSink(config.logFile, { maxBytes: config.logMaxBytes, keep: config.logKeep }),
    );
  }
  const log = createLogger({
    level: config.logLevel,
    format: config.logFormat,
    sinks,
    fields: { node: config.nodeId },
  });

  // The declared plan: the schedules file, then the demo plan.
  let plan: ScheduleSpec[];
  let demo: Demo | null = null;
  try {
    plan = config.schedules ? loadPlan(config.schedules) : [];
    if (flags.demo) {
      const started = await startDemo();
      demo = started;
      atExit.push(() => started.close());
      plan.push(...demo.schedules.map((s) => decodeSchedule(s)));
      // The demo's file jobs work in its folder, and its http-check asks its own server: this
      // process may touch both (an empty http allow list already allows any host).
      config = {
        ...config,
        fsRoots: [...config.fsRoots, ...demo.roots],
        httpAllow: config.httpAllow.length
          ? [...config.httpAllow, new URL(demo.url).host]
          : config.httpAllow,
      };
    }
  } catch (err) {
    console.error(`task-scheduler: ${(err as Error).message}`);
    return 2;
  }

  if (flags.displayOnly) {
    console.log(describePlan(plan, Date.now()));
    console.log("\nConfiguration:");
    console.log(
      JSON.stringify({ ...config, jwtSecret: config.jwtSecret ? "(set)" : "(none)" }, null, 2),
    );
    return 0;
  }
  if (demo) {
    log.info("demo: recurring jobs every 10 to 60 s in a temporary folder", {
      folder: demo.roots[0],
      url: demo.url,
    });
  }
  if (plan.length && config.role !== "all" && config.role !== "scheduler") {
    log.warn("schedules are applied by a scheduler: this process runs none, so it ignores them", {
      role: config.role,
    });
  } else if (plan.length) {
    log.info("declared schedules", { schedules: plan.map((s) => s.name).join(",") });
  }

  let secret = config.jwtSecret;
  if (!secret) {
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    secret = btoa(String.fromCharCode(...bytes)).replaceAll("=", "");
    const token = await mintToken(secret, { sub: "admin", roles: ["admin"], ttlSec: 86_400 });
    log.warn(
      "!!! TASK_SCHEDULER_JWT_SECRET is not set: a random secret was generated for this session only.",
    );
    log.warn(
      "!!! Tokens stop working when this process stops. Set TASK_SCHEDULER_JWT_SECRET for real use.",
    );
    console.log(`
Session admin token (valid 24 h):

  export TOKEN=${token}
  export TASK_SCHEDULER_TOKEN=$TOKEN     # for deno task ctl and the client library

Submit a task and watch it:

  nats sub 'tasks.result.>' &
  nats pub tasks.submit.echo '{"id":"a1","payload":{"hello":"world"}}' -H "Authorization:Bearer $TOKEN"

(no nats CLI? deno task nats sub 'tasks.result.>' / deno task nats pub ... take the same arguments)
`);
  }

  const connected = await connect(config, log);
  if (!connected) return 1;
  const { transport, embedded } = connected;
  transport.onConnection((e) => {
    if (e.type === "disconnected") log.warn("NATS connection lost; reconnecting");
    if (e.type === "reconnected") log.info("NATS connection back");
  });

  const escalated = Promise.withResolvers<void>();
  let node;
  try {
    node = await startNode({
      config,
      transport,
      log,
      jwtSecret: secret,
      onEscalate: () => escalated.resolve(),
      schedules: plan,
    });
  } catch (err) {
    log.error("start-up failed", {
      error: err instanceof SchedulerError ? err.message : String(err),
    });
    await transport.close().catch(() => {});
    await embedded?.stop();
    return 1;
  }
  log.info("node started", {
    role: config.role,
    workers: config.role === "all" || config.role === "worker" ? config.workers : 0,
    concurrency: config.concurrency,
    types: [...node.handlers.keys()].join(","),
  });
  if (node.httpUrl) {
    log.info("dashboard and metrics", {
      url: `${node.httpUrl}/`,
      metrics: `${node.httpUrl}/metrics`,
      ready: `${node.httpUrl}/readyz`,
    });
  }

  if (demo) {
    // Show each demo run's result as it comes, so that a newcomer sees the jobs work.
    const subj = node.subjects;
    const dec = new TextDecoder();
    const sub = transport.subscribe(subj.resultAll, (m) => {
      const id = m.subject.slice(subj.result("").length);
      if (!id.startsWith("demo-")) return;
      try {
        const r = JSON.parse(dec.decode(m.data)) as Record<string, unknown>;
        log.info(`demo job ${r.state}`, {
          task: id,
          type: r.type,
          ms: r.durationMs,
          result: JSON.stringify(r.result ?? r.error ?? null).slice(0, 160),
        });
      } catch (err) {
        log.warn("unreadable demo result", { task: id, error: String(err) });
      }
    });
    atExit.push(() => Promise.resolve(sub.unsubscribe()));
    // Run each job once now, so that the first results come in seconds, not at the first ticks.
    void triggerDemo(transport, node.subjects, secret, demo, log);
    console.log(`
Demo: six recurring jobs fire every 10 to 60 s in ${demo.roots[0]}.
Watch them:   nats sub 'monitor.schedule.>'      (or: deno task nats sub 'monitor.schedule.>')
List them:    nats req schedules.list '{}' -H "Authorization:Bearer $TOKEN"
`);
  }

  // One listener per signal for the whole run: the first signal stops gracefully; copies of it
  // are ignored; a later, deliberate one stops at once. (Ctrl-C and systemd signal the whole
  // process group, and `deno task` passes its copy on as well, so the same stop arrives two or
  // three times within moments.) The listeners are never swapped: a signal whose last listener
  // is removed gets its default action back (a process then dies of it, exit 143), which left a
  // moment for a copy to kill the node; a CI run once saw exit 143 right after "stopping".
  const stop = Promise.withResolvers<string>();
  let firstAt = 0;
  const onSignal = (sig: string) => () => {
    if (firstAt === 0) {
      firstAt = Date.now();
      stop.resolve(sig);
      return;
    }
    if (Date.now() - firstAt < DUPLICATE_SIGNAL_MS) return;
    log.warn("second signal: stopping at once, without finishing or handing back tasks", {
      signal: sig,
    });
    Deno.exit(1);
  };
  for (const s of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(s, onSignal(s));

  const outcome = await Promise.race([stop.promise, escalated.promise.then(() => "escalated")]);
  if (outcome === "escalated") {
    log.error(
      "the root supervisor gave up; exiting 1 so that the service manager restarts this process",
    );
    await transport.close().catch(() => {});
    await embedded?.stop();
    return 1;
  }
  log.info("stopping: no new tasks, finishing or handing back running ones", {
    signal: outcome,
    graceMs: config.shutdownGraceMs,
  });
  if (demo) await removeDemoSchedules(transport, node.subjects, secret, demo, log);
  const { handedBack } = await node.shutdown();
  if (handedBack.length) log.info("handed back to the scheduler", { tasks: handedBack.length });
  await transport.close().catch((err) => log.warn("closing NATS", { error: String(err) }));
  if (embedded) await embedded.stop();
  log.info("stopped cleanly");
  return 0;
}

/**
 * Connect to NATS: the configured broker, with the configured credentials or
 * those of an embedded server started from this data folder; else, when
 * nothing answers at the default address (or `--embedded always`), start the
 * embedded nats-server, locked down, and connect as its node user. On any
 * other NATS, warn loudly when anonymous connections can use the internal
 * subjects.
 */
async function connect(
  config: Config,
  log: Logger,
): Promise<{ transport: NatsTransport; embedded: NatsServer | null } | null> {
  const access = await natsAccess(config);
  const { servers, tls } = access;
  if (config.embedded !== "always") {
    try {
      const transport = await connectNats({ ...access, name: config.nodeId, timeoutMs: 1_500 });
      log.info("connected to NATS", { server: transport.name });
      if (
        await anonymousCanUseInternal(
          servers,
          subjects(config.subjectPrefix),
          tls && { caFile: tls.caFile },
        )
      ) {
        log.warn(
          "!!! This NATS lets connections without credentials publish on the internal subjects " +
            "(sched.>, tasks.outcome.>). The scheduler refuses unsealed messages and unsigned " +
            "results, but anyone who reaches NATS can still flood it or fool clients that do not " +
            "check result signatures. Fix: run nats-server with deploy/nats/permissions.conf " +
            "(or let `deno task start` run its own, locked-down, embedded server).",
          { broker: config.broker },
        );
      }
      return { transport, embedded: null };
    } catch (err) {
      if (config.brokerExplicit || config.embedded === "never") {
        log.error("cannot reach NATS", { broker: config.broker, error: (err as Error).message });
        return null;
      }
    }
  }
  if (!(await findNatsServer())) {
    log.error(
      "no NATS at the default address and no nats-server to start: install it (apt-get install -y nats-server) or set TASK_SCHEDULER_MESSAGE_BROKER",
      { broker: config.broker },
    );
    return null;
  }
  const port = Number(new URL(servers[0].replace(/^nats:/, "http:")).port || "4222");
  log.info("starting an embedded nats-server (authorization on: clients get client rights)", {
    dir: `${config.dataDir}/nats`,
  });
  const { server, credentials } = await startEmbedded(
    config.dataDir,
    port,
    subjects(config.subjectPrefix),
  );
  log.info("embedded nats-server is running (JetStream on)", {
    url: server.url,
    data: `${config.dataDir}/nats/jetstream`,
    credentials: credentialsFile(config.dataDir),
  });
  const transport = await connectNats({
    servers: server.url,
    name: config.nodeId,
    user: credentials.user,
    pass: credentials.password,
  });
  return { transport, embedded: server };
}

export { main };

if (import.meta.main) {
  const code = await main().catch((err) => {
    (createLogger() as Logger).error("fatal", { error: String(err?.stack ?? err) });
    return 1;
  });
  Deno.exit(code);
}
