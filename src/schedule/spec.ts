/**
 * Schedules (recurring jobs) as they travel: the JSON a user writes, checked
 * field by field into a {@link ScheduleSpec}. A bad spec is refused with
 * `INVALID_ARGUMENT` naming the field, the rule and the value. Pure: no I/O.
 *
 * @module
 */

import { SchedulerError, show } from "../errors.ts";
import { decodeSubmission, DEFAULT_LIMITS, isTaskType } from "../protocol/submission.ts";
import { compileCron } from "./cron.ts";

/** Days of the week, Monday first (ISO 8601 numbers them 1..7). */
export const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
/** A day of the week. */
export type Weekday = typeof WEEKDAYS[number];

/** What happens to ticks that were due while nothing could fire them. */
export type CatchupPolicy = "skip" | "one" | "all";
/** What happens to a tick while the schedule's previous run has not ended. */
export type OverlapPolicy = "skip" | "allow" | "buffer-one" | "cancel-previous";

/** When a schedule fires: exactly one kind. */
export type Timing =
  | { kind: "every"; everyMs: number; offsetMs: number }
  | { kind: "daily"; at: WallTime }
  | { kind: "weekly"; days: Weekday[]; at: WallTime }
  | { kind: "cron"; expr: string };

/** A time of day on the wall clock. */
export interface WallTime {
  hour: number;
  minute: number;
  second: number;
}

/** The task each tick submits. */
export interface TaskTemplate {
  type: string;
  payload: unknown;
  priority?: number;
  timeoutMs?: number;
  maxAttempts?: number;
  requires?: string[];
  /** The task's deadline, as an offset after the tick's nominal time. */
  deadlineMs?: number;
}

/** A checked schedule. */
export interface ScheduleSpec {
  /** One subject token: the `<name>` of `monitor.schedule.<name>` and of tick ids. */
  name: string;
  timing: Timing;
  /** IANA time zone of wall-clock timings (default `UTC`). */
  tz: string;
  /** No tick before this instant (epoch ms). */
  start?: number;
  /** No tick after this instant (epoch ms). */
  end?: number;
  /** Most ticks ever fired by the timetable (triggers do not count). */
  limit?: number;
  /** Each tick fires up to this much after its nominal time, the same on every scheduler. */
  jitterMs: number;
  catchup: CatchupPolicy;
  /** How far back missed ticks are caught up (`one`, `all`). */
  catchupWindowMs: number;
  overlap: OverlapPolicy;
  /** Created paused. */
  paused: boolean;
  task: TaskTemplate;
}

/** The JSON form of {@link ScheduleSpec}, as users write it. */
export interface ScheduleJson {
  name: string;
  every?: string;
  offset?: string;
  daily?: string;
  weekly?: { days: string[] | string; at: string };
  cron?: string;
  tz?: string;
  start?: string;
  end?: string;
  limit?: number;
  jitterMs?: number;
  catchup?: CatchupPolicy;
  catchupWindow?: string;
  overlap?: OverlapPolicy;
  paused?: boolean;
  task: {
    type: string;
    payload?: unknown;
    priority?: number;
    timeoutMs?: number;
    maxAttempts?: number;
    requires?: string[];
    deadline?: string;
  };
}

/** Default `catchupWindow`: missed ticks older than this are only counted. */
export const DEFAULT_CATCHUP_WINDOW_MS = 3_600_000;
/** The most ticks one catch-up fires; older ones are counted as missed. */
export const MAX_CATCHUP = 1_000;

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const FIELDS = new Set([
  "name",
  "every",
  "offset",
  "daily",
  "weekly",
  "cron",
  "tz",
  "start",
  "end",
  "limit",
  "jitterMs",
  "catchup",
  "catchupWindow",
  "overlap",
  "paused",
  "task",
]);
const TASK_FIELDS = new Set([
  "type",
  "payload",
  "priority",
  "timeoutMs",
  "maxAttempts",
  "requires",
  "deadline",
]);
const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

function invalid(message: string): never {
  throw new SchedulerError("INVALID_ARGUMENT", message);
}

/** Is this a valid schedule name (one subject token)? */
export function isScheduleName(value: unknown): value is string {
  return typeof value === "string" && NAME.test(value);
}

