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
  findNatsServer,
  loadConfig,
  type Logger,
  type LogSink,
  mintToken,
  type NatsServer,
  type NatsTransport,
  SchedulerError,
  startNatsServer,
  USAGE,
} from "../src/mod.ts";
import { RotatingFileSink } from "../src/log_file.ts";
import { startNode } from "./node.ts";

async function main(): Promise<number> {
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

  if (flags.displayOnly) {
    console.log(
      JSON.stringify({ ...config, jwtSecret: config.jwtSecret ? "(set)" : "(none)" }, null, 2),
    );
    return 0;
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

Submit a task and watch it:

  nats sub 'tasks.result.>' &
  nats pub tasks.submit.echo '{"id":"a1","payload":{"hello":"world"}}' -H "Authorization:Bearer $TOKEN"

(no nats CLI? deno task nats sub 'tasks.result.>' / deno task nats pub ... take the same arguments)
`);
  }

  let embedded: NatsServer | null = null;
  let transport: NatsTransport;
  // A CA alone is TLS without a client certificate (a private CA); a cert and key add mTLS.
  const tls = config.tlsCert || config.tlsCa
    ? { certFile: config.tlsCert, keyFile: config.tlsKey, caFile: config.tlsCa }
    : undefined;
  try {
    transport = await connectNats({
      servers: config.broker.split(","),
      name: config.nodeId,
      tls,
      timeoutMs: 1_500,
    });
    log.info("connected to NATS", { server: transport.name });
  } catch (err) {
    if (config.brokerExplicit) {
      log.error("cannot reach NATS", { broker: config.broker, error: (err as Error).message });
      return 1;
    }
    if (!(await findNatsServer())) {
      log.error(
        "no NATS at the default address and no nats-server to start: install it (apt-get install -y nats-server) or set TASK_SCHEDULER_MESSAGE_BROKER",
        {
          broker: config.broker,
        },
      );
      return 1;
    }
    const dir = `${config.dataDir}/nats`;
    const port = new URL(config.broker.split(",")[0].replace(/^nats:/, "http:")).port || "4222";
    log.info("nothing answers at the default NATS address; starting an embedded nats-server", {
      dir,
    });
    embedded = await startNatsServer({ dir, port: Number(port) }).catch(() =>
      startNatsServer({ dir, port: -1 })
    );
    log.info("embedded nats-server is running (JetStream on)", {
      url: embedded.url,
      data: `${dir}/jetstream`,
    });
    transport = await connectNats({ servers: embedded.url, name: config.nodeId });
  }
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

  const stop = Promise.withResolvers<string>();
  const onSignal = (sig: string) => () => stop.resolve(sig);
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const handlers = signals.map((s) => [s, onSignal(s)] as const);
  for (const [s, h] of handlers) Deno.addSignalListener(s, h);

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
  // A second signal stops at once.
  for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
  const hard = () => Deno.exit(1);
  for (const s of signals) Deno.addSignalListener(s, hard);
  const { handedBack } = await node.shutdown();
  if (handedBack.length) log.info("handed back to the scheduler", { tasks: handedBack.length });
  await transport.close().catch((err) => log.warn("closing NATS", { error: String(err) }));
  if (embedded) await embedded.stop();
  log.info("stopped cleanly");
  return 0;
}

export { main };

if (import.meta.main) {
  const code = await main().catch((err) => {
    (createLogger() as Logger).error("fatal", { error: String(err?.stack ?? err) });
    return 1;
  });
  Deno.exit(code);
}
