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
  ActorContext,
  Behavior,
  InMsg,
  Subjects,
  Subscription,
  SupervisionEvent,
  Transport,
} from "../../src/internal_mod.ts";
import type { LocalTaskFeed, TaskBatch } from "./local_feed.ts";
import { type Alert, type FoldKind, MonitorFold } from "./view.ts";

/** Messages of the monitor. */
export type MonitorMsg =
  | { type: "delta"; kind: FoldKind; id: string; data: Uint8Array; gen?: number }
  | { type: "local.leading"; on: boolean }
  | { type: "local.tasks"; batch: TaskBatch }
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
  /** `monitor.task.*` over NATS: followed while no scheduler in this process leads. */
  taskSub: Subscription | null;
  /** Numbers each `monitor.task.*` subscription: what an ended one queued is dropped. */
  taskGen: number;
  stopFeed: () => void;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Build the monitor behavior. */
export function monitorBehavior(
  deps: {
    node: string;
    transport: Transport;
    subjects: Subjects;
    hub?: MonitorHub;
    /** Task deltas of the scheduler in this process, when it leads (local_feed.ts). */
    localTasks?: LocalTaskFeed;
  },
): Behavior<MonitorMsg, State> {
  const { transport, subjects: subj } = deps;
  const hub = deps.hub ?? new MonitorHub();
  const prefix = subj.monitorAll.slice(0, -1); // "monitor." with the subject prefix
  const progressPrefix = subj.progress("");
  const taskPrefix = `${prefix}task.`;

  /** Follow `monitor.task.*` over NATS, under a new generation. */
  function followTasks(s: State, send: (m: MonitorMsg) => void): void {
    const gen = ++s.taskGen;
    s.taskSub = transport.subscribe(
      `${taskPrefix}*`,
      (m) =>
        send({
          type: "delta",
          kind: "task",
          id: m.subject.slice(taskPrefix.length),
          data: m.data,
          gen,
        }),
    );
  }

  /** Stop following `monitor.task.*`; what that subscription queued is dropped. */
  function unfollowTasks(s: State): void {
    s.taskSub?.unsubscribe();
    s.taskSub = null;
    s.taskGen++;
  }

  /**
   * Follow `monitor.task.*` exactly while no scheduler here leads: as the
   * scheduler's word (`local.leading`) said, in order, or as the feed says
   * now, which repairs within a second a word that a flooded mailbox dropped.
   */
  function reconcile(
    s: State,
    send: (m: MonitorMsg) => void,
    leading = deps.localTasks?.leading === true,
  ): void {
    if (leading && s.taskSub) unfollowTasks(s);
    else if (!leading && !s.taskSub) followTasks(s, send);
  }

  /** Once a second, whichever message comes (a flood may drop the tick itself). */
  function maybeTick(s: State, ctx: ActorContext<MonitorMsg>): void {
    if (ctx.clock.now() - s.fold.lastTick < 1_000) return;
    s.fold.tick();
    reconcile(s, ctx.self.send.bind(ctx.self));
  }

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
      const s: State = { fold, subs: [], seq: 0, taskSub: null, taskGen: 0, stopFeed: () => {} };
      hub.fold = fold;
      hub.alive = true;
      const follow = (kind: FoldKind, at: string) => (m: { subject: string; data: Uint8Array }) =>
        ctx.self.send({ type: "delta", kind, id: m.subject.slice(at.length), data: m.data });
      for (const kind of ["worker", "scheduler", "schedule", "supervisor"] as const) {
        s.subs.push(transport.subscribe(`${prefix}${kind}.*`, follow(kind, `${prefix}${kind}.`)));
      }
      if (deps.localTasks) {
        s.stopFeed = deps.localTasks.listen({
          leading: (on) => ctx.self.send({ type: "local.leading", on }),
          batch: (batch) => ctx.self.send({ type: "local.tasks", batch }),
        });
      }
      reconcile(s, ctx.self.send.bind(ctx.self));
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
        case "local.tasks":
          for (const [id, body] of msg.batch) s.fold.apply("task", id, body);
          maybeTick(s, ctx);
          return s;
        case "local.leading":
          // In order: what an ended subscription queued before this is dropped (see delta).
          reconcile(s, ctx.self.send.bind(ctx.self), msg.on);
          return s;
        case "delta": {
          // Queued by a task subscription that has ended since: the scheduler here leads now.
          if (msg.gen !== undefined && msg.gen !== s.taskGen) return s;
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
          maybeTick(s, ctx);
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
          reconcile(s, ctx.self.send.bind(ctx.self));
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
      s.stopFeed();
      unfollowTasks(s);
      for (const sub of s.subs) sub.unsubscribe();
    },
  };
}
