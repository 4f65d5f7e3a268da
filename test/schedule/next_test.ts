import assert from "node:assert/strict";
import { decodeSchedule, nextTicks, type ScheduleJson } from "../../src/schedule/mod.ts";

const task = { type: "echo", payload: {} };

/** The next `n` ticks after `from`, shown on the zone's wall clock with their offset. */
function ticks(json: Omit<ScheduleJson, "name" | "task">, from: string, n: number): string[] {
  const spec = decodeSchedule({ name: "t", task, ...json });
  return nextTicks(spec, Date.parse(from), n).map((t) =>
    Temporal.Instant.fromEpochMilliseconds(t).toZonedDateTimeISO(spec.tz).toString({
      timeZoneName: "never",
    })
  );
}

Deno.test("schedule next - daily 02:30 on Berlin's spring-forward day runs once, at 03:00", () => {
  assert.deepEqual(ticks({ daily: "02:30", tz: "Europe/Berlin" }, "2026-03-28T12:00:00Z", 3), [
    "2026-03-29T03:00:00+02:00",
    "2026-03-30T02:30:00+02:00",
    "2026-03-31T02:30:00+02:00",
  ]);
});

Deno.test("schedule next - daily 02:30 on Berlin's fall-back day runs once, the first 02:30", () => {
  assert.deepEqual(ticks({ daily: "02:30", tz: "Europe/Berlin" }, "2026-10-24T12:00:00Z", 3), [
    "2026-10-25T02:30:00+02:00",
    "2026-10-26T02:30:00+01:00",
    "2026-10-27T02:30:00+01:00",
  ]);
  // Starting inside the repeated hour, after the first 02:30: the second one does not fire.
  assert.deepEqual(
    ticks({ daily: "02:30", tz: "Europe/Berlin" }, "2026-10-25T01:10:00Z", 1),
    ["2026-10-26T02:30:00+01:00"],
  );
});

Deno.test("schedule next - daily 02:30 in New York: once on both change days", () => {
  assert.deepEqual(ticks({ daily: "02:30", tz: "America/New_York" }, "2026-03-07T12:00:00Z", 2), [
    "2026-03-08T03:00:00-04:00",
    "2026-03-09T02:30:00-04:00",
  ]);
  assert.deepEqual(ticks({ daily: "01:30", tz: "America/New_York" }, "2026-10-31T12:00:00Z", 2), [
    "2026-11-01T01:30:00-04:00",
    "2026-11-02T01:30:00-05:00",
  ]);
  assert.deepEqual(
    ticks({ daily: "01:30", tz: "America/New_York" }, "2026-11-01T05:45:00Z", 1),
    ["2026-11-02T01:30:00-05:00"],
    "inside the repeated hour, after the first 01:30",
  );
});

Deno.test("schedule next - intervals are elapsed time and ignore day-saving changes", () => {
  // Every 1h across Berlin's spring-forward: always 3,600 s apart.
  const spec = decodeSchedule({ name: "h", every: "1h", tz: "Europe/Berlin", task });
  const t = nextTicks(spec, Date.parse("2026-03-28T22:30:00Z"), 6);
  for (let i = 1; i < t.length; i++) assert.equal(t[i] - t[i - 1], 3_600_000);
  assert.equal(new Date(t[0]).toISOString(), "2026-03-28T23:00:00.000Z");
  // every 1d with an offset: midnight UTC plus 2 h, whatever the zone's clock says.
  const daily = decodeSchedule({
    name: "d",
    every: "1d",
    offset: "2h",
    tz: "America/New_York",
    task,
  });
  assert.deepEqual(
    nextTicks(daily, Date.parse("2026-03-07T12:00:00Z"), 3).map((x) => new Date(x).toISOString()),
    ["2026-03-08T02:00:00.000Z", "2026-03-09T02:00:00.000Z", "2026-03-10T02:00:00.000Z"],
  );
});

Deno.test("schedule next - weekly on several days, in the zone's week", () => {
  assert.deepEqual(
    ticks(
      { weekly: { days: ["sun", "wed"], at: "03:00" }, tz: "Europe/Berlin" },
      "2026-11-28T00:00:00Z",
      4,
    ),
    [
      "2026-11-29T03:00:00+01:00",
      "2026-12-02T03:00:00+01:00",
      "2026-12-06T03:00:00+01:00",
      "2026-12-09T03:00:00+01:00",
    ],
  );
});

Deno.test("schedule next - cron keeps the same day-saving rule as daily", () => {
  // Every 20 minutes across Berlin's fall-back: the repeated hour fires nothing twice.
  assert.deepEqual(
    ticks({ cron: "*/20 * * * *", tz: "Europe/Berlin" }, "2026-10-25T00:30:00Z", 3),
    [
      "2026-10-25T02:40:00+02:00",
      "2026-10-25T03:00:00+01:00",
      "2026-10-25T03:20:00+01:00",
    ],
  );
  // And across spring-forward: the skipped hour's ticks collapse into one at 03:00.
  assert.deepEqual(
    ticks({ cron: "*/20 * * * *", tz: "Europe/Berlin" }, "2026-03-29T00:30:00Z", 3),
    [
      "2026-03-29T01:40:00+01:00",
      "2026-03-29T03:00:00+02:00",
      "2026-03-29T03:20:00+02:00",
    ],
  );
  // Six fields: seconds first.
  assert.deepEqual(ticks({ cron: "*/15 * * * * *" }, "2026-11-28T10:00:05Z", 2), [
    "2026-11-28T10:00:15+00:00",
    "2026-11-28T10:00:30+00:00",
  ]);
});

Deno.test("schedule next - start and end bound the ticks", () => {
  const spec = decodeSchedule({
    name: "b",
    every: "1h",
    start: "2026-11-28T10:30:00Z",
    end: "2026-11-28T13:00:00Z",
    task,
  });
  assert.deepEqual(
    nextTicks(spec, Date.parse("2026-11-28T00:00:00Z"), 10).map((x) => new Date(x).toISOString()),
    ["2026-11-28T11:00:00.000Z", "2026-11-28T12:00:00.000Z", "2026-11-28T13:00:00.000Z"],
  );
});
