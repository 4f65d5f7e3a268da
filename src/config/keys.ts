/**
 * The configuration keys, each declared once: its environment variable, its
 * flag, its default, the rule that checks it and its help text. The parser,
 * the config-file check, `--help` and the README table are all derived from
 * these tables (see config.ts).
 *
 * Adding a key: add its field to {@link Config} (or {@link Flags} for a switch
 * of one run), then its entry to {@link CONFIG_KEYS} (or {@link FLAG_KEYS}); the
 * table types make the compiler ask for the one when the other is there.
 *
 * @module
 */

import { SchedulerError, show } from "../errors.ts";

/** What a process runs. */
export type Role = "all" | "scheduler" | "worker" | "monitor";

/** The whole configuration of one process. */
export interface Config {
  /** What this process runs. */
  role: Role;
  /** This node's id: the `<node>` of `monitor.worker.<node>`. */
  nodeId: string;
  /** Worker actors in this process. */
  workers: number;
  /** Tasks one worker runs at once. */
  concurrency: number;
  /** Capabilities of this node's workers. */
  capabilities: string[];
  /** Tasks the scheduler holds in memory; the rest wait in the stream. */
  maxQueue: number;
  /** Bytes the TASKS stream may hold; 0: no cap of its own (JetStream's storage limit). */
  tasksMaxBytes: number;
  /** Submissions the TASKS stream may hold; 0: no limit. */
  tasksMaxMsgs: number;
  /** Submissions a second one user (token `sub`) may make, on average; 0: no limit. */
  userRate: number;
  /** Submissions one user may make at once (the token bucket's size). */
  userBurst: number;
  /** Tasks one user may have held by the scheduler and not ended; 0: no limit. */
  userInFlight: number;
  /** Module paths (or URLs) of user handlers. */
  handlers: string[];
  /** JSON file of recurring-job schedules, upserted at start. */
  schedules?: string;
  /**
   * Folders (absolute paths) the file-touching built-in jobs (backup, cleanup,
   * rotate-logs) may work in; none: they refuse every task. See src/fs_roots.ts.
   */
  fsRoots: string[];
  /** Hosts (`name` or `name:port`) http-check may reach; none: any host. See src/http_allow.ts. */
  httpAllow: string[];
  /** NATS URL(s), comma-separated. */
  broker: string;
  /** Whether the broker was set explicitly (then no embedded server is started). Derived. */
  brokerExplicit: boolean;
  /** When to start an embedded nats-server: when none answers at the default address, always, or never. */
  embedded: "auto" | "always" | "never";
  /** User for a NATS with authorization (absent: the embedded server's credentials, or none). */
  natsUser?: string;
  /** Its password. */
  natsPassword?: string;
  /** Client TLS certificate file for NATS (with `tlsKey`). */
  tlsCert?: string;
  /** Client TLS key file for NATS (with `tlsCert`). */
  tlsKey?: string;
  /** CA file for NATS's TLS. */
  tlsCa?: string;
  /** HS256 secret; absent: one is generated for the session. */
  jwtSecret?: string;
  /** JWKS file of an identity provider: RS256, ES256 and EdDSA tokens verify against its keys. */
  jwks?: string;
  /** Lifetime of a token from `auth.login`, seconds. */
  loginTtlS: number;
  /** Failed logins in a row after which a user is locked. */
  loginMaxFailures: number;
  /** First lockout, seconds; each further one in the same run of failures doubles (up to a day). */
  loginLockoutS: number;
  /** Subject prefix (default none). */
  subjectPrefix: string;
  /** Stream replicas (3 on a 3-node cluster). */
  replicas: number;
  /** Interval of worker heartbeats. */
  heartbeatMs: number;
  /** A worker node silent this long is declared lost. */
  nodeLostMs: number;
  /** Scheduler leader lease. */
  leaseMs: number;
  /** Folder for the embedded nats-server and other local state. */
  dataDir: string;
  /** Largest task body in bytes. */
  maxPayloadBytes: number;
  /** Timeout of a task that sets none. */
  defaultTimeoutMs: number;
  /** Attempts of a task that sets none. */
  defaultMaxAttempts: number;
  /** Base of the exponential retry backoff. */
  retryBaseMs: number;
  /** Cap of the exponential retry backoff. */
  retryMaxMs: number;
  /** Grace period for running tasks at shutdown. */
  shutdownGraceMs: number;
  /** A handler that ignores its abort signal this long is abandoned. */
  abortGraceMs: number;
  /** Threads in the worker pool for CPU-bound handlers (0: one per core, at most 4). */
  poolSize: number;
  /** Most progress events per second per task. */
  progressPerSecond: number;
  /** Least severe log level written. */
  logLevel: "debug" | "info" | "warn" | "error";
  /** Log line format. */
  logFormat: "text" | "json";
  /**
   * Address of the monitor's HTTP face (`host:port`), or `off`. At the default,
   * a taken port falls back to a free one; one set explicitly must be free.
   */
  http: string;
  /** Whether `http` was set explicitly. Derived. */
  httpExplicit: boolean;
  /** URL that alerts are POSTed to (absent: alerts go only on `monitor.alert`). */
  alertWebhook?: string;
  /** Log file besides the console; it rotates by size. */
  logFile?: string;
  /** Size at which the log file rotates. */
  logMaxBytes: number;
  /** Rotated log files kept. */
  logKeep: number;
}

