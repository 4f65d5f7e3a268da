/**
 * Following `monitor.>`: deltas folded into full pictures. Subscribe first
 * and buffer, ask `monitor.snapshot`, apply it, then apply the buffered and
 * later deltas whose `seq` is newer; a gap in a node's `seq` (or a node met
 * mid-incarnation) asks `monitor.snapshot.worker.<node>`, a gap in a
 * scheduler's asks `monitor.snapshot` again (`docs/PROTOCOL.md`, 7.1, 7.6).
 *
 * @module
 */

import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { Channel } from "./_channel.ts";
import { decodeJson, encode, rawRequest } from "./_wire.ts";
import type {
  MonitorUpdate,
  MonitorView,
  MonitorWatch,
  NodeStatus,
  NodeStatusSubscription,
  SchedulerStatus,
  TaskMonitorState,
} from "./types.ts";

/** What the follower needs from its client. Internal. */
export interface MonitorHost {
  readonly nc: NatsConnection;
  readonly prefix: string;
  readonly requestTimeoutMs: number;
}

type Delta = Record<string, unknown> & { seq: number };

interface NodeEntry {
  status: Delta;
  /** Has a full base: a first delta of its incarnation, or a snapshot. */
  complete: boolean;
  /** Deltas heard while a snapshot of this node is asked for. */
  pending: Delta[] | null;
  /** The last resync left a gap it could not close: merge on without asking again. */
  tolerant: boolean;
}

const COUNT_FIELDS = ["held", "queued", "waiting", "retrying", "running", "accepted", "finished"];
const TERMINAL = new Set(["succeeded", "failed", "expired", "cancelled", "rejected"]);

/** Folds `monitor.>` into a {@link MonitorView}; calls `emit` after every change. Internal. */
export class MonitorFollower {
  #host: MonitorHost;
  #emit: (u: MonitorUpdate) => void;
  #withTasks: boolean;
  #subs: Subscription[] = [];
  #nodes = new Map<string, NodeEntry>();
  #schedulers = new Map<string, SchedulerStatus>();
  #tasks = new Map<string, TaskMonitorState>();
  #counts: Record<string, number> = {};
  #leader: string | null = null;
  #applied = 0;
  #gaps = 0;
  #snapshots = 0;
  /** Deltas heard while the full snapshot is asked for (null: none asked). */
  #fullPending: { kind: string; id: string; d: Delta }[] | null = null;
  #stopped = false;
  #again = false;
  /** Resolves once the first snapshot was applied (or could not be had). */
  readonly ready: Promise<void>;

  constructor(host: MonitorHost, withTasks: boolean, emit: (u: MonitorUpdate) => void) {
    this.#host = host;
    this.#withTasks = withTasks;
    this.#emit = emit;
    const p = host.prefix ? `${host.prefix}.` : "";
    const follow =
      (kind: string) => (err: Error | null, m: { subject: string; data: Uint8Array }) => {
        if (err || this.#stopped) return;
        let d: Delta;
        try {
          d = decodeJson(m.data, m.subject) as Delta;
        } catch {
          return;
        }
        if (typeof d !== "object" || d === null) return;
        const id = m.subject.slice(`${p}monitor.${kind}.`.length);
        this.#delta(kind, id, d);
      };
    this.#subs.push(host.nc.subscribe(`${p}monitor.worker.*`, { callback: follow("worker") }));
    this.#subs.push(
      host.nc.subscribe(`${p}monitor.scheduler.*`, { callback: follow("scheduler") }),
    );
    if (withTasks) {
      this.#subs.push(host.nc.subscribe(`${p}monitor.task.*`, { callback: follow("task") }));
    }
    this.ready = this.resync();
  }

