/**
 * Cron expressions, parsed and matched by `croner` on the wall clock alone.
 * Croner is asked in UTC, where no clock ever jumps, about wall-clock times;
 * what a wall-clock time means in a zone on a day-saving change is decided in
 * `next.ts`, by one rule for every kind of schedule.
 *
 * @module
 */

import { Cron } from "croner";

/** A compiled cron expression over wall-clock time. */
export interface WallCron {
  /** The first matching wall-clock time strictly after `wallMs` (wall clock read as UTC). */
  nextAfter(wallMs: number): number | null;
}

const cache = new Map<string, WallCron>();

/**
 * Compile a 5-field (minute first) or 6-field (second first) expression.
 * Throws croner's message for a bad one.
 */
export function compileCron(expr: string): WallCron {
  const known = cache.get(expr);
  if (known) return known;
  const cron = new Cron(expr, { timezone: "Etc/UTC", paused: true });
  const compiled: WallCron = {
    nextAfter(wallMs) {
      return cron.nextRun(new Date(wallMs))?.getTime() ?? null;
    },
  };
  if (cache.size > 1_000) cache.clear();
  cache.set(expr, compiled);
  return compiled;
}
