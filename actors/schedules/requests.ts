/**
 * `schedules.<op>` requests: put, delete, pause, resume, trigger (admin) and
 * get, list (viewer). Each answers `{"ok": true, ...}` or
 * `{"ok": false, "error": {code, message}}`; `get` and `list` show the next
 * fire times in the schedule's zone and the last runs with their results.
 *
 * @module
 */

import {
  authorize,
  decodeSchedule,
  encodeSchedule,
  isScheduleName,
  nextTicks,
  SchedulerError,
  type ScheduleSpec,
  show,
  toErrorInfo,
  type TokenVerifier,
} from "../../src/internal_mod.ts";
import { type Audit, outcomeOf } from "../audit.ts";
import type { Runner } from "./runner.ts";
import { freshState, type Item, type ScheduleState } from "./store.ts";

/** The operations on `schedules.<op>`. */
export const OPS = ["put", "delete", "pause", "resume", "trigger", "get", "list"] as const;
/** One operation. */
export type Op = typeof OPS[number];

const decoder = new TextDecoder();
const READ_ONLY: ReadonlySet<string> = new Set(["get", "list"]);
/** How many fire times `get` and `list` show unless asked (`next`). */
const SHOW_NEXT = 3;

/** A schedule as `get` and `list` show it. */
export function view(item: Item, now: number, n = SHOW_NEXT): Record<string, unknown> {
  const s = item.state;
  const iso = (
    t: number | null | undefined,
  ) => (t === null || t === undefined ? null : new Date(t).toISOString());
  const after = Math.max(now, s.settledUntil);
  const next = s.paused ? [] : nextTicks(item.spec, after, n).slice(
    0,
    item.spec.limit === undefined ? n : Math.max(0, item.spec.limit - s.runs),
  );
  return {
    ...encodeSchedule(item.spec),
    // Live, not as created: putting this view back keeps the schedule as it is.
    paused: s.paused,
    state: {
      paused: s.paused,
      note: s.note,
      pausedAt: iso(s.pausedAt),
      runs: s.runs,
      lastTick: s.runs || s.counts.skipped || s.counts.missed ? iso(s.settledUntil) : null,
      active: s.active,
      buffered: iso(s.buffered),
      counts: s.counts,
      createdAt: iso(s.createdAt),
      updatedAt: iso(s.updatedAt),
    },
    next: next.map((t) => ({
      at: iso(t),
      local: Temporal.Instant.fromEpochMilliseconds(t).toZonedDateTimeISO(item.spec.tz).toString(),
    })),
    recent: s.recent.map((r) => ({
      ...r,
      nominal: iso(r.nominal),
      firedAt: iso(r.firedAt),
      finishedAt: iso(r.finishedAt),
    })),
  };
}

function parse(data: Uint8Array): Record<string, unknown> {
  let body: unknown;
  try {
    body = data.byteLength ? JSON.parse(decoder.decode(data)) : {};
  } catch (err) {
    throw new SchedulerError(
      "INVALID_ARGUMENT",
      `body is not valid JSON: ${(err as Error).message}`,
    );
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new SchedulerError("INVALID_ARGUMENT", `body must be a JSON object: got ${show(body)}`);
  }
  return body as Record<string, unknown>;
}

function named(runner: Runner, body: Record<string, unknown>): Item {
  if (!isScheduleName(body.name)) {
    throw new SchedulerError(
      "INVALID_ARGUMENT",
      `name must be a schedule name (1 to 64 letters, digits, "_" or "-"): got ${show(body.name)}`,
    );
  }
  const item = runner.items.get(body.name);
  if (!item) throw new SchedulerError("NOT_FOUND", `no schedule ${show(body.name)}`);
  return item;
}

function note(body: Record<string, unknown>): string | undefined {
  if (body.note === undefined) return undefined;
  if (typeof body.note !== "string" || body.note.length > 500) {
    throw new SchedulerError(
      "INVALID_ARGUMENT",
      `note must be a string of at most 500 characters: got ${show(body.note)}`,
    );
  }
  return body.note;
}

function count(body: Record<string, unknown>): number {
  const n = body.next ?? SHOW_NEXT;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 100) {
    throw new SchedulerError(
      "INVALID_ARGUMENT",
      `next must be an integer from 0 to 100: got ${show(n)}`,
    );
  }
  return n;
}

/** Does a stored spec fire at the same times as a new one? (Then its state carries over.) */
function sameTimetable(a: ScheduleSpec, b: ScheduleSpec): boolean {
  return JSON.stringify([a.timing, a.tz, a.start, a.end, a.jitterMs]) ===
    JSON.stringify([b.timing, b.tz, b.start, b.end, b.jitterMs]);
}

/** Pause or resume: the ticks due while paused will count as missed (`missedUntil`). */
function setPaused(state: ScheduleState, paused: boolean, now: number): void {
  state.paused = paused;
  state.pausedAt = paused ? now : undefined;
  if (!paused) state.missedUntil = now;
}

/** Store a changed schedule, or tell the caller it changed meanwhile. */
async function store(runner: Runner, item: Item): Promise<void> {
  if (!(await runner.persist(item))) {
    throw new SchedulerError(
      "INTERNAL",
      `schedule ${show(item.spec.name)} changed meanwhile; try again`,
    );
  }
}

