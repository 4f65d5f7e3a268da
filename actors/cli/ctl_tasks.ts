/**
 * The task verbs of `deno task ctl`: submit, status, result, cancel, retry,
 * list and dlq.
 *
 * @module
 */

import {
  type ActiveState,
  type DeadLetter,
  type SchedulerClient,
  type SubmitOptions,
  type TaskHandle,
  TaskRejectedError,
  type TaskResult,
  type TaskStatus,
  type TaskStatusView,
} from "../../src/client/mod.ts";
import { readAll } from "./_prompt.ts";
import {
  bool,
  classify,
  CtlError,
  type Ctx,
  EXIT,
  exitOfResult,
  parseDuration,
  parseInteger,
  parseJson,
  parseList,
  positionals,
  str,
  Usage,
} from "./ctl_common.ts";
import { clip, followProgress, pairs, relative, showResult, table } from "./ctl_format.ts";

const TERMINAL = new Set(["succeeded", "failed", "expired", "cancelled", "rejected"]);
const HELD: readonly string[] = ["waiting", "queued", "dispatched", "running", "retrying"];

/** Help of each task verb. */
export const TASK_HELP: Record<string, string> = {
  submit: `Usage: deno task ctl submit TYPE [JSON] [options]

Submits a task of TYPE with JSON as its payload (default {}; "-" reads it from stdin) and prints
its id once the TASKS stream stored it. With --wait it shows the progress (a bar on a terminal,
plain lines otherwise, on stderr) until the task ends, prints the result and exits with its code.

  --id ID              task id (default: generated)
  --priority N         0..9, higher runs first (default 5)
  --deadline WHEN      must start by then: ISO date-time with a zone, or a duration from now (10m)
  --timeout DURATION   limit of one attempt (30s, 5m, or milliseconds)
  --attempts N         1..100 attempts (retries back off)
  --requires A,B       capabilities a worker must have
  --depends-on X,Y     ids of tasks that must succeed first
  --wait               wait for the result; exit 0 succeeded, 3 failed, 4 cancelled, 5 expired,
                       6 rejected
  --max-wait DURATION  with --wait: give up waiting after this long (exit 10)`,
  status: `Usage: deno task ctl status ID

Where the task is: queued, waiting, dispatched, running or retrying (with its worker, attempts,
priority), or its stored result once it ended. Exit 0 when the task is known, 7 when not.`,
  result: `Usage: deno task ctl result ID [--no-wait] [--max-wait DURATION]

Prints the task's result, waiting (with its progress) until it ends, and exits with its code:
0 succeeded, 3 failed, 4 cancelled, 5 expired, 6 rejected, 7 no such task.

  --no-wait            do not wait: exit 10 when it has not ended
  --max-wait DURATION  give up waiting after this long (exit 10)`,
  cancel: `Usage: deno task ctl cancel ID [--wait]

Cancels the task: a queued one ends cancelled at once, a running one is told to stop. Exit 0 when
the scheduler took the cancel, 6 when the task already ended, 7 when it is unknown.

  --wait               then wait for its result and exit with its code (4 cancelled; 0 when it
                       succeeded before the cancel reached it)`,
  retry: `Usage: deno task ctl retry ID [--wait] [--max-wait DURATION]

Runs a failed task again with a fresh attempt budget (admin): the scheduler submits its dead
letter again, and the new outcome replaces the failed result. Exit 6 when the task did not fail
or still runs, 7 when it has no stored result or dead letter.

  --wait               wait for the new outcome and exit with its code`,
  list:
    `Usage: deno task ctl list [--state STATE] [--type TYPE] [--limit N] [--after CURSOR] [--all]

Lists the tasks the leader holds, oldest submission first: id, type, state, attempts, priority,
worker and age.

  --state STATE   waiting, queued, dispatched, running or retrying (default: all of them)
  --type TYPE     only tasks of this type
  --limit N       1..1000 per page (default 100); the next page's cursor goes to stderr
  --after CURSOR  the page after the one that printed CURSOR
  --all           every page`,
  dlq: `Usage: deno task ctl dlq [list] [--type TYPE] [--limit N] [--after CURSOR] [--all]
       deno task ctl dlq purge ID | --all

dlq         lists the dead letters: failed tasks, kept 30 days with their payload so that
            \`ctl retry ID\` can run them again.
dlq purge   removes one task's dead letter, or every one with --all (admin); prints how many.`,
};

