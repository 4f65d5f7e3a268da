/**
 * Ticks: their ids, their jitter, and which are due now. Pure and
 * deterministic, so every scheduler that looks at the same schedule and the
 * same stored state decides the same.
 *
 * @module
 */

import { nextTick } from "./next.ts";
import { MAX_CATCHUP, type ScheduleSpec } from "./spec.ts";

/**
 * A tick at most this late still fires, whatever the catch-up policy: a leader
 * change or a restart of a few seconds misses nothing. Later than this, the
 * tick was missed and the schedule's `catchup` decides.
 */
export const MISFIRE_GRACE_MS = 60_000;

/** `20261128T020000Z`: the nominal time, UTC, basic ISO 8601, whole seconds. */
export function basicIso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z").replace(/[-:]/g, "");
}

/** The task id of a tick: `<name>:<nominal time, UTC, basic ISO>`; also its `Nats-Msg-Id`. */
export function tickId(name: string, nominal: number): string {
  return `${name}:${basicIso(nominal)}`;
}

/** The task id of a manual trigger: `<name>:manual-<now to the millisecond>`. */
export function triggerId(name: string, now: number): string {
  const ms = String(now % 1_000).padStart(3, "0");
  return `${name}:manual-${basicIso(now).replace(/Z$/, `${ms}Z`)}`;
}

/** FNV-1a, 32 bits: a stable hash for jitter. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** How long after its nominal time a tick fires: from 0 to `jitterMs - 1`, from name and time alone. */
export function jitterOf(spec: Pick<ScheduleSpec, "name" | "jitterMs">, nominal: number): number {
  return spec.jitterMs > 0 ? fnv1a(`${spec.name}@${nominal}`) % spec.jitterMs : 0;
}

/** When a tick fires: its nominal time plus its jitter. */
export function fireAt(spec: ScheduleSpec, nominal: number): number {
  return nominal + jitterOf(spec, nominal);
}

/** What is due at `now`. */
export interface DuePlan {
  /** Nominal times to fire now, oldest first. */
  fire: number[];
  /** Nominal times missed and not fired (listed up to the scan bound). */
  missed: number[];
  /** Further missed ticks not listed (too many, or before the catch-up window). */
  missedUnlisted: number;
  /** The next nominal tick not yet due, or null when the schedule is over. */
  next: number | null;
  /**
   * Every due tick at or before this instant is in `fire` or `missed` or counted in
   * `missedUnlisted`: once those are handled, the schedule is settled up to here.
   */
  settleTo: number;
}

/** What {@link planTicks} needs to know beyond the spec. */
export interface PlanInput {
  /** Ticks at or before this nominal time are settled (fired, missed or skipped). */
  after: number;
  now: number;
  /** Ticks fired so far by the timetable, for `limit`. */
  runs: number;
  /** Due ticks at or before this instant were missed whatever their lateness (a resumed pause). */
  missedUntil?: number;
}

/** The most due ticks looked at one by one; beyond that they are counted in a lump. */
const SCAN = 100_000;

/**
 * Which due ticks fire now and which were missed. A tick is due when its fire
 * time (nominal + jitter) has come. A due tick at most
 * {@link MISFIRE_GRACE_MS} late fires; an older one was missed, and the
 * `catchup` policy says what happens: `skip` fires none of them, `one` fires
 * the latest, `all` fires every one within `catchupWindow` (at most
 * {@link MAX_CATCHUP}). Ticks due while the schedule was paused count as
 * missed (`missedUntil`). `limit` caps the ticks ever fired.
 */
export function planTicks(spec: ScheduleSpec, input: PlanInput): DuePlan {
  const { now, runs } = input;
  const missedUntil = input.missedUntil ?? -Infinity;
  const remaining = spec.limit === undefined ? Infinity : Math.max(0, spec.limit - runs);
  // The limit is reached: the schedule is over, and later ticks were not missed.
  if (remaining === 0) {
    return { fire: [], missed: [], missedUnlisted: 0, next: null, settleTo: input.after };
  }
  const windowStart = now - Math.max(spec.catchupWindowMs, MISFIRE_GRACE_MS);
  let missedUnlisted = 0;
  let after = input.after;
  // Ticks before the catch-up window can never fire: count them without listing them.
  // Their fire time, up to jitterMs later, must be before the window too, or they may not be due.
  let jumpTo = Math.floor((windowStart - spec.jitterMs) / 1_000) * 1_000 - 1;
  if (spec.timing.kind === "every") {
    // Only the newest SCAN due ticks are looked at: older ones can be neither listed nor caught
    // up (MAX_CATCHUP is far below SCAN), so count them too.
    jumpTo = Math.max(jumpTo, now - spec.jitterMs - SCAN * spec.timing.everyMs);
  }
  if (after < jumpTo) {
    const first = nextTick(spec, after);
    if (first !== null && first <= jumpTo && spec.timing.kind === "every") {
      const last = Math.min(jumpTo, spec.end ?? Infinity); // no tick after end
      missedUnlisted += Math.floor((last - first) / spec.timing.everyMs) + 1;
    } else {
      // Wall-clock timings: count up to the scan bound; past it the count is a lower bound.
      for (
        let t = first;
        t !== null && t <= jumpTo && missedUnlisted < SCAN;
        t = nextTick(spec, t)
      ) {
        missedUnlisted++;
      }
    }
    after = Math.max(after, jumpTo);
  }
  const onTime: number[] = [];
  const late: number[] = [];
  let next: number | null = null;
  let scanned = 0;
  let settleTo = after;
  for (let t = nextTick(spec, after); t !== null; t = nextTick(spec, t)) {
    if (fireAt(spec, t) > now) {
      next = t;
      break;
    }
    if (++scanned > SCAN) {
      // Far too many: jump to the last stretch that can still be on time; the rest were missed.
      const resume = now - MISFIRE_GRACE_MS - spec.jitterMs - 1;
      scanned = 0;
      if (t < resume) {
        missedUnlisted++;
        t = settleTo = resume;
        continue;
      }
    }
    settleTo = t;
    const lateBy = now - fireAt(spec, t);
    if (t > missedUntil && lateBy <= MISFIRE_GRACE_MS) onTime.push(t);
    else late.push(t);
  }
  let caughtUp: number[] = [];
  const inWindow = late.filter((t) => t >= now - spec.catchupWindowMs);
  if (spec.catchup === "one") caughtUp = inWindow.slice(-1);
  if (spec.catchup === "all") caughtUp = inWindow.slice(-MAX_CATCHUP);
  const fire = [...caughtUp, ...onTime].slice(0, remaining);
  const fired = new Set(fire);
  const missed = late.filter((t) => !fired.has(t));
  if (runs + fire.length >= (spec.limit ?? Infinity)) next = null;
  return { fire, missed: missed.sort((a, b) => a - b), missedUnlisted, next, settleTo };
}
