/**
 * `deno task ctl schedules …`: list, get, put, delete, pause, resume and
 * trigger recurring jobs (`docs/PROTOCOL.md`, section 8).
 *
 * @module
 */

import type { ScheduleSpec, ScheduleView } from "../../src/client/mod.ts";
import { readAll } from "./_prompt.ts";
import { bool, type Ctx, EXIT, parseInteger, parseJson, str, Usage } from "./ctl_common.ts";
import { brief, clip, pairs, relative, table } from "./ctl_format.ts";
import { awaitResult, waitFlags } from "./ctl_tasks.ts";

/** Help of `schedules`. */
export const SCHEDULES_HELP = `Usage: deno task ctl schedules <command> [options]

  list [--next N]                  every schedule: when, task, paused, next run, last run
  get NAME [--next N]              one schedule: its spec, state, next N runs (default 3), recent runs
  put FILE|JSON|-                  create or change schedules: a spec, or an array of specs (a
                                   schedules file such as deploy/schedules.json); - reads stdin
  delete NAME                      delete it (runs in progress go on)
  pause NAME [--note TEXT]         pause it
  resume NAME [--note TEXT]        resume it
  trigger NAME [--wait]            run it once now (also when paused); prints the run's task id;
                                   --wait waits for its result and exits with its code

Reading needs viewer, submitter or admin; changing needs admin. A bad spec exits 6 with the
field named, an unknown NAME 7.`;

/** `every 10s`, `daily 02:00 Europe/Berlin`, `weekly mon,thu 03:00 UTC`, `cron "0 * * * *" UTC`. */
export function when(s: ScheduleSpec): string {
  const tz = s.tz ?? "UTC";
  if (s.every) return `every ${s.every}${s.offset && s.offset !== "0s" ? ` +${s.offset}` : ""}`;
  if (s.daily) return `daily ${s.daily} ${tz}`;
  if (s.weekly) {
    const days = Array.isArray(s.weekly.days) ? s.weekly.days.join(",") : s.weekly.days;
    return `weekly ${days} ${s.weekly.at} ${tz}`;
  }
  if (s.cron) return `cron "${s.cron}" ${tz}`;
  return "?";
}

function lastRun(v: ScheduleView): string {
  const r = v.recent?.[v.recent.length - 1];
  if (!r) return "-";
  const state = r.state ?? "running";
  return `${state} ${relative(Date.parse(r.firedAt))}`;
}

function nextText(n: number | undefined): { next?: number } {
  return n === undefined ? {} : { next: n };
}

function showView(ctx: Ctx, v: ScheduleView): void {
  const st = v.state;
  const rows: string[][] = [
    ["name", v.name],
    ["when", when(v)],
    ["task", `${v.task.type} ${brief(v.task.payload ?? {}, 70)}`],
    [
      "state",
      st.paused
        ? `paused${st.pausedAt ? ` ${relative(Date.parse(st.pausedAt))}` : ""}${
          st.note ? ` (${st.note})` : ""
        }`
        : "active",
    ],
    [
      "counts",
      `fired ${st.counts.fired}, triggered ${st.counts.triggered}, skipped ${st.counts.skipped}, missed ${st.counts.missed}`,
    ],
    ["running", st.active.length ? st.active.join(", ") : "-"],
  ];
  for (const [i, n] of v.next.entries()) {
    rows.push([i === 0 ? "next" : "", `${n.local} (${relative(Date.parse(n.at))})`]);
  }
  ctx.out.line(pairs(rows));
  if (v.recent.length) {
    ctx.out.line("");
    const runs = [["RUN", "STATE", "FIRED", "ERROR"]];
    for (const r of v.recent) {
      runs.push([
        r.id,
        r.state ?? "running",
        relative(Date.parse(r.firedAt)),
        r.error ? clip(`${r.error.code}: ${r.error.message}`, 60) : "",
      ]);
    }
    ctx.out.line(table(runs));
  }
}

