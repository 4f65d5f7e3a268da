/**
 * `deno task ctl <verb>`: the scheduler from the command line, through the
 * client library (`src/client/`).
 *
 * ```
 * deno task ctl submit sleep '{"ms":3000}' --wait     # progress bar, then the result
 * deno task ctl status ID | result ID | cancel ID | retry ID
 * deno task ctl list --state queued | dlq | dlq purge --all
 * deno task ctl schedules list|get|put|delete|pause|resume|trigger ...
 * deno task ctl nodes | login NAME | token
 * ```
 *
 * `--json` makes stdout one JSON document (errors too, as `{"error"}`); exit
 * codes are in {@link EXIT} and the README. The token comes from `--token`,
 * else `TASK_SCHEDULER_TOKEN`, else the login file `ctl login` writes.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { connect, type SchedulerClient, SchedulerClientError } from "../../src/client/mod.ts";
import { findToken, login, LOGIN_HELP, token, TOKEN_HELP } from "./ctl_auth.ts";
import {
  classify,
  consoleOutput,
  CtlError,
  type Ctx,
  EXIT,
  type Flags,
  natsOptions,
  type Output,
  Usage,
} from "./ctl_common.ts";
import { nodes, NODES_HELP } from "./ctl_nodes.ts";
import { schedules, SCHEDULES_HELP } from "./ctl_schedules.ts";
import { cancel, dlq, list, result, retry, status, submit, TASK_HELP } from "./ctl_tasks.ts";

const USAGE = `Usage: deno task ctl <verb> [arguments] [options]

Verbs:
  submit TYPE [JSON] [--wait]   submit a task; --wait shows its progress and exits with its result
  status ID                     where a task is, or its result once it ended
  result ID [--no-wait]         the task's result (waits until it ends)
  cancel ID                     cancel a task
  retry ID                      run a failed task again (admin)
  list [--state S] [--type T]   the tasks the scheduler holds
  dlq [purge ID|--all]          dead letters (failed tasks); purge them (admin)
  schedules <command>           recurring jobs: list, get, put, delete, pause, resume, trigger
  nodes                         the worker nodes, as a table
  login NAME                    log in as a user; the token is saved for later commands
  token [mint ...]              the token in use and its claims; or mint one with the secret

Options of every verb:
  --json               stdout is one JSON document (errors too: {"error": {"code", "message"}})
  --server URL         NATS (default TASK_SCHEDULER_MESSAGE_BROKER, else nats://127.0.0.1:4222)
  --token JWT          the token (default TASK_SCHEDULER_TOKEN, else the file \`ctl login\` wrote:
                       TASK_SCHEDULER_LOGIN_FILE or $HOME/.config/task-scheduler/token)
  --prefix P           subject prefix (default TASK_SCHEDULER_SUBJECT_PREFIX)
  --tlscert F --tlskey F --tlsca F   TLS files (default TASK_SCHEDULER_TLS_CERT, _KEY, _CA)
  --nats-user U        NATS user (default TASK_SCHEDULER_NATS_USER; password from
                       TASK_SCHEDULER_NATS_PASSWORD)
  -h, --help           help; \`deno task ctl <verb> --help\` for a verb's

Exit codes: 0 succeeded or done, 1 other error, 2 bad usage, 3 failed, 4 cancelled, 5 expired,
6 rejected or refused, 7 not found, 8 authentication or permission, 9 unreachable (no NATS,
nothing answers, no reply in time), 10 not ended yet.`;

/** Every flag; each verb takes the global ones and its own. */
const OPTIONS = {
  // global
  json: { type: "boolean" },
  server: { type: "string", short: "s" },
  token: { type: "string" },
  prefix: { type: "string" },
  tlscert: { type: "string" },
  tlskey: { type: "string" },
  tlsca: { type: "string" },
  "nats-user": { type: "string" },
  help: { type: "boolean", short: "h" },
  // verbs
  id: { type: "string" },
  priority: { type: "string" },
  deadline: { type: "string" },
  timeout: { type: "string" },
  attempts: { type: "string" },
  requires: { type: "string" },
  "depends-on": { type: "string" },
  wait: { type: "boolean" },
  "no-wait": { type: "boolean" },
  "max-wait": { type: "string" },
  state: { type: "string" },
  type: { type: "string" },
  limit: { type: "string" },
  after: { type: "string" },
  all: { type: "boolean" },
  next: { type: "string" },
  note: { type: "string" },
  listen: { type: "string" },
  "password-stdin": { type: "boolean" },
  print: { type: "boolean" },
  raw: { type: "boolean" },
} as const;

const GLOBAL = [
  "json",
  "server",
  "token",
  "prefix",
  "tlscert",
  "tlskey",
  "tlsca",
  "nats-user",
  "help",
];

interface Verb {
  run: (ctx: Ctx, rest: string[]) => Promise<number>;
  flags: string[];
  help: string;
}

