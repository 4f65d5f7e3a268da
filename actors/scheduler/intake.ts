/**
 * Submissions between decoding and the task table. Checks run partly async
 * (token verification, look-ups in the results stream), so a task may reach
 * the table after a task submitted later that depends on it. The intake
 * remembers which ids are still being checked; a dependant of such an id is
 * parked until that id is settled (admitted, rejected or found finished), and
 * a dependant that would wait on itself through others is a cycle.
 *
 * @module
 */

import { ChurnMap } from "../../src/runtime/churn_map.ts";

/** Ids being checked and the dependants parked on them. */
export class Intake<P> {
  #pending = new ChurnMap<string, number>();
  /** Parked dependant id → what it waits for, and the payload to resume it with. */
  #parked = new Map<string, { waitingFor: Set<string>; item: P }>();
  /** Dependency id → dependants parked on it. */
  #waiters = new Map<string, Set<string>>();
  /** Ids put back in the stream (a look-up failed), until when: they come back. */
  #deferred = new Map<string, number>();

  /**
   * A submission with this id went back to the stream to be delivered again
   * (until `until`): a dependant that meets it meanwhile waits for it too,
   * instead of being refused for an unknown dependency.
   */
  defer(id: string, until: number): void {
    this.#deferred.delete(id);
    this.#deferred.set(id, until);
    if (this.#deferred.size > 100_000) {
      for (const [k, t] of this.#deferred) {
        if (this.#deferred.size <= 50_000 && t > until - 60_000) break;
        this.#deferred.delete(k);
      }
    }
  }

  /** Was `id` put back in the stream and not yet expected to be back? */
  isDeferred(id: string, now: number): boolean {
    const until = this.#deferred.get(id);
    return until !== undefined && until > now;
  }

  /** A submission with this id entered checking. */
  begin(id: string): void {
    this.#pending.set(id, (this.#pending.get(id) ?? 0) + 1);
  }

  isPending(id: string): boolean {
    return this.#pending.has(id);
  }

  /** How many submissions are being checked. */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * A submission with this id is settled. Returns the dependants that no
   * longer wait on anything, for the caller to admit again.
   */
  end(id: string): P[] {
    const n = this.#pending.get(id);
    if (n === undefined) return [];
    if (n > 1) {
      this.#pending.set(id, n - 1);
      return [];
    }
    this.#pending.delete(id);
    const resumed: P[] = [];
    for (const w of this.#waiters.get(id) ?? []) {
      const p = this.#parked.get(w);
      if (!p) continue;
      p.waitingFor.delete(id);
      if (p.waitingFor.size === 0) {
        this.#parked.delete(w);
        resumed.push(p.item);
      }
    }
    this.#waiters.delete(id);
    return resumed;
  }

  /**
   * Park `id` until every id in `on` is settled. Returns the cycle (a list of
   * ids from `id` back to `id`) instead of parking when waiting would close one.
   */
  park(id: string, on: string[], item: P): string[] | null {
    for (const dep of on) {
      const path = this.#pathTo(dep, id, new Set());
      if (path) return [id, ...path];
    }
    this.#parked.set(id, { waitingFor: new Set(on), item });
    for (const dep of on) {
      let set = this.#waiters.get(dep);
      if (!set) this.#waiters.set(dep, set = new Set());
      set.add(id);
    }
    return null;
  }

  /** A path from `from` to `to` following what parked ids wait for. */
  #pathTo(from: string, to: string, seen: Set<string>): string[] | null {
    if (from === to) return [to];
    if (seen.has(from)) return null;
    seen.add(from);
    for (const next of this.#parked.get(from)?.waitingFor ?? []) {
      const rest = this.#pathTo(next, to, seen);
      if (rest) return [from, ...rest];
    }
    return null;
  }
}
