/**
 * A recording world for {@link SchedulerCore}: a manual clock, an effects port
 * that writes down every call with the time it was made, and short helpers to
 * submit tasks and to answer for simulated workers.
 *
 * @module
 */

import {
  SchedulerCore,
  type SchedulerEffects,
  type Settle,
  type TaskEntry,
} from "../../../actors/scheduler/core.ts";
import { ManualClock } from "../../../src/runtime/clock.ts";
import type { ErrorInfo } from "../../../src/errors.ts";
import type { Assignment, AttemptOutcome, WorkerInfo } from "../../../src/protocol/internal.ts";
import type { SubmissionDraft } from "../../../src/protocol/submission.ts";
import type {
  Principal,
  TaskId,
  TaskResult,
  TaskState,
  TerminalState,
} from "../../../src/protocol/task.ts";

/** An assignment with the node it went to and the time it was made. */
export interface Sent extends Assignment {
  node: string;
  at: number;
}

/** Everything the core asked of the world, in order. */
export interface Recorded {
  assigned: Sent[];
  /** One entry per `assign` call: a node gets one call per dispatch round. */
  assignCalls: { node: string; ids: string[] }[];
  cancels: { node: string; id: string; dispatch: number; reason: string }[];
  results: { id: string; result: TaskResult; at: number; entry: TaskEntry }[];
  deadLetters: { id: string; result: TaskResult }[];
  deltas: { id: string; delta: Record<string, unknown> }[];
  events: { kind: string; detail: Record<string, unknown> }[];
}

/** A settle handle that counts its acks. */
export interface Ack extends Settle {
  acks: number;
}

/** Start of every test's clock: 2026-01-01T00:00:00Z. */
export const T0 = Date.UTC(2026, 0, 1);

/** The principal every test submits as. */
export const ALICE: Principal = { sub: "alice", roles: ["submitter"] };

/** Fields a test may set on a draft; ids are plain strings here. */
export type DraftFields = Partial<Omit<SubmissionDraft, "id" | "dependsOn">> & {
  dependsOn?: string[];
};

/** A validated draft of an `echo` task with no deadline; `o` overrides any field. */
export function draft(id: string, o: DraftFields = {}): SubmissionDraft {
  const { dependsOn = [], ...rest } = o;
  return {
    id: id as TaskId,
    type: "echo",
    payload: { id },
    priority: 5,
    deadline: Infinity,
    timeoutMs: 30_000,
    maxAttempts: 3,
    requires: [],
    idSource: "body",
    ...rest,
    dependsOn: dependsOn as TaskId[],
  };
}

/** A fresh settle handle. */
export function ack(): Ack {
  const a: Ack = {
    acks: 0,
    ack() {
      a.acks++;
    },
  };
  return a;
}

/** Options of {@link World}. */
export interface WorldOptions {
  t0?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  random?: () => number;
}

/** A core with a manual clock and a recording port. */
export class World {
  readonly clock: ManualClock;
  readonly fx: Recorded = {
    assigned: [],
    assignCalls: [],
    cancels: [],
    results: [],
    deadLetters: [],
    deltas: [],
    events: [],
  };
  readonly core: SchedulerCore;
  #seq = 0;

  constructor(o: WorldOptions = {}) {
    this.clock = new ManualClock(o.t0 ?? T0);
    const fx = this.fx;
    const clock = this.clock;
    const effects: SchedulerEffects = {
      assign(node, tasks) {
        fx.assignCalls.push({ node, ids: tasks.map((t) => t.id) });
        for (const t of tasks) fx.assigned.push({ ...t, node, at: clock.now() });
      },
      cancelOnNode(node, id, dispatch, reason) {
        fx.cancels.push({ node, id, dispatch, reason });
      },
      publishResult(entry, result) {
        fx.results.push({ id: entry.id, result, at: clock.now(), entry });
      },
      deadLetter(entry, result) {
        fx.deadLetters.push({ id: entry.id, result });
      },
      taskDelta(id, delta) {
        fx.deltas.push({ id, delta });
      },
      event(kind, detail) {
        fx.events.push({ kind, detail });
      },
    };
    this.core = new SchedulerCore({
      clock,
      effects,
      epoch: 1,
      retryBaseMs: o.retryBaseMs ?? 1_000,
      retryMaxMs: o.retryMaxMs ?? 60_000,
      random: o.random ?? (() => 0.5),
    });
  }

  /** Register one node's workers; each is `[id, concurrency, capabilities]` and runs `echo`. */
  node(node: string, ...workers: [string, number, string[]?][]): void {
    const infos: WorkerInfo[] = workers.map(([id, concurrency, capabilities = []]) => ({
      id,
      concurrency,
      capabilities,
      types: ["echo"],
    }));
    this.core.registerWorkers(node, infos);
  }

  /** Submit with the next stream sequence (or `seq`); returns the settle handle. */
  submit(
    id: string,
    o: DraftFields = {},
    extra: { seq?: number; deps?: ReadonlyMap<string, TerminalState | "unknown"> } = {},
  ): Ack {
    const a = ack();
    const seq = extra.seq ?? ++this.#seq;
    if (seq > this.#seq) this.#seq = seq;
    this.core.submit(draft(id, o), ALICE, seq, a, extra.deps);
    return a;
  }

  /** Pump synchronously and return what this round assigned. */
  pump(): Sent[] {
    const before = this.fx.assigned.length;
    this.core.pump();
    return this.fx.assigned.slice(before);
  }

  /** The latest assignment of task `id`. */
  sent(id: string): Sent {
    const s = this.fx.assigned.findLast((a) => a.id === id);
    if (!s) throw new Error(`task ${id} was never assigned`);
    return s;
  }

  /** The worker reports the run started. */
  start(a: Sent): boolean {
    return this.core.report(a.node, {
      kind: "started",
      id: a.id,
      dispatch: a.dispatch,
      worker: a.worker,
      attempt: a.attempt,
      at: this.clock.now(),
    });
  }

  /** The worker reports how the run ended. */
  done(
    a: Sent,
    outcome: AttemptOutcome,
    more: { result?: unknown; error?: ErrorInfo; retryAfterMs?: number } = {},
  ): boolean {
    return this.core.report(a.node, {
      kind: "done",
      id: a.id,
      dispatch: a.dispatch,
      worker: a.worker,
      outcome,
      startedAt: a.at,
      endedAt: this.clock.now(),
      ...more,
    });
  }

  /** The node refuses the assignment. */
  refuse(a: Sent, reason = "shutting down"): boolean {
    return this.core.report(a.node, {
      kind: "refused",
      id: a.id,
      dispatch: a.dispatch,
      worker: a.worker,
      reason,
    });
  }

  /** Every result published for `id`. */
  resultsOf(id: string): TaskResult[] {
    return this.fx.results.filter((r) => r.id === id).map((r) => r.result);
  }

  /** The one result published for `id`; throws unless there is exactly one. */
  result(id: string): TaskResult {
    const all = this.resultsOf(id);
    if (all.length !== 1) throw new Error(`task ${id} has ${all.length} results, expected 1`);
    return all[0];
  }

  /** The task's state as the core knows it. */
  state(id: string): TaskState | undefined {
    return this.core.knows(id);
  }

  /** The deltas sent on `monitor.task.<id>`. */
  deltasOf(id: string): Record<string, unknown>[] {
    return this.fx.deltas.filter((d) => d.id === id).map((d) => d.delta);
  }

  /** Events of one kind. */
  eventsOf(kind: string): Record<string, unknown>[] {
    return this.fx.events.filter((e) => e.kind === kind).map((e) => e.detail);
  }
}
