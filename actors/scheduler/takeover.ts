/**
 * What a leader that took over from another does with work already under
 * way: nodes keep running what the old leader dispatched, and their starts
 * and outcomes may reach the new leader before the stream redelivers the
 * submissions. For a window after the takeover such reports are kept, by
 * task id, and applied when the submission arrives; a run a node says it has
 * is adopted (the task goes to `running` on that node's worker) instead of
 * being dispatched again.
 *
 * @module
 */

import type { Report, RunningTask } from "../../src/internal_mod.ts";
import { type CoreParts, epochOf } from "./core_parts.ts";
import type { Lifecycle } from "./lifecycle.ts";
import type { TaskEntry } from "./task_table.ts";

/** A run a node has, with the node. */
export type NodeRun = RunningTask & { node: string };

/** An outcome reported for a task before its submission was redelivered. */
export interface EarlyOutcome {
  /** The node that reported it. */
  node: string;
  /** The report, applied as a replay when the task arrives. */
  report: Extract<Report, { kind: "done" }>;
}

/** Reports and runs from before the takeover, and their adoption. */
export class Takeover {
  readonly #p: CoreParts;
  readonly #life: Lifecycle;
  /** Until when outcomes of tasks not yet redelivered are kept (after a takeover). */
  #until = 0;
  /** Outcomes reported for tasks not (yet) redelivered to this leader, by task id. */
  readonly #early = new Map<string, EarlyOutcome>();
  /** Tasks that nodes say they run, learned at a takeover before their redelivery. */
  readonly #runs = new Map<string, NodeRun>();

  /** Nothing kept, no window open. */
  constructor(parts: CoreParts, life: Lifecycle) {
    this.#p = parts;
    this.#life = life;
  }

  /** Keep reports of tasks not redelivered yet for `windowMs` from now. */
  begin(windowMs: number): void {
    this.#until = this.#p.clock.now() + windowMs;
  }

  /**
   * A report about a task this leader does not hold: keep it when it may
   * be early (from an earlier epoch, inside the window, not a replay).
   * Returns true when kept.
   */
  keepEarly(node: string, r: Report, replay: boolean): boolean {
    const early = !replay && epochOf(r.dispatch) < this.#p.epoch &&
      this.#p.clock.now() < this.#until;
    if (early && r.kind === "done") {
      // A new leader may hear an outcome before the submission is redelivered.
      this.#early.set(r.id, { node, report: r });
      return true;
    }
    if (early && r.kind === "started") {
      this.#runs.set(r.id, {
        id: r.id,
        dispatch: r.dispatch,
        worker: r.worker,
        attempt: 1,
        startedAt: r.at,
        node,
      });
      return true;
    }
    return false;
  }

  /** The run a node reported for task `id` before it arrived, taken out. */
  takeRun(id: string): NodeRun | undefined {
    const run = this.#runs.get(id);
    if (run) this.#runs.delete(id);
    return run;
  }

  /** The outcome reported for task `id` before it arrived, taken out. */
  takeEarly(id: string): EarlyOutcome | undefined {
    const early = this.#early.get(id);
    if (early) this.#early.delete(id);
    return early;
  }

  /** A node is gone: the runs it reported will not go on. */
  nodeGone(node: string): void {
    for (const [id, a] of this.#runs) if (a.node === node) this.#runs.delete(id);
  }

  /**
   * After a takeover, a node says it runs these tasks: adopt them (their
   * submissions are being redelivered) instead of running them again.
   */
  adoptRunning(node: string, running: RunningTask[]): void {
    for (const r of running) {
      const e = this.#p.table.tasks.get(r.id);
      if (!e) {
        this.#runs.set(r.id, { ...r, node });
        continue;
      }
      if (e.state === "queued") {
        this.#p.ready.remove(e);
        this.adopt(e, { ...r, node });
      }
    }
  }

  /** `e` (taken out of any queue) runs as `r` says: it is running there now. */
  adopt(e: TaskEntry, r: NodeRun): void {
    e.dispatch = r.dispatch;
    e.worker = r.worker;
    e.node = r.node;
    e.attempts = Math.max(e.attempts, r.attempt);
    e.startedAt = r.startedAt;
    if (this.#p.workers.get(r.worker)) this.#p.workers.acquire(r.worker);
    this.#p.stats.running++;
    this.#life.setState(e, "running", {
      worker: r.worker,
      attempt: e.attempts,
      type: e.type,
      adopted: true,
    });
  }
}
