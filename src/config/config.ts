/**
 * Configuration: defaults, then a JSON config file, then environment
 * variables, then command-line flags, each overriding the one before. Every
 * value is checked; a bad one stops start-up with a message that names where
 * it came from, the rule and the value.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { SchedulerError, show } from "../errors.ts";

/** What a process runs. */
export type Role = "all" | "scheduler" | "worker" | "monitor";

/** The whole configuration of one process. */
export interface Config {
  role: Role;
  /** This node's id: the `<node>` of `monitor.worker.<node>`. */
  nodeId: string;
  /** Worker actors in this process (TASK_SCHEDULER_WORKERS). */
  workers: number;
  /** Tasks one worker runs at once (TASK_SCHEDULER_CONCURRENCY). */
  concurrency: number;
  /** Tasks the scheduler holds in memory; the rest wait in the stream (TASK_SCHEDULER_MAX_QUEUE). */
  maxQueue: number;
  /** NATS URL(s) (TASK_SCHEDULER_MESSAGE_BROKER). */
  broker: string;
  /** Whether the broker was set explicitly (then no embedded server is started). */
  brokerExplicit: boolean;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  /** HS256 secret (TASK_SCHEDULER_JWT_SECRET); absent: one is generated for the session. */
  jwtSecret?: string;
  /** Capabilities of this node's workers. */
  capabilities: string[];
  /** Subject prefix (default none). */
  subjectPrefix: string;
  heartbeatMs: number;
  /** A worker node silent this long is declared lost. */
  nodeLostMs: number;
  /** Scheduler leader lease. */
  leaseMs: number;
  /** Folder for the embedded nats-server and other local state. */
  dataDir: string;
  /** Module paths (or URLs) of user handlers. */
  handlers: string[];
  /** Largest task body in bytes. */
  maxPayloadBytes: number;
  defaultTimeoutMs: number;
  defaultMaxAttempts: number;
  /** Base of the exponential retry backoff. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Grace period for running tasks at shutdown. */
  shutdownGraceMs: number;
  /** A handler that ignores its abort signal this long is abandoned. */
  abortGraceMs: number;
  /** Threads in the worker pool for CPU-bound handlers (0: one per core, at most 4). */
  poolSize: number;
  /** Stream replicas (3 on a 3-node cluster). */
  replicas: number;
  /** Most progress events per second per task. */
  progressPerSecond: number;
  logLevel: "debug" | "info" | "warn" | "error";
  logFormat: "text" | "json";
  logFile?: string;
  logMaxBytes: number;
  logKeep: number;
}

/** The defaults. */
export function defaults(): Config {
  return {
    role: "all",
    nodeId: defaultNodeId(),
    workers: 5,
    concurrency: 16,
    maxQueue: 10_000,
    broker: "nats://127.0.0.1:4222",
    brokerExplicit: false,
    capabilities: [],
    subjectPrefix: "",
    heartbeatMs: 1_000,
    nodeLostMs: 3_500,
    leaseMs: 1_500,
    dataDir: ".data",
    handlers: [],
    maxPayloadBytes: 1024 * 1024,
    defaultTimeoutMs: 30_000,
    defaultMaxAttempts: 3,
    retryBaseMs: 200,
    retryMaxMs: 30_000,
    shutdownGraceMs: 10_000,
    abortGraceMs: 2_000,
    poolSize: 0,
    replicas: 1,
    progressPerSecond: 10,
    logLevel: "info",
    logFormat: "text",
    logMaxBytes: 10 * 1024 * 1024,
    logKeep: 5,
  };
}

function defaultNodeId(): string {
  let host = "node";
  try {
    host = Deno.hostname();
  } catch {
    // no permission or no hostname: keep the default
  }
  return `${host.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 40)}-${Deno.pid}`;
}

const ENV: Record<string, keyof Config> = {
  TASK_SCHEDULER_ROLE: "role",
  TASK_SCHEDULER_NODE_ID: "nodeId",
  TASK_SCHEDULER_WORKERS: "workers",
  TASK_SCHEDULER_CONCURRENCY: "concurrency",
  TASK_SCHEDULER_MAX_QUEUE: "maxQueue",
  TASK_SCHEDULER_MESSAGE_BROKER: "broker",
  TASK_SCHEDULER_TLS_CERT: "tlsCert",
  TASK_SCHEDULER_TLS_KEY: "tlsKey",
  TASK_SCHEDULER_TLS_CA: "tlsCa",
  TASK_SCHEDULER_JWT_SECRET: "jwtSecret",
  TASK_SCHEDULER_CAPABILITIES: "capabilities",
  TASK_SCHEDULER_SUBJECT_PREFIX: "subjectPrefix",
  TASK_SCHEDULER_HEARTBEAT_MS: "heartbeatMs",
  TASK_SCHEDULER_NODE_LOST_MS: "nodeLostMs",
  TASK_SCHEDULER_LEASE_MS: "leaseMs",
  TASK_SCHEDULER_DATA_DIR: "dataDir",
  TASK_SCHEDULER_HANDLERS: "handlers",
  TASK_SCHEDULER_MAX_PAYLOAD_BYTES: "maxPayloadBytes",
  TASK_SCHEDULER_SHUTDOWN_GRACE_MS: "shutdownGraceMs",
  TASK_SCHEDULER_POOL_SIZE: "poolSize",
  TASK_SCHEDULER_REPLICAS: "replicas",
  TASK_SCHEDULER_LOG_LEVEL: "logLevel",
  TASK_SCHEDULER_LOG_FORMAT: "logFormat",
  TASK_SCHEDULER_LOG_FILE: "logFile",
};

