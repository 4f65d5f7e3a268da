/**
 * Nodes and their workers as the scheduler core sees them: registration
 * (which fills the worker index and the task types known), draining, a node
 * that is gone, and dispatches that were never started. A run that cannot
 * report any more goes back to the queue without charging the attempt.
 *
 * @module
 */

import type { WorkerInfo } from "../../src/internal_mod.ts";
import type { CoreParts } from "./core_parts.ts";
import type { Lifecycle } from "./lifecycle.ts";
import type { TaskEntry } from "./task_table.ts";

/** The core's side of the nodes: workers in, workers out, runs lost with them. */
export class Nodes {
  readonly #p: CoreParts;
  readonly #life: Lifecycle;
  /** Task types any worker ever registered. */
  readonly #types = new Set<string>();

  /** No nodes yet. */
  constructor(parts: CoreParts, life: Lifecycle) {
    this.#p = parts;
    this.#life = life;
  }

  /** A node registered (or re-registered) its workers. */
  register(node: string, workers: WorkerInfo[], draining: boolean): void {
    const index = this.#p.workers;
    const seen = new Set<string>();
    for (const w of workers) {
      seen.add(w.id);
      const caps = [...w.capabilities, ...w.types.map((t) => `type:${t}`)];
      index.upsert(w.id, node, caps, w.concurrency);
      index.setAvailable(w.id, !draining);
      for (const t of w.types) this.#types.add(t);
    }
    for (const old of index.workersOf(node)) {
      if (seen.has(old.id)) continue;
      // A worker the node no longer has: what it was running will never report.
      this.#requeueRunning((e) => e.worker === old.id, `worker ${old.id} is gone from ${node}`);
      index.remove(old.id);
    }
    this.#p.schedulePump();
  }

  /** Give a node's workers new tasks, or stop (it is draining). */
  setAvailable(node: string, available: boolean): void {
    const index = this.#p.workers;
    for (const w of index.workersOf(node)) index.setAvailable(w.id, available);
    if (available) this.#p.schedulePump();
  }

  /** Has any worker ever registered this task type? */
  hasType(type: string): boolean {
    return this.#types.has(type);
  }

  /** A node is gone: requeue what it ran and forget its workers. Returns the requeued ids. */
  gone(node: string, reason: string): string[] {
    const requeued = this.#requeueRunning((e) => e.node === node, reason);
    for (const w of this.#p.workers.workersOf(node)) this.#p.workers.remove(w.id);
    return requeued;
  }

  /**
   * Requeue every task dispatched more than `olderThanMs` ago whose start was
   * never reported (see `SchedulerCore.requeueUnstarted`).
   */
  requeueUnstarted(olderThanMs: number): string[] {
    const now = this.#p.clock.now();
    const stuck = new Set<TaskEntry>();
    for (const e of this.#p.table.tasks.values()) {
      if (e.state === "dispatched" && now - e.dispatchedAt > olderThanMs) stuck.add(e);
    }
    if (stuck.size === 0) return [];
    const index = this.#p.workers;
    for (const e of stuck) if (index.get(e.worker)) index.release(e.worker);
    const requeued = this.#requeueRunning(
      (e) => stuck.has(e),
      `no start reported within ${olderThanMs} ms of the dispatch (assignment lost?)`,
    );
    this.#p.schedulePump();
    return requeued;
  }

  /** Put the running tasks that `lost` picks back in the queue, without charging the attempt. */
  #requeueRunning(lost: (e: TaskEntry) => boolean, reason: string): string[] {
    const requeued: string[] = [];
    for (const e of this.#p.table.tasks.values()) {
      if ((e.state !== "dispatched" && e.state !== "running") || !lost(e)) continue;
      this.#life.record(e, "lost", { code: "ABANDONED", message: reason });
      e.attempts--;
      e.dispatch = 0;
      e.node = "";
      e.worker = "";
      this.#p.stats.running--;
      if (e.cancelRequested) {
        this.#life.finish(e, "cancelled", {
          error: { code: "CANCELLED", message: e.cancelRequested },
        });
        continue;
      }
      if (this.#life.requeue(e)) requeued.push(e.id);
    }
    return requeued;
  }
}