  /** The view now: a copy. */
  view(): MonitorView {
    const nodes: Record<string, NodeStatus> = {};
    for (const [id, e] of this.#nodes) if (e.complete) nodes[id] = e.status as NodeStatus;
    return {
      nodes,
      schedulers: Object.fromEntries(this.#schedulers),
      leader: this.#leader,
      counts: { ...this.#counts },
      tasks: Object.fromEntries(this.#tasks),
      applied: this.#applied,
      gaps: this.#gaps,
      snapshots: this.#snapshots,
    };
  }

  /** Stop following. */
  stop(): void {
    this.#stopped = true;
    for (const s of this.#subs) s.unsubscribe();
    this.#subs = [];
  }

  /**
   * Ask `monitor.snapshot` and apply it (at start, after a reconnect, on a
   * scheduler's gap). Without an answer (no monitor process runs) the view
   * is built from deltas and per-node snapshots alone.
   */
  async resync(): Promise<void> {
    if (this.#stopped) return;
    if (this.#fullPending) {
      // One is under way (its reply may be lost with a dropped connection): ask again after it.
      this.#again = true;
      return;
    }
    this.#fullPending = [];
    let snap: Record<string, unknown> | null = null;
    try {
      const m = await rawRequest(
        this.#host.nc,
        `${this.#host.prefix ? `${this.#host.prefix}.` : ""}monitor.snapshot`,
        encode({}),
        { timeoutMs: this.#host.requestTimeoutMs },
      );
      snap = decodeJson(m.data, "monitor.snapshot") as Record<string, unknown>;
    } catch {
      snap = null; // no monitor process answers: deltas and node snapshots only
    }
    const pending = this.#fullPending;
    this.#fullPending = null;
    if (this.#stopped) return;
    if (snap && typeof snap === "object") this.#applySnapshot(snap);
    for (const p of pending) this.#delta(p.kind, p.id, p.d);
    if (this.#again) {
      this.#again = false;
      await this.resync();
    }
  }

  #applySnapshot(snap: Record<string, unknown>): void {
    this.#snapshots++;
    const nodes = (snap.nodes ?? {}) as Record<string, Delta>;
    for (const [id, s] of Object.entries(nodes)) {
      if (typeof s !== "object" || s === null) continue;
      const e = this.#nodes.get(id);
      const cur = e?.status;
      const newer = !cur || Number(s.incarnation) > Number(cur.incarnation) ||
        (s.incarnation === cur.incarnation && Number(s.seq) >= Number(cur.seq)) || !e?.complete;
      if (newer) {
        this.#nodes.set(id, {
          status: { ...s, node: id, seq: Number(s.seq) || 0 },
          complete: true,
          pending: e?.pending ?? null,
          tolerant: false,
        });
      }
    }
    const schedulers = (snap.schedulers ?? {}) as Record<string, Delta>;
    for (const [id, s] of Object.entries(schedulers)) {
      if (typeof s !== "object" || s === null) continue;
      const cur = this.#schedulers.get(id);
      if (!cur || Number(s.seq) >= cur.seq) {
        this.#schedulers.set(id, { ...s, id, seq: Number(s.seq) || 0 });
      }
    }
    this.#leader = this.#findLeader();
    const tasks = snap.tasks as Record<string, unknown> | undefined;
    if (tasks && typeof tasks === "object") {
      for (const k of COUNT_FIELDS) if (typeof tasks[k] === "number") this.#counts[k] = tasks[k];
    }
    this.#emit({ kind: "snapshot", view: this.view() });
  }

  #findLeader(): string | null {
    let best: SchedulerStatus | null = null;
    for (const s of this.#schedulers.values()) {
      if (s.role !== "leader") continue;
      if (!best || Number(s.epoch ?? 0) > Number(best.epoch ?? 0)) best = s;
    }
    return best ? best.id : null;
  }

  #delta(kind: string, id: string, d: Delta): void {
    if (this.#fullPending) {
      this.#fullPending.push({ kind, id, d });
      return;
    }
    if (kind === "worker") this.#node(id, d);
    else if (kind === "scheduler") this.#scheduler(id, d);
    else if (kind === "task") {
      // Several transitions in one message (coalesced by the leader): each step in order.
      if (Array.isArray(d.steps)) {
        for (const step of d.steps as unknown[]) {
          if (typeof step === "object" && step !== null) this.#task(id, step as Delta);
        }
      } else this.#task(id, d);
    }
  }

  #node(id: string, d: Delta): void {
    const seq = Number(d.seq);
    const e = this.#nodes.get(id);
    if (e?.pending) {
      e.pending.push(d);
      return;
    }
    this.#applied++;
    if (d.state === "lost" && seq === 0) {
      // The leader's word that the node is gone: no sequence of its own.
      if (e && (d.incarnation === undefined || d.incarnation === e.status.incarnation)) {
        e.status = { ...e.status, state: "lost" };
        if (e.complete) this.#emitNode(id);
      }
      return;
    }
    if (!e || d.incarnation !== e.status.incarnation) {
      if (e && Number(d.incarnation) < Number(e.status.incarnation)) return; // an older life
      const entry: NodeEntry = {
        status: { ...d, node: id },
        complete: seq === 1, // the first message of an incarnation has every field
        pending: null,
        tolerant: false,
      };
      this.#nodes.set(id, entry);
      if (entry.complete) this.#emitNode(id);
      else {
        this.#gaps++;
        this.#resyncNode(id, entry);
      }
      return;
    }
    if (seq <= Number(e.status.seq)) return; // heard already
    const gap = seq !== Number(e.status.seq) + 1;
    e.status = { ...e.status, ...d };
    if (gap) {
      this.#gaps++;
      if (!e.tolerant || !e.complete) {
        this.#resyncNode(id, e);
        return;
      }
    }
    e.tolerant = false;
    if (e.complete) this.#emitNode(id);
  }

  #resyncNode(id: string, e: NodeEntry): void {
    e.pending = [];
    const p = this.#host.prefix ? `${this.#host.prefix}.` : "";
    rawRequest(this.#host.nc, `${p}monitor.snapshot.worker.${id}`, encode({}), {
      timeoutMs: this.#host.requestTimeoutMs,
    }).then(
      (m) => decodeJson(m.data, "monitor.snapshot.worker") as Delta,
    ).then(
      (snap) => {
        const pending = e.pending ?? [];
        e.pending = null;
        if (this.#stopped) return;
        if (this.#nodes.get(id) !== e) return;
        if (
          snap && typeof snap === "object" &&
          Number(snap.incarnation) >= Number(e.status.incarnation)
        ) {
          this.#snapshots++;
          e.status = { ...snap, node: id, seq: Number(snap.seq) || 0 };
          e.complete = true;
        }
        // Merge on from here; a gap the snapshot did not close is not asked about again.
        e.tolerant = true;
        if (e.complete) this.#emitNode(id);
        for (const d of pending) this.#node(id, d);
      },
      () => {
        // The node does not answer (gone, or not yet up): go on with what the deltas say.
        const pending = e.pending ?? [];
        e.pending = null;
        e.tolerant = true;
        for (const d of pending) this.#node(id, d);
      },
    );
  }

  #emitNode(id: string): void {
    this.#emit({ kind: "node", id, view: this.view() });
  }

  #scheduler(id: string, d: Delta): void {
    this.#applied++;
    const seq = Number(d.seq);
    const cur = this.#schedulers.get(id);
    if (cur && seq <= cur.seq) return;
    const gap = cur ? seq !== cur.seq + 1 : seq > 1;
    const next: SchedulerStatus = { ...cur, ...d, id, seq };
    this.#schedulers.set(id, next);
    if (next.role === "leader") {
      for (const k of COUNT_FIELDS) if (typeof d[k] === "number") this.#counts[k] = d[k] as number;
    }
    this.#leader = this.#findLeader();
    this.#emit({ kind: "scheduler", id, view: this.view() });
    if (gap) {
      this.#gaps++;
      void this.resync();
    }
  }

  #task(id: string, d: Delta): void {
    this.#applied++;
    const seq = Number(d.seq);
    const cur = this.#tasks.get(id);
    // A new leader numbers a task's messages from 1 again; a rejection is always 1.
    if (cur && seq > 1 && seq <= cur.seq) return;
    if (cur && seq > 1 && seq !== cur.seq + 1) this.#gaps++; // no task snapshot: ask tasks.status
    const next: TaskMonitorState = { ...(seq === 1 ? {} : cur), ...d, id, seq };
    if (TERMINAL.has(String(next.state))) this.#tasks.delete(id);
    else this.#tasks.set(id, next);
    this.#emit({ kind: "task", id, view: this.view() });
  }
}

