/**
 * `deno task user`: manage the users of `auth.login` in their KV bucket.
 *
 * ```
 * deno task user add alice --roles submitter [--types echo,sleep] [--password-stdin]
 * deno task user passwd alice
 * deno task user list
 * deno task user unlock alice
 * deno task user remove alice
 * ```
 *
 * It connects to NATS as `deno task start` does (the same flags, environment
 * variables and config file, read by `loadConfig`) and edits the bucket
 * directly, by compare-and-set: no node needs to run. Exit codes: 0 done, 1
 * not found or an error, 2 a usage error.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  checkNewPassword,
  checkRoles,
  checkTypes,
  checkUserName,
  cleared,
  type Config,
  connectNats,
  hashPassword,
  loadConfig,
  lockedUntil,
  type NatsTransport,
  newUser,
  ROLES,
  SchedulerError,
  subjects,
  UserStore,
} from "../../src/internal_mod.ts";
import { DECLARED } from "../../src/internal_mod.ts";
import { natsAccess } from "../embedded.ts";
import { readHidden, readLine } from "./_prompt.ts";

const USAGE = `Usage: deno task user <command> [options]

Commands:
  add NAME --roles r1,r2 [--types t1,t2] [--password-stdin]   create a user
  passwd NAME [--password-stdin]                                set its password (and unlock it)
  remove NAME                                                   delete it
  list                                                          every user: roles, types, lock
  unlock NAME                                                   clear its failed logins and lock

NAME: 1 to 64 letters, digits, "_", "-", "." or "@". Roles: ${ROLES.join(", ")}.
The password (at least 8 characters) is read from the terminal without echo, twice; or, when
stdin is not a terminal or --password-stdin is given, from the first line of stdin.

Connects to NATS as \`deno task start\` does: TASK_SCHEDULER_MESSAGE_BROKER (or --broker, default
nats://127.0.0.1:4222), TASK_SCHEDULER_TLS_CERT, _TLS_KEY, _TLS_CA, TASK_SCHEDULER_NATS_USER,
_NATS_PASSWORD (else the embedded server's credentials in --data-dir), TASK_SCHEDULER_SUBJECT_PREFIX,
--config FILE; every flag of \`deno task start --help\` is taken.
Exit codes: 0 done, 1 not found or error, 2 usage.`;

/** A usage error: exit 2. */
class Usage extends Error {}

function say(text: string): void {
  console.log(text);
}

/** The node's flags (those that set configuration), for loadConfig. */
const NODE_FLAGS = DECLARED.filter((d) => d.to !== "flags" && d.key.flag);

function parse(args: string[]) {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
    roles: { type: "string" },
    types: { type: "string" },
    "password-stdin": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  };
  for (const { key } of NODE_FLAGS) {
    options[key.flag!] = { type: key.rule.kind === "boolean" ? "boolean" : "string" };
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (err) {
    throw new Usage((err as Error).message);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const nodeArgs: string[] = [];
  for (const { key } of NODE_FLAGS) {
    const v = values[key.flag!];
    if (v === true) nodeArgs.push(`--${key.flag}`);
    else if (typeof v === "string") nodeArgs.push(`--${key.flag}`, v);
  }
  return { values, positionals: parsed.positionals, nodeArgs };
}

function list(text: string | undefined): string[] | undefined {
  return text?.split(",").map((s) => s.trim()).filter(Boolean);
}

/** The new password: typed twice at a terminal, else stdin's first line; checked. */
async function readPassword(fromStdin: boolean): Promise<string> {
  let password: string;
  if (!fromStdin && Deno.stdin.isTerminal()) {
    password = await readHidden("Password: ");
    if (password !== "" && (await readHidden("Again: ")) !== password) {
      throw new Usage("the two passwords differ");
    }
  } else {
    password = await readLine();
  }
  try {
    checkNewPassword(password);
  } catch (err) {
    throw new Usage((err as Error).message);
  }
  return password;
}

function checked<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new Usage((err as Error).message);
  }
}

async function connect(config: Config): Promise<NatsTransport> {
  // As the node: its anonymous client user may not touch the users bucket.
  const access = await natsAccess(config);
  try {
    return await connectNats({ ...access, name: "task-scheduler-user", timeoutMs: 3_000 });
  } catch (err) {
    throw new SchedulerError(
      "TRANSPORT",
      `cannot reach NATS at ${config.broker}: ${(err as Error).message}`,
    );
  }
}