type Rule = (v: unknown, where: string) => unknown;

function int(min: number, max: number): Rule {
  return (v, where) => {
    const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
    if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
      throw new SchedulerError(
        "CONFIG",
        `${where} must be an integer from ${min} to ${max}: got ${show(v)}`,
      );
    }
    return n;
  };
}

function oneOf(...allowed: string[]): Rule {
  return (v, where) => {
    if (typeof v !== "string" || !allowed.includes(v)) {
      throw new SchedulerError(
        "CONFIG",
        `${where} must be one of ${allowed.join(", ")}: got ${show(v)}`,
      );
    }
    return v;
  };
}

function text(pattern?: RegExp, what?: string): Rule {
  return (v, where) => {
    if (typeof v !== "string" || (pattern && !pattern.test(v))) {
      throw new SchedulerError("CONFIG", `${where} must be ${what ?? "a string"}: got ${show(v)}`);
    }
    return v;
  };
}

function list(pattern: RegExp, what: string): Rule {
  return (v, where) => {
    const items = typeof v === "string" ? v.split(",").map((s) => s.trim()).filter(Boolean) : v;
    if (!Array.isArray(items) || !items.every((s) => typeof s === "string" && pattern.test(s))) {
      throw new SchedulerError(
        "CONFIG",
        `${where} must be a comma-separated list of ${what}: got ${show(v)}`,
      );
    }
    return items;
  };
}

/** A secret is never echoed, not even a short one: the message gives its length only. */
function secret(minChars: number): Rule {
  return (v, where) => {
    if (typeof v !== "string" || v.length < minChars) {
      const got = typeof v === "string" ? `${v.length} characters` : typeof v;
      throw new SchedulerError(
        "CONFIG",
        `${where} must be at least ${minChars} characters: got ${got}`,
      );
    }
    return v;
  };
}

const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

const RULES: Record<keyof Config, Rule> = {
  role: oneOf("all", "scheduler", "worker", "monitor"),
  nodeId: text(TOKEN, "1 to 64 letters, digits, _ or -"),
  workers: int(0, 1024),
  concurrency: int(1, 10_000),
  maxQueue: int(1, 10_000_000),
  broker: text(
    /^(nats|tls|wss?):\/\/[^\s]+(,(nats|tls|wss?):\/\/[^\s]+)*$/,
    "a nats:// URL (comma-separated for several)",
  ),
  brokerExplicit: (v) => Boolean(v),
  tlsCert: text(/./, "a file path"),
  tlsKey: text(/./, "a file path"),
  tlsCa: text(/./, "a file path"),
  jwtSecret: secret(32),
  capabilities: list(TOKEN, "capability names"),
  subjectPrefix: text(
    /^([A-Za-z0-9_-]{1,32})?$/,
    "empty or one subject token (letters, digits, _ or -)",
  ),
  heartbeatMs: int(50, 600_000),
  nodeLostMs: int(100, 3_600_000),
  leaseMs: int(200, 600_000),
  dataDir: text(/./, "a folder path"),
  handlers: list(/^\S+$/, "module paths"),
  maxPayloadBytes: int(1024, 64 * 1024 * 1024),
  defaultTimeoutMs: int(1, 86_400_000),
  defaultMaxAttempts: int(1, 100),
  retryBaseMs: int(0, 3_600_000),
  retryMaxMs: int(0, 86_400_000),
  shutdownGraceMs: int(0, 3_600_000),
  abortGraceMs: int(0, 600_000),
  poolSize: int(0, 256),
  replicas: int(1, 5),
  progressPerSecond: int(1, 1_000),
  logLevel: oneOf("debug", "info", "warn", "error"),
  logFormat: oneOf("text", "json"),
  logFile: text(/./, "a file path"),
  logMaxBytes: int(1024, 1024 * 1024 * 1024),
  logKeep: int(1, 100),
};

/** Where configuration comes from. */
export interface ConfigSources {
  args?: string[];
  env?: Record<string, string | undefined>;
  /** Read a config file (injected for tests). */
  readFile?: (path: string) => string;
}

/** Flags of `deno task start`. */
export interface Flags {
  help: boolean;
  displayOnly: boolean;
}