/** Submit options from the flags. */
function submitOptions(ctx: Ctx): SubmitOptions {
  const f = ctx.flags;
  const o: SubmitOptions = {};
  const id = str(f, "id");
  if (id !== undefined) o.id = id;
  const priority = str(f, "priority");
  if (priority !== undefined) o.priority = parseInteger(priority, "--priority", 0, 9);
  const deadline = str(f, "deadline");
  if (deadline !== undefined) {
    o.deadline = /^[0-9]+(ms|s|m|h|d)/.test(deadline) && !/[-T:]/.test(deadline)
      ? new Date(Date.now() + parseDuration(deadline, "--deadline"))
      : deadline;
  }
  const timeout = str(f, "timeout");
  if (timeout !== undefined) {
    o.timeoutMs = parseDuration(timeout, "--timeout");
    if (o.timeoutMs < 1) throw new Usage("--timeout must be at least 1 ms", "submit");
  }
  const attempts = str(f, "attempts");
  if (attempts !== undefined) o.maxAttempts = parseInteger(attempts, "--attempts", 1, 100);
  const requires = parseList(str(f, "requires"));
  if (requires !== undefined) o.requires = requires;
  const dependsOn = parseList(str(f, "depends-on"));
  if (dependsOn !== undefined) o.dependsOn = dependsOn;
  return o;
}

/** `--max-wait` goes with `--wait`. */
export function waitFlags(ctx: Ctx, verb: string): void {
  if (!bool(ctx.flags, "wait") && str(ctx.flags, "max-wait") !== undefined) {
    throw new Usage("--max-wait goes with --wait", verb);
  }
}

function maxWait(ctx: Ctx): number | undefined {
  const v = str(ctx.flags, "max-wait");
  return v === undefined ? undefined : parseDuration(v, "--max-wait");
}

/** Print a terminal result (human or JSON) and give its exit code. */
function finish(ctx: Ctx, r: TaskResult): number {
  if (ctx.out.json) ctx.out.data(r);
  else showResult(ctx.out, r);
  return exitOfResult(r);
}

/** Wait for `task`'s result, showing its progress; print it; its exit code. */
export async function awaitResult(ctx: Ctx, task: TaskHandle): Promise<number> {
  const pending = task.result({ timeoutMs: maxWait(ctx) });
  await followProgress(ctx.out, task, pending);
  try {
    return finish(ctx, await pending);
  } catch (err) {
    if (err instanceof TaskRejectedError) return finish(ctx, err.result);
    if (classify(err).exit === EXIT.pending) {
      throw new CtlError(
        EXIT.pending,
        "PENDING",
        `task ${task.id} has not ended after ${str(ctx.flags, "max-wait")}`,
      );
    }
    throw err;
  }
}

/** `ctl submit TYPE [JSON]`. */
export async function submit(ctx: Ctx): Promise<number> {
  const [type, json] = positionals(ctx, "submit", ["TYPE", "JSON"], 1);
  const payload = json === undefined
    ? {}
    : parseJson(json === "-" ? await readAll() : json, "the payload");
  const opts = submitOptions(ctx);
  const wait = bool(ctx.flags, "wait");
  waitFlags(ctx, "submit");
  const c = await ctx.client({ token: true });
  const t = await c.submit(type, payload, { ...opts, progress: wait && !ctx.out.json });
  if (!wait) {
    if (ctx.out.json) ctx.out.data({ id: t.id, ...t.stored });
    else ctx.out.line(t.id);
    return EXIT.ok;
  }
  if (!ctx.out.tty) ctx.out.note(`${t.id} submitted`);
  return await awaitResult(ctx, t);
}