/** Switches of one run of `deno task start`: flags (or env), never config-file keys. */
export interface Flags {
  /** Print the help, then exit. */
  help: boolean;
  /** Print the schedules and the configuration, then exit. */
  displayOnly: boolean;
  /**
   * Run the demo plan of recurring jobs. Present only when set (by `--demo` or
   * TASK_SCHEDULER_DEMO), so a plain run's flags stay `{ help, displayOnly }`.
   */
  demo?: boolean;
}

/** How a raw value (a string from env or a flag, any JSON from the file) becomes a setting. */
export interface Rule<T> {
  /** "boolean" is a flag without a value; every other kind takes one. */
  readonly kind: "boolean" | "integer" | "choice" | "text" | "list" | "secret";
  /** Placeholder of the value in the help (`N`, `a|b`, `FILE`); empty for a boolean. */
  readonly arg: string;
  /** The checked value; throws CONFIG naming `where`, the rule and the value. */
  readonly check: (raw: unknown, where: string) => T;
}

/** The declaration of one key. */
export interface Key<T> {
  /** Environment variable; every setting has one. */
  readonly env?: string;
  /** Command-line flag, without the dashes. */
  readonly flag?: string;
  /** One-letter alias of the flag. */
  readonly short?: string;
  /** Default; a function when computed at start. Absent: unset. */
  readonly default?: T | (() => T);
  /** The default as the help shows it, when not the value itself. */
  readonly shown?: string;
  /** Checks and converts a raw value. */
  readonly rule: Rule<Exclude<T, undefined>>;
  /** One line for `--help` and the README. */
  readonly help: string;
  /** An empty environment variable is a value (normally it counts as unset). */
  readonly emptyIsValue?: boolean;
}

/** One declaration per field of T. */
export type Keys<T> = { readonly [K in keyof T]-?: Key<T[K]> };

/** The fields of {@link Config} that are configured; `brokerExplicit` and `httpExplicit` are derived. */
export type Settings = Omit<Config, "brokerExplicit" | "httpExplicit">;

function fail(where: string, rule: string, got: string): never {
  throw new SchedulerError("CONFIG", `${where} must be ${rule}: got ${got}`);
}

/** An integer from min to max; a string of digits counts (env and flags are strings). */
export function int(min: number, max: number): Rule<number> {
  const check = (v: unknown, where: string) => {
    const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
    if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
      fail(where, `an integer from ${min} to ${max}`, show(v));
    }
    return n;
  };
  return { kind: "integer", arg: "N", check };
}

/** One of a few words. */
export function oneOf<const T extends string>(...allowed: T[]): Rule<T> {
  const check = (v: unknown, where: string) => {
    if (typeof v !== "string" || !(allowed as string[]).includes(v)) {
      fail(where, `one of ${allowed.join(", ")}`, show(v));
    }
    return v as T;
  };
  return { kind: "choice", arg: allowed.join("|"), check };
}

/** A string matching `pattern`, described as `what`. */
export function text(pattern: RegExp, what: string, arg: string): Rule<string> {
  const check = (v: unknown, where: string) => {
    if (typeof v !== "string" || !pattern.test(v)) fail(where, what, show(v));
    return v;
  };
  return { kind: "text", arg, check };
}

