import assert from "node:assert/strict";
import fc from "fast-check";
import { isTaskId } from "../../src/protocol/submission.ts";
import {
  decodeSchedule,
  type DuePlan,
  fireAt,
  jitterOf,
  MAX_CATCHUP,
  MISFIRE_GRACE_MS,
  planTicks,
  type ScheduleSpec,
  tickId,
  triggerId,
} from "../../src/schedule/mod.ts";

const S = 1_000;
const MIN = 60 * S;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
/** 2026-11-28T02:00:00Z: a tick of every 10 s, 1 min, 1 h and 1 d. */
const T0 = Date.UTC(2026, 10, 28, 2);

/** A plan without `settleTo`, which has tests of its own. */
function core(plan: DuePlan): Omit<DuePlan, "settleTo"> {
  const { settleTo: _, ...rest } = plan;
  return rest;
}

function schedule(extra: Record<string, unknown> = {}): ScheduleSpec {
  return decodeSchedule({ name: "backup", every: "10s", task: { type: "echo" }, ...extra });
}

/** `from`, `from + step`, … up to and including `to`. */
function ticks(from: number, to: number, step = 10 * S): number[] {
  const out: number[] = [];
  for (let t = from; t <= to; t += step) out.push(t);
  return out;
}

/** The first tick `from + k · step` (k ≥ 0) whose jitter satisfies `ok`. */
function tickWhere(spec: ScheduleSpec, from: number, step: number, ok: (j: number) => boolean) {
  for (let t = from; t < from + 10_000 * step; t += step) {
    if (ok(jitterOf(spec, t))) return t;
  }
  throw new Error("no tick found with that jitter");
}

// ---------------------------------------------------------------- ids

Deno.test("ticks - tickId is <name>:<nominal UTC time in basic ISO 8601>", () => {
  assert.equal(tickId("backup", Date.UTC(2026, 10, 28, 2)), "backup:20261128T020000Z");
  assert.equal(tickId("a_b-1", Date.UTC(2027, 0, 2, 3, 4, 5)), "a_b-1:20270102T030405Z");
  assert.ok(isTaskId(tickId("x".repeat(64), T0)));
});

Deno.test("ticks - tickId is the same for the same nominal time, different for the next", () => {
  assert.equal(tickId("backup", T0), tickId("backup", T0));
  assert.notEqual(tickId("backup", T0), tickId("backup", T0 + S));
  assert.notEqual(tickId("backup", T0), tickId("backup2", T0));
});

Deno.test("ticks - triggerId is a valid task id with the milliseconds, never a tick id", () => {
  const now = Date.UTC(2026, 10, 28, 2, 0, 0, 7);
  const id = triggerId("backup", now);
  assert.equal(id, "backup:manual-20261128T020000007Z");
  assert.ok(isTaskId(id));
  assert.ok(isTaskId(triggerId("x".repeat(64), now)));
  assert.notEqual(triggerId("backup", now), triggerId("backup", now + 1));
  assert.equal(triggerId("backup", T0), "backup:manual-20261128T020000000Z");
  assert.notEqual(triggerId("backup", T0), tickId("backup", T0));
  // A tick id's time part starts with a digit; a trigger's with "manual-".
  assert.match(tickId("backup", T0), /^backup:\d{8}T\d{6}Z$/);
  assert.match(id, /^backup:manual-\d{8}T\d{9}Z$/);
});

// ---------------------------------------------------------------- jitter

Deno.test("ticks - jitterOf is 0 without jitter", () => {
  const spec = schedule();
  for (const t of ticks(T0, T0 + 10 * MIN)) {
    assert.equal(jitterOf(spec, t), 0);
    assert.equal(fireAt(spec, t), t);
  }
});

