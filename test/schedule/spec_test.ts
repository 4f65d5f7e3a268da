import assert from "node:assert/strict";
import fc from "fast-check";
import { SchedulerError } from "../../src/errors.ts";
import {
  decodeSchedule,
  DEFAULT_CATCHUP_WINDOW_MS,
  encodeSchedule,
  formatDuration,
  parseDuration,
  type ScheduleSpec,
} from "../../src/schedule/mod.ts";

const TASK = { type: "backup", payload: { source: "/srv", target: "/backups" } };

/** The defaults every spec gets when the JSON leaves the field out. */
const DEFAULTS = {
  tz: "UTC",
  jitterMs: 0,
  catchup: "skip",
  catchupWindowMs: 3_600_000,
  overlap: "skip",
  paused: false,
} as const;

function spec(extra: Record<string, unknown>): Record<string, unknown> {
  return { name: "nightly", task: TASK, ...extra };
}

/** Assert that decoding throws INVALID_ARGUMENT with exactly (or matching) `message`. */
function refused(value: unknown, message: string | RegExp): void {
  assert.throws(
    () => decodeSchedule(value),
    (err: unknown) => {
      assert.ok(err instanceof SchedulerError, `expected a SchedulerError, got ${err}`);
      assert.equal(err.code, "INVALID_ARGUMENT");
      if (typeof message === "string") assert.equal(err.message, message);
      else assert.match(err.message, message);
      return true;
    },
  );
}

// ---------------------------------------------------------------- accepted kinds

Deno.test("schedule spec - every with an offset decodes to elapsed milliseconds", () => {
  const s = decodeSchedule(spec({ every: "15m", offset: "1m30s" }));
  assert.deepEqual(s, {
    name: "nightly",
    timing: { kind: "every", everyMs: 900_000, offsetMs: 90_000 },
    ...DEFAULTS,
    task: TASK,
  });
});

Deno.test("schedule spec - every without an offset has offset 0", () => {
  const s = decodeSchedule(spec({ every: "1h30m" }));
  assert.deepEqual(s.timing, { kind: "every", everyMs: 5_400_000, offsetMs: 0 });
});

Deno.test("schedule spec - daily HH:MM decodes to a wall time with second 0", () => {
  const s = decodeSchedule(spec({ daily: "02:00", tz: "Europe/Berlin" }));
  assert.deepEqual(s.timing, { kind: "daily", at: { hour: 2, minute: 0, second: 0 } });
  assert.equal(s.tz, "Europe/Berlin");
});

Deno.test("schedule spec - daily HH:MM:SS keeps the seconds", () => {
  const s = decodeSchedule(spec({ daily: "23:59:58" }));
  assert.deepEqual(s.timing, { kind: "daily", at: { hour: 23, minute: 59, second: 58 } });
});

Deno.test("schedule spec - weekly with a single day string", () => {
  const s = decodeSchedule(spec({ weekly: { days: "sun", at: "03:00" } }));
  assert.deepEqual(s.timing, {
    kind: "weekly",
    days: ["sun"],
    at: { hour: 3, minute: 0, second: 0 },
  });
});

Deno.test("schedule spec - weekly with a list: days sorted Monday first, duplicates dropped", () => {
  const s = decodeSchedule(spec({ weekly: { days: ["fri", "mon", "wed", "mon"], at: "08:30" } }));
  assert.deepEqual(s.timing, {
    kind: "weekly",
    days: ["mon", "wed", "fri"],
    at: { hour: 8, minute: 30, second: 0 },
  });
});

Deno.test("schedule spec - weekly accepts full day names in any case", () => {
  const s = decodeSchedule(spec({ weekly: { days: ["Sunday", "SATURDAY", "Tue"], at: "03:00" } }));
  assert.equal(s.timing.kind, "weekly");
  assert.deepEqual(s.timing.kind === "weekly" && s.timing.days, ["tue", "sat", "sun"]);
  const one = decodeSchedule(spec({ weekly: { days: "Sunday", at: "03:00" } }));
  assert.deepEqual(one.timing.kind === "weekly" && one.timing.days, ["sun"]);
});

Deno.test("schedule spec - cron with 5 fields, spaces normalised", () => {
  const s = decodeSchedule(spec({ cron: "  0   2 * *  1-5 " }));
  assert.deepEqual(s.timing, { kind: "cron", expr: "0 2 * * 1-5" });
});

