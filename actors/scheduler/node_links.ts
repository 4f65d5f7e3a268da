/**
 * What the leader hears from worker nodes and does about them: a node's hello
 * (its workers and what it runs), its reports (started, progress, done,
 * refused), its heartbeats (draining, messages it refused), its leaving, and
 * the sweep each tick that declares a silent node lost, requeues its tasks and
 * fences it. Reports of an incarnation declared lost or replaced are stale:
 * acknowledged or fenced, never applied (`leadership.ts`, `fenceIfLost`).
 *
 * @module
 */

import type { ActorContext } from "../../src/internal_mod.ts";
import { encoder, type Kit, type SchedulerMsg, type State } from "./types.ts";

type Ctx = ActorContext<SchedulerMsg>;
type From<T extends SchedulerMsg["type"]> = Extract<SchedulerMsg, { type: T }>;

/** The node handlers of one scheduler. */
export interface NodeLinks {
  hello(ctx: Ctx, state: State, msg: From<"node.hello">): void;
  reports(ctx: Ctx, state: State, msg: From<"node.reports">): void;
  leaving(state: State, msg: From<"node.leaving">): void;
  heartbeat(ctx: Ctx, state: State, msg: From<"node.heartbeat">): void;
  /** Declare nodes silent longer than `nodeLostMs` lost: requeue their tasks, fence them. */
  sweepLost(ctx: Ctx, state: State, now: number): void;
}

/** Build the node handlers of one scheduler. */
export function nodeLinks(
  kit: Kit,
  fenceIfLost: (state: State, node: string, incarnation: number, reports: number) => boolean,
): NodeLinks {
  const { deps, subj, config, sendToNode, publishScheduler } = kit;
  return {
    hello(ctx, state, msg) {
      if (!state.core) return;
      if (fenceIfLost(state, msg.node, msg.incarnation, 0)) return;
      const known = state.nodes.get(msg.node);
      if (known && known.incarnation !== msg.incarnation) {
        state.core.nodeGone(msg.node, "node restarted");
      }
      state.nodes.set(msg.node, {
        incarnation: msg.incarnation,
        lastSeen: ctx.clock.now(),
        draining: msg.draining,
      });
      state.core.registerWorkers(msg.node, msg.workers, msg.draining);
      if (msg.running.length) state.core.adoptRunning(msg.node, msg.running);
    },

    reports(ctx, state, msg) {
      if (!state.core) return;
      const node = state.nodes.get(msg.node);
      // Hand-backs (refused) of a fenced incarnation are its work coming back, not news.
      const late = msg.reports.filter((r) => r.kind !== "refused").length;
      if (fenceIfLost(state, msg.node, msg.incarnation, late)) return;
      if (!node) {
        // Not met yet (a new leader): the node keeps its outcomes until acknowledged; ask it to say hello.
        sendToNode(msg.node, { type: "node.sync", epoch: state.epoch, leader: deps.id });
        return;
      }
      if (node.incarnation !== msg.incarnation) {
        // An earlier incarnation of a node that restarted: its reports are stale.
        sendToNode(msg.node, {
          type: "report.ack",
          epoch: state.epoch,
          dispatches: msg.reports.map((r) => r.dispatch),
        });
        if (late > 0) {
          publishScheduler(state, {
            event: "stale",
            node: msg.node,
            incarnation: msg.incarnation,
            reports: late,
            why: "old incarnation",
          });
        }
        return;
      }
      node.lastSeen = ctx.clock.now();
      const acked: number[] = [];
      for (const r of msg.reports) {
        state.core.report(msg.node, r);
        if (r.kind === "done" || r.kind === "refused") acked.push(r.dispatch);
      }
      if (acked.length) {
        sendToNode(msg.node, { type: "report.ack", epoch: state.epoch, dispatches: acked });
      }
    },

    leaving(state, msg) {
      if (!state.core) return;
      const requeued = state.core.nodeGone(msg.node, "node left");
      state.nodes.delete(msg.node);
      publishScheduler(state, {
        event: "node-left",
        node: msg.node,
        requeued: requeued.length,
      });
    },

    heartbeat(ctx, state, msg) {
      if (!state.core) return;
      if (msg.rejected !== undefined && msg.rejected > (state.nodeRefused.get(msg.node) ?? 0)) {
        // A node refused messages that failed their seal: say so where operators look.
        const before = state.nodeRefused.get(msg.node) ?? 0;
        state.nodeRefused.set(msg.node, msg.rejected);
        publishScheduler(state, {
          event: "messages-refused",
          node: msg.node,
          count: msg.rejected - before,
          total: msg.rejected,
        });
      }
      if (fenceIfLost(state, msg.node, msg.incarnation, 0)) return;
      const node = state.nodes.get(msg.node);
      if (!node) {
        // A node this leader has not met: ask it to introduce itself (not one on its way out,
        // whose late status can arrive after it left).
        if (msg.state !== "leaving") {
          sendToNode(msg.node, { type: "node.sync", epoch: state.epoch, leader: deps.id });
        }
        return;
      }
      if (node.incarnation !== msg.incarnation) return;
      node.lastSeen = ctx.clock.now();
      // Draining is one way within an incarnation: an older "up" that arrives late cannot
      // make a node on its way out take work again.
      if (msg.state === "draining" && !node.draining) {
        node.draining = true;
        state.core.setNodeAvailable(msg.node, false);
      }
    },

    sweepLost(ctx, state, now) {
      const core = state.core!;
      for (const [node, info] of state.nodes) {
        if (state.paused || now - info.lastSeen <= config.nodeLostMs) continue;
        state.nodes.delete(node);
        state.lost.set(node, info.incarnation);
        if (state.lost.size > 10_000) state.lost.delete(state.lost.keys().next().value!);
        const requeued = core.nodeGone(
          node,
          `no heartbeat for ${now - info.lastSeen} ms`,
        );
        ctx.log.warn("worker node lost", {
          node,
          silentMs: now - info.lastSeen,
          requeued: requeued.length,
        });
        kit.publishSealed(
          subj.monitorWorker(node),
          encoder.encode(
            JSON.stringify({ node, incarnation: info.incarnation, state: "lost", seq: 0 }),
          ),
        );
        publishScheduler(state, { event: "node-lost", node, requeued: requeued.length });
        sendToNode(node, {
          type: "node.fenced",
          epoch: state.epoch,
          incarnation: info.incarnation,
          reason: "declared lost",
        });
      }
    },
  };
}