/** Run one command; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  try {
    return await run(args);
  } catch (err) {
    if (err instanceof Usage) {
      console.error(`user: ${err.message}\nRun \`deno task user --help\` for the commands.`);
      return 2;
    }
    console.error(`user: ${(err as Error).message}`);
    return 1;
  }
}

async function run(args: string[]): Promise<number> {
  const { values, positionals, nodeArgs } = parse(args);
  if (values.help) {
    say(USAGE);
    return 0;
  }
  const [command, name, ...rest] = positionals;
  if (rest.length) throw new Usage(`unexpected argument ${JSON.stringify(rest[0])}`);
  const wantsName = ["add", "passwd", "remove", "unlock"];
  if (command === undefined) throw new Usage("no command");
  if (![...wantsName, "list"].includes(command)) {
    throw new Usage(`unknown command ${JSON.stringify(command)}`);
  }
  if (wantsName.includes(command)) {
    if (name === undefined) throw new Usage(`${command} needs a user NAME`);
    checked(() => checkUserName(name));
  } else if (name !== undefined) {
    throw new Usage(`unexpected argument ${JSON.stringify(name)}`);
  }
  if (command !== "add" && (values.roles !== undefined || values.types !== undefined)) {
    throw new Usage("--roles and --types go with add");
  }
  if (command !== "add" && command !== "passwd" && values["password-stdin"]) {
    throw new Usage("--password-stdin goes with add and passwd");
  }
  let config: Config;
  try {
    ({ config } = loadConfig({ args: nodeArgs }));
  } catch (err) {
    throw new Usage((err as Error).message);
  }

  // Everything the command needs from the person, before connecting.
  let roles: string[] = [];
  let types: string[] | undefined;
  let password = "";
  if (command === "add") {
    const given = list(values.roles as string | undefined);
    if (!given?.length) throw new Usage(`add needs --roles (of ${ROLES.join(", ")})`);
    roles = checked(() => checkRoles(given));
    const t = list(values.types as string | undefined);
    types = t === undefined ? undefined : checked(() => checkTypes(t));
  }
  if (command === "add" || command === "passwd") {
    password = await readPassword(values["password-stdin"] === true);
  }

  const transport = await connect(config);
  try {
    const store = await UserStore.open(transport, subjects(config.subjectPrefix), config.replicas);
    const now = Date.now();
    switch (command) {
      case "add": {
        const user = await newUser({ name: name!, password, roles, types }, now);
        if (!(await store.create(user))) {
          console.error(`user: user ${JSON.stringify(name)} exists (passwd changes its password)`);
          return 1;
        }
        say(
          `added ${JSON.stringify(name)} with roles ${roles.join(", ")}${
            types ? `, types ${types.join(", ")}` : ""
          }`,
        );
        return 0;
      }
      case "passwd": {
        const hash = await hashPassword(password);
        const done = await store.change(name!, (u) => ({ ...cleared(u, now), hash }));
        if (!done) return notFound(name!);
        say(`password of ${JSON.stringify(name)} changed`);
        return 0;
      }
      case "remove":
        if (!(await store.remove(name!))) return notFound(name!);
        say(`removed ${JSON.stringify(name)}`);
        return 0;
      case "unlock": {
        const done = await store.change(
          name!,
          (u) => (u.failures === 0 && u.lockedUntil === undefined ? null : cleared(u, now)),
        );
        if (!done) return notFound(name!);
        say(`${JSON.stringify(name)} unlocked`);
        return 0;
      }
      case "list": {
        const { users, bad } = await store.list();
        for (const key of bad) console.error(`user: entry ${key} cannot be read; left alone`);
        if (!users.length) {
          say("no users");
          return 0;
        }
        const rows = [["NAME", "ROLES", "TYPES", "FAILURES", "LOCKED"]];
        for (const u of users) {
          const until = lockedUntil(u, now);
          rows.push([
            u.name,
            u.roles.join(","),
            u.types?.join(",") ?? "any",
            String(u.failures),
            until === null ? "no" : `until ${new Date(until).toISOString()}`,
          ]);
        }
        const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
        for (const r of rows) say(r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd());
        return 0;
      }
    }
    return 2;
  } finally {
    await transport.close().catch(() => {});
  }
}

function notFound(name: string): number {
  console.error(`user: no user ${JSON.stringify(name)}`);
  return 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
