/**
 * When a schedule fires next. Pure: the instant to start from is an argument.
 *
 * Intervals (`every`) are elapsed time: `offset + k · every` after the Unix
 * epoch, the same on every scheduler, blind to time zones and day-saving
 * changes. Wall-clock timings (`daily`, `weekly`, `cron`) are matched against
 * the clock on the wall of the schedule's zone, with one rule for the days
 * that clock jumps:
 *
 * - a wall-clock time that does not exist (spring forward) fires once, at the
 *   first instant after the gap;
 * - a wall-clock time that exists twice (fall back) fires once, the first time.
 *
 * Both follow from one definition: a wall-clock time W fires at the first
 * instant by which the wall clock has shown W or later. The clock's
 * high-water mark (the latest wall time shown so far) only grows, so fire
 * times only grow, and a repeated hour fires nothing again.
 *
 * @module
 */

import { compileCron } from "./cron.ts";
import { type ScheduleSpec, type Timing, WEEKDAYS } from "./spec.ts";

const DAY = 86_400_000;

/** The zone's offset from UTC at `instant`, in ms. */
export function offsetAt(instant: number, tz: string): number {
  return Temporal.Instant.fromEpochMilliseconds(instant).toZonedDateTimeISO(tz)
    .offsetNanoseconds / 1e6;
}

/** The wall clock at `instant`, as ms since 1970-01-01T00:00 on that clock. */
export function wallAt(instant: number, tz: string): number {
  return instant + offsetAt(instant, tz);
}

/**
 * The latest wall-clock time shown at or before `instant`: the wall clock
 * itself, unless it was set back less than the set-back ago.
 */
export function highWater(instant: number, tz: string): number {
  const wall = wallAt(instant, tz);
  const zdt = Temporal.Instant.fromEpochMilliseconds(instant + 1).toZonedDateTimeISO(tz);
  const change = zdt.getTimeZoneTransition("previous");
  if (!change) return wall;
  const at = change.epochMilliseconds;
  const before = offsetAt(at - 1, tz);
  if (before <= offsetAt(at, tz)) return wall;
  // Just before the clock was set back it showed (at + before) minus a hair.
  return Math.max(wall, at + before - 1);
}

/**
 * The instant a wall-clock time fires: the first instant the clock shows it,
 * or, when the clock skips it, the instant the clock jumps over it.
 */
export function firstInstantOf(wallMs: number, tz: string): number {
  const d = new Date(wallMs);
  const plain = new Temporal.PlainDateTime(
    d.getUTCFullYear(),
    d.getUTCMonth() + 1,
    d.getUTCDate(),
    d.getUTCHours(),
    d.getUTCMinutes(),
    d.getUTCSeconds(),
    d.getUTCMilliseconds(),
  );
  const zdt = plain.toZonedDateTime(tz, { disambiguation: "earlier" });
  if (zdt.epochMilliseconds + zdt.offsetNanoseconds / 1e6 === wallMs) return zdt.epochMilliseconds;
  // In a gap, "earlier" reads the time with the offset from before the jump: the jump comes next.
  return zdt.getTimeZoneTransition("next")!.epochMilliseconds;
}

/** The first wall-clock time strictly after `wallMs` that the timing names. */
export function nextWallMatch(timing: Exclude<Timing, { kind: "every" }>, wallMs: number): number {
  switch (timing.kind) {
    case "daily":
    case "weekly": {
      const { hour, minute, second } = timing.at;
      const timeOfDay = ((hour * 60 + minute) * 60 + second) * 1_000;
      const dayStart = Math.floor(wallMs / DAY) * DAY;
      for (let day = 0; day <= 8; day++) {
        const candidate = dayStart + day * DAY + timeOfDay;
        if (candidate <= wallMs) continue;
        if (timing.kind === "daily") return candidate;
        // 1970-01-01 was a Thursday: index 3 in WEEKDAYS (Monday first).
        const weekday = WEEKDAYS[(Math.floor(candidate / DAY) + 3) % 7];
        if (timing.days.includes(weekday)) return candidate;
      }
      throw new Error(`no day matches ${JSON.stringify(timing)}`);
    }
    case "cron": {
      const next = compileCron(timing.expr).nextAfter(wallMs);
      if (next === null) throw new Error(`cron ${timing.expr} never fires`);
      return next;
    }
    default: {
      const never: never = timing;
      throw new Error(`unknown timing ${JSON.stringify(never)}`);
    }
  }
}

/** The first nominal fire time of `timing` in `tz` strictly after `after` (epoch ms). */
export function nextOfTiming(timing: Timing, tz: string, after: number): number {
  if (timing.kind === "every") {
    const k = Math.floor((after - timing.offsetMs) / timing.everyMs) + 1;
    return timing.offsetMs + k * timing.everyMs;
  }
  return firstInstantOf(nextWallMatch(timing, highWater(after, tz)), tz);
}

/**
 * The first nominal tick of a schedule strictly after `after`, within its
 * `start` and `end`; null when there is none. (`limit` is counted by whoever
 * fires: see `ticks.ts`.)
 */
export function nextTick(spec: ScheduleSpec, after: number): number | null {
  const from = spec.start !== undefined ? Math.max(after, spec.start - 1) : after;
  const t = nextOfTiming(spec.timing, spec.tz, from);
  return spec.end !== undefined && t > spec.end ? null : t;
}

/** The next `n` nominal ticks after `after`. */
export function nextTicks(spec: ScheduleSpec, after: number, n: number): number[] {
  const out: number[] = [];
  for (let t = nextTick(spec, after); t !== null && out.length < n; t = nextTick(spec, t)) {
    out.push(t);
  }
  return out;
}
