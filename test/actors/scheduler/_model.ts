/**
 * A model of what the scheduler core promises, and simulated worker nodes to
 * drive it. The model does not re-implement the core's state machine: it
 * records what the world did (submissions, reports, cancels, time) and checks
 * every effect the core produces against what those events allow.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { AttemptOutcome } from "../../../src/protocol/internal.ts";
import type { SubmissionDraft } from "../../../src/protocol/submission.ts";
import type { TaskState, TerminalState } from "../../../src/protocol/task.ts";
import { type Ack, ack, ALICE, draft, type Sent, World } from "./_harness.ts";

/** Capabilities tasks may require and nodes may offer. */
export const CAPS = ["gpu", "ssd"] as const;

/** Retry backoff of the simulated core: short, so draining ends quickly. */
export const RETRY_BASE_MS = 100;
export const RETRY_MAX_MS = 1_000;

/** A task as the model sees it. */
export interface MTask {
  id: string;
  seq: number;
  priority: number;
  deadline: number;
  requires: string[];
  maxAttempts: number;
  dependsOn: string[];
  /** Every delivery of the submission message; the newest is the one to settle. */
  deliveries: Ack[];
  /** Failed or timed-out attempts reported for a live run. */
  failures: number;
  unrecoverable: boolean;
  cancelRequested: boolean;
  run: Run | null;
  result: { state: TerminalState; at: number } | null;
  stored: boolean;
}

/** One live run of a task on a simulated worker. */
export interface Run {
  task: MTask;
  sent: Sent;
  worker: MWorker;
  started: boolean;
}

/** A simulated worker. */
export interface MWorker {
  id: string;
  node: string;
  concurrency: number;
  caps: Set<string>;
  runs: Run[];
}

/** A simulated worker node. */
export interface MNode {
  id: string;
  workers: MWorker[];
  available: boolean;
}

/** What a submit command asks for. */
export interface SubmitSpec {
  priority: number;
  /** From now; null for no deadline. */
  deadlineIn: number | null;
  requires: string[];
  maxAttempts: number;
  /** Index (modulo) of an earlier task to depend on, or null. */
  dep: number | null;
}

/** The outcome a finish command reports. */
export type FinishOutcome = Extract<
  AttemptOutcome,
  "succeeded" | "failed" | "timeout" | "unrecoverable" | "cancelled"
>;

function draftOf(t: MTask): SubmissionDraft {
  const { priority, deadline, requires, maxAttempts, dependsOn } = t;
  return draft(t.id, { priority, deadline, requires, maxAttempts, dependsOn });
}

/** The core, its recording world, simulated nodes, and the model. */
export class Sim {
  readonly w = new World({ retryBaseMs: RETRY_BASE_MS, retryMaxMs: RETRY_MAX_MS });
  readonly tasks: MTask[] = [];
  readonly byId = new Map<string, MTask>();
  readonly nodes: MNode[] = [];
  /** Runs on nodes declared lost: they may still report, and must be fenced. */
  readonly zombies: Run[] = [];
  /** Nodes declared lost, which may come back under the same name. */
  readonly lost: MNode[] = [];
  /** Acks of resubmissions under a new sequence: each must be acked once, at once. */
  readonly duplicates: Ack[] = [];
  /** The report being applied right now, the only one that may end a task succeeded or failed. */
  #reporting: { id: string; outcome: FinishOutcome } | null = null;
  #seenAssigned = 0;
  #seenResults = 0;
  #seq = 0;
  #nodeNo = 0;

  get now(): number {
    return this.w.clock.now();
  }

  /** Live runs on live workers, in a stable order. */
  runs(): Run[] {
    return this.nodes.flatMap((n) => n.workers.flatMap((w) => w.runs));
  }

