/**
 * The `compute` task type: real, deterministic CPU work that grows with a
 * `complexity` from 1 to 10, for exercising the worker thread pool.
 *
 * The work is `round(10^(complexity / 2 + 3))` iterations of a 32-bit integer
 * mixing function (16 rounds each), seeded from the bits of `input`, so the
 * same payload always gives the same `output` on every machine. Complexity 5
 * is about 316 000 iterations, a few tens of milliseconds; each step up
 * multiplies the work by √10, so 10 is a few seconds.
 *
 * This module runs inside a Web Worker (`pool: true`): it touches nothing but
 * its payload, and keeps no state between tasks.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import type { HandlerDefinition, TaskHandler } from "../../src/mod.ts";
import { intField, numberField, payloadObject } from "./_payload.ts";

/** `{ "complexity": 5, "input": 42 }` */
export interface ComputePayload {
  /** An integer from 1 to 10. */
  complexity: number;
  /** Any finite number: the seed. */
  input: number;
}

/** The outcome: an unsigned 32-bit integer, and how many iterations made it. */
export interface ComputeResult {
  output: number;
  iterations: number;
}

const FIELDS = ["complexity", "input"];
/** Iterations between looks at the signal: a few milliseconds of work. */
const CHUNK = 32_768;
/** Progress is reported in steps of this fraction. */
const PROGRESS_STEP = 0.05;

/** Check an untrusted payload; throws {@link Unrecoverable} naming the bad field. */
export function parseComputePayload(payload: unknown): ComputePayload {
  const p = payloadObject(payload, "compute", FIELDS);
  return { complexity: intField(p, "complexity", 1, 10), input: numberField(p, "input") };
}

/** How many iterations a complexity costs. */
export function computeIterations(complexity: number): number {
  return Math.round(10 ** (complexity / 2 + 3));
}

/** The two 32-bit words of the mixing state. */
type State = [number, number];

/** The state a given input starts from: its IEEE 754 bits, read in a fixed byte order. */
function seed(input: number): State {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, input, false);
  return [view.getUint32(0, false) | 0, view.getUint32(4, false) ^ 0x9e3779b9];
}

/** Advance the state by `n` iterations, starting at iteration number `from`. */
function run(state: State, from: number, n: number): void {
  let [a, b] = state;
  for (let i = from; i < from + n; i++) {
    for (let r = 0; r < 16; r++) {
      a = Math.imul(a ^ (a >>> 16), 0x85ebca6b);
      a = Math.imul(a ^ (a >>> 13), 0xc2b2ae35);
      a ^= a >>> 16;
      b = (b + a + i + r) | 0;
      b = (b << 7) | (b >>> 25);
    }
  }
  state[0] = a;
  state[1] = b;
}

/**
 * Let queued events (a cancel message, a timeout timer) run. A `yield` alone
 * only reaches the microtask queue. `setImmediate` reaches the event loop
 * without the 4 ms clamp that nested `setTimeout(0)` gets, and, unlike a
 * MessageChannel ping, does not starve timers.
 */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

const compute: TaskHandler<unknown, ComputeResult> = async function* (payload, ctx) {
  const { complexity, input } = parseComputePayload(payload);
  ctx.signal.throwIfAborted();
  const iterations = computeIterations(complexity);
  const state = seed(input);
  let reported = 0;
  for (let done = 0; done < iterations;) {
    const n = Math.min(CHUNK, iterations - done);
    run(state, done, n);
    done += n;
    if (done < iterations) {
      await turn();
      ctx.signal.throwIfAborted();
    }
    const progress = done / iterations;
    if (progress - reported >= PROGRESS_STEP || done === iterations) {
      reported = progress;
      yield { progress };
    }
  }
  return { output: (state[0] ^ state[1]) >>> 0, iterations };
};

/**
 * The `compute` handler; it runs in the worker thread pool.
 *
 * @example
 * ```ts
 * // tasks.submit.compute with { "complexity": 5, "input": 42 }
 * // completes with { "output": <uint32>, "iterations": 316228 }
 * ```
 */
export const definition: HandlerDefinition<unknown, ComputeResult> = {
  type: "compute",
  handler: compute,
  pool: true,
};