Deno.test("ticks - jitterOf is deterministic and within [0, jitterMs)", () => {
  const a = schedule({ jitterMs: 5_000 });
  const b = schedule({ jitterMs: 5_000 }); // another scheduler decoding the same spec
  for (const t of ticks(T0, T0 + HOUR)) {
    const j = jitterOf(a, t);
    assert.equal(jitterOf(b, t), j);
    assert.equal(jitterOf({ name: "backup", jitterMs: 5_000 }, t), j);
    assert.ok(Number.isInteger(j) && j >= 0 && j < 5_000, `${j}`);
    assert.equal(fireAt(a, t), t + j);
  }
  // jitterMs 1 leaves only 0.
  assert.equal(jitterOf({ name: "backup", jitterMs: 1 }, T0), 0);
});

Deno.test("ticks - jitterOf spreads over a schedule's ticks with a mean near jitterMs/2", () => {
  for (const name of ["backup", "a", "nightly-backup", "report_42"]) {
    for (const jitterMs of [10_000, 7_200_000]) {
      const values = ticks(T0, T0 + 999 * 10 * S).map((t) => jitterOf({ name, jitterMs }, t));
      assert.equal(values.length, 1_000);
      assert.ok(new Set(values).size > 1, `${name}: all jitters equal`);
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      assert.ok(
        Math.abs(mean - jitterMs / 2) <= 0.2 * (jitterMs / 2),
        `${name}, jitterMs ${jitterMs}: mean ${mean}`,
      );
    }
  }
});

Deno.test("ticks - jitterOf differs between schedules at the same nominal time", () => {
  const values = Array.from(
    { length: 100 },
    (_, i) => jitterOf({ name: `s${i}`, jitterMs: 60_000 }, T0),
  );
  assert.ok(new Set(values).size > 50, `only ${new Set(values).size} distinct values`);
});

// ---------------------------------------------------------------- planTicks: on time

Deno.test("ticks - planTicks fires the tick when now is exactly on it", () => {
  const plan = planTicks(schedule(), { after: T0 - 10 * S, now: T0, runs: 0 });
  assert.deepEqual(core(plan), { fire: [T0], missed: [], missedUnlisted: 0, next: T0 + 10 * S });
});

Deno.test("ticks - planTicks fires nothing a millisecond before a tick", () => {
  const plan = planTicks(schedule(), { after: T0 - 10 * S, now: T0 - 1, runs: 0 });
  assert.deepEqual(core(plan), { fire: [], missed: [], missedUnlisted: 0, next: T0 });
});

Deno.test("ticks - planTicks never fires a settled tick again", () => {
  const plan = planTicks(schedule(), { after: T0, now: T0 + 5 * S, runs: 1 });
  assert.deepEqual(core(plan), { fire: [], missed: [], missedUnlisted: 0, next: T0 + 10 * S });
});

Deno.test("ticks - planTicks fires every tick less than the grace late, whatever the catchup", () => {
  // A 55 s outage: ticks 55 s, 45 s, … 5 s late.
  for (const catchup of ["skip", "one", "all"]) {
    const plan = planTicks(schedule({ catchup }), {
      after: T0 - 10 * S,
      now: T0 + 55 * S,
      runs: 0,
    });
    assert.deepEqual(core(plan), {
      fire: ticks(T0, T0 + 50 * S),
      missed: [],
      missedUnlisted: 0,
      next: T0 + 60 * S,
    }, catchup);
  }
});

Deno.test("ticks - planTicks: a tick more than the grace late is missed under skip", () => {
  assert.equal(MISFIRE_GRACE_MS, 60_000);
  const plan = planTicks(schedule(), { after: T0 - 10 * S, now: T0 + 61 * S, runs: 0 });
  assert.deepEqual(core(plan), {
    fire: ticks(T0 + 10 * S, T0 + 60 * S),
    missed: [T0],
    missedUnlisted: 0,
    next: T0 + 70 * S,
  });
});

// ---------------------------------------------------------------- planTicks: catch-up

