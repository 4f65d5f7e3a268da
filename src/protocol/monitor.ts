/**
 * Monitoring messages on `monitor.>`: small deltas, only the fields that
 * changed plus the id and a sequence number, so a consumer applies each in
 * O(1); a consumer that sees a gap in `seq`, or joins late, asks
 * `monitor.snapshot` for the full picture.
 *
 * @module
 */

/** A worker node's status, as the original NodeStatus had it. */
export interface NodeStatus {
  node: string;
  incarnation: number;
  /** `up`, `draining` (shutting down), `leaving` (gone on purpose) or `lost` (declared by the scheduler). */
  state: "up" | "draining" | "leaving" | "lost";
  /** CPU load of the machine, percent of all cores over the last interval. */
  cpuLoad: number;
  /** Resident memory of this process, bytes. */
  memoryUsed: number;
  tasksProcessing: number;
  /** Assigned to this node and waiting for a slot. */
  tasksQueued: number;
  capabilities: string[];
  types: string[];
  workers: number;
  concurrency: number;
  /** 0..100, from load, recent failures and heartbeat age. */
  health: number;
  /** Attempts that failed in the last minute. */
  recentFailures: number;
  tasksSucceeded: number;
  tasksFailed: number;
  /** Messages from the scheduler side refused for a bad or missing seal, since start. */
  rejectedMessages: number;
  /** Epoch ms of this heartbeat. */
  heartbeatAt: number;
}

/** A delta: the id, a sequence number and the changed fields. */
export type Delta<T> = Partial<T> & { seq: number };

/**
 * Tracks what was last sent for one entity and produces deltas.
 *
 * @example
 * ```ts
 * const t = new DeltaTracker<NodeStatus>();
 * publish(t.delta(status)); // first: every field
 * publish(t.delta(status)); // later: only what changed, plus seq
 * ```
 */
export class DeltaTracker<T extends object> {
  #last: Partial<T> = {};
  #seq = 0;

  /** Sequence number of the last delta. */
  get seq(): number {
    return this.#seq;
  }

  /** The full state last sent, with its seq: the snapshot for late joiners. */
  snapshot(): Delta<T> {
    return { ...this.#last, seq: this.#seq };
  }

  /**
   * The fields of `next` that differ from what was last sent, or null when
   * nothing changed (unless `always`, for heartbeats). `keys` are always included.
   */
  delta(next: T, always: (keyof T)[] = [], force = false): Delta<T> | null {
    const out: Record<string, unknown> = {};
    let changed = false;
    for (const k of Object.keys(next) as (keyof T)[]) {
      const v = next[k];
      if (!same(v, this.#last[k])) {
        out[k as string] = v;
        changed = true;
      }
    }
    if (!changed && !force) return null;
    for (const k of always) out[k as string] = next[k];
    this.#last = { ...next };
    out.seq = ++this.#seq;
    return out as Delta<T>;
  }
}

function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }
  return false;
}

/** The health score of a node, 0..100, from CPU load, recent failures and heartbeat age. */
export function healthScore(input: {
  cpuLoad: number;
  utilisation: number;
  recentFailures: number;
  recentTasks: number;
  heartbeatAgeMs: number;
  heartbeatMs: number;
}): number {
  let score = 100;
  // Load: a busy machine is less healthy, most of all past 80 %.
  score -= Math.min(30, Math.max(0, input.cpuLoad - 50) * 0.6);
  score -= Math.min(10, input.utilisation * 10);
  // Failures: the share of recent attempts that failed.
  const total = input.recentTasks + input.recentFailures;
  if (total > 0) score -= Math.min(40, (input.recentFailures / total) * 40);
  // Heartbeat age: late beyond one interval costs up to 30.
  const late = Math.max(0, input.heartbeatAgeMs - input.heartbeatMs);
  score -= Math.min(30, (late / Math.max(1, input.heartbeatMs)) * 10);
  return Math.max(0, Math.min(100, Math.round(score)));
}
