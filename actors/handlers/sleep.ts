/**
 * The `sleep` task type: waits a given time, reporting progress as it goes.
 * It is the stand-in for I/O-bound work, and the task that tests cancel and
 * timeout against.
 *
 * @module
 */

import { show } from "../../src/mod.ts";
import { type HandlerDefinition, type TaskHandler, Unrecoverable } from "../../src/mod.ts";
import { payloadObject } from "./_payload.ts";

/** `{ "ms": 200 }` */
export interface SleepPayload {
  /** How long to wait: an integer from 0 to 86 400 000 (one day). */
  ms: number;
}

/** How long the task waited. */
export interface SleepResult {
  sleptMs: number;
}

const MAX_MS = 86_400_000;
/** Progress is reported at most this often... */
const MIN_STEP_MS = 50;
/** ...and at most this many times. */
const MAX_STEPS = 20;

/** Check an untrusted payload; throws {@link Unrecoverable} naming the bad field. */
export function parseSleepPayload(payload: unknown): SleepPayload {
  const { ms } = payloadObject(payload, "sleep", ["ms"]);
  // Not intField: sleep words its range its own way ("a non-negative integer up to").
  if (typeof ms !== "number" || !Number.isInteger(ms) || ms < 0 || ms > MAX_MS) {
    throw new Unrecoverable(
      `payload.ms must be a non-negative integer up to ${MAX_MS}: got ${show(ms)}`,
    );
  }
  return { ms };
}

const sleep: TaskHandler<unknown, SleepResult> = async function* (payload, ctx) {
  const { ms } = parseSleepPayload(payload);
  ctx.signal.throwIfAborted();
  const steps = Math.max(1, Math.min(MAX_STEPS, Math.floor(ms / Math.max(ms / 10, MIN_STEP_MS))));
  // Each step sleeps up to its share of the total, so the steps add up to `ms` exactly.
  let done = 0;
  for (let i = 1; i <= steps && ms > 0; i++) {
    const until = Math.round((ms * i) / steps);
    await ctx.sleep(until - done);
    done = until;
    yield { progress: i / steps, message: `slept ${done} of ${ms} ms` };
  }
  return { sleptMs: ms };
};

/**
 * The `sleep` handler.
 *
 * @example
 * ```ts
 * // tasks.submit.sleep with { "ms": 200 } completes after 200 ms with { "sleptMs": 200 }
 * ```
 */
export const definition: HandlerDefinition<unknown, SleepResult> = {
  type: "sleep",
  handler: sleep,
};