/** A 10-minute outage of an every-10s schedule: ticks T0 … T0+600s are due, now 5 s after the last. */
const OUTAGE = { after: T0 - 10 * S, now: T0 + 10 * MIN + 5 * S, runs: 0 };
/** Less than a minute late: T0+550s … T0+600s (5 s to 55 s late). */
const FRESH = ticks(T0 + 550 * S, T0 + 600 * S);

Deno.test("ticks - planTicks after a 10-minute outage under skip: only the fresh ticks fire", () => {
  const plan = planTicks(schedule({ catchup: "skip" }), OUTAGE);
  assert.deepEqual(core(plan), {
    fire: FRESH,
    missed: ticks(T0, T0 + 540 * S),
    missedUnlisted: 0,
    next: T0 + 610 * S,
  });
  assert.equal(plan.missed.length, 55);
});

Deno.test("ticks - planTicks after a 10-minute outage of an every-5m schedule under skip fires nothing", () => {
  const spec = schedule({ every: "5m" });
  const plan = planTicks(spec, { after: T0 - 5 * MIN, now: T0 + 11 * MIN + 30 * S, runs: 0 });
  assert.deepEqual(core(plan), {
    fire: [],
    missed: [T0, T0 + 5 * MIN, T0 + 10 * MIN],
    missedUnlisted: 0,
    next: T0 + 15 * MIN,
  });
});

Deno.test("ticks - planTicks after a 10-minute outage under one: the latest missed tick fires too", () => {
  const plan = planTicks(schedule({ catchup: "one" }), OUTAGE);
  assert.deepEqual(core(plan), {
    fire: [T0 + 540 * S, ...FRESH],
    missed: ticks(T0, T0 + 530 * S),
    missedUnlisted: 0,
    next: T0 + 610 * S,
  });
});

Deno.test("ticks - planTicks after a 10-minute outage under all: every missed tick fires", () => {
  const plan = planTicks(schedule({ catchup: "all" }), OUTAGE);
  assert.deepEqual(core(plan), {
    fire: ticks(T0, T0 + 600 * S),
    missed: [],
    missedUnlisted: 0,
    next: T0 + 610 * S,
  });
});

Deno.test("ticks - planTicks under all fires only within catchupWindow; older ticks are missed", () => {
  // Window 5 min: nominal times at or after now - 5 min = T0+305s catch up.
  const plan = planTicks(schedule({ catchup: "all", catchupWindow: "5m" }), OUTAGE);
  assert.deepEqual(plan.fire, ticks(T0 + 310 * S, T0 + 600 * S));
  assert.equal(plan.next, T0 + 610 * S);
  // T0 … T0+300s (31 ticks) were missed: listed or counted, never both, never lost.
  assert.equal(plan.missed.length + plan.missedUnlisted, 31);
  assert.deepEqual(plan.missed, ticks(T0 + 310 * S - 10 * S * plan.missed.length, T0 + 300 * S));
});

Deno.test("ticks - planTicks under one with a window: a missed tick older than the window stays missed", () => {
  // Every 5 min, a 17-minute outage, window 1 min: the latest missed tick is 2 min old.
  const spec = schedule({ every: "5m", catchup: "one", catchupWindow: "1m" });
  const plan = planTicks(spec, { after: T0 - 5 * MIN, now: T0 + 17 * MIN, runs: 0 });
  assert.deepEqual(plan.fire, []);
  assert.equal(plan.missed.length + plan.missedUnlisted, 4);
  assert.equal(plan.next, T0 + 20 * MIN);
});

