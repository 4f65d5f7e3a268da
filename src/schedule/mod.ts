/**
 * Recurring jobs without I/O: schedule specs, next-fire times with the
 * day-saving rule, tick ids, jitter and catch-up planning. The schedules
 * actor (`actors/schedules/`) does the firing.
 *
 * @module
 */

export {
  decodeSchedule,
  DEFAULT_CATCHUP_WINDOW_MS,
  encodeSchedule,
  formatDuration,
  isScheduleName,
  isTimeZone,
  MAX_CATCHUP,
  parseDuration,
  WEEKDAYS,
} from "./spec.ts";
export { firstInstantOf, highWater, nextOfTiming, nextTick, nextTicks, wallAt } from "./next.ts";
export {
  basicIso,
  fireAt,
  jitterOf,
  MISFIRE_GRACE_MS,
  planTicks,
  tickId,
  triggerId,
} from "./ticks.ts";
export type {
  CatchupPolicy,
  OverlapPolicy,
  ScheduleJson,
  ScheduleSpec,
  TaskTemplate,
  Timing,
  WallTime,
  Weekday,
} from "./spec.ts";
export type { DuePlan, PlanInput } from "./ticks.ts";