/**
 * Create or replace a schedule. Putting the same spec again changes nothing.
 * A new timetable starts from now (no catch-up of ticks the old one had); the
 * runs, counters and last results are kept; `paused` in the spec applies when
 * it differs from the stored spec's.
 */
export async function upsert(
  runner: Runner,
  spec: ScheduleSpec,
  now: number,
): Promise<{ item: Item; created: boolean; changed: boolean }> {
  const json = encodeSchedule(spec);
  const old = runner.items.get(spec.name);
  if (old && JSON.stringify(old.json) === JSON.stringify(json)) {
    return { item: old, created: false, changed: false };
  }
  const state = old ? structuredClone(old.state) : freshState(spec, now, runner.epoch);
  if (old && !sameTimetable(old.spec, spec)) {
    state.settledUntil = Math.max(now, state.settledUntil);
    state.buffered = null;
  }
  if (old && old.spec.paused !== spec.paused) setPaused(state, spec.paused, now);
  state.updatedAt = now;
  const item: Item = { spec, json, state, revision: old?.revision ?? 0, next: null };
  runner.items.set(spec.name, item);
  await store(runner, item);
  runner.delta(spec.name, { event: old ? "updated" : "created", paused: state.paused });
  return { item, created: !old, changed: true };
}

/**
 * Handle one request. Writes (put, delete, pause, resume, trigger) go on the
 * audit trail whatever came of them, reads only when refused.
 */
export async function handle(
  runner: Runner,
  verifier: TokenVerifier,
  op: string,
  header: string | undefined,
  data: Uint8Array,
  now: number,
  audit?: Audit,
): Promise<Record<string, unknown>> {
  const seen: Seen = { who: null, target: null };
  const known = (OPS as readonly string[]).includes(op);
  const action = known ? `schedules.${op}` : "schedules.unknown";
  try {
    const reply = await answer(runner, verifier, op, header, data, now, seen);
    if (audit && !READ_ONLY.has(op)) {
      const message = op === "put"
        ? (reply.created ? "created" : reply.changed ? "changed" : "unchanged")
        : op === "trigger"
        ? `run ${reply.id}`
        : undefined;
      audit.record({ ...seen, action, outcome: "ok", message });
    }
    return reply;
  } catch (err) {
    const error = toErrorInfo(err, "INTERNAL");
    const outcome = outcomeOf(error.code);
    // A write is audited whatever its outcome; a read only when refused (token, role, body).
    if (
      audit && (!READ_ONLY.has(op) || outcome === "denied" || error.code === "INVALID_ARGUMENT")
    ) {
      audit.record({ ...seen, action, outcome, code: error.code, message: error.message });
    }
    throw err;
  }
}

/** Who asked, about which schedule, as far as the request got: for the audit. */
interface Seen {
  who: string | null;
  target: string | null;
}

async function answer(
  runner: Runner,
  verifier: TokenVerifier,
  op: string,
  header: string | undefined,
  data: Uint8Array,
  now: number,
  seen: Seen,
): Promise<Record<string, unknown>> {
  if (!(OPS as readonly string[]).includes(op)) {
    throw new SchedulerError(
      "INVALID_ARGUMENT",
      `unknown operation schedules.${op}: use ${OPS.join(", ")}`,
    );
  }
  const principal = await verifier.verifyHeader(header);
  seen.who = principal.sub;
  authorize(principal, READ_ONLY.has(op) ? "schedules.read" : "schedules.manage");
  const body = parse(data);
  if (isScheduleName(body.name)) seen.target = body.name;
  switch (op as Op) {
    case "list":
      return {
        ok: true,
        schedules: [...runner.items.values()]
          .sort((a, b) => a.spec.name.localeCompare(b.spec.name))
          .map((item) => view(item, now, count(body))),
      };
    case "get":
      return { ok: true, schedule: view(named(runner, body), now, count(body)) };
    case "put": {
      const { item, created, changed } = await upsert(runner, decodeSchedule(body), now);
      return { ok: true, created, changed, schedule: view(item, now) };
    }
    case "delete": {
      const item = named(runner, body);
      await runner.kv.delete(item.spec.name);
      runner.items.delete(item.spec.name);
      runner.delta(item.spec.name, { event: "deleted", by: principal.sub });
      return { ok: true, deleted: item.spec.name };
    }
    case "pause":
    case "resume": {
      const item = named(runner, body);
      const given = note(body); // checked before anything changes
      const s = item.state;
      const pause = op === "pause";
      if (s.paused !== pause) setPaused(s, pause, now);
      // A pause's note says why it is paused: it goes when the pause does, unless a new one is given.
      s.note = given ?? (pause ? s.note : undefined);
      s.updatedAt = now;
      await store(runner, item);
      runner.delta(item.spec.name, {
        event: pause ? "paused" : "resumed",
        note: s.note,
        by: principal.sub,
      });
      return { ok: true, schedule: view(item, now) };
    }
    case "trigger": {
      const item = named(runner, body);
      const id = runner.triggerId(item.spec.name);
      const error = await runner.fire(item, id, now, "trigger");
      if (error) throw new SchedulerError("INTERNAL", `the run was not submitted: ${error}`);
      item.state.updatedAt = now;
      await runner.persist(item);
      return { ok: true, id };
    }
    default: {
      const never: never = op as never;
      throw new Error(`unknown operation ${never}`);
    }
  }
}