Deno.test("schedule spec - cron with 6 fields (seconds first)", () => {
  const s = decodeSchedule(spec({ cron: "*/30 * * * * *" }));
  assert.deepEqual(s.timing, { kind: "cron", expr: "*/30 * * * * *" });
});

Deno.test("schedule spec - fills the defaults: UTC, skip, skip, 1h window, no jitter, running", () => {
  const s = decodeSchedule(spec({ every: "30s" }));
  assert.equal(s.tz, "UTC");
  assert.equal(s.catchup, "skip");
  assert.equal(s.overlap, "skip");
  assert.equal(s.catchupWindowMs, 3_600_000);
  assert.equal(s.catchupWindowMs, DEFAULT_CATCHUP_WINDOW_MS);
  assert.equal(s.jitterMs, 0);
  assert.equal(s.paused, false);
  assert.equal(s.start, undefined);
  assert.equal(s.end, undefined);
  assert.equal(s.limit, undefined);
  assert.deepEqual(s.task, TASK);
});

Deno.test("schedule spec - a task without payload gets {} and only the fields given", () => {
  const s = decodeSchedule(spec({ every: "30s", task: { type: "echo" } }));
  assert.deepEqual(s.task, { type: "echo", payload: {} });
});

Deno.test("schedule spec - every optional field is read", () => {
  const s = decodeSchedule({
    name: "nightly-backup_2",
    daily: "02:00",
    tz: "Europe/Berlin",
    start: "2026-12-01T00:00:00Z",
    end: "2027-12-01T00:00:00+01:00",
    limit: 10,
    jitterMs: 5_000,
    catchup: "all",
    catchupWindow: "6h",
    overlap: "cancel-previous",
    paused: true,
    task: {
      type: "backup",
      payload: { source: "/srv/data", target: "/srv/backups" },
      priority: 7,
      timeoutMs: 3_600_000,
      maxAttempts: 3,
      requires: ["ssd", "disk", "ssd"],
      deadline: "90m",
    },
  });
  assert.deepEqual(s, {
    name: "nightly-backup_2",
    timing: { kind: "daily", at: { hour: 2, minute: 0, second: 0 } },
    tz: "Europe/Berlin",
    start: Date.UTC(2026, 11, 1),
    end: Date.UTC(2027, 10, 30, 23),
    limit: 10,
    jitterMs: 5_000,
    catchup: "all",
    catchupWindowMs: 6 * 3_600_000,
    overlap: "cancel-previous",
    paused: true,
    task: {
      type: "backup",
      payload: { source: "/srv/data", target: "/srv/backups" },
      priority: 7,
      timeoutMs: 3_600_000,
      maxAttempts: 3,
      requires: ["disk", "ssd"],
      deadlineMs: 90 * 60_000,
    },
  });
});

Deno.test("schedule spec - start and end read any zone, and February 29 of a leap year", () => {
  const s = decodeSchedule(
    spec({ every: "1m", start: "2028-02-29T00:00:00Z", end: "2028-03-01T00:00:00.5-05:30" }),
  );
  assert.equal(s.start, Date.UTC(2028, 1, 29));
  assert.equal(s.end, Date.UTC(2028, 2, 1, 5, 30, 0, 500));
});

Deno.test("schedule spec - each catchup and overlap policy is accepted", () => {
  for (const catchup of ["skip", "one", "all"] as const) {
    assert.equal(decodeSchedule(spec({ every: "1s", catchup })).catchup, catchup);
  }
  for (const overlap of ["skip", "allow", "buffer-one", "cancel-previous"] as const) {
    assert.equal(decodeSchedule(spec({ every: "1s", overlap })).overlap, overlap);
  }
});

// ---------------------------------------------------------------- refused specs

const LONG = "x".repeat(65);
const FIELDS_LIST = "name, every, offset, daily, weekly, cron, tz, start, end, limit, jitterMs, " +
  "catchup, catchupWindow, overlap, paused, task";