  submit(s: SubmitSpec): void {
    const id = `t${this.tasks.length}`;
    const dependsOn = s.dep === null || this.tasks.length === 0
      ? []
      : [this.tasks[s.dep % this.tasks.length].id];
    const t: MTask = {
      id,
      seq: ++this.#seq,
      priority: s.priority,
      deadline: s.deadlineIn === null ? Infinity : this.now + s.deadlineIn,
      requires: [...s.requires].sort(),
      maxAttempts: s.maxAttempts,
      dependsOn,
      deliveries: [ack()],
      failures: 0,
      unrecoverable: false,
      cancelRequested: false,
      run: null,
      result: null,
      stored: false,
    };
    this.tasks.push(t);
    this.byId.set(id, t);
    const deps = new Map<string, TerminalState>();
    for (const d of dependsOn) {
      const r = this.byId.get(d)!.result;
      if (r) deps.set(d, r.state);
    }
    this.w.core.submit(draftOf(t), ALICE, t.seq, t.deliveries[0], deps);
  }

  /** The same task again: a redelivery of its message, or a new message with its id. */
  resubmit(pick: number, redelivery: boolean): void {
    if (this.tasks.length === 0) return;
    const t = this.tasks[pick % this.tasks.length];
    const a = ack();
    if (redelivery && !t.stored) {
      t.deliveries.push(a);
      this.w.core.submit(draftOf(t), ALICE, t.seq, a);
      assert.equal(a.acks, 0, `a redelivery of ${t.id} is held, not acked`);
      return;
    }
    this.duplicates.push(a);
    this.w.core.submit(draftOf(t), ALICE, ++this.#seq, a);
    assert.equal(a.acks, 1, `a duplicate of ${t.id} is acked at once`);
  }

  addNode(workers: { concurrency: number; caps: string[] }[]): void {
    const id = `n${this.#nodeNo++}`;
    const node: MNode = {
      id,
      available: true,
      workers: workers.map((w, i) => ({
        id: `${id}/${i}`,
        node: id,
        concurrency: w.concurrency,
        caps: new Set([...w.caps, "type:echo"]),
        runs: [],
      })),
    };
    this.nodes.push(node);
    this.#register(node);
  }

  #register(node: MNode): void {
    this.w.core.registerWorkers(
      node.id,
      node.workers.map((w) => ({
        id: w.id,
        concurrency: w.concurrency,
        capabilities: [...w.caps].filter((c) => !c.startsWith("type:")),
        types: ["echo"],
      })),
      !node.available,
    );
  }

  /** A lost node comes back with the same name and workers, running nothing. */
  revive(pick: number): void {
    if (this.lost.length === 0) return;
    const [old] = this.lost.splice(pick % this.lost.length, 1);
    const node: MNode = {
      id: old.id,
      available: true,
      workers: old.workers.map((w) => ({ ...w, runs: [] })),
    };
    this.nodes.push(node);
    this.#register(node);
  }

  /** A node says hello again with the same workers (as after a leader change). */
  rehello(pick: number): void {
    if (this.nodes.length) this.#register(this.nodes[pick % this.nodes.length]);
  }

  setAvailable(pick: number, available: boolean): void {
    if (this.nodes.length === 0) return;
    const node = this.nodes[pick % this.nodes.length];
    node.available = available;
    this.w.core.setNodeAvailable(node.id, available);
  }

  loseNode(pick: number): void {
    if (this.nodes.length === 0) return;
    const [node] = this.nodes.splice(pick % this.nodes.length, 1);
    this.lost.push(node);
    const lost = node.workers.flatMap((w) => w.runs);
    for (const r of lost) r.task.run = null;
    this.zombies.push(...lost);
    const requeued = this.w.core.nodeGone(node.id, "heartbeat missed");
    const ids = new Set(lost.map((r) => r.task.id));
    for (const id of requeued) assert.ok(ids.has(id), `${id} was re-queued but never ran there`);
  }

  start(pick: number): void {
    const runs = this.runs().filter((r) => !r.started);
    if (runs.length === 0) return;
    const r = runs[pick % runs.length];
    r.started = true;
    assert.equal(this.w.start(r.sent), true, `the start of ${r.task.id} is accepted`);
  }