Deno.test("ticks - planTicks under all catches up at most MAX_CATCHUP ticks, the newest", () => {
  assert.equal(MAX_CATCHUP, 1_000);
  // Every second, a 2-hour outage, window 1 h: ticks in (now - 1 h, now - 1 min) are 3,540 late.
  const now = T0;
  const plan = planTicks(schedule({ every: "1s", catchup: "all" }), {
    after: now - 2 * HOUR,
    now,
    runs: 0,
  });
  const late = ticks(now - HOUR, now - 61 * S, S);
  assert.equal(late.length, 3_540);
  assert.deepEqual(plan.fire, [...late.slice(-MAX_CATCHUP), ...ticks(now - 60 * S, now, S)]);
  assert.deepEqual(plan.missed, late.slice(0, -MAX_CATCHUP));
  // The ticks before the window, (now - 2 h, now - 1 h), are counted.
  assert.equal(plan.missedUnlisted, 3_599);
  assert.equal(plan.fire.length + plan.missed.length + plan.missedUnlisted, 7_200);
  assert.equal(plan.next, now + S);
});

Deno.test("ticks - planTicks: a resumed pause makes even fresh due ticks missed", () => {
  // Paused until T0+15s: T0 and T0+10s fell in the pause, T0+20s came after.
  const plan = planTicks(schedule(), {
    after: T0 - 10 * S,
    now: T0 + 25 * S,
    runs: 0,
    missedUntil: T0 + 15 * S,
  });
  assert.deepEqual(core(plan), {
    fire: [T0 + 20 * S],
    missed: [T0, T0 + 10 * S],
    missedUnlisted: 0,
    next: T0 + 30 * S,
  });
  // A tick exactly at missedUntil was due in the pause.
  const edge = planTicks(schedule(), {
    after: T0 - 10 * S,
    now: T0 + 5 * S,
    runs: 0,
    missedUntil: T0,
  });
  assert.deepEqual(edge.fire, []);
  assert.deepEqual(edge.missed, [T0]);
});

// ---------------------------------------------------------------- planTicks: bounds

Deno.test("ticks - planTicks stops at limit: oldest first, then no next", () => {
  const spec = schedule({ limit: 3 });
  const due = { after: T0 - 10 * S, now: T0 + 55 * S };
  assert.deepEqual(planTicks(spec, { ...due, runs: 0 }).fire, [T0, T0 + 10 * S, T0 + 20 * S]);
  assert.equal(planTicks(spec, { ...due, runs: 0 }).next, null);
  assert.deepEqual(planTicks(spec, { ...due, runs: 2 }).fire, [T0]);
  assert.equal(planTicks(spec, { ...due, runs: 2 }).next, null);
  assert.deepEqual(planTicks(spec, { ...due, runs: 3 }).fire, []);
  assert.equal(planTicks(spec, { ...due, runs: 3 }).next, null);
  // Below the limit the schedule goes on.
  const one = planTicks(spec, { after: T0 - 10 * S, now: T0, runs: 1 });
  assert.deepEqual(core(one), { fire: [T0], missed: [], missedUnlisted: 0, next: T0 + 10 * S });
  // Reaching it exactly ends the schedule.
  const last = planTicks(spec, { after: T0 - 10 * S, now: T0, runs: 2 });
  assert.deepEqual(core(last), { fire: [T0], missed: [], missedUnlisted: 0, next: null });
});

Deno.test("ticks - planTicks counts a catch-up against limit too", () => {
  const spec = schedule({ limit: 2, catchup: "all" });
  const plan = planTicks(spec, OUTAGE);
  assert.deepEqual(plan.fire, [T0, T0 + 10 * S]);
  assert.equal(plan.next, null);
});

Deno.test("ticks - planTicks: no tick before start", () => {
  const spec = schedule({ start: "2026-11-28T02:00:25Z" });
  const before = planTicks(spec, { after: T0 - HOUR, now: T0 + 20 * S, runs: 0 });
  assert.deepEqual(core(before), { fire: [], missed: [], missedUnlisted: 0, next: T0 + 30 * S });
  const at = planTicks(spec, { after: T0 - HOUR, now: T0 + 30 * S, runs: 0 });
  assert.deepEqual(core(at), {
    fire: [T0 + 30 * S],
    missed: [],
    missedUnlisted: 0,
    next: T0 + 40 * S,
  });
  // A tick exactly at start fires.
  const exact = schedule({ start: "2026-11-28T02:00:00Z" });
  assert.deepEqual(planTicks(exact, { after: T0 - HOUR, now: T0, runs: 0 }).fire, [T0]);
});