const VERBS: Record<string, Verb> = {
  submit: {
    run: submit,
    flags: [
      "id",
      "priority",
      "deadline",
      "timeout",
      "attempts",
      "requires",
      "depends-on",
      "wait",
      "max-wait",
    ],
    help: TASK_HELP.submit,
  },
  status: { run: status, flags: [], help: TASK_HELP.status },
  result: { run: result, flags: ["no-wait", "max-wait"], help: TASK_HELP.result },
  cancel: { run: cancel, flags: ["wait", "max-wait"], help: TASK_HELP.cancel },
  retry: { run: retry, flags: ["wait", "max-wait"], help: TASK_HELP.retry },
  list: { run: list, flags: ["state", "type", "limit", "after", "all"], help: TASK_HELP.list },
  dlq: { run: dlq, flags: ["type", "limit", "after", "all"], help: TASK_HELP.dlq },
  schedules: {
    run: schedules,
    flags: ["next", "note", "wait", "max-wait"],
    help: SCHEDULES_HELP,
  },
  nodes: { run: nodes, flags: ["listen"], help: NODES_HELP },
  login: { run: login, flags: ["password-stdin", "print"], help: LOGIN_HELP },
  token: { run: token, flags: ["raw"], help: TOKEN_HELP },
};

/** `token mint ...` takes `deno task token`'s flags: split them off before parsing. */
function splitMint(args: string[]): { args: string[]; mint: string[] } {
  const verbAt = args.findIndex((a, i) => a === "token" && args[i + 1] === "mint");
  if (verbAt < 0) return { args, mint: [] };
  const mint = args.slice(verbAt + 2);
  const keep = [...args.slice(0, verbAt + 2)];
  // Global flags after `mint` stay global (--json); the rest are mint's.
  const own: string[] = [];
  for (const a of mint) {
    if (a === "--json" || a === "--help" || a === "-h") keep.push(a);
    else own.push(a);
  }
  return { args: keep, mint: own };
}

/** Run the CLI with `argv`; returns the exit code. `output` is for tests. */
export async function main(argv: string[], output?: (json: boolean) => Output): Promise<number> {
  const { args, mint } = splitMint(argv);
  const json = args.includes("--json");
  const out = (output ?? consoleOutput)(json);
  let client: SchedulerClient | undefined;
  let verbName: string | undefined;
  let tokenSource: string | undefined;
  try {
    let parsed;
    try {
      parsed = parseArgs({ args, options: OPTIONS, strict: true, allowPositionals: true });
    } catch (err) {
      throw new Usage((err as Error).message);
    }
    const flags = parsed.values as Flags;
    const [verb, ...rest] = parsed.positionals;
    verbName = verb;
    if (verb === undefined && !flags.help) throw new Usage("no verb");
    if (verb === undefined || verb === "help") {
      const about = rest[0] ? VERBS[rest[0]] : undefined;
      if (rest[0] && !about) throw new Usage(`unknown verb ${JSON.stringify(rest[0])}`);
      out.line(about ? about.help : USAGE);
      return EXIT.ok;
    }
    const v = VERBS[verb];
    if (!v) throw new Usage(`unknown verb ${JSON.stringify(verb)}`);
    if (flags.help) {
      out.line(v.help);
      return EXIT.ok;
    }
    for (const k of Object.keys(flags)) {
      if (!GLOBAL.includes(k) && !v.flags.includes(k)) {
        throw new Usage(`--${k} does not go with ${verb}`, verb);
      }
    }
    let found: { token: string; source: string } | undefined | null = null;
    const tokenOf = async () => {
      if (found === null) found = await findToken(flags);
      return found;
    };
    const ctx: Ctx = {
      flags,
      args: rest,
      out,
      token: tokenOf,
      async client(opts = {}) {
        if (client) return client;
        const t = await tokenOf();
        if (opts.token && !t) {
          throw new CtlError(
            EXIT.auth,
            "UNAUTHENTICATED",
            "no token: pass --token, set TASK_SCHEDULER_TOKEN, or run `deno task ctl login NAME`",
          );
        }
        tokenSource = t?.source;
        client = await open(flags, t?.token);
        return client;
      },
    };
    return await v.run(ctx, mint);
  } catch (err) {
    const c = classify(err);
    if (out.json) out.data({ error: { code: c.code, message: c.message } });
    else {
      console.error(`ctl: ${c.message}`);
      if (c.exit === EXIT.usage) {
        console.error(
          `Run \`deno task ctl ${
            err instanceof Usage && err.verb
              ? `${err.verb} `
              : verbName && VERBS[verbName]
              ? `${verbName} `
              : ""
          }--help\`.`,
        );
      }
      if (c.code === "UNAUTHENTICATED" && tokenSource) {
        console.error(`ctl: the token came from ${tokenSource}`);
      }
    }
    return c.exit;
  } finally {
    await client?.close().catch(() => {});
  }
}

/** Connect as the flags and environment say. */
async function open(flags: Flags, token: string | undefined): Promise<SchedulerClient> {
  try {
    return await connect({
      ...natsOptions(flags),
      token,
      name: "task-scheduler-ctl",
      connectTimeoutMs: 5_000,
    });
  } catch (err) {
    if (err instanceof SchedulerClientError && err.code === "INVALID_ARGUMENT") {
      throw new Usage(err.message);
    }
    throw new CtlError(EXIT.unreachable, "UNREACHABLE", (err as Error).message, { cause: err });
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