/** Start a watch. Internal: `SchedulerClient.watch` calls it. */
export function startWatch(
  host: MonitorHost,
  opts: { tasks?: boolean; buffer?: number },
  onStop: (f: MonitorFollower) => void,
  register: (f: MonitorFollower) => void,
): MonitorWatch {
  const ch = new Channel<MonitorUpdate>(opts.buffer ?? 10_000);
  const f = new MonitorFollower(host, opts.tasks === true, (u) => ch.push(u));
  register(f);
  const stop = () => {
    f.stop();
    onStop(f);
    ch.close();
  };
  ch.onClose(stop);
  return {
    get view() {
      return f.view();
    },
    ready: f.ready,
    get dropped() {
      return ch.dropped;
    },
    stop,
    [Symbol.asyncIterator]: () => ch,
  };
}

/** Start node-status callbacks. Internal: `SchedulerClient.onNodeStatus` calls it. */
export function startNodeStatus(
  host: MonitorHost,
  cb: (status: NodeStatus, nodes: Record<string, NodeStatus>) => void,
  onStop: (f: MonitorFollower) => void,
  register: (f: MonitorFollower) => void,
): NodeStatusSubscription {
  const call = (status: NodeStatus, nodes: Record<string, NodeStatus>) => {
    try {
      cb(status, nodes);
    } catch {
      // a callback's error is its own
    }
  };
  const f = new MonitorFollower(host, false, (u) => {
    if (u.kind === "snapshot") {
      for (const s of Object.values(u.view.nodes)) call(s, u.view.nodes);
    } else if (u.kind === "node" && u.id && u.view.nodes[u.id]) {
      call(u.view.nodes[u.id], u.view.nodes);
    }
  });
  register(f);
  return {
    ready: f.ready,
    get nodes() {
      return f.view().nodes;
    },
    stop() {
      f.stop();
      onStop(f);
    },
  };
}