Deno.test("ticks - planTicks: no tick after end, a tick exactly at end fires", () => {
  const spec = schedule({ end: "2026-11-28T02:00:30Z" });
  const plan = planTicks(spec, { after: T0 - 10 * S, now: T0 + 55 * S, runs: 0 });
  assert.deepEqual(core(plan), {
    fire: ticks(T0, T0 + 30 * S),
    missed: [],
    missedUnlisted: 0,
    next: null,
  });
  const before = planTicks(spec, { after: T0 - 10 * S, now: T0 + 25 * S, runs: 0 });
  assert.equal(before.next, T0 + 30 * S);
});

Deno.test("ticks - planTicks after a long outage past end counts only the ticks up to end", () => {
  // Ticks T0 … T0+30s exist; the scheduler comes back 3 hours later.
  const spec = schedule({ end: "2026-11-28T02:00:30Z" });
  const plan = planTicks(spec, { after: T0 - 10 * S, now: T0 + 3 * HOUR, runs: 0 });
  assert.deepEqual(plan.fire, []);
  assert.equal(plan.next, null);
  assert.equal(plan.missed.length + plan.missedUnlisted, 4);
});

// ---------------------------------------------------------------- planTicks: jitter

Deno.test("ticks - planTicks: jitter delays when a tick is due", () => {
  const spec = schedule({ jitterMs: 5_000 });
  const t = tickWhere(spec, T0, 10 * S, (j) => j >= 2);
  const j = jitterOf(spec, t);
  const after = t - 10 * S;
  // Its nominal time has passed but its fire time has not: not due, and it is next.
  assert.deepEqual(core(planTicks(spec, { after, now: t, runs: 0 })), {
    fire: [],
    missed: [],
    missedUnlisted: 0,
    next: t,
  });
  assert.deepEqual(planTicks(spec, { after, now: t + j - 1, runs: 0 }).next, t);
  assert.deepEqual(planTicks(spec, { after, now: t + j - 1, runs: 0 }).fire, []);
  // At its fire time it is due.
  const due = planTicks(spec, { after, now: t + j, runs: 0 });
  assert.deepEqual(due.fire, [t]);
  assert.equal(due.next, t + 10 * S);
});

Deno.test("ticks - planTicks: lateness counts from the fire time, not the nominal time", () => {
  const spec = schedule({ every: "1h", jitterMs: 30 * MIN });
  const t = tickWhere(spec, T0, HOUR, (j) => j > 2 * MIN);
  const j = jitterOf(spec, t);
  // 61 s after the nominal time but only just after the fire time: fires under skip.
  const plan = planTicks(spec, { after: t - HOUR, now: t + j + 30 * S, runs: 0 });
  assert.deepEqual(plan.fire, [t]);
  assert.deepEqual(plan.missed, []);
});

Deno.test("ticks - planTicks: a jitter longer than catchupWindow does not lose the tick", () => {
  // Daily, up to 2 h of jitter, the default 1 h window: pick a tick jittered over 1 h.
  const spec = schedule({ every: "1d", jitterMs: 2 * HOUR });
  const t = tickWhere(spec, T0 - 2 * HOUR, DAY, (j) => j > HOUR + 5 * MIN);
  const j = jitterOf(spec, t);
  const after = t - DAY;
  assert.deepEqual(core(planTicks(spec, { after, now: t + j - 1, runs: 0 })), {
    fire: [],
    missed: [],
    missedUnlisted: 0,
    next: t,
  });
  for (const now of [t + j, t + j + 30 * S]) {
    assert.deepEqual(core(planTicks(spec, { after, now, runs: 0 })), {
      fire: [t],
      missed: [],
      missedUnlisted: 0,
      next: t + DAY,
    });
  }
});