/** A comma-separated list (a JSON array in the file) of strings matching `pattern`. */
export function list(pattern: RegExp, what: string, arg: string): Rule<string[]> {
  const check = (v: unknown, where: string) => {
    const items = typeof v === "string" ? v.split(",").map((s) => s.trim()).filter(Boolean) : v;
    if (!Array.isArray(items) || !items.every((s) => typeof s === "string" && pattern.test(s))) {
      fail(where, `a comma-separated list of ${what}`, show(v));
    }
    return items;
  };
  return { kind: "list", arg, check };
}

/** A secret is never echoed, not even a short one: the message gives its length only. */
export function secret(minChars: number): Rule<string> {
  const check = (v: unknown, where: string) => {
    if (typeof v !== "string" || v.length < minChars) {
      fail(
        where,
        `at least ${minChars} characters`,
        typeof v === "string" ? `${v.length} characters` : typeof v,
      );
    }
    return v;
  };
  return { kind: "secret", arg: "SECRET", check };
}

/** A switch: a flag without a value, or 1, true, 0, false from the environment. */
export function bool(): Rule<boolean> {
  const check = (v: unknown, where: string) => {
    if (v === true || v === "1" || v === "true") return true;
    if (v === false || v === "0" || v === "false") return false;
    return fail(where, "1, true, 0 or false", show(v));
  };
  return { kind: "boolean", arg: "", check };
}

/** The default address of the HTTP face (loopback; never NATS's own 8222). */
export const DEFAULT_HTTP = "127.0.0.1:8090";

const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;
const PATH = /./;

function defaultNodeId(): string {
  let host = "node";
  try {
    host = Deno.hostname();
  } catch {
    // no permission or no hostname: keep the default
  }
  return `${host.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 40)}-${Deno.pid}`;
}

/**
 * Every setting, in the order of `--help`. Each has an environment variable and
 * its name is its config-file key; the keys that had no variable before got
 * `TASK_SCHEDULER_<NAME>` ones.
 */