/**
 * Parse a duration such as `"30s"`, `"15m"`, `"1h30m"`, `"1d"` or `"250ms"`
 * into milliseconds; `field` names it in the error.
 */
export function parseDuration(value: unknown, field: string): number {
  if (typeof value !== "string" || !/^(\d{1,9}(ms|s|m|h|d))+$/.test(value)) {
    invalid(`${field} must be a duration such as "30s", "15m", "1h" or "1d": got ${show(value)}`);
  }
  let ms = 0;
  for (const [, n, unit] of value.matchAll(/(\d+)(ms|s|m|h|d)/g)) ms += Number(n) * UNITS[unit];
  return ms;
}

/** Render milliseconds as the shortest duration string {@link parseDuration} reads back. */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  let rest = ms;
  let out = "";
  for (const unit of ["d", "h", "m", "s", "ms"]) {
    const n = Math.floor(rest / UNITS[unit]);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * UNITS[unit];
  }
  return out;
}

function wallTime(value: unknown, field: string): WallTime {
  const m = typeof value === "string" ? /^(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value) : null;
  const [hour, minute, second] = m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : [];
  if (!m || hour! > 23 || minute! > 59 || second! > 59) {
    invalid(`${field} must be a time of day "HH:MM" (00:00 to 23:59): got ${show(value)}`);
  }
  return { hour: hour!, minute: minute!, second: second! };
}