/** Read the specs of `put`: a file, inline JSON, or stdin; one spec or an array. */
async function readSpecs(arg: string): Promise<ScheduleSpec[]> {
  let text: string;
  let what: string;
  if (arg === "-") {
    text = await readAll();
    what = "stdin";
  } else if (/^\s*[{[]/.test(arg)) {
    text = arg;
    what = "the spec";
  } else {
    try {
      text = await Deno.readTextFile(arg);
    } catch (err) {
      throw new Usage(`cannot read ${arg}: ${(err as Error).message}`, "schedules");
    }
    what = arg;
  }
  const value = parseJson(text, what);
  const specs = Array.isArray(value) ? value : [value];
  for (const s of specs) {
    if (typeof s !== "object" || s === null || Array.isArray(s)) {
      throw new Usage(`${what} must hold a schedule spec or an array of them`, "schedules");
    }
  }
  return specs as ScheduleSpec[];
}

/** `ctl schedules <command>`. */
export async function schedules(ctx: Ctx): Promise<number> {
  const [cmd, name, ...rest] = ctx.args;
  if (cmd === undefined) throw new Usage("schedules needs a command", "schedules");
  if (rest.length) throw new Usage(`unexpected argument ${JSON.stringify(rest[0])}`, "schedules");
  const nextFlag = str(ctx.flags, "next");
  const next = nextFlag === undefined ? undefined : parseInteger(nextFlag, "--next", 0, 100);
  const note = str(ctx.flags, "note");
  const needsName = ["get", "delete", "pause", "resume", "trigger"];
  if (![...needsName, "list", "put"].includes(cmd)) {
    throw new Usage(`unknown schedules command ${JSON.stringify(cmd)}`, "schedules");
  }
  if (needsName.includes(cmd) && name === undefined) {
    throw new Usage(`schedules ${cmd} needs a NAME`, "schedules");
  }
  if (cmd === "put" && name === undefined) {
    throw new Usage("schedules put needs a FILE, JSON or -", "schedules");
  }
  if (cmd === "list" && name !== undefined) {
    throw new Usage(`unexpected argument ${JSON.stringify(name)}`, "schedules");
  }
  if (note !== undefined && cmd !== "pause" && cmd !== "resume") {
    throw new Usage("--note goes with pause and resume", "schedules");
  }
  if (next !== undefined && cmd !== "get" && cmd !== "list") {
    throw new Usage("--next goes with get and list", "schedules");
  }
  if (bool(ctx.flags, "wait") && cmd !== "trigger") {
    throw new Usage("--wait goes with trigger", "schedules");
  }
  waitFlags(ctx, "schedules");
  const specs = cmd === "put" ? await readSpecs(name!) : [];
  const c = await ctx.client({ token: true });
  const out = ctx.out;
  switch (cmd) {
    case "list": {
      const views = await c.schedules.list(nextText(next));
      if (out.json) out.data(views);
      else if (!views.length) out.note("no schedules");
      else {
        const rows = [["NAME", "WHEN", "TASK", "STATE", "NEXT", "LAST RUN"]];
        for (const v of views) {
          rows.push([
            v.name,
            when(v),
            v.task.type,
            v.state.paused ? "paused" : "active",
            v.next[0] ? relative(Date.parse(v.next[0].at)) : "-",
            lastRun(v),
          ]);
        }
        out.line(table(rows));
      }
      return EXIT.ok;
    }
    case "get": {
      const v = await c.schedules.get(name!, nextText(next));
      if (out.json) out.data(v);
      else showView(ctx, v);
      return EXIT.ok;
    }
    case "put": {
      const done = [];
      for (const spec of specs) {
        const r = await c.schedules.put(spec);
        done.push({ name: r.schedule.name, created: r.created, changed: r.changed });
        if (!out.json) {
          out.line(
            `${r.created ? "created" : r.changed ? "changed" : "unchanged"} ${r.schedule.name}`,
          );
        }
      }
      if (out.json) out.data(done);
      return EXIT.ok;
    }
    case "delete":
      await c.schedules.delete(name!);
      if (out.json) out.data({ deleted: name });
      else out.line(`deleted ${name}`);
      return EXIT.ok;
    case "pause":
    case "resume": {
      const v = cmd === "pause"
        ? await c.schedules.pause(name!, note)
        : await c.schedules.resume(name!, note);
      if (out.json) out.data(v);
      else out.line(`${cmd === "pause" ? "paused" : "resumed"} ${name}`);
      return EXIT.ok;
    }
    case "trigger": {
      const t = await c.schedules.trigger(name!);
      if (!bool(ctx.flags, "wait")) {
        if (out.json) out.data({ id: t.id });
        else out.line(t.id);
        return EXIT.ok;
      }
      out.note(`${name} triggered: ${t.id}`);
      return await awaitResult(ctx, t);
    }
  }
  return EXIT.usage;
}
