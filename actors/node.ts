/**
 * Assembles one process: the supervision tree for its role, the streams it
 * needs, the handler registry and the worker pool.
 *
 * ```
 * root (one-for-one; gives up → the process exits 1)
 * ├── monitor                      (all, monitor)
 * ├── workers (rest-for-one)       (all, worker)
 * │   ├── node                     the worker node: link to the leader, heartbeats
 * │   └── pool (one-for-one)
 * │       └── w0 … wN-1            worker actors
 * ├── scheduler                    (all, scheduler)
 * ├── schedules                    (all, scheduler) recurring jobs, acting while the scheduler leads
 * └── auth                         (all, scheduler) answers auth.login (queue group, any process)
 * ```
 *
 * @module
 */

import {
  ActorSystem,
  type ChildSpec,
  type Config,
  type HandlerDefinition,
  type Logger,
  Opener,
  readJwksFile,
  ResultSigner,
  ResultVerifier,
  type ScheduleSpec,
  Sealer,
  type Subjects,
  subjects as makeSubjects,
  type SupervisorCell,
  TokenVerifier,
  type Transport,
  type VerifierOptions,
} from "../src/internal_mod.ts";
import { resolveRoots } from "../src/internal_mod.ts";
import { Audit } from "./audit.ts";
import { loginBehavior } from "./auth/login.ts";
import { builtinHandlers } from "./handlers/mod.ts";
import { LocalDirectory } from "./directory.ts";
import { monitorBehavior, MonitorHub, type MonitorMsg } from "./monitor/monitor.ts";
import { LocalTaskFeed } from "./monitor/local_feed.ts";
import { AlertSender } from "./monitor/alerts.ts";
import { type HttpFace, serveHttp } from "./monitor/http.ts";
import { schedulerBehavior, schedulerEventLog } from "./scheduler/scheduler.ts";
import { schedulesBehavior } from "./schedules/schedules.ts";
import { streamSpecs } from "./streams.ts";
import { nodeBehavior, type NodeMsg } from "./worker/node.ts";
import { WorkerPool } from "./worker/pool.ts";
import { type HandlerEntry, workerBehavior, type WorkerMsg } from "./worker/worker.ts";

export { streamSpecs };

/** A running process. */
export interface RunningNode {
  system: ActorSystem;
  root: SupervisorCell;
  subjects: Subjects;
  directory: LocalDirectory;
  handlers: Map<string, HandlerEntry>;
  /** Where the monitor's HTTP face serves (`http://host:port`), when this process runs one. */
  httpUrl?: string;
  /** Stop taking work, finish or hand back what runs, then stop every actor. */
  shutdown(graceMs?: number): Promise<{ handedBack: string[] }>;
}

/** Load the built-in handlers and the user handlers named in the config. */
export async function loadHandlers(
  paths: readonly string[],
  log: Logger,
): Promise<Map<string, HandlerEntry>> {
  const map = new Map<string, HandlerEntry>();
  const files: Record<string, string> = {
    "compute": "./handlers/compute.ts",
  };
  for (const def of builtinHandlers) {
    const file = files[def.type];
    map.set(def.type, { def, module: file ? new URL(file, import.meta.url).href : undefined });
  }
  for (const path of paths) {
    const url = /^[a-z]+:/.test(path) ? path : new URL(path, `file://${Deno.cwd()}/`).href;
    let mod: Record<string, unknown>;
    try {
      mod = await import(url);
    } catch (err) {
      throw new Error(`cannot load handler module ${path}: ${(err as Error).message}`);
    }
    const defs = [mod.definition, ...(Array.isArray(mod.definitions) ? mod.definitions : [])]
      .filter(Boolean) as HandlerDefinition[];
    if (!defs.length) {
      throw new Error(`handler module ${path} exports no \`definition\` or \`definitions\``);
    }
    for (const def of defs) {
      if (typeof def.type !== "string" || typeof def.handler !== "function") {
        throw new Error(
          `handler module ${path}: a definition needs a string \`type\` and a \`handler\` function`,
        );
      }
      map.set(def.type, { def, module: url });
      log.info("loaded handler", { type: def.type, module: path, pool: def.pool ?? false });
    }
  }
  return map;
}

/** Options of {@link startNode}. */
export interface StartOptions {
  config: Config;
  transport: Transport;
  log: Logger;
  jwtSecret: string;
  onEscalate?: (error: unknown) => void;
  /** Handlers to use instead of loading them (tests). */
  handlers?: Map<string, HandlerEntry>;
  /** Schedules to upsert whenever this process's scheduler starts leading (the declared plan). */
  schedules?: readonly ScheduleSpec[];
}

