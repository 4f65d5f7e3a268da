/**
 * The monitor actor: follows the node and scheduler deltas on `monitor.>`,
 * applies each to its picture of the system (nodes, schedulers, task counts
 * by state as the leader reports them), answers
 * `monitor.snapshot` with that picture for consumers that join late, and
 * publishes this process's supervision events on `monitor.supervisor.<node>`.
 *
 * @module
 */

import type {
  Behavior,
  InMsg,
  Subjects,
  Subscription,
  SupervisionEvent,
  Transport,
} from "../../src/internal_mod.ts";

/** Messages of the monitor. */
export type MonitorMsg =
  | { type: "delta"; subject: string; data: Uint8Array }
  | { type: "snapshot.request"; msg: InMsg }
  | { type: "supervision"; event: SupervisionEvent };

/** The picture the monitor keeps. */
export interface MonitorView {
  nodes: Record<string, Record<string, unknown>>;
  schedulers: Record<string, Record<string, unknown>>;
  /** Tasks by state, as the leading scheduler last reported them. */
  tasks: Record<string, number>;
  /** Deltas applied, and gaps seen in sequence numbers. */
  applied: number;
  gaps: number;
}

interface State {
  view: MonitorView;
  nodeSeq: Map<string, number>;
  subs: Subscription[];
  seq: number;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Build the monitor behavior. */
export function monitorBehavior(
  deps: { node: string; transport: Transport; subjects: Subjects },
): Behavior<MonitorMsg, State> {
  const { transport, subjects: subj } = deps;
  const prefix = subj.monitorAll.slice(0, -1); // "monitor."
  return {
    init(ctx) {
      const s: State = {
        view: { nodes: {}, schedulers: {}, tasks: {}, applied: 0, gaps: 0 },
        nodeSeq: new Map(),
        subs: [],
        seq: 0,
      };
      // Task deltas are the busy part of monitor.>; task counts come from the scheduler's deltas instead.
      const follow = (m: { subject: string; data: Uint8Array }) =>
        ctx.self.send({ type: "delta", subject: m.subject, data: m.data });
      s.subs.push(transport.subscribe(subj.monitorWorker("*"), follow));
      s.subs.push(transport.subscribe(subj.monitorScheduler("*"), follow));
      s.subs.push(
        transport.subscribe(
          subj.monitorSnapshot,
          (msg) => ctx.self.send({ type: "snapshot.request", msg }),
        ),
      );
      return s;
    },
    receive(s, msg) {
      switch (msg.type) {
        case "delta": {
          let d: Record<string, unknown>;
          try {
            d = JSON.parse(decoder.decode(msg.data));
          } catch {
            return s;
          }
          const [kind, ...rest] = msg.subject.slice(prefix.length).split(".");
          const id = rest.join(".");
          s.view.applied++;
          if (kind === "worker") {
            const seq = Number(d.seq);
            const last = s.nodeSeq.get(id);
            if (
              last !== undefined && seq > 0 && seq !== last + 1 &&
              d.incarnation === s.view.nodes[id]?.incarnation
            ) s.view.gaps++;
            if (seq > 0) s.nodeSeq.set(id, seq);
            if (d.incarnation !== s.view.nodes[id]?.incarnation && seq > 1) s.view.gaps++;
            s.view.nodes[id] = { ...s.view.nodes[id], ...d };
          } else if (kind === "scheduler") {
            s.view.schedulers[id] = { ...s.view.schedulers[id], ...d };
            if (s.view.schedulers[id].role === "leader") {
              for (
                const k of [
                  "held",
                  "queued",
                  "waiting",
                  "retrying",
                  "running",
                  "accepted",
                  "finished",
                ]
              ) {
                if (typeof d[k] === "number") s.view.tasks[k] = d[k] as number;
              }
            }
          }
          return s;
        }
        case "snapshot.request":
          transport.respond(msg.msg, encoder.encode(JSON.stringify(s.view)));
          return s;
        case "supervision":
          transport.publish(
            subj.monitorSupervisor(deps.node),
            encoder.encode(JSON.stringify({ node: deps.node, seq: ++s.seq, ...msg.event })),
          );
          return s;
        default: {
          const never: never = msg;
          throw new Error(`unknown monitor message ${JSON.stringify(never)}`);
        }
      }
    },
    postStop(s) {
      for (const sub of s.subs) sub.unsubscribe();
    },
  };
}