const TASK_FIELDS_LIST = "type, payload, priority, timeoutMs, maxAttempts, requires, deadline";
const DURATION = `must be a duration such as "30s", "15m", "1h" or "1d": got`;
const WALL = `must be a time of day "HH:MM" (00:00 to 23:59): got`;
const ISO = `must be an ISO 8601 date-time with a zone, e.g. "2026-12-01T00:00:00Z": got`;
const EXACTLY_ONE = "a schedule needs exactly one of every, daily, weekly or cron: got";

/** [what, the JSON, the field the message must name, the message]. */
const BAD: [string, unknown, string, string | RegExp][] = [
  ["null", null, "schedule", "a schedule must be a JSON object: got null"],
  ["a string", "nightly", "schedule", `a schedule must be a JSON object: got "nightly"`],
  ["an array", [1], "schedule", "a schedule must be a JSON object: got [1]"],
  [
    "an unknown field",
    spec({ every: "1m", interval: "1m" }),
    "interval",
    `unknown field "interval": allowed are ${FIELDS_LIST}`,
  ],
  ["a missing name", { every: "1m", task: TASK }, "name", /^name must be .*: got undefined$/],
  [
    "a name with a space",
    spec({ name: "nightly backup", every: "1m" }),
    "name",
    `name must be 1 to 64 letters, digits, "_" or "-": got "nightly backup"`,
  ],
  [
    "a name with a dot",
    spec({ name: "nightly.backup", every: "1m" }),
    "name",
    `name must be 1 to 64 letters, digits, "_" or "-": got "nightly.backup"`,
  ],
  [
    "a name with a colon",
    spec({ name: "nightly:backup", every: "1m" }),
    "name",
    `name must be 1 to 64 letters, digits, "_" or "-": got "nightly:backup"`,
  ],
  [
    "a name of 65 characters",
    spec({ name: LONG, every: "1m" }),
    "name",
    /^name must be 1 to 64 letters, digits, "_" or "-": got "x{59}…$/,
  ],
  [
    "an empty name",
    spec({ name: "", every: "1m" }),
    "name",
    `name must be 1 to 64 letters, digits, "_" or "-": got ""`,
  ],
  ["no timing", spec({}), "every", `${EXACTLY_ONE} none`],
  [
    "every and cron",
    spec({ every: "1m", cron: "* * * * *" }),
    "cron",
    `${EXACTLY_ONE} every and cron`,
  ],
  [
    "daily and weekly",
    spec({ daily: "02:00", weekly: { days: "sun", at: "02:00" } }),
    "weekly",
    `${EXACTLY_ONE} daily and weekly`,
  ],
  [
    "offset without every",
    spec({ daily: "02:00", offset: "1m" }),
    "offset",
    "offset goes only with every",
  ],
  [
    "offset equal to every",
    spec({ every: "10s", offset: "10s" }),
    "offset",
    `offset must be whole seconds, shorter than every: got "10s"`,
  ],
  [
    "offset longer than every",
    spec({ every: "10s", offset: "1m" }),
    "offset",
    `offset must be whole seconds, shorter than every: got "1m"`,
  ],
  [
    "offset not whole seconds",
    spec({ every: "10s", offset: "1500ms" }),
    "offset",
    `offset must be whole seconds, shorter than every: got "1500ms"`,
  ],
  [
    "offset not a duration",
    spec({ every: "10s", offset: "5" }),
    "offset",
    `offset ${DURATION} "5"`,
  ],
  [
    "every under a second",
    spec({ every: "500ms" }),
    "every",
    `every must be whole seconds, at least "1s": got "500ms"`,
  ],
  [
    "every of zero",
    spec({ every: "0s" }),
    "every",
    `every must be whole seconds, at least "1s": got "0s"`,
  ],
  [
    "every not whole seconds",
    spec({ every: "1500ms" }),
    "every",
    `every must be whole seconds, at least "1s": got "1500ms"`,
  ],
  ["every without a unit", spec({ every: "30" }), "every", `every ${DURATION} "30"`],
  ["every with a fraction", spec({ every: "1.5s" }), "every", `every ${DURATION} "1.5s"`],
  ["every with an unknown unit", spec({ every: "1w" }), "every", `every ${DURATION} "1w"`],
  ["every with a space", spec({ every: "1h 30m" }), "every", `every ${DURATION} "1h 30m"`],
  ["every negative", spec({ every: "-1m" }), "every", `every ${DURATION} "-1m"`],
  ["every empty", spec({ every: "" }), "every", `every ${DURATION} ""`],
  ["every as a number", spec({ every: 60 }), "every", `every ${DURATION} 60`],
  [
    "a catchupWindow not a duration",
    spec({ every: "1m", catchupWindow: "1 hour" }),
    "catchupWindow",
    `catchupWindow ${DURATION} "1 hour"`,
  ],
  ["daily 24:00", spec({ daily: "24:00" }), "daily", `daily ${WALL} "24:00"`],
  ["daily 2:00", spec({ daily: "2:00" }), "daily", `daily ${WALL} "2:00"`],
  ["daily 12:60", spec({ daily: "12:60" }), "daily", `daily ${WALL} "12:60"`],
  ["daily 12:00:60", spec({ daily: "12:00:60" }), "daily", `daily ${WALL} "12:00:60"`],
  ["daily 2pm", spec({ daily: "2pm" }), "daily", `daily ${WALL} "2pm"`],
  [
    "weekly not an object",
    spec({ weekly: "sun" }),
    "weekly",
    `weekly must be {"days": ["mon", …], "at": "HH:MM"}: got "sun"`,
  ],
  [
    "weekly with an empty days list",
    spec({ weekly: { days: [], at: "03:00" } }),
    "weekly.days",
    `weekly.days must be a day or a non-empty list of days ("mon".."sun"): got []`,
  ],
  [
    "weekly without days",
    spec({ weekly: { at: "03:00" } }),
    "weekly.days",
    /^weekly\.days must be a day or a non-empty list of days .*: got undefined$/,
  ],
  [
    "weekly on funday",
    spec({ weekly: { days: ["mon", "funday"], at: "03:00" } }),
    "weekly.days",
    `weekly.days must hold days "mon", "tue", … "sun": got "funday"`,
  ],
  [
    "weekly on a misspelt day",
    spec({ weekly: { days: "sundae", at: "03:00" } }),
    "weekly.days",
    `weekly.days must hold days "mon", "tue", … "sun": got "sundae"`,
  ],
  [
    "weekly with a day number",
    spec({ weekly: { days: [1], at: "03:00" } }),
    "weekly.days",
    `weekly.days must hold days "mon", "tue", … "sun": got 1`,
  ],
  [
    "weekly with an unknown field",
    spec({ weekly: { days: "sun", at: "03:00", tz: "UTC" } }),
    "weekly",
    `weekly: unknown field "tz": allowed are days, at`,
  ],
  [
    "weekly at 25:00",
    spec({ weekly: { days: "sun", at: "25:00" } }),
    "weekly.at",
    `weekly.at ${WALL} "25:00"`,
  ],
  [
    "cron with 4 fields",
    spec({ cron: "0 2 * *" }),
    "cron",
    `cron must be 5 or 6 space-separated fields, e.g. "0 2 * * *": got "0 2 * *"`,
  ],
  [
    "cron with 7 fields",
    spec({ cron: "0 0 2 * * * 2026" }),
    "cron",
    `cron must be 5 or 6 space-separated fields, e.g. "0 2 * * *": got "0 0 2 * * * 2026"`,
  ],
  [
    "cron not a string",
    spec({ cron: 5 }),
    "cron",
    `cron must be 5 or 6 space-separated fields, e.g. "0 2 * * *": got 5`,
  ],
  [
    "cron minute 61",
    spec({ cron: "61 * * * *" }),
    "cron",
    /^cron "61 \* \* \* \*" is not valid: .+/,
  ],
  [
    "cron hour 24",
    spec({ cron: "0 24 * * *" }),
    "cron",
    /^cron "0 24 \* \* \*" is not valid: .+/,
  ],
  [
    "cron with a word",
    spec({ cron: "0 2 * * someday" }),
    "cron",
    /^cron "0 2 \* \* someday" is not valid: .+/,
  ],
  [
    "cron second 60",
    spec({ cron: "60 * * * * *" }),
    "cron",
    /^cron "60 \* \* \* \* \*" is not valid: .+/,
  ],
  [
    "an unknown time zone",
    spec({ every: "1m", tz: "Mars/Olympus" }),
    "tz",
    `tz must be an IANA time zone such as "Europe/Berlin": got "Mars/Olympus"`,
  ],
  [
    "an empty time zone",
    spec({ every: "1m", tz: "" }),
    "tz",
    `tz must be an IANA time zone such as "Europe/Berlin": got ""`,
  ],
  [
    "a time zone not a string",
    spec({ every: "1m", tz: 1 }),
    "tz",
    `tz must be an IANA time zone such as "Europe/Berlin": got 1`,
  ],
  ["start not ISO", spec({ every: "1m", start: "tomorrow" }), "start", `start ${ISO} "tomorrow"`],
  [
    "start without a time",
    spec({ every: "1m", start: "2026-12-01" }),
    "start",
    `start ${ISO} "2026-12-01"`,
  ],
  [
    "start without a zone",
    spec({ every: "1m", start: "2026-12-01T00:00:00" }),
    "start",
    `start ${ISO} "2026-12-01T00:00:00"`,
  ],
  [
    "start in month 13",
    spec({ every: "1m", start: "2026-13-01T00:00:00Z" }),
    "start",
    `start ${ISO} "2026-13-01T00:00:00Z"`,
  ],
  [
    "start on February 30",
    spec({ every: "1m", start: "2026-02-30T00:00:00Z" }),
    "start",
    `start ${ISO} "2026-02-30T00:00:00Z"`,
  ],
  [
    "start as epoch ms",
    spec({ every: "1m", start: 1_700_000_000_000 }),
    "start",
    `start ${ISO} 1700000000000`,
  ],
  ["end not ISO", spec({ every: "1m", end: "next year" }), "end", `end ${ISO} "next year"`],
  [
    "start on February 29 of a common year",
    spec({ every: "1m", start: "2026-02-29T00:00:00Z" }),
    "start",
    `start ${ISO} "2026-02-29T00:00:00Z"`,
  ],
  [
    "end on April 31",
    spec({ every: "1m", end: "2027-04-31T00:00:00Z" }),
    "end",
    `end ${ISO} "2027-04-31T00:00:00Z"`,
  ],
  [
    "end equal to start",
    spec({ every: "1m", start: "2026-12-01T00:00:00Z", end: "2026-12-01T01:00:00+01:00" }),
    "end",
    `end must be after start: got "2026-12-01T00:00:00Z" to "2026-12-01T01:00:00+01:00"`,
  ],
  [
    "end before start",
    spec({ every: "1m", start: "2026-12-01T00:00:00Z", end: "2026-11-01T00:00:00Z" }),
    "end",
    `end must be after start: got "2026-12-01T00:00:00Z" to "2026-11-01T00:00:00Z"`,
  ],
  [
    "limit 0",
    spec({ every: "1m", limit: 0 }),
    "limit",
    "limit must be an integer from 1 to 1000000000: got 0",
  ],
  [
    "limit 1.5",
    spec({ every: "1m", limit: 1.5 }),
    "limit",
    "limit must be an integer from 1 to 1000000000: got 1.5",
  ],
  [
    "limit as a string",
    spec({ every: "1m", limit: "3" }),
    "limit",
    `limit must be an integer from 1 to 1000000000: got "3"`,
  ],
  [
    "jitterMs negative",
    spec({ every: "1m", jitterMs: -1 }),
    "jitterMs",
    "jitterMs must be an integer from 0 to 86400000: got -1",
  ],
  [
    "jitterMs over a day",
    spec({ every: "1m", jitterMs: 86_400_001 }),
    "jitterMs",
    "jitterMs must be an integer from 0 to 86400000: got 86400001",
  ],
  [
    "catchup latest",
    spec({ every: "1m", catchup: "latest" }),
    "catchup",
    `catchup must be one of skip, one, all: got "latest"`,
  ],
  [
    "catchup true",
    spec({ every: "1m", catchup: true }),
    "catchup",
    "catchup must be one of skip, one, all: got true",
  ],
  [
    "overlap queue",
    spec({ every: "1m", overlap: "queue" }),
    "overlap",
    `overlap must be one of skip, allow, buffer-one, cancel-previous: got "queue"`,
  ],
  [
    "paused yes",
    spec({ every: "1m", paused: "yes" }),
    "paused",
    `paused must be true or false: got "yes"`,
  ],
  [
    "a missing task",
    { name: "nightly", every: "1m" },
    "task",
    "task must be an object with at least a type: got undefined",
  ],
  [
    "a task as a string",
    spec({ every: "1m", task: "backup" }),
    "task",
    `task must be an object with at least a type: got "backup"`,
  ],
  [
    "a task as an array",
    spec({ every: "1m", task: [TASK] }),
    "task",
    /^task must be an object with at least a type: got \[/,
  ],
  [
    "a task without a type",
    spec({ every: "1m", task: { payload: {} } }),
    "task.type",
    "task.type must be a task type name (letters, digits, _ or -): got undefined",
  ],
  [
    "a task type with a space",
    spec({ every: "1m", task: { type: "back up" } }),
    "task.type",
    `task.type must be a task type name (letters, digits, _ or -): got "back up"`,
  ],
  [
    "a task with an unknown field",
    spec({ every: "1m", task: { type: "echo", id: "fixed" } }),
    "task",
    `task: unknown field "id": allowed are ${TASK_FIELDS_LIST}`,
  ],
  [
    "a task with dependsOn",
    spec({ every: "1m", task: { type: "echo", dependsOn: ["a"] } }),
    "task",
    `task: unknown field "dependsOn": allowed are ${TASK_FIELDS_LIST}`,
  ],
  [
    "task priority 12",
    spec({ every: "1m", task: { type: "echo", priority: 12 } }),
    "task.priority",
    "task.priority must be an integer from 0 to 9: got 12",
  ],
  [
    "task maxAttempts 0",
    spec({ every: "1m", task: { type: "echo", maxAttempts: 0 } }),
    "task.maxAttempts",
    /^task\.maxAttempts must be an integer from 1 to \d+: got 0$/,
  ],
  [
    "task timeoutMs 0",
    spec({ every: "1m", task: { type: "echo", timeoutMs: 0 } }),
    "task.timeoutMs",
    /^task\.timeoutMs must be an integer from 1 to \d+: got 0$/,
  ],
  [
    "task requires not an array",
    spec({ every: "1m", task: { type: "echo", requires: "gpu" } }),
    "task.requires",
    /^task\.requires must be an array .*: got "gpu"$/,
  ],
  [
    "task deadline soon",
    spec({ every: "1m", task: { type: "echo", deadline: "soon" } }),
    "task.deadline",
    `task.deadline ${DURATION} "soon"`,
  ],
  [
    "task deadline as an ISO date",
    spec({ every: "1m", task: { type: "echo", deadline: "2026-12-01T00:00:00Z" } }),
    "task.deadline",
    `task.deadline ${DURATION} "2026-12-01T00:00:00Z"`,
  ],
];

for (const [what, value, field, message] of BAD) {
  Deno.test(`schedule spec - refuses ${what}, naming ${field}`, () => {
    refused(value, message);
    let text = "";
    try {
      decodeSchedule(value);
    } catch (err) {
      text = (err as Error).message;
    }
    assert.ok(text.includes(field), `${JSON.stringify(text)} does not name ${field}`);
  });
}

// ---------------------------------------------------------------- round trips

const ACCEPTED: [string, Record<string, unknown>][] = [
  ["every", spec({ every: "30s" })],
  ["every with an offset", spec({ every: "1d", offset: "2h30m" })],
  ["every of 90 minutes", spec({ every: "90m" })],
  ["daily", spec({ daily: "02:00", tz: "Europe/Berlin" })],
  ["daily with seconds", spec({ daily: "02:00:30" })],
  ["weekly with one day", spec({ weekly: { days: "sun", at: "03:00" } })],
  [
    "weekly with full day names",
    spec({ weekly: { days: ["Sunday", "wed", "Monday"], at: "03:15:09" } }),
  ],
  ["cron with 5 fields", spec({ cron: " 0  2 * * 1-5" })],
  ["cron with 6 fields", spec({ cron: "*/30 * * * * *", tz: "America/New_York" })],
  [
    "every optional field",
    {
      name: "nightly-backup",
      daily: "02:00",
      tz: "Europe/Berlin",
      start: "2026-12-01T00:00:00.250Z",
      end: "2027-12-01T00:00:00+01:00",
      limit: 10,
      jitterMs: 5_000,
      catchup: "one",
      catchupWindow: "6h",
      overlap: "buffer-one",
      paused: true,
      task: {
        type: "backup",
        payload: { source: "/srv/data", target: "/srv/backups" },
        priority: 0,
        timeoutMs: 3_600_000,
        maxAttempts: 3,
        requires: ["ssd", "disk"],
        deadline: "1d1ms",
      },
    },
  ],
  ["a zero catch-up window", spec({ every: "1m", catchupWindow: "0s", catchup: "all" })],
];

for (const [what, json] of ACCEPTED) {
  Deno.test(`schedule spec - encode then decode gives the same spec back: ${what}`, () => {
    const decoded = decodeSchedule(json);
    const encoded = encodeSchedule(decoded);
    // Through the wire, as schedules.get sends it.
    const again = decodeSchedule(JSON.parse(JSON.stringify(encoded)));
    assert.deepEqual(again, decoded);
    // And the encoding is a fixed point.
    assert.deepEqual(encodeSchedule(again), encoded);
  });
}

Deno.test("schedule spec - encodeSchedule writes defaults out and drops absent options", () => {
  const encoded = encodeSchedule(decodeSchedule(spec({ every: "90s", task: { type: "echo" } })));
  assert.deepEqual(encoded, {
    name: "nightly",
    every: "1m30s",
    tz: "UTC",
    jitterMs: 0,
    catchup: "skip",
    catchupWindow: "1h",
    overlap: "skip",
    paused: false,
    task: { type: "echo", payload: {} },
  });
});

Deno.test("schedule spec - a decoded spec has no undefined-valued keys", () => {
  const s: ScheduleSpec = decodeSchedule(spec({ weekly: { days: "mon", at: "01:00" } }));
  for (const [k, v] of Object.entries(s)) assert.notEqual(v, undefined, k);
  for (const [k, v] of Object.entries(s.task)) assert.notEqual(v, undefined, `task.${k}`);
});

// ---------------------------------------------------------------- durations

Deno.test("schedule spec - parseDuration reads units and sums repeated parts", () => {
  assert.equal(parseDuration("250ms", "x"), 250);
  assert.equal(parseDuration("30s", "x"), 30_000);
  assert.equal(parseDuration("15m", "x"), 900_000);
  assert.equal(parseDuration("1h30m", "x"), 5_400_000);
  assert.equal(parseDuration("1d", "x"), 86_400_000);
  assert.equal(parseDuration("1m1ms", "x"), 60_001);
  assert.equal(parseDuration("0s", "x"), 0);
});

Deno.test("schedule spec - formatDuration writes the shortest canonical form", () => {
  assert.equal(formatDuration(0), "0s");
  assert.equal(formatDuration(1), "1ms");
  assert.equal(formatDuration(90_000), "1m30s");
  assert.equal(formatDuration(3_600_000), "1h");
  assert.equal(formatDuration(86_400_000 + 1), "1d1ms");
  assert.equal(
    formatDuration(2 * 86_400_000 + 3 * 3_600_000 + 4 * 60_000 + 5_000 + 6),
    "2d3h4m5s6ms",
  );
});

Deno.test("schedule spec - parseDuration names the field it was given", () => {
  assert.throws(
    () => parseDuration("soon", "catchupWindow"),
    /^SchedulerError: catchupWindow must/,
  );
});

Deno.test("schedule spec - durations built from units round-trip through format and parse", () => {
  const part = fc.integer({ min: 0, max: 999_999 });
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 99_999 }),
      part,
      part,
      part,
      part,
      (d, h, m, s, ms) => {
        const total = (((d * 24 + h) * 60 + m) * 60 + s) * 1_000 + ms;
        const written = `${d}d${h}h${m}m${s}s${ms}ms`;
        assert.equal(parseDuration(written, "x"), total);
        const canonical = formatDuration(total);
        assert.match(canonical, /^(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$/);
        assert.equal(parseDuration(canonical, "x"), total);
        assert.equal(formatDuration(parseDuration(canonical, "x")), canonical);
        // Canonical: each unit below the next one up.
        const parts = Object.fromEntries(
          [...canonical.matchAll(/(\d+)(ms|s|m|h|d)/g)].map(([, n, u]) => [u, Number(n)]),
        );
        assert.ok((parts.h ?? 0) < 24 && (parts.m ?? 0) < 60 && (parts.s ?? 0) < 60);
        assert.ok((parts.ms ?? 0) < 1_000);
      },
    ),
    { numRuns: 500 },
  );
});
