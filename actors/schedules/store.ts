/**
 * Where schedules live: one JetStream KV entry per schedule, holding its spec
 * and its state (the last settled tick, runs, pause, runs still going, the
 * last results, counters). Every write is a compare-and-set on the entry's
 * revision and carries the writer's epoch, so a deposed leader's write is
 * refused, and a leader that meets a newer epoch stops acting.
 *
 * @module
 */

import {
  decodeSchedule,
  type ErrorInfo,
  type KvBucket,
  type ScheduleJson,
  type ScheduleSpec,
  type TerminalState,
} from "../../src/internal_mod.ts";

/** One run of a schedule: a tick it fired, or a manual trigger. */
export interface RunRecord {
  id: string;
  /** The tick's nominal time (absent for a trigger). */
  nominal?: number;
  trigger?: boolean;
  firedAt: number;
  /** From the tick's fire time (nominal + jitter) to the submission being stored. */
  lateMs?: number;
  state?: TerminalState;
  finishedAt?: number;
  error?: ErrorInfo;
}

/** What a schedule has done so far. */
export interface ScheduleState {
  createdAt: number;
  updatedAt: number;
  /** Ticks at or before this nominal time are settled: fired, skipped or missed. */
  settledUntil: number;
  /** Ticks fired by the timetable (triggers do not count), for `limit`. */
  runs: number;
  paused: boolean;
  note?: string;
  pausedAt?: number;
  /** Ticks due at or before this instant were missed (set when a pause ends). */
  missedUntil?: number;
  /** Ids of runs fired and not ended yet. */
  active: string[];
  /** A tick held by `overlap: buffer-one` until the running one ends. */
  buffered: number | null;
  /** The last runs, newest last. */
  recent: RunRecord[];
  counts: { fired: number; skipped: number; missed: number; triggered: number };
  /** Epoch of the leader that wrote this. */
  epoch: number;
}

/** A schedule as stored. */
export interface StoredSchedule {
  spec: ScheduleJson;
  state: ScheduleState;
}

/** A schedule in memory: the checked spec, its state and the entry's revision. */
export interface Item {
  spec: ScheduleSpec;
  json: ScheduleJson;
  state: ScheduleState;
  revision: number;
  /** The next nominal tick not yet due (derived; not stored). */
  next: number | null;
}

/** How many runs a schedule remembers. */
export const RECENT_RUNS = 20;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A fresh state for a schedule created at `now`. */
export function freshState(spec: ScheduleSpec, now: number, epoch: number): ScheduleState {
  return {
    createdAt: now,
    updatedAt: now,
    settledUntil: now,
    runs: 0,
    paused: spec.paused,
    pausedAt: spec.paused ? now : undefined,
    active: [],
    buffered: null,
    recent: [],
    counts: { fired: 0, skipped: 0, missed: 0, triggered: 0 },
    epoch,
  };
}

/** Read one stored entry; a corrupt one is reported by the caller and left alone. */
export function parseEntry(value: Uint8Array, revision: number): Item {
  const stored = JSON.parse(decoder.decode(value)) as StoredSchedule;
  const spec = decodeSchedule(stored.spec);
  return { spec, json: stored.spec, state: stored.state, revision, next: null };
}

/** Every stored schedule, and the keys that could not be read. */
export async function loadAll(kv: KvBucket): Promise<{ items: Item[]; bad: string[] }> {
  const items: Item[] = [];
  const bad: string[] = [];
  for (const e of await kv.entries()) {
    try {
      items.push(parseEntry(e.value, e.revision));
    } catch {
      bad.push(e.key);
    }
  }
  return { items, bad };
}

/**
 * Write an item by compare-and-set (create when its revision is 0). Returns
 * false when someone else wrote the entry since it was read.
 */
export async function save(kv: KvBucket, item: Item): Promise<boolean> {
  const body = encoder.encode(JSON.stringify({ spec: item.json, state: item.state }));
  const rev = item.revision === 0
    ? await kv.create(item.spec.name, body)
    : await kv.update(item.spec.name, body, item.revision);
  if (rev === null) return false;
  item.revision = rev;
  return true;
}

/** Remember a run, keeping the last {@link RECENT_RUNS}. */
export function remember(state: ScheduleState, run: RunRecord): void {
  state.recent.push(run);
  if (state.recent.length > RECENT_RUNS) state.recent.splice(0, state.recent.length - RECENT_RUNS);
}