  refuse(pick: number): void {
    const runs = this.runs().filter((r) => !r.started);
    if (runs.length === 0) return;
    const r = runs[pick % runs.length];
    this.#end(r);
    assert.equal(this.w.refuse(r.sent), true, `the refusal of ${r.task.id} is accepted`);
  }

  finish(pick: number, outcome: FinishOutcome, retryAfterMs: number | null): void {
    const runs = this.runs();
    if (runs.length === 0) return;
    const r = runs[pick % runs.length];
    const t = r.task;
    // A worker reports "cancelled" only when it was asked to cancel.
    if (outcome === "cancelled" && !t.cancelRequested) outcome = "failed";
    this.#end(r);
    if (outcome === "failed" || outcome === "timeout") t.failures++;
    if (outcome === "unrecoverable") t.unrecoverable = true;
    this.#reporting = { id: t.id, outcome };
    try {
      const ok = this.w.done(r.sent, outcome, {
        result: outcome === "succeeded" ? { from: r.sent.dispatch } : undefined,
        error: outcome === "succeeded" ? undefined : { code: "HANDLER_ERROR", message: outcome },
        retryAfterMs: retryAfterMs ?? undefined,
      });
      assert.equal(ok, true, `the outcome of ${t.id} is accepted`);
      this.#absorb();
    } finally {
      this.#reporting = null;
    }
  }

  /** A run on a lost node reports late: it must be fenced. */
  zombie(pick: number, outcome: FinishOutcome): void {
    if (this.zombies.length === 0) return;
    const [r] = this.zombies.splice(pick % this.zombies.length, 1);
    const stale = this.w.fx.events.length;
    assert.equal(this.w.done(r.sent, outcome), false, `a late report of ${r.task.id} is fenced`);
    assert.equal(this.w.fx.events[stale]?.kind, "stale");
  }