function isResult(s: TaskStatus): s is TaskResult {
  return TERMINAL.has(s.state);
}

function showView(ctx: Ctx, v: TaskStatusView): void {
  const rows: string[][] = [
    ["id", v.id],
    ["type", v.type],
    ["state", v.state],
    ["attempts", String(v.attempts)],
    ["priority", String(v.priority)],
    ["submitted", `${v.submittedAt} (${relative(Date.parse(v.submittedAt))})`],
  ];
  if (v.worker) rows.push(["worker", v.worker]);
  if (v.deadline) rows.push(["deadline", `${v.deadline} (${relative(Date.parse(v.deadline))})`]);
  if (v.waitingOn?.length) rows.push(["waiting on", v.waitingOn.join(", ")]);
  ctx.out.line(pairs(rows));
}

/** `ctl status ID`. */
export async function status(ctx: Ctx): Promise<number> {
  const [id] = positionals(ctx, "status", ["ID"]);
  const c = await ctx.client({ token: true });
  const s = await c.status(id);
  if (ctx.out.json) ctx.out.data(s);
  else if (isResult(s)) showResult(ctx.out, s);
  else showView(ctx, s);
  return EXIT.ok;
}

/** `ctl result ID`. */
export async function result(ctx: Ctx): Promise<number> {
  const [id] = positionals(ctx, "result", ["ID"]);
  const noWait = bool(ctx.flags, "no-wait");
  if (noWait && str(ctx.flags, "max-wait") !== undefined) {
    throw new Usage("--no-wait and --max-wait exclude each other", "result");
  }
  const c = await ctx.client({ token: false });
  const stored = await c.storedResult(id);
  if (stored) return finish(ctx, stored);
  // Not ended, or no such task: the leader knows which (when there is a token to ask with).
  let view: TaskStatus | undefined;
  if (await ctx.token()) {
    view = await c.status(id);
    if (isResult(view)) return finish(ctx, view);
  }
  if (noWait) {
    const state = view?.state ?? "unknown";
    if (ctx.out.json) ctx.out.data(view ?? { id, state });
    else ctx.out.line(`${id} has not ended${view ? `: ${state}` : ""}`);
    return EXIT.pending;
  }
  return await awaitResult(ctx, c.task(id));
}

/** `ctl cancel ID`. */
export async function cancel(ctx: Ctx): Promise<number> {
  const [id] = positionals(ctx, "cancel", ["ID"]);
  waitFlags(ctx, "cancel");
  const c = await ctx.client({ token: true });
  const r = await c.cancel(id);
  if (bool(ctx.flags, "wait")) {
    if (!ctx.out.json) ctx.out.note(`${id} ${r.state} (was ${r.was})`);
    return await awaitResult(ctx, c.task(id));
  }
  if (ctx.out.json) ctx.out.data(r);
  else ctx.out.line(`${id} ${r.state} (was ${r.was})`);
  return EXIT.ok;
}

/** `ctl retry ID`. */
export async function retry(ctx: Ctx): Promise<number> {
  const [id] = positionals(ctx, "retry", ["ID"]);
  waitFlags(ctx, "retry");
  const c = await ctx.client({ token: true });
  const r = await c.retry(id);
  const said = `${id} resubmitted (replacing stored result #${r.replaces})`;
  if (bool(ctx.flags, "wait")) {
    if (!ctx.out.json) ctx.out.note(said);
    return await awaitResult(ctx, r.task);
  }
  if (ctx.out.json) {
    ctx.out.data({ id: r.id, state: r.state, replaces: r.replaces, duplicate: r.duplicate });
  } else ctx.out.line(said);
  return EXIT.ok;
}

