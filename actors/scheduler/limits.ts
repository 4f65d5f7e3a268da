/**
 * Per-user submission limits, keyed by the verified token's `sub`:
 *
 * - a **rate**: a token bucket per user holding up to `burst` submissions and
 *   refilled at `rate` a second. Buckets are refilled lazily when used (no
 *   timer per user): a Map lookup and a few arithmetic operations per
 *   submission. A full bucket is the same as none, so full ones are swept away
 *   when the map grows;
 * - an **in-flight cap**: tasks of the user the leader holds and that have not
 *   ended. The count itself is the core's (`SchedulerCore.inFlight`, core.ts): it
 *   rises when a task enters the table and falls when it reaches a terminal
 *   state, so retries, dependencies, cancels and expiries cannot skew it, and a
 *   new leader rebuilds it from the submissions redelivered to it.
 *
 * 0 turns a limit off. Time comes from the caller (the actor's clock).
 *
 * @module
 */

import { type ErrorInfo, show } from "../../src/internal_mod.ts";

/** The limits, as configured. */
export interface LimitSettings {
  /** Submissions a second per user, on average; 0: no rate limit. */
  userRate: number;
  /** Submissions a user may make at once after being idle. */
  userBurst: number;
  /** Tasks a user may have held and not ended; 0: no cap. */
  userInFlight: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Buckets kept before full ones are swept away. */
const SWEEP_AT = 10_000;

/** Token buckets per user, refilled lazily. */
export class RateBuckets {
  readonly rate: number;
  readonly burst: number;
  #perMs: number;
  #buckets = new Map<string, Bucket>();
  #sweepAt = SWEEP_AT;

  /** `rate` tokens a second, at most `burst` (at least 1) held. */
  constructor(rate: number, burst: number) {
    this.rate = rate;
    this.burst = Math.max(1, burst);
    this.#perMs = rate / 1000;
  }

  /** Take one token for `user` at `now` (epoch ms); false when its bucket is empty. */
  take(user: string, now: number): boolean {
    let b = this.#buckets.get(user);
    if (b === undefined) {
      if (this.#buckets.size >= this.#sweepAt) this.#sweep(now);
      b = { tokens: this.burst, at: now };
      this.#buckets.set(user, b);
    } else if (now > b.at) {
      b.tokens = Math.min(this.burst, b.tokens + (now - b.at) * this.#perMs);
      b.at = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Tokens `user` has at `now` (for tests and status). */
  tokens(user: string, now: number): number {
    const b = this.#buckets.get(user);
    if (!b) return this.burst;
    return Math.min(this.burst, b.tokens + Math.max(0, now - b.at) * this.#perMs);
  }

  /** Users with a bucket that is not full. */
  get size(): number {
    return this.#buckets.size;
  }

  /** Forget buckets that have filled up again; amortised O(1) per new user. */
  #sweep(now: number): void {
    for (const [user, b] of this.#buckets) {
      if (b.tokens + (now - b.at) * this.#perMs >= this.burst) this.#buckets.delete(user);
    }
    this.#sweepAt = Math.max(SWEEP_AT, this.#buckets.size * 2);
  }
}

/** The per-user limits of one scheduler. */
export class UserLimits {
  readonly settings: LimitSettings;
  #buckets: RateBuckets | null;

  constructor(settings: LimitSettings) {
    this.settings = settings;
    this.#buckets = settings.userRate > 0
      ? new RateBuckets(settings.userRate, settings.userBurst)
      : null;
  }

  /**
   * A new submission of `user` at `now`: null when within the rate (one token
   * taken), else the RESOURCE_EXHAUSTED error to reject it with.
   */
  rate(user: string, now: number): ErrorInfo | null {
    if (this.#buckets === null || this.#buckets.take(user, now)) return null;
    const { userRate, userBurst } = this.settings;
    return {
      code: "RESOURCE_EXHAUSTED",
      message: `user ${
        show(user)
      } is over its rate limit of ${userRate} tasks/s (burst ${userBurst}): slow down`,
    };
  }

  /**
   * `user` holds `held` tasks that have not ended: null when one more fits,
   * else the RESOURCE_EXHAUSTED error to reject it with.
   */
  inFlight(user: string, held: number): ErrorInfo | null {
    const cap = this.settings.userInFlight;
    if (cap === 0 || held < cap) return null;
    return {
      code: "RESOURCE_EXHAUSTED",
      message: `user ${
        show(user)
      } is over its in-flight limit of ${cap} tasks: try again when some end`,
    };
  }
}
