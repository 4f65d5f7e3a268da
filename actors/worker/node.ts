/**
 * A worker node: the actor that stands for this process's workers towards
 * the leading scheduler. It routes assignments to worker actors, batches their
 * reports to the leader, keeps every outcome until the leader acknowledges it
 * (and sends it again after a takeover), publishes heartbeats and status
 * deltas on `monitor.worker.<node>`, obeys fencing (a node declared lost
 * abandons its work and rejoins under a new incarnation), and drains on
 * shutdown, handing back what it could not finish.
 *
 * @module
 */

import {
  type ActorRef,
  type Assignment,
  type Behavior,
  DeltaTracker,
  encodeMessage,
  healthScore,
  type InMsg,
  type NodeStatus,
  type Opener,
  type Progress,
  type Report,
  type RunningTask,
  SEAL_HEADER,
  type Sealer,
  type Subjects,
  type Subscription,
  type TimerHandle,
  type ToNode,
  type ToScheduler,
  type Transport,
  type WorkerInfo,
} from "../../src/internal_mod.ts";
import type { LocalDirectory } from "../directory.ts";
import { CpuSampler, memoryUsed } from "./metrics.ts";
import { Series } from "../monitor/stats.ts";
import type { WorkerPool } from "./pool.ts";
import type { WorkerMsg } from "./worker.ts";
import { ChurnMap } from "../../src/runtime/churn_map.ts";

/** Messages of a worker node. */
export type NodeMsg =
  | ToNode
  | { type: "worker.report"; report: Report }
  | { type: "progress"; id: string; attempt: number; worker: string; progress: Progress }
  | { type: "flush" }
  | { type: "heartbeat" }
  | { type: "snapshot"; replyTo: ActorRef<NodeStatus & { seq: number }> }
  | { type: "drain"; graceMs: number; replyTo: ActorRef<{ handedBack: string[] }> }
  | { type: "drain.check" };

/** What a node needs from its process. */
export interface NodeDeps {
  node: string;
  transport: Transport;
  subjects: Subjects;
  directory: LocalDirectory;
  workers: { info: WorkerInfo; ref: ActorRef<WorkerMsg> }[];
  capabilities: string[];
  pool: WorkerPool | null;
  heartbeatMs: number;
  /** Seals what goes to the leader (and heartbeats); checks what comes from it. */
  seals: { sealer: Sealer; opener: Opener };
}

interface Drain {
  deadline: number;
  replyTo: ActorRef<{ handedBack: string[] }>;
  handedBack: string[];
  abortSent: boolean;
}

interface NodeState {
  incarnation: number;
  epoch: number;
  /** What runs here, by dispatch: for a new leader's sync. */
  running: ChurnMap<number, RunningTask>;
  /** Outcomes not yet acknowledged by the leader, by dispatch, with the beat they came in. */
  outbox: ChurnMap<number, { report: Report; beat: number }>;
  /** Heartbeats so far. */
  beats: number;
  batch: Report[];
  flushTimer: TimerHandle | null;
  heartbeat: TimerHandle | null;
  tracker: DeltaTracker<NodeStatus>;
  cpu: CpuSampler;
  lastBeat: number;
  succeeded: number;
  failed: number;
  /** Successes and failed attempts per second of the last minute, for the health score. */
  outcomes: Series;
  draining: Drain | null;
  /** Drained and gone: refuse everything. */
  left: boolean;
  subs: Subscription[];
  /** Messages refused for a bad or missing seal since start. */
  rejected: number;
  /** When a refusal was last logged (one line a second at most). */
  rejectedLoggedAt: number;
}

const encoder = new TextEncoder();

