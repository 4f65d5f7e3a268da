import assert from "node:assert/strict";
import { SchedulerError } from "../../src/errors.ts";
import {
  type ConfigSources,
  configTable,
  defaults,
  loadConfig,
  USAGE,
} from "../../src/config/config.ts";
import { DECLARED } from "../../src/config/keys.ts";

/** Load with nothing from the machine: no env, and files only from `files`. */
function load(
  args: string[] = [],
  env: Record<string, string> = {},
  files: Record<string, string> = {},
) {
  const sources: ConfigSources = {
    args,
    env,
    readFile: (path) => {
      if (!(path in files)) throw new Deno.errors.NotFound(`no such file: ${path}`);
      return files[path];
    },
  };
  return loadConfig(sources);
}

/** Assert that loading stops with CONFIG and exactly (or matching) this message. */
function stops(
  message: string | RegExp,
  args: string[] = [],
  env: Record<string, string> = {},
  files: Record<string, string> = {},
): void {
  assert.throws(() => load(args, env, files), (err: unknown) => {
    assert.ok(err instanceof SchedulerError, `expected a SchedulerError, got ${err}`);
    assert.equal(err.code, "CONFIG");
    if (typeof message === "string") assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

const SECRET = "s".repeat(32);

Deno.test("config - defaults when nothing is set", () => {
  const { config, flags } = load();
  assert.equal(config.workers, 5);
  assert.equal(config.concurrency, 16);
  assert.equal(config.maxQueue, 10_000);
  assert.equal(config.broker, "nats://127.0.0.1:4222");
  assert.equal(config.brokerExplicit, false);
  assert.equal(config.role, "all");
  assert.deepEqual(config.capabilities, []);
  assert.equal(config.subjectPrefix, "");
  assert.equal(config.jwtSecret, undefined);
  assert.equal(config.tlsCert, undefined);
  assert.match(config.nodeId, /^[A-Za-z0-9_-]{1,64}$/);
  const { nodeId: _a, ...rest } = config;
  const { nodeId: _b, ...expected } = defaults();
  assert.deepEqual(rest, expected);
  assert.deepEqual(flags, { help: false, displayOnly: false });
});

Deno.test("config - environment variables override the defaults", () => {
  const { config } = load([], {
    TASK_SCHEDULER_WORKERS: "7",
    TASK_SCHEDULER_CONCURRENCY: "4",
    TASK_SCHEDULER_MAX_QUEUE: "500",
    TASK_SCHEDULER_MESSAGE_BROKER: "nats://10.0.0.1:4222,nats://10.0.0.2:4222",
    TASK_SCHEDULER_JWT_SECRET: SECRET,
    TASK_SCHEDULER_TLS_CERT: "/etc/ts/cert.pem",
    TASK_SCHEDULER_TLS_KEY: "/etc/ts/key.pem",
    TASK_SCHEDULER_ROLE: "worker",
    TASK_SCHEDULER_LOG_FORMAT: "json",
  });
  assert.equal(config.workers, 7);
  assert.equal(config.concurrency, 4);
  assert.equal(config.maxQueue, 500);
  assert.equal(config.broker, "nats://10.0.0.1:4222,nats://10.0.0.2:4222");
  assert.equal(config.brokerExplicit, true);
  assert.equal(config.jwtSecret, SECRET);
  assert.equal(config.tlsCert, "/etc/ts/cert.pem");
  assert.equal(config.tlsKey, "/etc/ts/key.pem");
  assert.equal(config.role, "worker");
  assert.equal(config.logFormat, "json");
});

Deno.test("config - an empty environment variable is treated as unset", () => {
  const { config } = load([], { TASK_SCHEDULER_WORKERS: "", TASK_SCHEDULER_MESSAGE_BROKER: "" });
  assert.equal(config.workers, 5);
  assert.equal(config.brokerExplicit, false);
});

Deno.test("config - the file overrides the defaults and the environment overrides the file", () => {
  const file = JSON.stringify({ workers: 3, concurrency: 8, maxQueue: 42, role: "scheduler" });
  const { config } = load(["--config", "ts.json"], { TASK_SCHEDULER_WORKERS: "9" }, {
    "ts.json": file,
  });
  assert.equal(config.workers, 9, "env beats file");
  assert.equal(config.concurrency, 8, "file beats default");
  assert.equal(config.maxQueue, 42);
  assert.equal(config.role, "scheduler");
});

Deno.test("config - the file may be named by TASK_SCHEDULER_CONFIG", () => {
  const { config } = load([], { TASK_SCHEDULER_CONFIG: "/etc/ts.json" }, {
    "/etc/ts.json": JSON.stringify({ broker: "tls://nats.internal:4222", workers: 2 }),
  });
  assert.equal(config.workers, 2);
  assert.equal(config.broker, "tls://nats.internal:4222");
  assert.equal(config.brokerExplicit, true);
});

Deno.test("config - flags override the environment and the file", () => {
  const { config } = load(
    [
      "--config",
      "ts.json",
      "--workers",
      "11",
      "--concurrency",
      "2",
      "--broker",
      "nats://127.0.0.1:5222",
      "--role",
      "monitor",
    ],
    { TASK_SCHEDULER_WORKERS: "9", TASK_SCHEDULER_CONCURRENCY: "3" },
    { "ts.json": JSON.stringify({ workers: 1, concurrency: 1, role: "worker" }) },
  );
  assert.equal(config.workers, 11);
  assert.equal(config.concurrency, 2);
  assert.equal(config.broker, "nats://127.0.0.1:5222");
  assert.equal(config.brokerExplicit, true);
  assert.equal(config.role, "monitor");
});

Deno.test("config - boolean flags: --help, -h and --display-only", () => {
  assert.deepEqual(load(["--help"]).flags, { help: true, displayOnly: false });
  assert.deepEqual(load(["-h"]).flags, { help: true, displayOnly: false });
  assert.deepEqual(load(["--display-only"]).flags, { help: false, displayOnly: true });
});

Deno.test("config - capabilities parse from a comma-separated list", () => {
  assert.deepEqual(load([], { TASK_SCHEDULER_CAPABILITIES: "a, b" }).config.capabilities, [
    "a",
    "b",
  ]);
  assert.deepEqual(load(["--capabilities", "gpu,,cpu ,"]).config.capabilities, ["gpu", "cpu"]);
  const fromFile = load(["--config", "c.json"], {}, {
    "c.json": JSON.stringify({ capabilities: ["x", "y-z"] }),
  });
  assert.deepEqual(fromFile.config.capabilities, ["x", "y-z"]);
  stops(
    'TASK_SCHEDULER_CAPABILITIES must be a comma-separated list of capability names: got "a, b c"',
    [],
    { TASK_SCHEDULER_CAPABILITIES: "a, b c" },
  );
});

Deno.test("config - a bad environment value names the variable, the rule and the value", () => {
  stops('TASK_SCHEDULER_WORKERS must be an integer from 0 to 1024: got "abc"', [], {
    TASK_SCHEDULER_WORKERS: "abc",
  });
  stops('TASK_SCHEDULER_WORKERS must be an integer from 0 to 1024: got "1025"', [], {
    TASK_SCHEDULER_WORKERS: "1025",
  });
  stops('TASK_SCHEDULER_WORKERS must be an integer from 0 to 1024: got "2.5"', [], {
    TASK_SCHEDULER_WORKERS: "2.5",
  });
  stops('TASK_SCHEDULER_CONCURRENCY must be an integer from 1 to 10000: got "0"', [], {
    TASK_SCHEDULER_CONCURRENCY: "0",
  });
  stops('TASK_SCHEDULER_MAX_QUEUE must be an integer from 1 to 10000000: got "-5"', [], {
    TASK_SCHEDULER_MAX_QUEUE: "-5",
  });
  stops(
    'TASK_SCHEDULER_MESSAGE_BROKER must be a nats:// URL (comma-separated for several): got "http://x"',
    [],
    { TASK_SCHEDULER_MESSAGE_BROKER: "http://x" },
  );
  stops('TASK_SCHEDULER_ROLE must be one of all, scheduler, worker, monitor: got "boss"', [], {
    TASK_SCHEDULER_ROLE: "boss",
  });
  stops('TASK_SCHEDULER_LOG_LEVEL must be one of debug, info, warn, error: got "loud"', [], {
    TASK_SCHEDULER_LOG_LEVEL: "loud",
  });
  stops(/^TASK_SCHEDULER_SUBJECT_PREFIX must be empty or one subject token.*: got "a\.b"$/, [], {
    TASK_SCHEDULER_SUBJECT_PREFIX: "a.b",
  });
});

Deno.test("config - a bad flag value names the --flag and the value", () => {
  stops('--workers must be an integer from 0 to 1024: got "many"', ["--workers", "many"]);
  stops('--concurrency must be an integer from 1 to 10000: got "0"', ["--concurrency", "0"]);
  stops('--max-queue must be an integer from 1 to 10000000: got ""', ["--max-queue", ""]);
  stops('--role must be one of all, scheduler, worker, monitor: got "x"', ["--role", "x"]);
  stops(/^--node-id must be 1 to 64 letters, digits, _ or -: got "a\.b"$/, ["--node-id", "a.b"]);
  stops(/^--broker must be a nats:\/\/ URL/, ["--broker", "127.0.0.1:4222"]);
});

Deno.test("config - a bad file value names the file and the key", () => {
  const files = { "ts.json": JSON.stringify({ workers: "lots" }) };
  stops(
    'ts.json: workers must be an integer from 0 to 1024: got "lots"',
    ["--config", "ts.json"],
    {},
    files,
  );
  stops(
    "ts.json: concurrency must be an integer from 1 to 10000: got 1.5",
    ["--config", "ts.json"],
    {},
    { "ts.json": JSON.stringify({ concurrency: 1.5 }) },
  );
  stops(
    "ts.json: capabilities must be a comma-separated list of capability names: got 7",
    ["--config", "ts.json"],
    {},
    { "ts.json": JSON.stringify({ capabilities: 7 }) },
  );
});

Deno.test("config - a bad value from the file stops even when env would override it", () => {
  // Each source is checked as it is read: a broken file is a broken deployment.
  stops(
    /^ts\.json: workers must be an integer/,
    ["--config", "ts.json"],
    { TASK_SCHEDULER_WORKERS: "3" },
    { "ts.json": JSON.stringify({ workers: -1 }) },
  );
});

Deno.test("config - an unknown config-file key stops naming the key", () => {
  stops('config file ts.json: unknown key "wrokers"', ["--config", "ts.json"], {}, {
    "ts.json": JSON.stringify({ wrokers: 3 }),
  });
  // brokerExplicit is derived, never configured.
  stops('config file ts.json: unknown key "brokerExplicit"', ["--config", "ts.json"], {}, {
    "ts.json": JSON.stringify({ brokerExplicit: true }),
  });
});

Deno.test("config - keys inherited from Object.prototype are unknown keys, not settings", () => {
  for (const key of ["toString", "constructor", "__proto__", "hasOwnProperty"]) {
    stops(`config file ts.json: unknown key "${key}"`, ["--config", "ts.json"], {}, {
      "ts.json": `{"${key}": 1}`,
    });
  }
});

Deno.test("config - an unreadable, malformed or non-object file stops naming the file", () => {
  stops(/^config file missing\.json: no such file: missing\.json$/, ["--config", "missing.json"]);
  stops(/^config file ts\.json: .*JSON/, ["--config", "ts.json"], {}, { "ts.json": "{workers: 3" });
  stops("config file ts.json must hold a JSON object", ["--config", "ts.json"], {}, {
    "ts.json": "[1, 2]",
  });
  stops("config file ts.json must hold a JSON object", ["--config", "ts.json"], {}, {
    "ts.json": "null",
  });
});

Deno.test("config - an unknown flag stops naming the flag", () => {
  stops(/^command line: Unknown option '--frobnicate'/, ["--frobnicate"]);
  stops(/^command line: .*--workers.*missing/, ["--workers"]);
});

Deno.test("config - a TLS certificate without its key stops", () => {
  const msg = "TASK_SCHEDULER_TLS_CERT and TASK_SCHEDULER_TLS_KEY must be set together";
  stops(msg, [], { TASK_SCHEDULER_TLS_CERT: "/etc/cert.pem" });
  stops(msg, [], { TASK_SCHEDULER_TLS_KEY: "/etc/key.pem" });
  stops(msg, ["--config", "ts.json"], {}, {
    "ts.json": JSON.stringify({ tlsCert: "/etc/cert.pem" }),
  });
});

Deno.test("config - a short JWT secret stops without echoing the secret", () => {
  assert.throws(
    () => load([], { TASK_SCHEDULER_JWT_SECRET: "hunter2" }),
    (err: unknown) => {
      assert.ok(err instanceof SchedulerError);
      assert.equal(err.code, "CONFIG");
      assert.equal(
        err.message,
        "TASK_SCHEDULER_JWT_SECRET must be at least 32 characters: got 7 characters",
      );
      assert.ok(!err.message.includes("hunter2"), "the secret must not appear in the message");
      return true;
    },
  );
  stops(
    "ts.json: jwtSecret must be at least 32 characters: got number",
    ["--config", "ts.json"],
    {},
    { "ts.json": JSON.stringify({ jwtSecret: 12345 }) },
  );
  assert.equal(load([], { TASK_SCHEDULER_JWT_SECRET: SECRET }).config.jwtSecret, SECRET);
});

Deno.test("config - nodeLostMs must be longer than heartbeatMs", () => {
  stops("nodeLostMs (3500) must be longer than heartbeatMs (5000)", [], {
    TASK_SCHEDULER_HEARTBEAT_MS: "5000",
  });
  stops("nodeLostMs (1000) must be longer than heartbeatMs (1000)", [], {
    TASK_SCHEDULER_NODE_LOST_MS: "1000",
  });
  const ok = load([], { TASK_SCHEDULER_HEARTBEAT_MS: "5000", TASK_SCHEDULER_NODE_LOST_MS: "5001" });
  assert.equal(ok.config.nodeLostMs, 5001);
});

Deno.test("config - retryMaxMs must be at least retryBaseMs", () => {
  stops("retryMaxMs (100) must be >= retryBaseMs (200)", ["--config", "ts.json"], {}, {
    "ts.json": JSON.stringify({ retryMaxMs: 100 }),
  });
});

Deno.test("config - an empty subject prefix from the environment is kept", () => {
  const { config } = load(["--config", "ts.json"], { TASK_SCHEDULER_SUBJECT_PREFIX: "" }, {
    "ts.json": JSON.stringify({ subjectPrefix: "prod" }),
  });
  assert.equal(config.subjectPrefix, "");
});

Deno.test("config - schedules comes from the file, the environment or --schedules", () => {
  assert.equal(load().config.schedules, undefined);
  assert.ok(!("schedules" in defaults()), "no default: the key is absent");
  const file = { "ts.json": JSON.stringify({ schedules: "file.json" }) };
  assert.equal(load(["--config", "ts.json"], {}, file).config.schedules, "file.json");
  const env = { TASK_SCHEDULER_SCHEDULES: "env.json" };
  assert.equal(load(["--config", "ts.json"], env, file).config.schedules, "env.json");
  const args = ["--config", "ts.json", "--schedules", "flag.json"];
  assert.equal(load(args, env, file).config.schedules, "flag.json");
  assert.equal(load([], { TASK_SCHEDULER_SCHEDULES: "" }).config.schedules, undefined);
  stops('--schedules must be a file path: got ""', ["--schedules", ""]);
  stops("ts.json: schedules must be a file path: got 3", ["--config", "ts.json"], {}, {
    "ts.json": JSON.stringify({ schedules: 3 }),
  });
});

Deno.test("config - --demo and TASK_SCHEDULER_DEMO set flags.demo", () => {
  assert.equal(load().flags.demo, undefined);
  assert.deepEqual(load(["--demo"]).flags, { help: false, displayOnly: false, demo: true });
  for (const [raw, demo] of [["1", true], ["true", true], ["0", false], ["false", false]]) {
    assert.equal(load([], { TASK_SCHEDULER_DEMO: raw as string }).flags.demo, demo, `${raw}`);
  }
  assert.equal(load([], { TASK_SCHEDULER_DEMO: "" }).flags.demo, undefined, "empty is unset");
  assert.equal(load(["--demo"], { TASK_SCHEDULER_DEMO: "0" }).flags.demo, true, "flag beats env");
});

Deno.test("config - a bad boolean environment value names the variable", () => {
  stops('TASK_SCHEDULER_DEMO must be 1, true, 0 or false: got "yes"', [], {
    TASK_SCHEDULER_DEMO: "yes",
  });
  stops(/^command line: .*--demo/, ["--demo=1"]);
});

Deno.test("config - switches of one run are not config-file keys", () => {
  for (const key of ["demo", "displayOnly", "help", "config"]) {
    stops(`config file ts.json: unknown key "${key}"`, ["--config", "ts.json"], {}, {
      "ts.json": JSON.stringify({ [key]: true }),
    });
  }
});

Deno.test("config - keys that had no environment variable now have one", () => {
  const { config } = load([], {
    TASK_SCHEDULER_DEFAULT_TIMEOUT_MS: "5000",
    TASK_SCHEDULER_DEFAULT_MAX_ATTEMPTS: "7",
    TASK_SCHEDULER_RETRY_BASE_MS: "100",
    TASK_SCHEDULER_RETRY_MAX_MS: "900",
    TASK_SCHEDULER_ABORT_GRACE_MS: "50",
    TASK_SCHEDULER_PROGRESS_PER_SECOND: "2",
    TASK_SCHEDULER_LOG_MAX_BYTES: "4096",
    TASK_SCHEDULER_LOG_KEEP: "2",
  });
  assert.deepEqual(
    [config.defaultTimeoutMs, config.defaultMaxAttempts, config.retryBaseMs, config.retryMaxMs],
    [5000, 7, 100, 900],
  );
  assert.deepEqual(
    [config.abortGraceMs, config.progressPerSecond, config.logMaxBytes, config.logKeep],
    [50, 2, 4096, 2],
  );
  stops("retryMaxMs (100) must be >= retryBaseMs (200)", [], {
    TASK_SCHEDULER_RETRY_MAX_MS: "100",
  });
});

Deno.test("config - USAGE lists every declared flag and environment variable", () => {
  const flat = USAGE.replace(/\s+/g, " ");
  for (const { key } of DECLARED) {
    if (key.flag) assert.match(USAGE, new RegExp(`--${key.flag}\\b`), `--${key.flag}`);
    if (key.short) assert.ok(USAGE.includes(`-${key.short}, --${key.flag}`), `-${key.short}`);
    if (key.env) assert.match(USAGE, new RegExp(`^  ${key.env} `, "m"), key.env);
    if (key.flag) assert.ok(flat.includes(key.help), `help of --${key.flag}`);
  }
  assert.ok(
    flat.includes(
      "--display-only print every schedule with its next 3 runs in its zone, and the configuration, then exit",
    ),
  );
  assert.ok(flat.includes("--schedules FILE JSON file of recurring-job schedules"));
  assert.ok(flat.includes("--workers N worker actors in this process (default 5)"));
  for (const line of USAGE.split("\n")) assert.ok(line.length <= 100, `too long: ${line}`);
});

Deno.test("config - the README table has a row per declared key", () => {
  const table = configTable();
  const lines = table.trimEnd().split("\n");
  assert.match(lines[0], /^\| variable +\| flag +\| default +\| meaning +\|$/);
  assert.match(lines[1], /^\| -+ \| -+ \| -+ \| -+ \|$/);
  assert.equal(lines.length, DECLARED.length + 2);
  for (const { key } of DECLARED) {
    if (key.env) assert.ok(table.includes(`| \`${key.env}\` `), key.env);
    if (key.flag) assert.ok(table.includes(`--${key.flag}\``), `--${key.flag}`);
  }
  assert.ok(lines.every((line) => line.length === lines[0].length), "columns are padded");
  assert.match(table, /\| `TASK_SCHEDULER_WORKERS` +\| `--workers` +\| 5 +\| worker actors/);
  assert.match(table, /\| `TASK_SCHEDULER_MESSAGE_BROKER` +\| `--broker` +\| `nats:\/\/127/);
  assert.match(table, /\| `TASK_SCHEDULER_SCHEDULES` +\| `--schedules` +\| none +\|/);
  assert.match(table, /\| `TASK_SCHEDULER_DEMO` +\| `--demo` +\| off +\|/);
});

Deno.test("config - the README's configuration table is the one the declarations render", () => {
  const readme = Deno.readTextFileSync(new URL("../../README.md", import.meta.url));
  const start = readme.indexOf("<!-- config-table -->\n");
  const end = readme.indexOf("\n<!-- /config-table -->");
  assert.ok(start >= 0 && end > start, "README.md has the config-table markers");
  assert.equal(
    readme.slice(start + "<!-- config-table -->\n".length, end).trim(),
    configTable().trim(),
    "README.md is out of date: paste configTable() between the markers",
  );
});