/** Pages of `tasks.list` as the flags say: one, or every one with `--all`. */
async function pages<T>(
  ctx: Ctx,
  verb: string,
  ask: (q: { limit?: number; after?: string }) => Promise<{ tasks: T[]; next?: string }>,
): Promise<{ tasks: T[]; next?: string }> {
  const limitText = str(ctx.flags, "limit");
  const all = bool(ctx.flags, "all");
  const limit = limitText === undefined
    ? (all ? 1_000 : undefined)
    : parseInteger(limitText, "--limit", 1, 1_000);
  let after = str(ctx.flags, "after");
  if (all && after !== undefined) {
    throw new Usage("--all starts at the first page: no --after", verb);
  }
  const tasks: T[] = [];
  for (;;) {
    const page = await ask({ limit, after });
    tasks.push(...page.tasks);
    if (!all || !page.next) return { tasks, next: all ? undefined : page.next };
    after = page.next;
  }
}

/** `ctl list`. */
export async function list(ctx: Ctx): Promise<number> {
  positionals(ctx, "list", []);
  const state = str(ctx.flags, "state");
  if (state !== undefined && !HELD.includes(state)) {
    throw new Usage(
      `--state must be one of ${HELD.join(", ")}: got ${
        JSON.stringify(state)
      } (dead letters: ctl dlq)`,
      "list",
    );
  }
  const type = str(ctx.flags, "type");
  const c = await ctx.client({ token: true });
  const page = await pages<TaskStatusView>(
    ctx,
    "list",
    (q) => c.list({ state: state as ActiveState | undefined, type, ...q }),
  );
  if (ctx.out.json) {
    ctx.out.data(page);
    return EXIT.ok;
  }
  if (!page.tasks.length) ctx.out.note("no tasks held");
  else {
    const rows = [["ID", "TYPE", "STATE", "ATTEMPTS", "PRIO", "WORKER", "SUBMITTED"]];
    for (const t of page.tasks) {
      rows.push([
        t.id,
        t.type,
        t.state,
        String(t.attempts),
        String(t.priority),
        t.worker ?? "-",
        relative(Date.parse(t.submittedAt)),
      ]);
    }
    ctx.out.line(table(rows));
  }
  if (page.next) ctx.out.note(`more: --after ${page.next}`);
  return EXIT.ok;
}

/** `ctl dlq [list]`, `ctl dlq purge ID|--all`. */
export async function dlq(ctx: Ctx): Promise<number> {
  const [sub = "list", ...rest] = ctx.args;
  if (sub === "purge") return await purge(ctx, rest);
  if (sub !== "list") throw new Usage(`unknown dlq command ${JSON.stringify(sub)}`, "dlq");
  if (rest.length) throw new Usage(`unexpected argument ${JSON.stringify(rest[0])}`, "dlq");
  const type = str(ctx.flags, "type");
  const c = await ctx.client({ token: true });
  const page = await pages<DeadLetter>(ctx, "dlq", (q) => c.list({ state: "dead", type, ...q }));
  if (ctx.out.json) {
    ctx.out.data(page);
    return EXIT.ok;
  }
  if (!page.tasks.length) ctx.out.note("no dead letters");
  else {
    const rows = [["ID", "TYPE", "ATTEMPTS", "FAILED", "ERROR"]];
    for (const d of page.tasks) {
      rows.push([
        d.id,
        d.type,
        String(d.attempts),
        d.finishedAt ? relative(Date.parse(d.finishedAt)) : "-",
        d.error ? clip(`${d.error.code}: ${d.error.message}`, 70) : "-",
      ]);
    }
    ctx.out.line(table(rows));
  }
  if (page.next) ctx.out.note(`more: --after ${page.next}`);
  return EXIT.ok;
}

async function purge(ctx: Ctx, rest: string[]): Promise<number> {
  const all = bool(ctx.flags, "all");
  if (rest.length > 1) throw new Usage(`unexpected argument ${JSON.stringify(rest[1])}`, "dlq");
  if (all === (rest.length === 1)) throw new Usage("dlq purge needs an ID or --all", "dlq");
  const c: SchedulerClient = await ctx.client({ token: true });
  const purged = await c.purge(all ? { all: true } : { id: rest[0] });
  if (ctx.out.json) ctx.out.data({ purged });
  else ctx.out.line(`purged ${purged} dead letter${purged === 1 ? "" : "s"}`);
  return EXIT.ok;
}