/** Load and validate the configuration; throws CONFIG naming the bad value. */
export function loadConfig(sources: ConfigSources = {}): { config: Config; flags: Flags } {
  const env = sources.env ?? Deno.env.toObject();
  const readFile = sources.readFile ?? ((p: string) => Deno.readTextFileSync(p));
  let parsed;
  try {
    parsed = parseArgs({
      args: sources.args ?? [],
      strict: true,
      options: {
        role: { type: "string" },
        "node-id": { type: "string" },
        workers: { type: "string" },
        concurrency: { type: "string" },
        capabilities: { type: "string" },
        "max-queue": { type: "string" },
        broker: { type: "string" },
        config: { type: "string" },
        "log-level": { type: "string" },
        "log-file": { type: "string" },
        "data-dir": { type: "string" },
        handlers: { type: "string" },
        "display-only": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    throw new SchedulerError("CONFIG", `command line: ${(err as Error).message}`);
  }
  const values = parsed.values;
  const config = defaults();
  const set = (key: keyof Config, raw: unknown, where: string) => {
    (config as unknown as Record<string, unknown>)[key] = RULES[key](raw, where);
  };

  const file = values.config ?? env.TASK_SCHEDULER_CONFIG;
  if (file) {
    let data: unknown;
    try {
      data = JSON.parse(readFile(file));
    } catch (err) {
      throw new SchedulerError("CONFIG", `config file ${file}: ${(err as Error).message}`);
    }
    if (typeof data !== "object" || data === null || Array.isArray(data)) {
      throw new SchedulerError("CONFIG", `config file ${file} must hold a JSON object`);
    }
    for (const [k, v] of Object.entries(data)) {
      // Own keys only: `toString` or `__proto__` must not reach Object.prototype.
      if (!Object.hasOwn(RULES, k) || k === "brokerExplicit") {
        throw new SchedulerError("CONFIG", `config file ${file}: unknown key ${show(k)}`);
      }
      set(k as keyof Config, v, `${file}: ${k}`);
      if (k === "broker") config.brokerExplicit = true;
    }
  }
  for (const [name, key] of Object.entries(ENV)) {
    const v = env[name];
    if (v === undefined || (v === "" && key !== "subjectPrefix")) continue;
    set(key, v, name);
    if (key === "broker") config.brokerExplicit = true;
  }
  const flagMap: [string, keyof Config][] = [
    ["role", "role"],
    ["node-id", "nodeId"],
    ["workers", "workers"],
    ["concurrency", "concurrency"],
    ["capabilities", "capabilities"],
    ["max-queue", "maxQueue"],
    ["broker", "broker"],
    ["log-level", "logLevel"],
    ["log-file", "logFile"],
    ["data-dir", "dataDir"],
    ["handlers", "handlers"],
  ];
  for (const [flag, key] of flagMap) {
    const v = (values as Record<string, unknown>)[flag];
    if (v === undefined) continue;
    set(key, v, `--${flag}`);
    if (key === "broker") config.brokerExplicit = true;
  }
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    throw new SchedulerError(
      "CONFIG",
      "TASK_SCHEDULER_TLS_CERT and TASK_SCHEDULER_TLS_KEY must be set together",
    );
  }
  if (config.nodeLostMs <= config.heartbeatMs) {
    throw new SchedulerError(
      "CONFIG",
      `nodeLostMs (${config.nodeLostMs}) must be longer than heartbeatMs (${config.heartbeatMs})`,
    );
  }
  if (config.retryMaxMs < config.retryBaseMs) {
    throw new SchedulerError(
      "CONFIG",
      `retryMaxMs (${config.retryMaxMs}) must be >= retryBaseMs (${config.retryBaseMs})`,
    );
  }
  return {
    config,
    flags: { help: values.help ?? false, displayOnly: values["display-only"] ?? false },
  };
}

/** The help text of `deno task start`. */
export const USAGE = `Usage: deno task start [options]

Runs a node of the task scheduler. Without --role it runs everything in one
process: supervisor, scheduler, monitor and TASK_SCHEDULER_WORKERS workers.

Options (each overrides the environment variable and the config file):
  --role all|scheduler|worker|monitor   what this process runs (default all)
  --workers N                           worker actors (TASK_SCHEDULER_WORKERS, default 5)
  --concurrency N                       tasks per worker at once (TASK_SCHEDULER_CONCURRENCY, 16)
  --capabilities a,b                    capabilities of this node's workers
  --max-queue N                         tasks held in memory (TASK_SCHEDULER_MAX_QUEUE, 10000)
  --broker URL                          NATS (TASK_SCHEDULER_MESSAGE_BROKER, nats://127.0.0.1:4222)
  --node-id ID                          node id in monitor.worker.<node>
  --handlers a.ts,b.ts                  modules of user task handlers
  --config FILE                         JSON config file (TASK_SCHEDULER_CONFIG)
  --data-dir DIR                        local state, embedded nats-server data (.data)
  --log-level L --log-file F            logging
  --display-only                        print the configuration and the handlers, then exit
  -h, --help                            this text
`;