/** Build a worker node behavior. */
export function nodeBehavior(deps: NodeDeps): Behavior<NodeMsg, NodeState> {
  const { transport, subjects: subj } = deps;
  const byId = new Map(deps.workers.map((w) => [w.info.id, w.ref]));
  const types = [...new Set(deps.workers.flatMap((w) => w.info.types))].sort();
  const concurrency = deps.workers.reduce((n, w) => n + w.info.concurrency, 0);

  const publishSealed = (subject: string, body: Uint8Array) =>
    transport.publish(subject, body, { headers: deps.seals.sealer.seal(subject, body) });

  const toLeader = (msg: ToScheduler) => {
    const local = deps.directory.leader;
    if (local) local.send(msg);
    else publishSealed(subj.report, encodeMessage(msg));
  };

  const hello = (s: NodeState) =>
    toLeader({
      type: "node.hello",
      node: deps.node,
      incarnation: s.incarnation,
      workers: deps.workers.map((w) => w.info),
      running: [...s.running.values()],
      // A node that has left takes no work again, whatever asks it to introduce itself.
      draining: s.draining !== null || s.left,
    });

  const status = (s: NodeState, now: number, state: NodeStatus["state"]): NodeStatus => {
    const { values } = s.outcomes.last(now);
    const recentFailures = values.failed.reduce((a, b) => a + b, 0);
    const recentTasks = values.succeeded.reduce((a, b) => a + b, 0);
    const cpuLoad = s.cpu.sample();
    const processing = s.running.size;
    return {
      node: deps.node,
      incarnation: s.incarnation,
      state,
      cpuLoad,
      memoryUsed: memoryUsed(),
      tasksProcessing: processing,
      tasksQueued: deps.pool?.waiting ?? 0,
      capabilities: deps.capabilities,
      types,
      workers: deps.workers.length,
      concurrency,
      health: healthScore({
        cpuLoad,
        utilisation: concurrency ? processing / concurrency : 0,
        recentFailures,
        recentTasks,
        heartbeatAgeMs: s.lastBeat ? now - s.lastBeat : 0,
        heartbeatMs: deps.heartbeatMs,
      }),
      recentFailures,
      tasksSucceeded: s.succeeded,
      tasksFailed: s.failed,
      rejectedMessages: s.rejected,
      heartbeatAt: now,
    };
  };

  const publishStatus = (s: NodeState, now: number, state?: NodeStatus["state"]) => {
    const st = status(s, now, state ?? (s.draining ? "draining" : "up"));
    s.lastBeat = now;
    const delta = s.tracker.delta(st, ["node", "incarnation", "state"], true);
    // Sealed: the leader takes a node's status as its heartbeat only from the node itself.
    if (delta) publishSealed(subj.monitorWorker(deps.node), encoder.encode(JSON.stringify(delta)));
  };

  const queue = (s: NodeState, r: Report, self: ActorRef<NodeMsg>) => {
    s.batch.push(r);
    if (s.flushTimer) return;
    if (deps.directory.leader) {
      // In process: no reason to wait, one microtask batches what this turn produced.
      s.flushTimer = { cancel() {} };
      queueMicrotask(() => self.send({ type: "flush" }));
    } else {
      s.flushTimer = { cancel() {} };
      setTimeout(() => self.send({ type: "flush" }), 1);
    }
  };

  const newIncarnation = (prev = 0) => Math.max(prev + 1, Date.now());

  return {
    init(ctx) {
      const s: NodeState = {
        incarnation: newIncarnation(),
        epoch: 0,
        running: new ChurnMap(),
        outbox: new ChurnMap(),
        beats: 0,
        batch: [],
        flushTimer: null,
        heartbeat: null,
        tracker: new DeltaTracker<NodeStatus>(),
        cpu: new CpuSampler(),
        lastBeat: 0,
        succeeded: 0,
        failed: 0,
        outcomes: new Series(60, ["succeeded", "failed"]),
        draining: null,
        left: false,
        subs: [],
        rejected: 0,
        rejectedLoggedAt: 0,
      };
      const onWire = (m: InMsg) => {
        const opened = deps.seals.opener.open(m.subject, m.data, m.header(SEAL_HEADER));
        let msg: ToNode | null = null;
        if (opened.ok) {
          try {
            msg = JSON.parse(new TextDecoder().decode(m.data)) as ToNode;
          } catch {
            // sealed but unreadable: refused below
          }
        }
        if (msg) return void ctx.self.send(msg);
        // Never acted on: counted, reported in the next heartbeat, logged once a second at most.
        s.rejected++;
        const now = ctx.clock.now();
        if (now - s.rejectedLoggedAt >= 1_000) {
          s.rejectedLoggedAt = now;
          ctx.log.warn("message refused: bad or missing seal", {
            subject: m.subject,
            reason: opened.ok ? "malformed" : opened.reason,
            refused: s.rejected,
          });
        }
      };
      s.subs.push(transport.subscribe(subj.node(deps.node), onWire));
      s.subs.push(transport.subscribe(subj.nodes, onWire));
      s.subs.push(transport.subscribe(`${subj.monitorSnapshot}.worker.${deps.node}`, (m) => {
        ctx.self.ask<NodeStatus & { seq: number }>((replyTo) => ({ type: "snapshot", replyTo }))
          .then((snap) => transport.respond(m, encoder.encode(JSON.stringify(snap))))
          .catch(() => {});
      }));
      deps.directory.nodes.set(deps.node, ctx.self as ActorRef<ToNode>);
      publishStatus(s, ctx.clock.now());
      hello(s);
      s.heartbeat = ctx.schedule(deps.heartbeatMs, { type: "heartbeat" });
      return s;
    },

    receive(s, msg, ctx) {
      switch (msg.type) {
        case "task.assign": {
          if (msg.epoch < s.epoch) {
            ctx.log.warn("assignment from a deposed leader refused", {
              epoch: msg.epoch,
              current: s.epoch,
            });
            return s;
          }
          s.epoch = msg.epoch;
          for (const a of msg.tasks) assign(s, a, ctx.self);
          return s;
        }
        case "task.cancel": {
          if (msg.epoch < s.epoch) return s;
          const run = s.running.get(msg.dispatch);
          if (run) {
            byId.get(run.worker)?.send({
              type: "task.cancel",
              id: msg.id,
              dispatch: msg.dispatch,
              reason: msg.reason,
            });
          }
          return s;
        }
        case "report.ack":
          if (msg.epoch < s.epoch) return s;
          for (const d of msg.dispatches) s.outbox.delete(d);
          checkDrained(s, ctx.clock.now());
          return s;
        case "node.sync":
          // Gone: its own late status may make a leader ask, and a hello would bring it work back.
          if (msg.epoch < s.epoch || s.left) return s;
          s.epoch = msg.epoch;
          hello(s);
          // Outcomes the old leader never acknowledged go to the new one.
          if (s.outbox.size) {
            toLeader({
              type: "node.reports",
              node: deps.node,
              incarnation: s.incarnation,
              epoch: s.epoch,
              reports: [...s.outbox.values()].map((o) => o.report),
            });
          }
          return s;
        case "node.fenced": {
          if (msg.incarnation !== s.incarnation) return s;
          ctx.log.warn("this node was fenced by the scheduler; abandoning its work and rejoining", {
            reason: msg.reason,
          });
          for (const w of byId.values()) {
            w.send({ type: "abort.all", kind: "fenced", reason: msg.reason });
          }
          s.running.clear();
          s.outbox.clear();
          s.batch = [];
          s.incarnation = newIncarnation(s.incarnation);
          s.tracker = new DeltaTracker<NodeStatus>();
          publishStatus(s, ctx.clock.now());
          hello(s);
          return s;
        }
        case "worker.report": {
          const r = msg.report;
          if (r.kind === "started") {
            s.running.set(r.dispatch, {
              id: r.id,
              dispatch: r.dispatch,
              worker: r.worker,
              attempt: r.attempt,
              startedAt: r.at,
            });
          } else if (r.kind === "done" || r.kind === "refused") {
            if (!s.running.delete(r.dispatch) && r.kind === "done") {
              // Fenced meanwhile: this outcome belongs to an abandoned incarnation.
              return s;
            }
            if (r.kind === "done") {
              const t = ctx.clock.now();
              if (r.outcome === "succeeded") {
                s.succeeded++;
                s.outcomes.add(t, "succeeded");
              } else if (r.outcome !== "cancelled") {
                // A cancel is the user's doing, not a failure of this node: no mark on its health.
                s.failed++;
                s.outcomes.add(t, "failed");
              }
            }
            if (s.draining && r.kind === "refused") s.draining.handedBack.push(r.id);
            s.outbox.set(r.dispatch, { report: r, beat: s.beats });
          }
          queue(s, r, ctx.self);
          return s;
        }
        case "progress":
          transport.publish(
            subj.progress(msg.id),
            encoder.encode(
              JSON.stringify({
                id: msg.id,
                ...msg.progress,
                attempt: msg.attempt,
                worker: msg.worker,
              }),
            ),
          );
          return s;
        case "flush": {
          s.flushTimer = null;
          if (!s.batch.length) return s;
          const reports = s.batch;
          s.batch = [];
          toLeader({
            type: "node.reports",
            node: deps.node,
            incarnation: s.incarnation,
            epoch: s.epoch,
            reports,
          });
          return s;
        }
        case "heartbeat": {
          const now = ctx.clock.now();
          publishStatus(s, now);
          // Outcomes still unacknowledged a whole beat after they were sent: send them again
          // (reports are idempotent). One sent since the last beat may simply not be answered yet,
          // except while draining: the node leaves soon, so every one goes again at each beat.
          s.beats++;
          const stale: Report[] = [];
          for (const o of s.outbox.values()) {
            if (s.draining || o.beat < s.beats - 1) stale.push(o.report);
          }
          if (stale.length) {
            toLeader({
              type: "node.reports",
              node: deps.node,
              incarnation: s.incarnation,
              epoch: s.epoch,
              reports: stale,
            });
          }
          if (s.draining) checkDrained(s, now);
          s.heartbeat = ctx.schedule(deps.heartbeatMs, { type: "heartbeat" });
          return s;
        }
        case "snapshot":
          msg.replyTo.send({
            ...status(s, ctx.clock.now(), s.draining ? "draining" : "up"),
            seq: s.tracker.seq,
          });
          return s;
        case "drain": {
          if (s.left) {
            msg.replyTo.send({ handedBack: [] });
            return s;
          }
          if (!s.draining) {
            s.draining = {
              deadline: ctx.clock.now() + msg.graceMs,
              replyTo: msg.replyTo,
              handedBack: [],
              abortSent: false,
            };
            publishStatus(s, ctx.clock.now());
            hello(s);
            ctx.schedule(msg.graceMs, { type: "drain.check" });
          }
          checkDrained(s, ctx.clock.now());
          return s;
        }
        case "drain.check":
          checkDrained(s, ctx.clock.now());
          if (s.draining) ctx.schedule(50, { type: "drain.check" });
          return s;
        default: {
          const never: never = msg;
          throw new Error(`unknown node message ${JSON.stringify(never)}`);
        }
      }

      function checkDrained(s: NodeState, now: number): void {
        const d = s.draining;
        if (!d) return;
        if (s.running.size > 0 && now >= d.deadline && !d.abortSent) {
          d.abortSent = true;
          for (const w of byId.values()) {
            w.send({ type: "abort.all", kind: "shutdown", reason: "node shutting down" });
          }
        }
        // Done when nothing runs and the leader has every outcome (or the grace is long over).
        if (s.running.size === 0 && (s.outbox.size === 0 || now >= d.deadline + 2_000)) {
          toLeader({
            type: "node.leaving",
            node: deps.node,
            incarnation: s.incarnation,
            handedBack: d.handedBack,
          });
          publishStatus(s, now, "leaving");
          d.replyTo.send({ handedBack: d.handedBack });
          s.draining = null;
          s.left = true;
          s.heartbeat?.cancel();
        }
      }
    },

    postStop(s) {
      for (const sub of s.subs) sub.unsubscribe();
      s.heartbeat?.cancel();
      if (deps.directory.nodes.get(deps.node)) deps.directory.nodes.delete(deps.node);
    },
  };

  function assign(s: NodeState, a: Assignment, self: ActorRef<NodeMsg>): void {
    const worker = byId.get(a.worker);
    if (!worker || s.draining || s.left) {
      queue(s, {
        kind: "refused",
        id: a.id,
        dispatch: a.dispatch,
        worker: a.worker,
        reason: worker
          ? `node ${deps.node} is shutting down`
          : `no worker ${a.worker} on ${deps.node}`,
      }, self);
      return;
    }
    worker.send({ type: "task.assign", task: a });
  }
}
