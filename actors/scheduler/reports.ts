/**
 * Reports from nodes about the runs they were given: started, progress,
 * refused, done. A report is fenced by its dispatch number: one that is not
 * the task's current dispatch is stale (counted, and told as an event when
 * it is a start or an outcome), unless it is a run from an earlier leader
 * that this one has not replaced, which is adopted (see takeover.ts).
 *
 * @module
 */

import type { Report } from "../../src/internal_mod.ts";
import { type CoreParts, epochOf } from "./core_parts.ts";
import type { Lifecycle } from "./lifecycle.ts";
import type { Takeover } from "./takeover.ts";
import type { TaskEntry } from "./task_table.ts";

/** Applies nodes' reports to the tasks. */
export class Reports {
  readonly #p: CoreParts;
  readonly #life: Lifecycle;
  readonly #takeover: Takeover;

  /** Reports applied with `life`'s transitions, early ones kept by `takeover`. */
  constructor(parts: CoreParts, life: Lifecycle, takeover: Takeover) {
    this.#p = parts;
    this.#life = life;
    this.#takeover = takeover;
  }

  /** Apply a node's report. Returns false when it was stale (fenced). */
  report(node: string, r: Report, replay: boolean): boolean {
    const p = this.#p;
    const e = p.table.tasks.get(r.id);
    if (!e || e.result) {
      if (!e && this.#takeover.keepEarly(node, r, replay)) return true;
      return this.#stale(node, r, e ? "task already finished" : "unknown task");
    }
    if (e.dispatch !== r.dispatch) {
      // A run from an earlier leader that this one has not replaced: adopt it.
      const ours = e.dispatch !== 0 && epochOf(e.dispatch) === p.epoch;
      if (epochOf(r.dispatch) >= p.epoch || ours || e.state !== "queued") {
        return this.#stale(
          node,
          r,
          `dispatch ${r.dispatch} is not the current one (${e.dispatch || "none"})`,
        );
      }
      p.ready.remove(e);
      this.#takeover.adopt(e, {
        id: e.id,
        dispatch: r.dispatch,
        worker: r.worker,
        attempt: Math.max(1, e.attempts),
        startedAt: r.kind === "done" ? r.startedAt : p.clock.now(),
        node,
      });
    }
    switch (r.kind) {
      case "started":
        this.#started(e, r.at);
        return true;
      case "progress":
        return true;
      case "refused":
        this.#refused(e, node, r.reason);
        return true;
      case "done":
        this.#release(e);
        this.#life.attemptEnded(e, r);
        return true;
      default: {
        const never: never = r;
        throw new Error(`unknown report ${JSON.stringify(never)}`);
      }
    }
  }

  #started(e: TaskEntry, at: number): void {
    if (e.state !== "dispatched" && e.state !== "running") return;
    e.state = "running";
    // The wait is from submission to the first start (later attempts waited on a retry);
    // a task handed back and dispatched again has started before, so it is not counted twice.
    const first = e.attempts === 1 && e.startedAt === 0;
    e.startedAt = at;
    this.#life.delta(
      e,
      first
        ? {
          state: "running",
          worker: e.worker,
          attempt: e.attempts,
          type: e.type,
          waitMs: Math.max(0, at - e.submittedAt),
        }
        : { state: "running", worker: e.worker, attempt: e.attempts, type: e.type },
    );
  }

  #refused(e: TaskEntry, node: string, reason: string): void {
    this.#release(e);
    e.attempts--;
    e.dispatch = 0;
    e.worker = "";
    e.node = "";
    this.#p.fx.event("refused", { task: e.id, node, reason });
    if (e.cancelRequested) {
      // The node never ran it, so the cancel it was sent is moot: end it here.
      this.#life.finish(e, "cancelled", {
        error: { code: "CANCELLED", message: e.cancelRequested },
      });
      return;
    }
    this.#life.requeue(e);
  }

  #stale(node: string, r: Report, why: string): false {
    this.#p.stats.stale++;
    // Progress and hand-backs of runs this leader already took back (a fenced or
    // lost node returning its work) are expected: only a late start or outcome is news.
    if (r.kind === "started" || r.kind === "done") {
      this.#p.fx.event("stale", { task: r.id, node, dispatch: r.dispatch, kind: r.kind, why });
    }
    return false;
  }

  #release(e: TaskEntry): void {
    if (this.#p.workers.get(e.worker)) this.#p.workers.release(e.worker);
    this.#p.stats.running--;
    this.#p.schedulePump();
  }
}