  #end(r: Run): void {
    r.worker.runs.splice(r.worker.runs.indexOf(r), 1);
    r.task.run = null;
  }

  advance(ms: number): void {
    this.w.clock.advance(ms);
  }

  cancel(pick: number): void {
    if (this.tasks.length === 0) return;
    const t = this.tasks[pick % this.tasks.length];
    const out = this.w.core.cancel(t.id, "test");
    if (t.result) {
      assert.equal(out.ok, false, `cancel of finished ${t.id} fails`);
      assert.equal(out.state, t.result.state);
      return;
    }
    assert.equal(out.ok, true, `cancel of active ${t.id} succeeds`);
    t.cancelRequested = true;
    if (t.run) {
      assert.equal(out.state, "cancelling");
      assert.deepEqual(this.w.fx.cancels.at(-1), {
        node: t.run.worker.node,
        id: t.id,
        dispatch: t.run.sent.dispatch,
        reason: "test",
      });
    } else {
      assert.equal(out.state, "cancelled");
      this.#absorb();
      const after = t.result as MTask["result"]; // set by #absorb
      assert.equal(after?.state, "cancelled", `${t.id} ends cancelled at once`);
    }
  }

  store(pick: number, all: boolean): void {
    const done = this.tasks.filter((t) => t.result && !t.stored);
    if (done.length === 0) return;
    for (const t of all ? done : [done[pick % done.length]]) {
      t.stored = true;
      this.w.core.resultStored(t.id);
      const last = t.deliveries.at(-1)!;
      assert.equal(last.acks, 1, `the newest delivery of ${t.id} is acked once stored`);
    }
  }

  /** Dispatch (as the microtask would), then check every effect and invariant. */
  settle(): void {
    this.w.core.pump();
    this.#absorb();
    this.#checkInvariants();
  }

  /** Apply new assignments and results to the model, checking each. */
  #absorb(): void {
    const fx = this.w.fx;
    for (; this.#seenAssigned < fx.assigned.length; this.#seenAssigned++) {
      this.#assigned(fx.assigned[this.#seenAssigned]);
    }
    for (; this.#seenResults < fx.results.length; this.#seenResults++) {
      const { id, result, at } = fx.results[this.#seenResults];
      this.#finished(id, result.state, at);
    }
  }

  #assigned(s: Sent): void {
    const t = this.byId.get(s.id);
    assert.ok(t, `assigned unknown task ${s.id}`);
    const node = this.nodes.find((n) => n.id === s.node);
    assert.ok(node, `${s.id} assigned to ${s.node}, which is lost or unknown`);
    assert.ok(node.available, `${s.id} assigned to draining node ${s.node}`);
    const worker = node.workers.find((w) => w.id === s.worker);
    assert.ok(worker, `${s.id} assigned to unknown worker ${s.worker}`);
    assert.equal(t.run, null, `${s.id} assigned to ${s.worker} while it runs on another worker`);
    assert.equal(t.result, null, `${s.id} assigned after it ended ${t.result?.state}`);
    assert.equal(t.cancelRequested, false, `${s.id} assigned after it was cancelled`);
    assert.ok(
      worker.runs.length < worker.concurrency,
      `${s.worker} given more than its concurrency ${worker.concurrency}`,
    );
    for (const need of t.requires) {
      assert.ok(worker.caps.has(need), `${s.id} needs ${need}, ${s.worker} lacks it`);
    }
    assert.ok(s.at < t.deadline, `${s.id} dispatched at ${s.at}, after its deadline ${t.deadline}`);
    assert.equal(s.attempt, t.failures + 1, `${s.id} attempt number counts only failures`);
    for (const d of t.dependsOn) {
      assert.equal(this.byId.get(d)!.result?.state, "succeeded", `${s.id} ran before ${d} did`);
    }
    const run: Run = { task: t, sent: s, worker, started: false };
    worker.runs.push(run);
    t.run = run;
  }

  #finished(id: string, state: TerminalState, at: number): void {
    const t = this.byId.get(id)!;
    assert.equal(t.result, null, `${id} has a second result (${t.result?.state}, then ${state})`);
    assert.equal(t.run, null, `${id} ended ${state} while still running on a worker`);
    const reported = this.#reporting?.id === id ? this.#reporting.outcome : null;
    switch (state) {
      case "succeeded":
        assert.equal(reported, "succeeded", `${id} succeeded without a success for its dispatch`);
        break;
      case "failed":
        assert.ok(reported && reported !== "succeeded", `${id} failed with no failure reported`);
        assert.ok(!t.cancelRequested, `${id} failed though it was cancelled`);
        assert.ok(
          t.unrecoverable || t.failures >= t.maxAttempts,
          `${id} failed after ${t.failures} of ${t.maxAttempts} attempts`,
        );
        assert.ok(this.w.fx.deadLetters.some((d) => d.id === id), `${id} failed: dead-lettered`);
        break;
      case "expired":
        assert.ok(at >= t.deadline, `${id} expired at ${at}, before its deadline ${t.deadline}`);
        break;
      case "cancelled": {
        const depFailed = t.dependsOn.some((d) => {
          const r = this.byId.get(d)!.result;
          return r !== null && r.state !== "succeeded";
        });
        assert.ok(t.cancelRequested || depFailed, `${id} cancelled though nobody asked`);
        break;
      }
      case "rejected":
        assert.fail(`${id} rejected inside the core`);
    }
    t.result = { state, at };
  }

  #checkInvariants(): void {
    const core = this.w.core;
    const counts = new Map<TaskState, number>();
    for (const e of core.tasks.values()) counts.set(e.state, (counts.get(e.state) ?? 0) + 1);
    const n = (s: TaskState) => counts.get(s) ?? 0;
    const { queued, waiting, retrying, running, held } = core.stats;
    assert.deepEqual(
      { queued, waiting, retrying, running, held },
      {
        queued: n("queued"),
        waiting: n("waiting"),
        retrying: n("retrying"),
        running: n("dispatched") + n("running"),
        held: core.tasks.size,
      },
      "stats agree with the task table",
    );
    for (const t of this.tasks) {
      const state = core.knows(t.id);
      if (t.result) assert.equal(state, t.result.state, `${t.id} state`);
      else if (t.run) assert.ok(state === "dispatched" || state === "running", `${t.id} ${state}`);
      else {
        assert.ok(
          state === "queued" || state === "waiting" || state === "retrying",
          `${t.id} is ${state} with no run and no result`,
        );
        assert.ok(this.now < t.deadline, `${t.id} is still ${state} after its deadline`);
        this.#checkWaiting(t, state);
      }
      if (state === "queued") this.#checkNoFreeWorker(t);
      assert.equal(core.tasks.has(t.id), !t.stored, `${t.id} is held until stored`);
    }
    for (const node of this.nodes) {
      for (const w of node.workers) {
        const entry = core.workers.get(w.id);
        assert.ok(entry, `${w.id} is registered`);
        assert.equal(entry.inFlight, w.runs.length, `${w.id} in flight`);
      }
    }
  }

  /** A task waits while, and only while, a dependency is unfinished. */
  #checkWaiting(t: MTask, state: TaskState): void {
    const deps = t.dependsOn.map((d) => this.byId.get(d)!.result?.state);
    if (state === "waiting") {
      assert.ok(deps.includes(undefined), `${t.id} waits on nothing`);
    } else {
      assert.ok(deps.every((d) => d === "succeeded"), `${t.id} is ${state} before its deps`);
    }
    assert.ok(!deps.some((d) => d && d !== "succeeded"), `${t.id} outlives a failed dependency`);
  }

  /** After a dispatch round, a queued task has no free worker that could take it. */
  #checkNoFreeWorker(t: MTask): void {
    for (const node of this.nodes) {
      if (!node.available) continue;
      for (const w of node.workers) {
        const fits = t.requires.every((c) => w.caps.has(c));
        assert.ok(
          !fits || w.runs.length >= w.concurrency,
          `${t.id} stays queued while ${w.id} has a free slot`,
        );
      }
    }
  }

  /**
   * Give every task a way to end: a node that can run anything, every node
   * available, runs finished with success, time moved past every backoff,
   * results stored. Then check that nothing was lost or settled twice.
   */
  drain(): void {
    this.addNode([{ concurrency: 1_000, caps: [...CAPS] }]);
    for (let i = 0; i < this.nodes.length; i++) this.setAvailable(i, true);
    for (let round = 0; round < 100 && this.tasks.some((t) => !t.stored); round++) {
      this.settle();
      while (this.runs().length) this.finish(0, "succeeded", null);
      this.advance(RETRY_MAX_MS * 10);
      this.settle();
      this.store(0, true);
      this.settle();
    }
    for (const t of this.tasks) {
      assert.ok(t.result, `${t.id} never ended (lost)`);
      assert.ok(t.stored, `${t.id} never stored`);
      assert.equal(this.w.resultsOf(t.id).length, 1, `${t.id} has exactly one result`);
      const acks = t.deliveries.reduce((sum, d) => sum + d.acks, 0);
      assert.equal(acks, 1, `${t.id}'s message is acked exactly once`);
      const seqs = this.w.deltasOf(t.id).map((d) => d.seq);
      assert.deepEqual(seqs, seqs.map((_, i) => i + 1), `${t.id} monitor seqs run 1, 2, 3, ...`);
    }
    for (const d of this.duplicates) assert.equal(d.acks, 1, "a duplicate is acked exactly once");
    const failed = this.tasks.filter((t) => t.result?.state === "failed").map((t) => t.id);
    assert.deepEqual(this.w.fx.deadLetters.map((d) => d.id).sort(), failed.sort());
    const { held, queued, waiting, retrying, running } = this.w.core.stats;
    assert.deepEqual({ held, queued, waiting, retrying, running }, {
      held: 0,
      queued: 0,
      waiting: 0,
      retrying: 0,
      running: 0,
    });
  }
}
