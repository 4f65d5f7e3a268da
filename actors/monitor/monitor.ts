/**
 * The monitor actor: follows `monitor.>` and `tasks.progress.*`, folds every
 * message into a {@link MonitorFold}, asks a node's snapshot when it meets
 * the node mid-incarnation or sees a gap, answers `monitor.snapshot` for
 * consumers that join late, publishes this process's supervision events on
 * `monitor.supervisor.<node>`, and hands the alerts the fold raises to the
 * {@link MonitorHub}.
 *
 * The hub outlives the actor: the HTTP face and the alert sender hang on it,
 * so a restarted monitor (a new, empty fold) keeps the same address and the
 * same webhook queue.
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
import { type Alert, type FoldKind, MonitorFold } from "./view.ts";

/** Messages of the monitor. */
export type MonitorMsg =
  | { type: "delta"; kind: FoldKind; id: string; data: Uint8Array }
  | { type: "node.snapshot"; id: string; snap: Record<string, unknown> | null }
  | { type: "snapshot.request"; msg: InMsg }
  | { type: "supervision"; event: SupervisionEvent }
  | { type: "tick" };

/** What the monitor shares with the HTTP face and the alert sender. */
export class MonitorHub {
  /** The running actor's fold (an empty one before it starts). */
  fold: MonitorFold = new MonitorFold({ now: Date.now });
  /** Whether the monitor actor runs. */
  alive = false;
  /** Every alert the fold raises. */
  onAlert: (alert: Alert) => void = () => {};
}

interface State {
  fold: MonitorFold;
  subs: Subscription[];
  seq: number;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Build the monitor behavior. */
export function monitorBehavior(
  deps: { node: string; transport: Transport; subjects: Subjects; hub?: MonitorHub },
): Behavior<MonitorMsg, State> {
  const { transport, subjects: subj } = deps;
  const hub = deps.hub ?? new MonitorHub();
  const prefix = subj.monitorAll.slice(0, -1); // "monitor." with the subject prefix
  const progressPrefix = subj.progress("");
  return {
    init(ctx) {
      const fold = new MonitorFold({
        now: () => ctx.clock.now(),
        wantNodeSnapshot: (id) => {
          transport.request(subj.monitorSnapshot + `.worker.${id}`, encoder.encode("{}"), {
            timeoutMs: 2_000,
          }).then(
            (m) => {
              let snap: Record<string, unknown> | null = null;
              try {
                snap = JSON.parse(decoder.decode(m.data));
              } catch {
                // not JSON: no status
              }
              ctx.self.send({ type: "node.snapshot", id, snap });
            },
            () => ctx.self.send({ type: "node.snapshot", id, snap: null }),
          );
        },
        onAlert: (a) => hub.onAlert(a),
      });
      const s: State = { fold, subs: [], seq: 0 };
      hub.fold = fold;
      hub.alive = true;
      const follow = (kind: FoldKind, at: string) => (m: { subject: string; data: Uint8Array }) =>
        ctx.self.send({ type: "delta", kind, id: m.subject.slice(at.length), data: m.data });
      for (const kind of ["worker", "scheduler", "task", "schedule", "supervisor"] as const) {
        s.subs.push(transport.subscribe(`${prefix}${kind}.*`, follow(kind, `${prefix}${kind}.`)));
      }
      s.subs.push(transport.subscribe(`${progressPrefix}*`, follow("progress", progressPrefix)));
      s.subs.push(
        transport.subscribe(
          subj.monitorSnapshot,
          (msg) => ctx.self.send({ type: "snapshot.request", msg }),
        ),
      );
      ctx.schedule(1_000, { type: "tick" });
      return s;
    },
    receive(s, msg, ctx) {
      switch (msg.type) {
        case "delta": {
          let d: unknown;
          try {
            d = JSON.parse(decoder.decode(msg.data));
          } catch {
            return s; // not JSON: nothing to fold
          }
          if (typeof d === "object" && d !== null && !Array.isArray(d)) {
            s.fold.apply(msg.kind, msg.id, d as Record<string, unknown>);
          }
          // Under a flood the mailbox drops its oldest messages, a tick among them: tick here too.
          if (ctx.clock.now() - s.fold.lastTick >= 1_000) s.fold.tick();
          return s;
        }
        case "node.snapshot":
          s.fold.applyNodeSnapshot(
            msg.id,
            typeof msg.snap === "object" && msg.snap !== null && !Array.isArray(msg.snap)
              ? msg.snap
              : null,
          );
          return s;
        case "snapshot.request":
          transport.respond(msg.msg, encoder.encode(JSON.stringify(s.fold.protocolSnapshot())));
          return s;
        case "supervision":
          transport.publish(
            subj.monitorSupervisor(deps.node),
            encoder.encode(JSON.stringify({ node: deps.node, seq: ++s.seq, ...msg.event })),
          );
          return s;
        case "tick":
          if (ctx.clock.now() - s.fold.lastTick >= 900) s.fold.tick();
          ctx.schedule(1_000, { type: "tick" });
          return s;
        default: {
          const never: never = msg;
          throw new Error(`unknown monitor message ${JSON.stringify(never)}`);
        }
      }
    },
    postStop(s) {
      hub.alive = false;
      for (const sub of s.subs) sub.unsubscribe();
    },
  };
}