/** Build and start the actors of this process's role. */
export async function startNode(o: StartOptions): Promise<RunningNode> {
  const { config, transport, log } = o;
  const subj = makeSubjects(config.subjectPrefix);
  // A cluster that is still electing its JetStream leaders answers after a while: wait for it.
  for (let attempt = 1, started = Date.now();; attempt++) {
    try {
      // Create what is missing; only a leader changes existing streams (to its limits).
      await transport.ensureStreams(streamSpecs(subj, config), { update: false });
      break;
    } catch (err) {
      if (Date.now() - started > 30_000) throw err;
      log.warn("JetStream not ready yet; retrying", { attempt, error: (err as Error).message });
      await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** attempt)));
    }
  }
  const directory = new LocalDirectory();
  // Tokens of an identity provider verify against its JWKS besides the HS256 secret (read once).
  const verifierOptions: VerifierOptions = config.jwks ? { jwks: readJwksFile(config.jwks) } : {};
  // One sealer per process: its counter orders every sealed message this process sends.
  const resultSigner = await ResultSigner.create(o.jwtSecret);
  const resultVerifier = await ResultVerifier.fromSecret(o.jwtSecret);
  const seals = {
    sealer: new Sealer(o.jwtSecret, config.nodeId),
    opener: new Opener(o.jwtSecret),
  };
  const handlers = o.handlers ?? await loadHandlers(config.handlers, log);
  const role = config.role;
  const runsWorkers = (role === "all" || role === "worker") && config.workers > 0;
  const needsPool = runsWorkers && [...handlers.values()].some((h) => h.def.pool);
  const poolSize = config.poolSize || Math.min(4, navigator.hardwareConcurrency || 2);
  const pool = needsPool ? new WorkerPool(poolSize, config.abortGraceMs) : null;
  // The roots of file jobs, resolved once: every payload path is checked against these.
  const fsRoots = runsWorkers ? await resolveRoots(config.fsRoots) : [];
  if (runsWorkers && fsRoots.length === 0) {
    log.info("no TASK_SCHEDULER_FS_ROOTS: backup, cleanup and rotate-logs refuse every task");
  }

  let root: SupervisorCell | null = null;
  const system = new ActorSystem({
    name: config.nodeId,
    log,
    onEscalate: o.onEscalate,
    observe: (event) => {
      try {
        root?.ref<MonitorMsg>("monitor").send({ type: "supervision", event });
      } catch {
        // no monitor in this process
      }
    },
  });
  // One audit trail per process: refusals and admin actions, numbered in one sequence.
  const audit = new Audit({
    node: config.nodeId,
    clock: system.clock,
    log: log.with({ actor: "audit" }),
    publish: (data) => transport.publish(subj.monitorAudit, data),
  });

  const children: ChildSpec[] = [];
  const runsMonitor = role === "all" || role === "monitor";
  const hub = new MonitorHub();
  const runsScheduler = role === "all" || role === "scheduler";
  // The scheduler here hands its task deltas to the monitor here in process (local_feed.ts).
  const localTasks = runsMonitor && runsScheduler ? new LocalTaskFeed() : undefined;
  let http: HttpFace | null = null;
  let alerts: AlertSender | null = null;
  if (runsMonitor) {
    alerts = new AlertSender({
      node: config.nodeId,
      url: config.alertWebhook,
      log: log.with({ actor: "alerts" }),
      publish: (data) => transport.publish(subj.monitorAlert, data),
    });
    hub.onAlert = (a) => {
      alerts?.send(a);
      http?.alert(a);
    };
    children.push({
      kind: "actor",
      id: "monitor",
      // Under a flood the monitor drops the oldest deltas rather than refuse new ones.
      mailbox: { capacity: 100_000, overflow: "drop-oldest" },
      behavior: monitorBehavior({
        node: config.nodeId,
        transport,
        subjects: subj,
        hub,
        localTasks,
      }),
    });
  }
  if (runsWorkers) {
    const workerSup = () => root!.supervisor("workers");
    const infos = Array.from({ length: config.workers }, (_, i) => ({
      id: `${config.nodeId}/w${i}`,
      concurrency: config.concurrency,
      capabilities: config.capabilities,
      types: [...handlers.keys()].sort(),
    }));
    const nodeRef = () => workerSup().ref<NodeMsg>("node");
    const workerPool = () => workerSup().supervisor("pool");
    const workerChildren: ChildSpec[] = infos.map((info, i) => ({
      kind: "actor",
      id: `w${i}`,
      mailbox: { capacity: Math.max(1_000, config.concurrency * 4) },
      behavior: workerBehavior({
        id: info.id,
        concurrency: info.concurrency,
        handlers,
        pool,
        report: (report) => nodeRef().send({ type: "worker.report", report }),
        progress: (id, attempt, progress) =>
          nodeRef().send({ type: "progress", id, attempt, worker: info.id, progress }),
        abortGraceMs: config.abortGraceMs,
        progressIntervalMs: Math.ceil(1000 / config.progressPerSecond),
        maxResultBytes: config.maxPayloadBytes,
        fsRoots,
        httpAllow: config.httpAllow,
      }),
    }));
    // The node first: if it restarts, the workers after it restart too, so that no
    // attempt is left reporting to a node that forgot it.
    children.push({
      kind: "supervisor",
      id: "workers",
      policy: { strategy: "rest-for-one", maxRestarts: 10, periodMs: 10_000 },
      children: [
        {
          kind: "actor",
          id: "node",
          mailbox: { capacity: 1_000_000 },
          behavior: nodeBehavior({
            node: config.nodeId,
            transport,
            subjects: subj,
            directory,
            capabilities: config.capabilities,
            pool,
            heartbeatMs: config.heartbeatMs,
            seals,
            workers: infos.map((info, i) => ({
              info,
              ref: {
                path: info.id,
                send: (m: WorkerMsg) => workerPool().ref<WorkerMsg>(`w${i}`).send(m),
                ask: (b, t) => workerPool().ref<WorkerMsg>(`w${i}`).ask(b, t),
              },
            })),
          }),
        },
        // The workers: one crashing is restarted alone.
        {
          kind: "supervisor",
          id: "pool",
          policy: { strategy: "one-for-one", maxRestarts: 10, periodMs: 10_000 },
          children: workerChildren,
        },
      ],
    });
  }
  if (runsScheduler) {
    children.push({
      kind: "actor",
      id: "scheduler",
      mailbox: { capacity: Math.max(100_000, config.maxQueue * 4) },
      behavior: schedulerBehavior({
        id: `${config.nodeId}-${crypto.randomUUID().slice(0, 8)}`,
        config,
        transport,
        subjects: subj,
        verifier: new TokenVerifier(o.jwtSecret, verifierOptions),
        directory,
        limits: {
          maxPayloadBytes: config.maxPayloadBytes,
          maxTimeoutMs: 86_400_000,
          maxAttempts: 100,
          defaultTimeoutMs: config.defaultTimeoutMs,
          defaultMaxAttempts: config.defaultMaxAttempts,
          defaultPriority: 5,
        },
        knownTypes: new Set(builtinHandlers.map((h) => h.type)),
        audit,
        onEvent: schedulerEventLog(log.with({ actor: "scheduler" })),
        seals,
        results: {
          signer: resultSigner,
          verifier: resultVerifier,
        },
        localTasks,
      }),
    });
    children.push({
      kind: "actor",
      id: "schedules",
      behavior: schedulesBehavior({
        transport,
        subjects: subj,
        config,
        verifier: new TokenVerifier(o.jwtSecret, verifierOptions),
        jwtSecret: o.jwtSecret,
        results: resultVerifier,
        directory,
        declared: o.schedules,
        audit,
      }),
    });
    // Logins need no leader (users are in KV): every scheduler process answers, as a queue group.
    children.push({
      kind: "actor",
      id: "auth",
      mailbox: { capacity: 1_000 },
      behavior: loginBehavior({
        transport,
        subjects: subj,
        config,
        jwtSecret: o.jwtSecret,
        audit,
      }),
    });
  }
  root = await system.start({
    kind: "supervisor",
    id: "root",
    policy: { strategy: "one-for-one", maxRestarts: 3, periodMs: 5_000 },
    children,
  });
  if (runsMonitor && config.http !== "off") {
    let connected = true;
    transport.onConnection((e) => {
      connected = e.type === "reconnected";
    });
    try {
      http = serveHttp(config.http, config.httpExplicit, {
        view: () => hub.fold,
        alive: () => hub.alive,
        transport,
        subjects: subj,
        verifier: new TokenVerifier(o.jwtSecret, verifierOptions),
        log: log.with({ actor: "http" }),
        webhookFailures: () => alerts?.failures ?? 0,
        connected: () => connected,
      });
    } catch (err) {
      await system.stop();
      alerts?.stop();
      throw err;
    }
  }

  return {
    system,
    root,
    subjects: subj,
    directory,
    handlers,
    httpUrl: http?.url,
    async shutdown(graceMs = config.shutdownGraceMs) {
      let handedBack: string[] = [];
      if (runsWorkers) {
        const node = root!.supervisor("workers").ref<NodeMsg>("node");
        handedBack = (await node.ask<{ handedBack: string[] }>(
          (replyTo) => ({ type: "drain", graceMs, replyTo }),
          graceMs + 5_000,
        )
          .catch(() => ({ handedBack: [] }))).handedBack;
      }
      await http?.close();
      await system.stop();
      alerts?.stop();
      audit.flush(); // what the last second held back, and no timer left behind
      pool?.close();
      return { handedBack };
    },
  };
}
