/**
 * The pure part of supervision: given a supervisor's policy, its restart
 * history and a child's failure, decide what happens. No actors, no time but
 * the `now` passed in, so every rule is testable on its own.
 *
 * The rules follow Erlang/OTP:
 * - strategy `one-for-one` restarts the failed child; `one-for-all` restarts
 *   every child; `rest-for-one` restarts the failed child and every child
 *   started after it;
 * - restart intensity: at most `maxRestarts` restarts within `periodMs`; the
 *   restart that would exceed it escalates instead (the supervisor stops its
 *   children and fails to its own parent);
 * - restart types: `permanent` children are always restarted, `transient`
 *   ones only after an abnormal exit, `temporary` ones never (they are removed);
 * - between restarts, an exponential backoff: the k-th restart inside the
 *   current window waits `initialMs * factor^(k-1)`, capped at `maxMs`, with
 *   optional jitter.
 *
 * @module
 */

/** How a supervisor restarts its children. */
export type Strategy = "one-for-one" | "one-for-all" | "rest-for-one";

/** When a child is restarted (OTP's restart types). */
export type RestartType = "permanent" | "transient" | "temporary";

/** Exponential backoff between restarts. */
export interface Backoff {
  initialMs: number;
  maxMs: number;
  factor: number;
  /** 0..1: the delay is scaled by a random factor in [1 - jitter, 1 + jitter]. */
  jitter: number;
}

/** A supervisor's policy. */
export interface SupervisionPolicy {
  strategy: Strategy;
  /** Restart intensity: at most this many restarts... */
  maxRestarts: number;
  /** ...within this many milliseconds. */
  periodMs: number;
  backoff: Backoff;
}

/** The defaults: OTP's intensity (3 in 5 s) with a short backoff. */
export const DEFAULT_POLICY: SupervisionPolicy = {
  strategy: "one-for-one",
  maxRestarts: 3,
  periodMs: 5_000,
  backoff: { initialMs: 10, maxMs: 2_000, factor: 2, jitter: 0 },
};

/** What the supervisor knows of each child, in start order. */
export interface ChildView {
  restart: RestartType;
}

/** The decision for one child exit. */
export type Decision =
  | {
    kind: "restart";
    /** Children to restart, in start order (indices into the children list). */
    restart: number[];
    /** Children to stop and remove (temporary siblings), in start order. */
    remove: number[];
    delayMs: number;
  }
  | { kind: "remove"; child: number }
  | { kind: "escalate"; reason: string };

/**
 * The restart history of one supervisor: times of the restarts still inside
 * the intensity window.
 */
export class RestartHistory {
  #times: number[] = [];

  /** Restarts inside the window ending at `now`. */
  count(now: number, periodMs: number): number {
    this.#prune(now, periodMs);
    return this.#times.length;
  }

  /** Record a restart at `now`. */
  record(now: number): void {
    this.#times.push(now);
  }

  /** Forget everything (a supervisor that was itself restarted starts afresh). */
  reset(): void {
    this.#times = [];
  }

  #prune(now: number, periodMs: number): void {
    let drop = 0;
    while (drop < this.#times.length && this.#times[drop] <= now - periodMs) drop++;
    if (drop) this.#times.splice(0, drop);
  }
}

/** Check a policy's numbers, naming the one that is wrong. */
export function validatePolicy(p: SupervisionPolicy): void {
  const fail = (what: string, v: unknown) => {
    throw new RangeError(`supervision ${what}: got ${v}`);
  };
  if (!Number.isInteger(p.maxRestarts) || p.maxRestarts < 0) {
    fail("maxRestarts must be a non-negative integer", p.maxRestarts);
  }
  if (!(p.periodMs > 0)) fail("periodMs must be positive", p.periodMs);
  const b = p.backoff;
  if (!(b.initialMs >= 0)) fail("backoff.initialMs must be >= 0", b.initialMs);
  if (!(b.maxMs >= b.initialMs)) fail("backoff.maxMs must be >= initialMs", b.maxMs);
  if (!(b.factor >= 1)) fail("backoff.factor must be >= 1", b.factor);
  if (!(b.jitter >= 0 && b.jitter <= 1)) fail("backoff.jitter must be in 0..1", b.jitter);
}

/** The backoff before the k-th restart (k >= 1) of a window. */
export function backoffDelay(b: Backoff, k: number, random: () => number = Math.random): number {
  const base = Math.min(b.maxMs, b.initialMs * Math.pow(b.factor, Math.max(0, k - 1)));
  if (b.jitter === 0 || base === 0) return base;
  const scaled = base * (1 + b.jitter * (2 * random() - 1));
  return Math.max(0, Math.min(b.maxMs, scaled));
}

/**
 * Decide what a child's exit means. `abnormal` is false for a normal stop.
 * On a restart decision the restart is recorded in `history`.
 */
export function decide(
  policy: SupervisionPolicy,
  history: RestartHistory,
  children: readonly ChildView[],
  failed: number,
  abnormal: boolean,
  now: number,
  random: () => number = Math.random,
): Decision {
  const child = children[failed];
  if (!child) throw new RangeError(`no child at index ${failed}`);
  if (child.restart === "temporary" || (child.restart === "transient" && !abnormal)) {
    return { kind: "remove", child: failed };
  }
  const inWindow = history.count(now, policy.periodMs);
  if (inWindow + 1 > policy.maxRestarts) {
    return {
      kind: "escalate",
      reason:
        `restart intensity exceeded: more than ${policy.maxRestarts} restarts in ${policy.periodMs} ms`,
    };
  }
  history.record(now);
  const affected = policy.strategy === "one-for-one"
    ? [failed]
    : policy.strategy === "one-for-all"
    ? children.map((_, i) => i)
    : children.map((_, i) => i).filter((i) => i >= failed);
  const restart: number[] = [];
  const remove: number[] = [];
  for (const i of affected) {
    if (i !== failed && children[i].restart === "temporary") remove.push(i);
    else restart.push(i);
  }
  return {
    kind: "restart",
    restart,
    remove,
    delayMs: backoffDelay(policy.backoff, inWindow + 1, random),
  };
}