/** Render a wall time as `HH:MM` or `HH:MM:SS`. */
export function formatWallTime(t: WallTime): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(t.hour)}:${p(t.minute)}${t.second ? `:${p(t.second)}` : ""}`;
}

function weekdays(value: unknown, field: string): Weekday[] {
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.length === 0) {
    invalid(
      `${field} must be a day or a non-empty list of days ("mon".."sun"): got ${show(value)}`,
    );
  }
  const days = new Set<Weekday>();
  for (const d of list) {
    const day = typeof d === "string" ? d.slice(0, 3).toLowerCase() : "";
    const full = typeof d === "string" && (d.length === 3 || fullName(day) === d.toLowerCase());
    if (!full || !(WEEKDAYS as readonly string[]).includes(day)) {
      invalid(`${field} must hold days "mon", "tue", … "sun": got ${show(d)}`);
    }
    days.add(day as Weekday);
  }
  return WEEKDAYS.filter((d) => days.has(d));
}

function fullName(day: string): string {
  const names: Record<string, string> = {
    mon: "monday",
    tue: "tuesday",
    wed: "wednesday",
    thu: "thursday",
    fri: "friday",
    sat: "saturday",
    sun: "sunday",
  };
  return names[day] ?? "";
}

/** Is `tz` an IANA time zone this runtime knows? */
export function isTimeZone(tz: unknown): tz is string {
  if (typeof tz !== "string" || tz.length === 0 || tz.length > 64) return false;
  try {
    Temporal.Instant.fromEpochMilliseconds(0).toZonedDateTimeISO(tz);
    return true;
  } catch {
    return false;
  }
}

function instant(value: unknown, field: string): number {
  const ok = typeof value === "string" &&
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/.test(value);
  const ms = ok ? Date.parse(value as string) : NaN;
  // V8 rolls a day past the month's end over ("2026-02-30" reads as March 2): refuse it instead.
  const day = new Date(0);
  const [y, m, d] = ok ? (value as string).slice(0, 10).split("-").map(Number) : [0, 1, 1];
  day.setUTCFullYear(y, m - 1, d);
  if (!Number.isFinite(ms) || day.getUTCMonth() !== m - 1) {
    invalid(
      `${field} must be an ISO 8601 date-time with a zone, e.g. "2026-12-01T00:00:00Z": got ${
        show(value)
      }`,
    );
  }
  return ms;
}

function oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[], d: T): T {
  if (value === undefined) return d;
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    invalid(`${field} must be one of ${allowed.join(", ")}: got ${show(value)}`);
  }
  return value as T;
}

function int(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    invalid(`${field} must be an integer from ${min} to ${max}: got ${show(value)}`);
  }
  return value;
}

function timing(obj: Record<string, unknown>): Timing {
  const kinds = ["every", "daily", "weekly", "cron"].filter((k) => obj[k] !== undefined);
  if (kinds.length !== 1) {
    invalid(
      `a schedule needs exactly one of every, daily, weekly or cron: got ${
        kinds.length ? kinds.join(" and ") : "none"
      }`,
    );
  }
  if (obj.offset !== undefined && kinds[0] !== "every") invalid("offset goes only with every");
  switch (kinds[0]) {
    case "every": {
      const everyMs = parseDuration(obj.every, "every");
      if (everyMs < 1_000 || everyMs % 1_000 !== 0) {
        invalid(`every must be whole seconds, at least "1s": got ${show(obj.every)}`);
      }
      const offsetMs = obj.offset === undefined ? 0 : parseDuration(obj.offset, "offset");
      if (offsetMs % 1_000 !== 0 || offsetMs >= everyMs) {
        invalid(`offset must be whole seconds, shorter than every: got ${show(obj.offset)}`);
      }
      return { kind: "every", everyMs, offsetMs };
    }
    case "daily":
      return { kind: "daily", at: wallTime(obj.daily, "daily") };
    case "weekly": {
      const w = obj.weekly as Record<string, unknown> | null;
      if (typeof w !== "object" || w === null || Array.isArray(w)) {
        invalid(`weekly must be {"days": ["mon", …], "at": "HH:MM"}: got ${show(obj.weekly)}`);
      }
      for (const k of Object.keys(w)) {
        if (k !== "days" && k !== "at") {
          invalid(`weekly: unknown field ${show(k)}: allowed are days, at`);
        }
      }
      return {
        kind: "weekly",
        days: weekdays(w.days, "weekly.days"),
        at: wallTime(w.at, "weekly.at"),
      };
    }
    default: {
      const expr = obj.cron;
      if (typeof expr !== "string" || !/^\s*\S+(\s+\S+){4,5}\s*$/.test(expr)) {
        invalid(`cron must be 5 or 6 space-separated fields, e.g. "0 2 * * *": got ${show(expr)}`);
      }
      try {
        compileCron(expr);
      } catch (err) {
        invalid(`cron ${show(expr)} is not valid: ${(err as Error).message}`);
      }
      return { kind: "cron", expr: expr.trim().replace(/\s+/g, " ") };
    }
  }
}

function template(value: unknown): TaskTemplate {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    invalid(`task must be an object with at least a type: got ${show(value)}`);
  }
  const t = value as Record<string, unknown>;
  for (const k of Object.keys(t)) {
    if (!TASK_FIELDS.has(k)) {
      invalid(`task: unknown field ${show(k)}: allowed are ${[...TASK_FIELDS].join(", ")}`);
    }
  }
  if (!isTaskType(t.type)) {
    invalid(`task.type must be a task type name (letters, digits, _ or -): got ${show(t.type)}`);
  }
  const body: Record<string, unknown> = { payload: t.payload ?? {} };
  for (const k of ["priority", "timeoutMs", "maxAttempts", "requires"]) {
    if (t[k] !== undefined) body[k] = t[k];
  }
  // The task fields follow the same rules as a submission: one decoder says so.
  const decoded = decodeSubmission(
    t.type,
    new TextEncoder().encode(JSON.stringify(body)),
    undefined,
    DEFAULT_LIMITS,
    0,
  );
  if (!decoded.ok) invalid(`task.${decoded.error.message}`);
  const out: TaskTemplate = { type: t.type, payload: body.payload };
  if (t.priority !== undefined) out.priority = t.priority as number;
  if (t.timeoutMs !== undefined) out.timeoutMs = t.timeoutMs as number;
  if (t.maxAttempts !== undefined) out.maxAttempts = t.maxAttempts as number;
  if (t.requires !== undefined) out.requires = decoded.draft.requires;
  if (t.deadline !== undefined) out.deadlineMs = parseDuration(t.deadline, "task.deadline");
  return out;
}

/**
 * Check a schedule as a user wrote it. Throws `INVALID_ARGUMENT` naming the
 * first bad field.
 *
 * @example
 * ```ts
 * const spec = decodeSchedule({ name: "nightly", daily: "02:00", tz: "Europe/Berlin",
 *   task: { type: "backup", payload: { source: "/srv", target: "/backups" } } });
 * ```
 */
export function decodeSchedule(value: unknown): ScheduleSpec {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    invalid(`a schedule must be a JSON object: got ${show(value)}`);
  }
  const obj = value as Record<string, unknown>;
  for (const k of Object.keys(obj)) {
    if (!FIELDS.has(k)) invalid(`unknown field ${show(k)}: allowed are ${[...FIELDS].join(", ")}`);
  }
  if (!isScheduleName(obj.name)) {
    invalid(`name must be 1 to 64 letters, digits, "_" or "-": got ${show(obj.name)}`);
  }
  const spec: ScheduleSpec = {
    name: obj.name,
    timing: timing(obj),
    tz: "UTC",
    jitterMs: 0,
    catchup: oneOf(obj.catchup, "catchup", ["skip", "one", "all"], "skip"),
    catchupWindowMs: DEFAULT_CATCHUP_WINDOW_MS,
    overlap: oneOf(
      obj.overlap,
      "overlap",
      ["skip", "allow", "buffer-one", "cancel-previous"],
      "skip",
    ),
    paused: false,
    task: template(obj.task),
  };
  if (obj.tz !== undefined) {
    if (!isTimeZone(obj.tz)) {
      invalid(`tz must be an IANA time zone such as "Europe/Berlin": got ${show(obj.tz)}`);
    }
    spec.tz = obj.tz;
  }
  if (obj.start !== undefined) spec.start = instant(obj.start, "start");
  if (obj.end !== undefined) spec.end = instant(obj.end, "end");
  if (spec.start !== undefined && spec.end !== undefined && spec.end <= spec.start) {
    invalid(`end must be after start: got ${show(obj.start)} to ${show(obj.end)}`);
  }
  if (obj.limit !== undefined) spec.limit = int(obj.limit, "limit", 1, 1_000_000_000);
  if (obj.jitterMs !== undefined) spec.jitterMs = int(obj.jitterMs, "jitterMs", 0, 86_400_000);
  // A jitter as long as the interval would let a tick fire after the next one.
  if (spec.timing.kind === "every" && spec.jitterMs >= spec.timing.everyMs) {
    invalid(
      `jitterMs must be shorter than every (${spec.timing.everyMs} ms): got ${spec.jitterMs}`,
    );
  }
  if (obj.catchupWindow !== undefined) {
    spec.catchupWindowMs = parseDuration(obj.catchupWindow, "catchupWindow");
  }
  if (obj.paused !== undefined) {
    if (typeof obj.paused !== "boolean") {
      invalid(`paused must be true or false: got ${show(obj.paused)}`);
    }
    spec.paused = obj.paused;
  }
  return spec;
}

/** The JSON form of a checked spec: what `schedules.get` shows and what decodes back to it. */
export function encodeSchedule(spec: ScheduleSpec): ScheduleJson {
  const out: Record<string, unknown> = { name: spec.name };
  const t = spec.timing;
  switch (t.kind) {
    case "every":
      out.every = formatDuration(t.everyMs);
      if (t.offsetMs) out.offset = formatDuration(t.offsetMs);
      break;
    case "daily":
      out.daily = formatWallTime(t.at);
      break;
    case "weekly":
      out.weekly = { days: t.days, at: formatWallTime(t.at) };
      break;
    case "cron":
      out.cron = t.expr;
      break;
    default: {
      const never: never = t;
      throw new Error(`unknown timing ${JSON.stringify(never)}`);
    }
  }
  out.tz = spec.tz;
  if (spec.start !== undefined) out.start = new Date(spec.start).toISOString();
  if (spec.end !== undefined) out.end = new Date(spec.end).toISOString();
  if (spec.limit !== undefined) out.limit = spec.limit;
  out.jitterMs = spec.jitterMs;
  out.catchup = spec.catchup;
  out.catchupWindow = formatDuration(spec.catchupWindowMs);
  out.overlap = spec.overlap;
  out.paused = spec.paused;
  const task: Record<string, unknown> = { type: spec.task.type, payload: spec.task.payload };
  for (const k of ["priority", "timeoutMs", "maxAttempts", "requires"] as const) {
    if (spec.task[k] !== undefined) task[k] = spec.task[k];
  }
  if (spec.task.deadlineMs !== undefined) task.deadline = formatDuration(spec.task.deadlineMs);
  out.task = task;
  return out as unknown as ScheduleJson;
}
