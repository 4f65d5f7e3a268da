/**
 * Next-fire times against a brute-force model that walks the clock minute by
 * minute. The model knows nothing of `next.ts`: it reads the zone's offsets,
 * keeps the wall clock's high-water mark, and fires a minute whenever a
 * matching wall-clock time was reached for the first time (or, for `every`,
 * whenever elapsed time hits the period). Schedules, zones and start instants
 * are random, with the start often a few hours before a day-saving change.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeSchedule, nextTick, type ScheduleSpec } from "../../src/schedule/mod.ts";

const MINUTE = 60_000;
const ZONES = [
  "UTC",
  "Europe/Berlin",
  "America/New_York",
  "Europe/London",
  "Australia/Lord_Howe", // a 30-minute shift
  "Pacific/Chatham", // +12:45 / +13:45
  "America/St_Johns", // -3:30, with day-saving time
  "Asia/Kolkata", // +5:30, none
  "America/Sao_Paulo", // day-saving time abolished in 2019
  "Australia/Sydney", // southern hemisphere
];

/** The zone's offset at each instant, walking forward through its transitions. */
class OffsetWalker {
  #offset = 0;
  #next = Infinity;
  constructor(readonly tz: string) {}
  at(instant: number): number {
    if (instant >= this.#next || this.#next === Infinity) {
      const zdt = Temporal.Instant.fromEpochMilliseconds(instant).toZonedDateTimeISO(this.tz);
      this.#offset = zdt.offsetNanoseconds / 1e6;
      this.#next = zdt.getTimeZoneTransition("next")?.epochMilliseconds ?? Number.MAX_VALUE;
    }
    return this.#offset;
  }
}

/** A cron field as the model sees it: the values it allows. */
interface Field {
  text: string;
  values: Set<number>;
  star: boolean;
}

/** Values from `min` to `max`; a step over `*` covers the field's whole range up to `fullMax`. */
function fieldArb(min: number, max: number, fullMax = max): fc.Arbitrary<Field> {
  const range = (a: number, b: number, step: number) => {
    const out = new Set<number>();
    for (let v = a; v <= b; v += step) out.add(v);
    return out;
  };
  return fc.oneof(
    fc.constant({ text: "*", values: range(min, max, 1), star: true }),
    fc.integer({ min: 2, max: Math.max(2, Math.floor((max - min + 1) / 2)) }).map((k) => ({
      text: `*/${k}`,
      values: range(min, fullMax, k),
      star: false,
    })),
    fc.uniqueArray(fc.integer({ min, max }), { minLength: 1, maxLength: 4 }).map((vs) => ({
      text: vs.join(","),
      values: new Set(vs),
      star: false,
    })),
    fc.tuple(fc.integer({ min, max }), fc.integer({ min, max }), fc.integer({ min: 1, max: 5 }))
      .map(([a, b, k]) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        return { text: `${lo}-${hi}/${k}`, values: range(lo, hi, k), star: false };
      }),
  );
}

/** A random schedule and, for the model, what matches a wall-clock minute. */
interface Case {
  spec: ScheduleSpec;
  /** Does this wall-clock minute (ms since 1970 on the wall clock) match? Not for `every`. */
  matches?: (wallMs: number) => boolean;
}

const hhmm = fc.tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }));
const pad = (n: number) => String(n).padStart(2, "0");
const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

function wallParts(wallMs: number) {
  const d = new Date(wallMs);
  return {
    minute: d.getUTCMinutes(),
    hour: d.getUTCHours(),
    dom: d.getUTCDate(),
    month: d.getUTCMonth() + 1,
    dow: d.getUTCDay(), // 0 = Sunday
  };
}