// ---------------------------------------------------------------- planTicks: scale

Deno.test("ticks - planTicks after a year-long outage of an every-1s schedule is quick", () => {
  const spec = schedule({ every: "1s", catchup: "all" });
  const now = T0;
  const after = now - 365 * DAY;
  const started = performance.now();
  const plan = planTicks(spec, { after, now, runs: 0 });
  const took = performance.now() - started;
  assert.ok(took < 1_000, `took ${took} ms`);
  // The window is (now - 1 h) … now; the ticks before it are counted.
  assert.equal(plan.missedUnlisted, 365 * 86_400 - 3_601);
  assert.equal(plan.fire.length, MAX_CATCHUP + 61);
  assert.equal(plan.fire.at(-1), now);
  assert.equal(plan.missed.length, 3_540 - MAX_CATCHUP);
  assert.equal(plan.missed[0], now - HOUR);
  assert.equal(plan.fire.length + plan.missed.length + plan.missedUnlisted, 365 * 86_400);
  assert.equal(plan.next, now + S);
});

Deno.test("ticks - planTicks with a 30-day window of 1s ticks catches up the newest, counts all", () => {
  // 2,592,000 missed ticks, all within catchupWindow: far more than are looked at one by one.
  const spec = schedule({ every: "1s", catchup: "all", catchupWindow: "30d" });
  const now = T0;
  const started = performance.now();
  const plan = planTicks(spec, { after: now - 30 * DAY, now, runs: 0 });
  assert.ok(performance.now() - started < 1_000);
  const newestLate = ticks(now - (60 + MAX_CATCHUP) * S, now - 61 * S, S);
  assert.deepEqual(plan.fire, [...newestLate, ...ticks(now - 60 * S, now, S)]);
  assert.equal(plan.fire.length + plan.missed.length + plan.missedUnlisted, 30 * 86_400);
  assert.ok(plan.missed.length <= 100_000, `${plan.missed.length} listed`);
  assert.ok(plan.missed.every((t) => t < newestLate[0]));
  assert.equal(plan.missed.at(-1), newestLate[0] - S);
  assert.equal(plan.next, now + S);
});

Deno.test("ticks - planTicks after a year-long outage of a daily schedule counts the missed days", () => {
  const spec = decodeSchedule({ name: "backup", daily: "02:00", task: { type: "echo" } });
  const after = Date.UTC(2025, 10, 28, 2);
  const plan = planTicks(spec, { after, now: T0, runs: 0 });
  assert.deepEqual(plan.fire, [T0]);
  assert.deepEqual(plan.missed, []);
  assert.equal(plan.missedUnlisted, 364);
  assert.equal(plan.next, T0 + DAY);
});

// ---------------------------------------------------------------- planTicks: a property

/** How many ticks of `spec` (an `every` without start/end) lie strictly between a and b. */
function countBetween(spec: ScheduleSpec, a: number, b: number): number {
  if (spec.timing.kind !== "every") throw new Error("every only");
  const { everyMs, offsetMs } = spec.timing;
  const first = Math.floor((a - offsetMs) / everyMs) + 1;
  const last = Math.ceil((b - offsetMs) / everyMs) - 1;
  return Math.max(0, last - first + 1);
}

