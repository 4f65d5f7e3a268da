/**
 * Helpers for the worker tests: a recorder that tests wait on (no sleeping),
 * a way to let queued microtasks run, assignments, and handler building blocks
 * that the test controls (gates, waiting for the abort).
 *
 * @module
 */

import type { Assignment } from "../../../src/internal_mod.ts";

/** Records values and resolves waiters when a matching one arrives. */
export class Recorder<T> {
  readonly items: T[] = [];
  #waiters: { pred: (x: T) => boolean; resolve: (x: T) => void }[] = [];

  constructor(readonly name: string) {}

  /** Record a value. */
  push(x: T): void {
    this.items.push(x);
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.pred(x)) return true;
      w.resolve(x);
      return false;
    });
  }

  /**
   * The first value from index `from` on (already recorded or still to come)
   * that matches. Fails after `timeoutMs` of real time, so a missing event
   * fails the test instead of hanging it.
   */
  wait(pred: (x: T) => boolean, what: string, from = 0, timeoutMs = 10_000): Promise<T> {
    const found = this.items.slice(from).find(pred);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
        reject(
          new Error(
            `${this.name}: no ${what} within ${timeoutMs} ms; got ${
              JSON.stringify(this.items, (_k, v) => typeof v === "bigint" ? `${v}n` : v)
            }`,
          ),
        );
      }, timeoutMs);
      const done = (x: T) => {
        clearTimeout(timer);
        resolve(x);
      };
      this.#waiters.push({ pred, resolve: done });
    });
  }
}

/**
 * Let everything queued as microtasks run: mailboxes, in-memory deliveries and
 * handler promise chains all move on microtasks, so one macrotask turn is
 * enough for a chain that touches no real timer to finish.
 */
export function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Gates by name that a handler awaits and the test opens. */
export class Gates {
  #gates = new Map<string, PromiseWithResolvers<void>>();

  /** The promise of gate `key`, created closed. */
  wait(key: string): Promise<void> {
    return this.#get(key).promise;
  }

  /** Open gate `key`. */
  open(key: string): void {
    this.#get(key).resolve();
  }

  /** Open every gate (cleanup). */
  openAll(): void {
    for (const g of this.#gates.values()) g.resolve();
  }

  #get(key: string): PromiseWithResolvers<void> {
    let g = this.#gates.get(key);
    if (!g) {
      g = Promise.withResolvers<void>();
      this.#gates.set(key, g);
    }
    return g;
  }
}

/** Rejects with the signal's reason once it aborts; never resolves. */
export function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise<never>((_resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

/** An assignment with defaults for everything a test does not care about. */
export function assignment(
  id: string,
  type: string,
  dispatch: number,
  more: Partial<Assignment> = {},
): Assignment {
  return {
    id,
    type,
    payload: null,
    dispatch,
    worker: "n1/w0",
    attempt: 1,
    maxAttempts: 3,
    timeoutMs: 60_000,
    deadline: null,
    ...more,
  };
}