function caseArb(): fc.Arbitrary<Case> {
  const tz = fc.constantFrom(...ZONES);
  const task = { type: "echo", payload: {} };
  const daily = fc.tuple(hhmm, tz).map(([[h, m], zone]): Case => ({
    spec: decodeSchedule({ name: "p", daily: `${pad(h)}:${pad(m)}`, tz: zone, task }),
    matches: (w) => wallParts(w).hour === h && wallParts(w).minute === m,
  }));
  const weekly = fc.tuple(
    fc.uniqueArray(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 3 }),
    hhmm,
    tz,
  ).map(([days, [h, m], zone]): Case => ({
    spec: decodeSchedule({
      name: "p",
      weekly: { days: days.map((d) => DAYS[d]), at: `${pad(h)}:${pad(m)}` },
      tz: zone,
      task,
    }),
    matches: (w) => {
      const p = wallParts(w);
      return days.includes((p.dow + 6) % 7) && p.hour === h && p.minute === m;
    },
  }));
  const cron = fc.tuple(
    fieldArb(0, 59),
    fieldArb(0, 23),
    fc.oneof(fc.constant(null), fieldArb(1, 28, 31)),
    fc.oneof(fc.constant(null), fieldArb(0, 6)),
    tz,
  ).map(([min, hour, dom, dow, zone]): Case => {
    const domF = dom ?? { text: "*", values: new Set<number>(), star: true };
    const dowF = dow ?? { text: "*", values: new Set<number>(), star: true };
    return {
      spec: decodeSchedule({
        name: "p",
        cron: `${min.text} ${hour.text} ${domF.text} * ${dowF.text}`,
        tz: zone,
        task,
      }),
      matches: (w) => {
        const p = wallParts(w);
        if (!min.values.has(p.minute) || !hour.values.has(p.hour)) return false;
        const domOk = domF.star || domF.values.has(p.dom);
        const dowOk = dowF.star || dowF.values.has(p.dow);
        // Vixie cron: when both day fields are restricted, either may match.
        return !domF.star && !dowF.star ? domOk || dowOk : domOk && dowOk;
      },
    };
  });
  const every = fc.tuple(fc.integer({ min: 1, max: 24 * 60 }), fc.nat(), tz).map(
    ([minutes, off, zone]): Case => ({
      spec: decodeSchedule({
        name: "p",
        every: `${minutes}m`,
        ...(off % minutes ? { offset: `${off % minutes}m` } : {}),
        tz: zone,
        task,
      }),
    }),
  );
  return fc.oneof(daily, weekly, cron, every);
}

/** A start instant: anywhere in 2000–2037, or a few hours before one of the zone's changes. */
function startArb(): fc.Arbitrary<{ raw: number; nearChange: number; nearSecond: number }> {
  return fc.record({
    raw: fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2037, 0, 1) }),
    nearChange: fc.integer({ min: -1, max: 36 * 60 }),
    nearSecond: fc.integer({ min: 0, max: 59_999 }),
  });
}

function startFor(tz: string, s: { raw: number; nearChange: number; nearSecond: number }): number {
  if (s.nearChange < 0) return s.raw;
  const change = Temporal.Instant.fromEpochMilliseconds(s.raw).toZonedDateTimeISO(tz)
    .getTimeZoneTransition("next");
  if (!change) return s.raw;
  return change.epochMilliseconds - s.nearChange * MINUTE + s.nearSecond;
}

/** The model: the first minute strictly after `after` at which the schedule fires. */
function modelNext(c: Case, after: number, horizonMinutes: number): number | null {
  const t = c.spec.timing;
  const first = Math.floor(after / MINUTE) * MINUTE + MINUTE;
  if (t.kind === "every") {
    for (let m = first; m < first + horizonMinutes * MINUTE; m += MINUTE) {
      if ((((m - t.offsetMs) % t.everyMs) + t.everyMs) % t.everyMs === 0) return m;
    }
    return null;
  }
  const offsets = new OffsetWalker(c.spec.tz);
  // Start a day early so that the high-water mark has seen any recent set-back.
  let m = first - 26 * 60 * MINUTE;
  let high = m - MINUTE + offsets.at(m - MINUTE);
  for (; m < first + horizonMinutes * MINUTE; m += MINUTE) {
    const wall = m + offsets.at(m);
    const reached = Math.max(high, wall);
    let fires = false;
    for (let w = high + MINUTE; w <= reached && !fires; w += MINUTE) fires = c.matches!(w);
    high = reached;
    if (fires && m > after) return m;
  }
  return null;
}

Deno.test("schedule next - agrees with a minute-by-minute model for random specs and zones", () => {
  const horizon = 32 * 24 * 60; // 32 days covers every generated schedule
  fc.assert(
    fc.property(caseArb(), startArb(), (c, s) => {
      const after = startFor(c.spec.tz, s);
      const expected = modelNext(c, after, horizon);
      const actual = nextTick(c.spec, after);
      if (expected === null) {
        assert.ok(actual !== null && actual >= after + horizon * MINUTE - 2 * MINUTE);
        return;
      }
      assert.equal(
        actual === null ? null : new Date(actual).toISOString(),
        new Date(expected).toISOString(),
        `after ${new Date(after).toISOString()} in ${c.spec.tz}`,
      );
    }),
    { numRuns: 300 },
  );
});

Deno.test("schedule next - successive ticks strictly increase and never repeat an instant", () => {
  fc.assert(
    fc.property(caseArb(), startArb(), (c, s) => {
      let t = startFor(c.spec.tz, s);
      for (let i = 0; i < 30; i++) {
        const next = nextTick(c.spec, t);
        assert.ok(next !== null && next > t, `tick ${i} did not advance`);
        t = next;
      }
    }),
    { numRuns: 100 },
  );
});
