/**
 * The core's ready queues: one {@link ReadyQueue} per distinct requirement
 * set, so that a dispatch decision compares only the first task of each set
 * (O(k) in the sets in use), and the counts of what they hold.
 *
 * @module
 */

import { runsBefore, type WorkerIndex } from "../../src/internal_mod.ts";
import { ReadyQueue } from "../../src/sched/ready_queue.ts";
import type { TaskEntry } from "./task_table.ts";

/** The counters the ready queues keep exact (a part of the core's stats). */
export interface QueueCounts {
  /** Tasks queued. */
  queued: number;
  /** Tasks queued, by priority 0..9 (their sum is `queued`). */
  queuedByPriority: number[];
}

/** Ready tasks by requirement set. */
export class ReadyQueues {
  readonly #queues = new Map<string, ReadyQueue<TaskEntry>>();
  readonly #counts: QueueCounts;

  /** Empty queues that keep `counts` (the core's stats). */
  constructor(counts: QueueCounts) {
    this.#counts = counts;
  }

  /** Queue `e` (it must be in no queue). */
  push(e: TaskEntry): void {
    let q = this.#queues.get(e.needsKey);
    if (!q) {
      q = new ReadyQueue<TaskEntry>();
      this.#queues.set(e.needsKey, q);
    }
    q.push(e);
    this.#counts.queued++;
    this.#counts.queuedByPriority[e.priority]++;
  }

  /** Take `e` out of its queue; false when it was in none. */
  remove(e: TaskEntry): boolean {
    if (!this.#queues.get(e.needsKey)?.remove(e)) return false;
    this.#counts.queued--;
    this.#counts.queuedByPriority[e.priority]--;
    return true;
  }

  /**
   * Take out the task that runs first among those some free worker can run:
   * the best, by {@link runsBefore}, of the queue heads that a worker in
   * `workers` meets. Queues found empty are dropped on the way.
   */
  takeBest(workers: WorkerIndex): TaskEntry | undefined {
    let best: TaskEntry | undefined;
    let bestQueue: ReadyQueue<TaskEntry> | undefined;
    for (const [key, q] of this.#queues) {
      const top = q.peek();
      if (!top) {
        this.#queues.delete(key);
        continue;
      }
      if (best && !runsBefore(top, best)) continue;
      if (!workers.choose(top.needs)) continue;
      best = top;
      bestQueue = q;
    }
    if (!best || !bestQueue) return undefined;
    bestQueue.pop();
    this.#counts.queued--;
    this.#counts.queuedByPriority[best.priority]--;
    return best;
  }
}
