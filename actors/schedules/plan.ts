/**
 * Declared plans: a JSON file of schedules (`--schedules FILE`), upserted by
 * the leading scheduler at the start of every term, and the plan as
 * `--display-only` prints it.
 *
 * @module
 */

import {
  decodeSchedule,
  encodeSchedule,
  nextTicks,
  SchedulerError,
  type ScheduleSpec,
} from "../../src/internal_mod.ts";

/**
 * Read a plan: a JSON array of schedules, or `{"schedules": [...]}`. Throws
 * CONFIG naming the file, the entry and the problem; names must be unique.
 */
export function parsePlan(text: string, file: string): ScheduleSpec[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new SchedulerError("CONFIG", `schedules file ${file}: ${(err as Error).message}`);
  }
  const list = Array.isArray(data) ? data : (data as { schedules?: unknown } | null)?.schedules;
  if (!Array.isArray(list)) {
    throw new SchedulerError(
      "CONFIG",
      `schedules file ${file} must hold a JSON array of schedules (or {"schedules": [...]})`,
    );
  }
  const seen = new Set<string>();
  return list.map((entry, i) => {
    const where = `schedules file ${file}, entry ${i}${
      typeof entry?.name === "string" ? ` (${entry.name})` : ""
    }`;
    let spec: ScheduleSpec;
    try {
      spec = decodeSchedule(entry);
    } catch (err) {
      throw new SchedulerError("CONFIG", `${where}: ${(err as Error).message}`);
    }
    if (seen.has(spec.name)) {
      throw new SchedulerError("CONFIG", `${where}: the name ${spec.name} is used twice`);
    }
    seen.add(spec.name);
    return spec;
  });
}

/** Read a plan file from disk. */
export function loadPlan(file: string): ScheduleSpec[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (err) {
    throw new SchedulerError("CONFIG", `schedules file ${file}: ${(err as Error).message}`);
  }
  return parsePlan(text, file);
}

/** How a schedule fires, in words: `every 15m`, `daily at 02:00 Europe/Berlin`, … */
export function describeTiming(spec: ScheduleSpec): string {
  const j = encodeSchedule(spec);
  const zone = spec.tz === "UTC" ? "UTC" : spec.tz;
  if (j.every) return `every ${j.every}${j.offset ? ` (offset ${j.offset})` : ""}`;
  if (j.daily) return `daily at ${j.daily} ${zone}`;
  if (j.weekly) {
    return `weekly on ${(j.weekly.days as string[]).join(",")} at ${j.weekly.at} ${zone}`;
  }
  return `cron "${j.cron}" ${zone}`;
}

/** The plan as text: each schedule, its task and its next `n` runs in its zone. */
export function describePlan(specs: readonly ScheduleSpec[], now: number, n = 3): string {
  if (specs.length === 0) return "No schedules declared (use --schedules FILE or --demo).";
  const lines: string[] = [`Schedules (${specs.length}), next ${n} runs of each:`];
  for (const spec of specs) {
    const flags = [
      spec.paused ? "paused" : "",
      `catchup ${spec.catchup}`,
      `overlap ${spec.overlap}`,
    ].filter(Boolean).join(", ");
    lines.push(``, `  ${spec.name}: ${spec.task.type}, ${describeTiming(spec)} (${flags})`);
    const next = nextTicks(spec, now, n);
    if (next.length === 0) lines.push("    no more runs");
    for (const t of next) {
      lines.push(
        `    ${
          Temporal.Instant.fromEpochMilliseconds(t).toZonedDateTimeISO(spec.tz).toString({
            timeZoneName: "never",
          })
        } ${spec.tz}`,
      );
    }
  }
  return lines.join("\n");
}