export const CONFIG_KEYS: Keys<Settings> = {
  role: {
    env: "TASK_SCHEDULER_ROLE",
    flag: "role",
    default: "all",
    rule: oneOf("all", "scheduler", "worker", "monitor"),
    help: "what this process runs",
  },
  nodeId: {
    env: "TASK_SCHEDULER_NODE_ID",
    flag: "node-id",
    default: defaultNodeId,
    shown: "<hostname>-<pid>",
    rule: text(TOKEN, "1 to 64 letters, digits, _ or -", "ID"),
    help: "node id in monitor.worker.<node>",
  },
  workers: {
    env: "TASK_SCHEDULER_WORKERS",
    flag: "workers",
    default: 5,
    rule: int(0, 1024),
    help: "worker actors in this process",
  },
  concurrency: {
    env: "TASK_SCHEDULER_CONCURRENCY",
    flag: "concurrency",
    default: 16,
    rule: int(1, 10_000),
    help: "tasks per worker at once",
  },
  capabilities: {
    env: "TASK_SCHEDULER_CAPABILITIES",
    flag: "capabilities",
    default: [],
    rule: list(TOKEN, "capability names", "a,b"),
    help: "capabilities of this node's workers",
  },
  maxQueue: {
    env: "TASK_SCHEDULER_MAX_QUEUE",
    flag: "max-queue",
    default: 10_000,
    rule: int(1, 10_000_000),
    help: "tasks the scheduler holds in memory; the rest wait in the stream",
  },
  // The TASKS stream refuses a submission when full (discard new), never drops an older one:
  // an acked publish hears "maximum bytes exceeded" or "maximum messages exceeded". Off by
  // default: a byte cap larger than JetStream's storage would stop the stream being created.
  tasksMaxBytes: {
    env: "TASK_SCHEDULER_TASKS_MAX_BYTES",
    default: 0,
    shown: "0 (JetStream's limit)",
    rule: int(0, 2 ** 50),
    help:
      "bytes the TASKS stream may hold: when full, submissions are refused (none dropped). 0: JetStream's storage limit; below it leaves room for results",
  },
  tasksMaxMsgs: {
    env: "TASK_SCHEDULER_TASKS_MAX_MSGS",
    default: 0,
    shown: "0 (no limit)",
    rule: int(0, 1_000_000_000_000),
    help:
      "submissions the TASKS stream may hold (waiting or not yet finished): when full, new ones are refused. 0: no limit",
  },
  // Per-user limits (actors/scheduler/limits.ts). The defaults never throttle one user on one
  // leader: it checks up to about 45,000 submissions/s on two cores (batches of 1,000), and the
  // benches send 140,000 in a few seconds as one user; a per-user in-flight cap below maxQueue
  // would refuse such a burst, and one at or above it never bites, so the cap is off unless set.
  userRate: {
    env: "TASK_SCHEDULER_USER_RATE",
    default: 100_000,
    rule: int(0, 10_000_000),
    help:
      "submissions per second per user (token sub), on average; 0: no limit. The default is above what one leader can check, so only a lower value throttles",
  },
  userBurst: {
    env: "TASK_SCHEDULER_USER_BURST",
    default: 250_000,
    rule: int(1, 100_000_000),
    help: "submissions one user may make at once before userRate applies",
  },
  userInFlight: {
    env: "TASK_SCHEDULER_USER_IN_FLIGHT",
    default: 0,
    shown: "0 (no limit)",
    rule: int(0, 10_000_000),
    help:
      "tasks per user held by the scheduler and not ended; 0: no limit (maxQueue bounds all held tasks; a cap below it refuses one user's big burst)",
  },
  handlers: {
    env: "TASK_SCHEDULER_HANDLERS",
    flag: "handlers",
    default: [],
    rule: list(/^\S+$/, "module paths", "a.ts,b.ts"),
    help: "modules of user task handlers",
  },
  schedules: {
    env: "TASK_SCHEDULER_SCHEDULES",
    flag: "schedules",
    rule: text(PATH, "a file path", "FILE"),
    help: "JSON file of recurring-job schedules, upserted at start",
  },
  fsRoots: {
    env: "TASK_SCHEDULER_FS_ROOTS",
    flag: "fs-roots",
    default: [],
    rule: list(/^\/[^\0]*$/, "absolute folder paths", "DIR,DIR"),
    help: "folders backup, cleanup and rotate-logs may touch; none: they refuse every task",
  },
  httpAllow: {
    env: "TASK_SCHEDULER_HTTP_ALLOW",
    flag: "http-allow",
    default: [],
    shown: "any host",
    rule: list(
      /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(:\d{1,5})?$/,
      "host names or host:port",
      "HOST,HOST:PORT",
    ),
    help: "hosts http-check may reach (name or name:port)",
  },
  broker: {
    env: "TASK_SCHEDULER_MESSAGE_BROKER",
    flag: "broker",
    default: "nats://127.0.0.1:4222",
    rule: text(
      /^(nats|tls|wss?):\/\/[^\s]+(,(nats|tls|wss?):\/\/[^\s]+)*$/,
      "a nats:// URL (comma-separated for several)",
      "URL",
    ),
    help: "NATS URL(s), comma-separated; when set, no embedded nats-server is started",
  },
  embedded: {
    env: "TASK_SCHEDULER_EMBEDDED",
    flag: "embedded",
    default: "auto",
    rule: oneOf("auto", "always", "never"),
    help:
      "embedded nats-server (locked down): auto starts one when nothing answers at the default address; always starts one at the broker address",
  },
  natsUser: {
    env: "TASK_SCHEDULER_NATS_USER",
    rule: text(/^\S{1,256}$/, "a NATS user name", "NAME"),
    help: "user for a NATS with authorization; by default the embedded server's node credentials",
  },
  natsPassword: {
    env: "TASK_SCHEDULER_NATS_PASSWORD",
    rule: secret(1),
    help: "password of TASK_SCHEDULER_NATS_USER",
  },
  tlsCert: {
    env: "TASK_SCHEDULER_TLS_CERT",
    rule: text(PATH, "a file path", "FILE"),
    help: "client TLS certificate file for NATS (with tlsKey)",
  },
  tlsKey: {
    env: "TASK_SCHEDULER_TLS_KEY",
    rule: text(PATH, "a file path", "FILE"),
    help: "client TLS key file for NATS (with tlsCert)",
  },
  tlsCa: {
    env: "TASK_SCHEDULER_TLS_CA",
    rule: text(PATH, "a file path", "FILE"),
    help: "CA file for NATS's TLS",
  },
  jwtSecret: {
    env: "TASK_SCHEDULER_JWT_SECRET",
    shown: "generated per session",
    rule: secret(32),
    help: "HS256 secret of the tokens, at least 32 characters",
  },
  http: {
    env: "TASK_SCHEDULER_HTTP",
    flag: "http",
    default: DEFAULT_HTTP,
    rule: text(
      /^(off|(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5}))$/,
      "host:port (port 0: any free port) or off",
      "HOST:PORT",
    ),
    help: "address of the dashboard, /metrics and the health probes; off: none",
  },
  alertWebhook: {
    env: "TASK_SCHEDULER_ALERT_WEBHOOK",
    flag: "alert-webhook",
    rule: text(/^https?:\/\/[^\s]+$/, "an http:// or https:// URL", "URL"),
    help: "URL alerts are POSTed to as JSON (retried with backoff); they also go on monitor.alert",
  },
  jwks: {
    env: "TASK_SCHEDULER_JWKS",
    rule: text(PATH, "a file path", "FILE"),
    help:
      "JWKS file of an identity provider: RS256, ES256 and EdDSA tokens verify against its keys",
  },
  loginTtlS: {
    env: "TASK_SCHEDULER_LOGIN_TTL_S",
    default: 3_600,
    rule: int(60, 30 * 86_400),
    help: "lifetime of a token from auth.login, seconds",
  },
  loginMaxFailures: {
    env: "TASK_SCHEDULER_LOGIN_MAX_FAILURES",
    default: 5,
    rule: int(1, 1_000),
    help: "failed logins in a row after which a user is locked",
  },
  loginLockoutS: {
    env: "TASK_SCHEDULER_LOGIN_LOCKOUT_S",
    default: 300,
    rule: int(1, 86_400),
    help: "first lockout of a user, seconds; each further one doubles, up to a day",
  },
  subjectPrefix: {
    env: "TASK_SCHEDULER_SUBJECT_PREFIX",
    default: "",
    emptyIsValue: true, // an empty prefix is a real choice: it overrides a file's prefix
    rule: text(
      /^([A-Za-z0-9_-]{1,32})?$/,
      "empty or one subject token (letters, digits, _ or -)",
      "TOKEN",
    ),
    help: "prefix of every NATS subject",
  },
  replicas: {
    env: "TASK_SCHEDULER_REPLICAS",
    default: 1,
    rule: int(1, 5),
    help: "stream replicas; 3 on a 3-node NATS cluster",
  },
  heartbeatMs: {
    env: "TASK_SCHEDULER_HEARTBEAT_MS",
    default: 1_000,
    rule: int(50, 600_000),
    help: "interval of worker heartbeats, ms",
  },
  nodeLostMs: {
    env: "TASK_SCHEDULER_NODE_LOST_MS",
    default: 3_500,
    rule: int(100, 3_600_000),
    help: "ms after which a silent worker node is lost; more than heartbeatMs",
  },
  leaseMs: {
    env: "TASK_SCHEDULER_LEASE_MS",
    default: 1_500,
    rule: int(200, 600_000),
    help: "scheduler leader lease, ms",
  },
  dataDir: {
    env: "TASK_SCHEDULER_DATA_DIR",
    flag: "data-dir",
    default: ".data",
    rule: text(PATH, "a folder path", "DIR"),
    help: "local state, embedded nats-server data",
  },
  maxPayloadBytes: {
    env: "TASK_SCHEDULER_MAX_PAYLOAD_BYTES",
    default: 1024 * 1024,
    rule: int(1024, 64 * 1024 * 1024),
    help: "largest task body, bytes",
  },
  defaultTimeoutMs: {
    env: "TASK_SCHEDULER_DEFAULT_TIMEOUT_MS",
    default: 30_000,
    rule: int(1, 86_400_000),
    help: "timeout of a task that sets none, ms",
  },
  defaultMaxAttempts: {
    env: "TASK_SCHEDULER_DEFAULT_MAX_ATTEMPTS",
    default: 3,
    rule: int(1, 100),
    help: "attempts of a task that sets none",
  },
  retryBaseMs: {
    env: "TASK_SCHEDULER_RETRY_BASE_MS",
    default: 200,
    rule: int(0, 3_600_000),
    help: "base of the exponential retry backoff, ms",
  },
  retryMaxMs: {
    env: "TASK_SCHEDULER_RETRY_MAX_MS",
    default: 30_000,
    rule: int(0, 86_400_000),
    help: "cap of the retry backoff, ms; at least retryBaseMs",
  },
  shutdownGraceMs: {
    env: "TASK_SCHEDULER_SHUTDOWN_GRACE_MS",
    default: 10_000,
    rule: int(0, 3_600_000),
    help: "grace period for running tasks at shutdown, ms",
  },
  abortGraceMs: {
    env: "TASK_SCHEDULER_ABORT_GRACE_MS",
    default: 2_000,
    rule: int(0, 600_000),
    help: "ms after which a handler ignoring its abort signal is abandoned",
  },
  poolSize: {
    env: "TASK_SCHEDULER_POOL_SIZE",
    default: 0,
    rule: int(0, 256),
    help: "threads for CPU-bound handlers; 0: one per core, at most 4",
  },
  progressPerSecond: {
    env: "TASK_SCHEDULER_PROGRESS_PER_SECOND",
    default: 10,
    rule: int(1, 1_000),
    help: "most progress events per second per task",
  },
  logLevel: {
    env: "TASK_SCHEDULER_LOG_LEVEL",
    flag: "log-level",
    default: "info",
    rule: oneOf("debug", "info", "warn", "error"),
    help: "least severe log level written",
  },
  logFormat: {
    env: "TASK_SCHEDULER_LOG_FORMAT",
    default: "text",
    rule: oneOf("text", "json"),
    help: "log line format",
  },
  logFile: {
    env: "TASK_SCHEDULER_LOG_FILE",
    flag: "log-file",
    rule: text(PATH, "a file path", "FILE"),
    help: "log file besides the console; it rotates by size",
  },
  logMaxBytes: {
    env: "TASK_SCHEDULER_LOG_MAX_BYTES",
    default: 10 * 1024 * 1024,
    rule: int(1024, 1024 * 1024 * 1024),
    help: "size at which the log file rotates, bytes",
  },
  logKeep: {
    env: "TASK_SCHEDULER_LOG_KEEP",
    default: 5,
    rule: int(1, 100),
    help: "rotated log files kept",
  },
};