Deno.test("ticks - planTicks accounts for each due tick once: fired, missed or counted", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 600 }), // every, seconds
      fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), // offset, share of every
      fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), // jitter, share of every
      fc.constantFrom("skip", "one", "all"),
      fc.integer({ min: 0, max: 6 * 3_600 }), // catchupWindow, seconds
      fc.integer({ min: 0, max: 2 * DAY }), // outage
      fc.integer({ min: -DAY, max: DAY }), // now, around T0
      fc.constantFrom("a", "backup", "nightly"),
      (every, offsetShare, jitterShare, catchup, windowS, outage, shift, name) => {
        const offset = Math.floor(offsetShare * every);
        const spec = decodeSchedule({
          name,
          every: `${every}s`,
          ...(offset ? { offset: `${offset}s` } : {}),
          jitterMs: Math.floor(jitterShare * every * S),
          catchup,
          catchupWindow: `${windowS}s`,
          task: { type: "echo" },
        });
        const now = T0 + shift;
        const after = now - outage;
        const plan = planTicks(spec, { after, now, runs: 0 });
        const e = every * S;
        const late = (t: number) => now - fireAt(spec, t) > MISFIRE_GRACE_MS;
        assert.ok(plan.next !== null && plan.next > after);
        assert.ok(fireAt(spec, plan.next) > now, "next is not due yet");
        if (plan.next - e > after) {
          assert.ok(fireAt(spec, plan.next - e) <= now, "a due tick skipped");
        }
        // Each tick between after and next is fired, listed missed or counted, once.
        assert.equal(
          plan.fire.length + plan.missed.length + plan.missedUnlisted,
          countBetween(spec, after, plan.next),
        );
        const all = [...plan.fire, ...plan.missed];
        assert.equal(new Set(all).size, all.length, "a tick both fired and missed");
        for (const t of all) assert.ok(t > after && t < plan.next && fireAt(spec, t) <= now);
        assert.deepEqual(plan.fire, [...plan.fire].sort((a, b) => a - b));
        for (const t of plan.missed) assert.ok(late(t), "a fresh tick was missed");
        // The fresh ticks (at most the grace late) are the last due ones: all fire.
        const fresh: number[] = [];
        for (let t = plan.next - e; t > after && !late(t); t -= e) fresh.unshift(t);
        assert.deepEqual(plan.fire.slice(plan.fire.length - fresh.length), fresh);
        const caught = plan.fire.slice(0, plan.fire.length - fresh.length);
        // Late ticks the window lets catch up.
        let inWindow = 0;
        const from = Math.max(after, now - spec.catchupWindowMs - 1);
        for (let t = plan.next - e; t > from; t -= e) if (late(t)) inWindow++;
        const expected = {
          skip: 0,
          one: Math.min(1, inWindow),
          all: Math.min(MAX_CATCHUP, inWindow),
        };
        assert.equal(caught.length, expected[catchup]);
        for (const t of caught) assert.ok(late(t) && t >= now - spec.catchupWindowMs);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("ticks - settleTo covers every due tick, so a second plan at the same moment counts nothing again", () => {
  // A daily schedule down three days: the missed days lie before the catch-up window.
  const daily = decodeSchedule({ name: "d", daily: "02:00", task: { type: "echo" } });
  const now = T0 + 3 * DAY + HOUR; // 05:00 three days later
  const first = planTicks(daily, { after: T0 - HOUR, now, runs: 0 });
  assert.equal(first.fire.length + first.missed.length + first.missedUnlisted, 4);
  assert.ok(first.settleTo >= T0 + 3 * DAY, "settled past the last due tick");
  const again = planTicks(daily, { after: first.settleTo, now: now + MIN, runs: 0 });
  assert.deepEqual(core(again), { fire: [], missed: [], missedUnlisted: 0, next: T0 + 4 * DAY });
});

Deno.test("ticks - settleTo is the last due tick, never a tick not yet due", () => {
  const plan = planTicks(schedule(), { after: T0 - 10 * S, now: T0 + 25 * S, runs: 0 });
  assert.deepEqual(plan.fire, [T0, T0 + 10 * S, T0 + 20 * S]);
  assert.equal(plan.settleTo, T0 + 20 * S);
  assert.equal(plan.next, T0 + 30 * S);
  const none = planTicks(schedule(), { after: T0, now: T0 + 5 * S, runs: 1 });
  assert.equal(none.settleTo, T0, "nothing due: nothing more settled");
});
