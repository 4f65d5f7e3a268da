/**
 * The leader's task deltas (`monitor.task.<id>`), coalesced per window: the
 * transitions a task goes through within one window (10 ms) go out as one
 * message instead of one each. An echo task's four (queued, dispatched,
 * running, succeeded) mostly become one or two. Each window also goes, as
 * objects, to the monitor in this process (`actors/monitor/local_feed.ts`).
 *
 * Every transition is still there: a message that covers several carries
 * them in order in `steps` (each with its own `seq` and fields, as it would
 * have been sent alone), `from` (the first step's `seq`), and at the top
 * level the fields of all steps merged, later ones winning, with the last
 * step's `seq`: a consumer that merges deltas into what it holds gets the
 * same result either way (`docs/PROTOCOL.md`, 7.2). A task with one
 * transition in the window gets the message it always got.
 *
 * @module
 */

import type { TaskBatch } from "../monitor/local_feed.ts";

/** One transition of a task, as the core makes it: its id, its `seq`, what changed. */
export type TaskDelta = Record<string, unknown> & { id: string; seq: number };

/** How long transitions are gathered before they go out. */
export const DELTA_WINDOW_MS = 10;

/** Gathers task deltas and sends each task's as one message per window. */
export class TaskDeltas {
  #pending = new Map<string, TaskDelta[]>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #send: (id: string, body: Record<string, unknown>) => void;
  readonly #windowMs: number;
  readonly #sent: ((batch: TaskBatch) => void) | undefined;

  /**
   * `send` publishes one message on the task's subject; `sent`, if given,
   * gets each window's messages once they are all sent.
   */
  constructor(
    send: (id: string, body: Record<string, unknown>) => void,
    windowMs = DELTA_WINDOW_MS,
    sent?: (batch: TaskBatch) => void,
  ) {
    this.#send = send;
    this.#windowMs = windowMs;
    this.#sent = sent;
  }

  /** Deltas waiting for the window to close. */
  get pending(): number {
    return this.#pending.size;
  }

  add(delta: TaskDelta): void {
    const list = this.#pending.get(delta.id);
    if (list) list.push(delta);
    else this.#pending.set(delta.id, [delta]);
    this.#timer ??= setTimeout(() => this.flush(), this.#windowMs);
  }

  /** Send everything gathered now (the window closed, or the term ends). */
  flush(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const pending = this.#pending;
    if (pending.size === 0) return;
    this.#pending = new Map();
    const batch: [string, Record<string, unknown>][] = [];
    for (const [id, list] of pending) {
      const body = list.length === 1 ? list[0] : coalesce(list);
      this.#send(id, body);
      batch.push([id, body]);
    }
    this.#sent?.(batch);
  }
}

/** One message for several transitions of a task: merged fields, and every step in order. */
export function coalesce(list: readonly TaskDelta[]): Record<string, unknown> {
  // Plain loops: object rest and spread copied each step twice more (a profile's hot spot).
  const merged: Record<string, unknown> = { id: list[0].id };
  const steps = new Array<Record<string, unknown>>(list.length);
  for (let i = 0; i < list.length; i++) {
    const d = list[i];
    const step: Record<string, unknown> = {};
    for (const k of Object.keys(d)) {
      if (k === "id") continue;
      step[k] = d[k];
      merged[k] = d[k];
    }
    steps[i] = step;
  }
  merged.from = list[0].seq;
  merged.steps = steps;
  return merged;
}