/** The switches of one run, in the order of `--help`. */
export const FLAG_KEYS: Keys<Flags> = {
  demo: {
    env: "TASK_SCHEDULER_DEMO",
    flag: "demo",
    rule: bool(),
    help: "run the demo plan of recurring jobs with short intervals against temporary folders",
  },
  displayOnly: {
    flag: "display-only",
    default: false,
    rule: bool(),
    help: "print every schedule with its next 3 runs in its zone, and the configuration, then exit",
  },
  help: {
    flag: "help",
    short: "h",
    default: false,
    rule: bool(),
    help: "print this help, then exit",
  },
};

/** The config file itself: named by flag or env, read before either is applied. */
export const CONFIG_FILE: Key<string | undefined> & { env: string; flag: string } = {
  env: "TASK_SCHEDULER_CONFIG",
  flag: "config",
  rule: text(PATH, "a file path", "FILE"),
  help: "JSON config file: any setting under its camelCase key",
};

/** A declaration with its name and where its value goes. */
export interface Declared {
  /** The field of Config or Flags; "config" for the config file. */
  readonly name: string;
  /** A Config field (and config-file key), a Flags field, or the config file's path. */
  readonly to: "config" | "flags" | "file";
  readonly key: Key<unknown>;
}

/** Every declaration, in the order of `--help` and the README table. */
export const DECLARED: readonly Declared[] = [
  { name: "config", to: "file", key: CONFIG_FILE },
  ...Object.entries<Key<unknown>>(CONFIG_KEYS).map(([name, key]) => ({
    name,
    to: "config" as const,
    key,
  })),
  ...Object.entries<Key<unknown>>(FLAG_KEYS).map(([name, key]) => ({
    name,
    to: "flags" as const,
    key,
  })),
];
