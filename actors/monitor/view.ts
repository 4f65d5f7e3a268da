/**
 * The monitor's folded view of `monitor.>`: nodes, schedulers, the leader's
 * counts, a bounded ring of recent tasks, per-second series of the last
 * minutes, latency reservoirs and histograms, labelled counters for
 * `/metrics`, and rings of recent supervision, schedule and alert events.
 *
 * Folding one delta costs O(1): a few map look-ups and counter bumps, no
 * scan. Memory is bounded whatever the traffic: the task ring, the event
 * rings and the series have fixed sizes, label sets are capped, and nodes
 * gone for {@link FoldOptions.forgetNodeMs} are dropped at the next tick.
 *
 * The fold is pure: it does no I/O. The monitor actor feeds it, asks the
 * node snapshots it wants ({@link FoldOptions.wantNodeSnapshot}) and passes
 * on the alerts it raises ({@link FoldOptions.onAlert}).
 *
 * @module
 */

import { Histogram, LabelledCounter, Reservoir, Series } from "./stats.ts";
import { ChurnMap } from "../../src/runtime/churn_map.ts";

/** A fold input: the kind from the subject (`monitor.<kind>.<id>`), the id, the message. */
export type FoldKind = "worker" | "scheduler" | "task" | "schedule" | "supervisor" | "progress";

/** Task states that end a task. */
export const TERMINAL_STATES = ["succeeded", "failed", "cancelled", "expired", "rejected"] as const;
const TERMINAL = new Set<string>(TERMINAL_STATES);
const COUNT_FIELDS = ["held", "queued", "waiting", "retrying", "running", "accepted", "finished"];

/** One recent task, as folded from its deltas and progress. */
export interface TaskRecord {
  id: string;
  type?: string;
  state?: string;
  priority?: number;
  attempt?: number;
  worker?: string;
  progress?: number;
  message?: string;
  waitingOn?: number;
  cancelling?: boolean;
  error?: unknown;
  waitMs?: number;
  runMs?: number;
  /** Epoch ms of the first and the last message heard about it. */
  firstSeen: number;
  updated: number;
  seq: number;
}

/** One node as folded, with what the monitor adds. */
export interface NodeRecord {
  status: Record<string, unknown>;
  /** Has every field: a first message of its incarnation, or a snapshot. */
  complete: boolean;
  /** Epoch ms a snapshot was asked for that has not come (0: none asked). */
  asked: number;
  /** Epoch ms it was last heard from (or declared lost). */
  heard: number;
  /** Reports of it the leader fenced (`stale` events naming it). */
  fenced: number;
}

/** An alert: raised once per `key`, published on `monitor.alert` and to the webhook. */
export interface Alert {
  kind: "task-failed" | "schedule-missed" | "schedule-skipped" | "node-lost" | "leader-change";
  /** Stable across monitors and retries: receivers de-duplicate on it. */
  key: string;
  severity: "critical" | "warning" | "info";
  /** ISO time the monitor raised it. */
  at: string;
  summary: string;
  detail: Record<string, unknown>;
}

/** A timestamped event kept in a ring (supervision, schedule, scheduler events). */
export interface RecentEvent {
  at: number;
  [field: string]: unknown;
}

/** Tuning of the fold. */
export interface FoldOptions {
  now: () => number;
  /** Recent tasks kept (default 2,000). */
  recentTasks?: number;
  /** Seconds of per-second series kept (default 900). */
  seriesSeconds?: number;
  /** Events kept per ring (default 200). */
  events?: number;
  /** A node gone (lost or left) this long is forgotten (default 10 minutes). */
  forgetNodeMs?: number;
  /** The fold met a node mid-incarnation or saw a gap: the actor should ask its snapshot. */
  wantNodeSnapshot?: (node: string) => void;
  /** A scheduler's messages had a gap: a follower of a monitor should ask `monitor.snapshot`. */
  wantSnapshot?: () => void;
  onAlert?: (alert: Alert) => void;
}

/** A node's snapshot not answered in this long may be asked again. */
const ASK_AGAIN_MS = 5_000;

/** Cap on distinct label sets per counter (more go to `other`). */
export const LABEL_SETS = 1_000;

/** The monitor's folded view. */
export class MonitorFold {
  readonly nodes = new Map<string, NodeRecord>();
  readonly schedulers = new Map<string, Record<string, unknown>>();
  /** Recent tasks, least recently changed first. */
  readonly tasks = new ChurnMap<string, TaskRecord>();
  leader: string | null = null;
  epoch = 0;
  leaderChanges = 0;
  readonly counts: Record<string, number> = {};
  queuedByPriority: number[] = new Array(10).fill(0);
  /** Streams full now, from the leader's storage deltas. */
  storageFull: string[] = [];
  applied = 0;
  gaps = 0;
  /** Epoch ms of the last {@link tick}. */
  lastTick = 0;
  #schedulerHeard = new Map<string, number>();
  /** Bumped by every change: the HTTP face pushes when it moved. */
  version = 0;
  /** Nodes and tasks changed since {@link takeDirty}. */
  #dirtyNodes = new Set<string>();
  #dirtyTasks = new Set<string>();

  readonly series: Series;
  readonly waitRecent = new Reservoir(2_048);
  readonly runRecent = new Reservoir(2_048);
  readonly waitSeconds = new Histogram(LABEL_SETS);
  readonly runSeconds = new Histogram(LABEL_SETS);
  readonly submitted = new LabelledCounter(["type"], LABEL_SETS);
  readonly finished = new LabelledCounter(["type", "state"], LABEL_SETS);
  readonly scheduleTicks = new LabelledCounter(["schedule", "result"], LABEL_SETS);
  readonly actorRestarts = new LabelledCounter(["actor"], LABEL_SETS);
  readonly alerts = new LabelledCounter(["kind"], 16);

  readonly supervision: RecentEvent[] = [];
  readonly scheduleEvents: RecentEvent[] = [];
  readonly schedulerEvents: RecentEvent[] = [];
  readonly recentAlerts: Alert[] = [];

  #o: Required<Omit<FoldOptions, "wantNodeSnapshot" | "wantSnapshot" | "onAlert">> & FoldOptions;
  /** Alert keys raised, oldest first, to raise each once. */
  #raised = new Set<string>();

  constructor(o: FoldOptions) {
    this.#o = {
      recentTasks: 2_000,
      seriesSeconds: 900,
      events: 200,
      forgetNodeMs: 600_000,
      ...o,
    };
    this.series = new Series(this.#o.seriesSeconds, [
      "submitted",
      "succeeded",
      "failed",
      "ended",
    ]);
  }

  /** Fold one message. Never throws on input: a malformed message is skipped. */
  apply(kind: FoldKind, id: string, d: Record<string, unknown>): void {
    if (typeof d !== "object" || d === null || Array.isArray(d)) return;
    this.applied++;
    switch (kind) {
      case "worker":
        return this.#node(id, d);
      case "scheduler":
        return this.#scheduler(id, d);
      case "task":
        // Several transitions in one message (coalesced by the leader): each step in order.
        if (Array.isArray(d.steps)) {
          for (const step of d.steps) {
            if (typeof step === "object" && step !== null && !Array.isArray(step)) {
              this.#task(id, step as Record<string, unknown>);
            }
          }
          return;
        }
        return this.#task(id, d);
      case "progress":
        return this.#progress(id, d);
      case "schedule":
        return this.#schedule(id, d);
      case "supervisor":
        return this.#supervisor(d);
    }
  }

  /**
   * Seed from a `monitor.snapshot` answer (`docs/PROTOCOL.md`, 7.6), for a
   * follower of another monitor: schedulers highest epoch first (a deposed
   * leader's record neither takes the lead nor alerts), nodes as complete
   * statuses (a lost one too), and the leader's counts unless deltas brought
   * newer ones.
   */
  applySnapshot(snap: Record<string, unknown>): void {
    const records = (v: unknown): [string, Record<string, unknown>][] =>
      v && typeof v === "object" && !Array.isArray(v)
        ? Object.entries(v as Record<string, unknown>).filter(([, x]) =>
          typeof x === "object" && x !== null && !Array.isArray(x)
        ) as [string, Record<string, unknown>][]
        : [];
    const schedulers = records(snap.schedulers).sort((a, b) =>
      (Number(b[1].epoch) || 0) - (Number(a[1].epoch) || 0)
    );
    for (const [id, d] of schedulers) {
      const cur = this.schedulers.get(id);
      if (cur && Number(cur.seq) >= Number(d.seq)) continue;
      this.schedulers.set(id, { ...cur, ...d, id });
      this.#schedulerHeard.set(id, this.#o.now());
      const epoch = Number(d.epoch) || 0;
      if (d.role === "leader" && epoch >= this.epoch && this.leader !== id) this.#lead(id, epoch);
    }
    for (const [id, d] of records(snap.nodes)) {
      if (!Number.isFinite(Number(d.incarnation))) continue;
      const e = this.nodes.get(id);
      if (e && Number(e.status.incarnation) > Number(d.incarnation)) continue;
      if (e && e.status.incarnation === d.incarnation && Number(e.status.seq) > Number(d.seq)) {
        continue;
      }
      this.nodes.set(id, {
        status: { ...d, node: id },
        complete: true,
        asked: 0,
        heard: this.#o.now(),
        fenced: e?.fenced ?? 0,
      });
      this.#touchNode(id);
    }
    const tasks = snap.tasks;
    if (tasks && typeof tasks === "object" && !Array.isArray(tasks)) {
      for (const [k, v] of Object.entries(tasks)) {
        if (typeof v === "number" && COUNT_FIELDS.includes(k) && !(k in this.counts)) {
          this.counts[k] = v;
        }
      }
    }
    this.version++;
  }

  /** A node's full status, asked after {@link FoldOptions.wantNodeSnapshot}. */
  applyNodeSnapshot(id: string, snap: Record<string, unknown> | null): void {
    const e = this.nodes.get(id);
    if (!e) return;
    e.asked = 0;
    // An error reply (`{code, message}`) is no status.
    if (!snap || typeof snap !== "object" || !Number.isFinite(Number(snap.incarnation))) return;
    const inc = Number(snap.incarnation);
    if (inc < Number(e.status.incarnation)) return;
    if (inc === Number(e.status.incarnation) && Number(snap.seq) < Number(e.status.seq)) {
      e.status = { ...snap, ...e.status }; // newer deltas win over the older snapshot
    } else {
      e.status = { ...e.status, ...snap };
    }
    e.status.node = id;
    e.complete = true;
    this.#touchNode(id);
  }

  /**
   * Once a second: roll the series, forget long-gone nodes and schedulers,
   * let a node's snapshot be asked again when the last ask got no answer.
   * O(nodes + schedulers).
   */
  tick(): void {
    const now = this.#o.now();
    this.lastTick = now;
    this.series.advance(now);
    for (const [id, e] of this.nodes) {
      const st = e.status.state;
      if ((st === "lost" || st === "leaving") && now - e.heard > this.#o.forgetNodeMs) {
        this.nodes.delete(id);
        this.#touchNode(id);
      } else if (e.asked && now - e.asked > ASK_AGAIN_MS) {
        e.asked = 0;
        if (!e.complete) this.#ask(id, e);
      }
    }
    for (const [id, heard] of this.#schedulerHeard) {
      // A scheduler id is new at every start: forget the ones silent for long (not the leader).
      if (id !== this.leader && now - heard > this.#o.forgetNodeMs) {
        this.schedulers.delete(id);
        this.#schedulerHeard.delete(id);
      }
    }
  }

  /** Nodes and tasks changed since the last call. */
  takeDirty(): { nodes: string[]; tasks: string[] } {
    const out = { nodes: [...this.#dirtyNodes], tasks: [...this.#dirtyTasks] };
    // Fresh sets, not clear(): a cleared table links to its successor like a rehashed one
    // (src/runtime/churn_map.ts), and this runs several times a second.
    this.#dirtyNodes = new Set();
    this.#dirtyTasks = new Set();
    return out;
  }

  /** The picture of `docs/PROTOCOL.md` 7.6, answered on `monitor.snapshot`. */
  protocolSnapshot(): Record<string, unknown> {
    const nodes: Record<string, unknown> = {};
    for (const [id, e] of this.nodes) nodes[id] = e.status;
    const tasks: Record<string, number> = {};
    for (const k of COUNT_FIELDS) if (k in this.counts) tasks[k] = this.counts[k];
    return {
      nodes,
      schedulers: Object.fromEntries(this.schedulers),
      tasks,
      applied: this.applied,
      gaps: this.gaps,
    };
  }

  // --- nodes ---------------------------------------------------------------

  #node(id: string, d: Record<string, unknown>): void {
    const now = this.#o.now();
    const seq = Number(d.seq);
    const e = this.nodes.get(id);
    if (d.state === "lost" && seq === 0) {
      // The leader's word that the node is gone: no sequence of its own.
      if (!e || (d.incarnation !== undefined && d.incarnation !== e.status.incarnation)) return;
      if (e.status.state !== "lost") {
        e.status = { ...e.status, state: "lost" };
        e.heard = now;
        this.#touchNode(id);
        this.#alert({
          kind: "node-lost",
          key: `node-lost:${id}:${e.status.incarnation}`,
          severity: "critical",
          summary: `node ${id} lost: silent past the limit; its tasks run elsewhere`,
          detail: { node: id, incarnation: e.status.incarnation },
        });
      }
      return;
    }
    if (!Number.isFinite(Number(d.incarnation))) return; // no incarnation: not a node's status
    if (!e || d.incarnation !== e.status.incarnation) {
      if (e && Number(d.incarnation) < Number(e.status.incarnation)) return; // an older life
      const rec: NodeRecord = {
        status: { ...d, node: id },
        complete: seq === 1,
        asked: 0,
        heard: now,
        fenced: e?.fenced ?? 0,
      };
      this.nodes.set(id, rec);
      if (e) this.gaps += seq === 1 ? 0 : 1;
      if (!rec.complete) this.#ask(id, rec);
      this.#touchNode(id);
      return;
    }
    e.heard = now;
    const last = Number(e.status.seq);
    if (seq <= last) return; // heard already
    e.status = { ...e.status, ...d };
    if (seq !== last + 1) {
      this.gaps++;
      this.#ask(id, e);
    }
    this.#touchNode(id);
  }

  #ask(id: string, e: NodeRecord): void {
    if (e.asked) return;
    e.asked = this.#o.now();
    this.#o.wantNodeSnapshot?.(id);
  }

  #touchNode(id: string): void {
    this.version++;
    this.#dirtyNodes.add(id);
  }

  // --- schedulers ----------------------------------------------------------

  #scheduler(id: string, d: Record<string, unknown>): void {
    const cur = this.schedulers.get(id);
    const seq = Number(d.seq);
    if (cur && seq > 0 && seq <= Number(cur.seq)) return;
    if (cur && seq > 0 && seq !== Number(cur.seq) + 1) {
      this.gaps++;
      this.#o.wantSnapshot?.();
    }
    const next: Record<string, unknown> = { ...cur, ...d, id };
    // The leader's periodic counts say `leading`: a monitor that started late learns who leads.
    if (d.leading === true && next.role === undefined) next.role = "leader";
    this.schedulers.set(id, next);
    this.version++;
    const now = this.#o.now();
    this.#schedulerHeard.set(id, now);
    if (next.role === "leader") {
      const epoch = Number(next.epoch) || 0;
      if (epoch >= this.epoch && this.leader !== id) this.#lead(id, epoch);
      if (this.leader === id) {
        this.epoch = Math.max(this.epoch, epoch);
        for (const k of COUNT_FIELDS) {
          if (typeof d[k] === "number") this.counts[k] = d[k] as number;
        }
        if (Array.isArray(d.queuedByPriority)) {
          this.queuedByPriority = (d.queuedByPriority as unknown[]).slice(0, 10).map((n) =>
            Number(n) || 0
          );
        }
        if (Array.isArray(d.full)) this.storageFull = (d.full as unknown[]).map(String);
      }
    } else if (this.leader === id && next.role === "follower") {
      this.leader = null;
    }
    if (typeof d.event === "string") {
      this.#push(this.schedulerEvents, { at: now, scheduler: id, ...d });
      if (d.event === "stale" && typeof d.node === "string") {
        const n = this.nodes.get(d.node);
        if (n) {
          n.fenced++;
          this.#touchNode(d.node);
        }
      }
    } else if (typeof d.storage === "string") {
      this.#push(this.schedulerEvents, { at: now, scheduler: id, ...d });
    }
  }

  /** `id` leads from `epoch`: a change (and an alert) unless it is the first leader seen. */
  #lead(id: string, epoch: number): void {
    const before = this.leader;
    const known = this.epoch > 0;
    this.leader = id;
    this.epoch = epoch;
    // A new term reports storage afresh: what the old leader said full is not carried over.
    this.storageFull = [];
    if (!known) return;
    this.leaderChanges++;
    this.#alert({
      kind: "leader-change",
      key: `leader-change:${epoch}`,
      severity: "warning",
      summary: `scheduler ${id} leads (epoch ${epoch}), after ${before ?? "none"}`,
      detail: { leader: id, epoch, previous: before },
    });
  }

  // --- tasks ---------------------------------------------------------------

  #task(id: string, d: Record<string, unknown>): void {
    const now = this.#o.now();
    const seq = Number(d.seq) || 0;
    let t = this.tasks.get(id);
    if (t) {
      // A new leader numbers a task's messages from 1 again; a rejection is always 1.
      if (seq > 1 && seq <= t.seq) return;
      if (seq > 1 && seq !== t.seq + 1) this.gaps++;
      this.tasks.delete(id); // re-inserted below: the ring is ordered by last change
    } else {
      t = { id, firstSeen: now, updated: now, seq: 0 };
    }
    t.seq = seq;
    t.updated = now;
    const state = typeof d.state === "string" ? d.state : undefined;
    if (typeof d.type === "string") t.type = d.type;
    if (typeof d.priority === "number") t.priority = d.priority;
    const attemptBefore = t.attempt;
    if (typeof d.attempt === "number") t.attempt = d.attempt;
    if (typeof d.attempts === "number") t.attempt = d.attempts;
    if (typeof d.worker === "string") t.worker = d.worker;
    if (typeof d.waitingOn === "number") t.waitingOn = d.waitingOn;
    if (d.cancelling === true) t.cancelling = true;
    if (d.error !== undefined) t.error = d.error;
    const type = t.type ?? "unknown";
    if (state) {
      const was = t.state;
      t.state = state;
      // A submission delivered before (to an earlier leader) was counted when first announced.
      if (
        (state === "queued" || state === "waiting") && was === undefined && !d.attempt &&
        d.redelivered !== true
      ) {
        this.submitted.inc([type]);
        this.series.add(now, "submitted");
      }
      if (state === "running") {
        // Progress of this attempt may have come first (it travels apart); an earlier one's goes.
        if (attemptBefore !== t.attempt) {
          t.progress = undefined;
          t.message = undefined;
        }
        if (typeof d.waitMs === "number" && d.waitMs >= 0) {
          t.waitMs = d.waitMs;
          this.waitSeconds.observe(type, d.waitMs / 1000);
          this.waitRecent.add(d.waitMs);
        }
      }
      if (TERMINAL.has(state) && !(was !== undefined && TERMINAL.has(was))) {
        this.finished.inc([type, state]);
        this.series.add(now, "ended");
        if (state === "succeeded") this.series.add(now, "succeeded");
        if (state === "failed") this.series.add(now, "failed");
        if (typeof d.runMs === "number" && d.runMs >= 0) {
          t.runMs = d.runMs;
          this.runSeconds.observe(type, d.runMs / 1000);
          this.runRecent.add(d.runMs);
        }
        if (state === "succeeded") t.progress = 1;
        if (state === "failed") {
          const err = d.error as { code?: unknown; message?: unknown } | undefined;
          this.#alert({
            kind: "task-failed",
            // A retried task keeps its id: the key names which outcome failed.
            key: typeof d.replaces === "number"
              ? `task-failed:${id}:${d.replaces}`
              : `task-failed:${id}`,
            severity: "warning",
            summary: `task ${id} (${type}) failed for good after ${t.attempt ?? "?"} attempt(s)${
              err?.message ? `: ${String(err.message).slice(0, 200)}` : ""
            }`,
            detail: { id, type, attempts: t.attempt, error: d.error ?? null },
          });
        }
      }
    }
    this.tasks.set(id, t);
    if (this.tasks.size > this.#o.recentTasks) {
      const oldest = this.tasks.firstKey()!;
      this.tasks.delete(oldest);
      this.#dirtyTasks.delete(oldest);
    }
    this.version++;
    this.#dirtyTasks.add(id);
  }

  #progress(id: string, d: Record<string, unknown>): void {
    const t = this.tasks.get(id);
    // Only tasks the ring holds (no new entries), sent to run or running.
    if (!t || (t.state !== "running" && t.state !== "dispatched")) return;
    // A late report of an earlier attempt does not overwrite this one's.
    if (typeof d.attempt === "number" && typeof t.attempt === "number" && d.attempt < t.attempt) {
      return;
    }
    if (typeof d.progress === "number") t.progress = d.progress;
    if (typeof d.message === "string") t.message = d.message.slice(0, 200);
    t.updated = this.#o.now();
    // A report is a change: a long task that reports stays in the ring.
    this.tasks.delete(id);
    this.tasks.set(id, t);
    this.version++;
    this.#dirtyTasks.add(id);
  }

  // --- schedules, supervision ------------------------------------------------

  #schedule(name: string, d: Record<string, unknown>): void {
    const now = this.#o.now();
    const ev = String(d.event ?? "");
    this.#push(this.scheduleEvents, { at: now, ...d, name });
    this.version++;
    const result = ev === "fire-failed"
      ? "failed"
      : ["fired", "triggered", "skipped", "missed"].includes(ev)
      ? ev
      : null;
    if (!result) return;
    this.scheduleTicks.inc([name, result], ev === "missed" ? Math.max(1, Number(d.count) || 1) : 1);
    if (ev === "missed") {
      this.#alert({
        kind: "schedule-missed",
        key: `schedule-missed:${name}:${d.last ?? d.first ?? d.epoch}:${d.missed ?? d.count}`,
        severity: "warning",
        summary: `schedule ${name} missed ${d.count ?? 1} tick(s) (catch-up ${d.catchup ?? "?"})`,
        detail: { name, count: d.count, first: d.first, last: d.last, catchup: d.catchup },
      });
    } else if (ev === "skipped") {
      this.#alert({
        kind: "schedule-skipped",
        key: `schedule-skipped:${name}:${d.id}`,
        severity: "warning",
        summary: `schedule ${name} skipped tick ${d.id}: ${d.reason ?? "overlap"}`,
        detail: { name, id: d.id, reason: d.reason, active: d.active },
      });
    }
  }

  #supervisor(d: Record<string, unknown>): void {
    this.#push(this.supervision, { at: this.#o.now(), ...d });
    this.version++;
    if (d.type === "child.restarting" && Array.isArray(d.children)) {
      for (const c of d.children) this.actorRestarts.inc([String(c).slice(0, 100)]);
    }
  }

  // --- rings and alerts ------------------------------------------------------

  #push<T>(ring: T[], item: T): void {
    ring.push(item);
    if (ring.length > this.#o.events) ring.shift();
  }

  #alert(a: Omit<Alert, "at">): void {
    if (this.#raised.has(a.key)) return;
    this.#raised.add(a.key);
    if (this.#raised.size > 10_000) {
      this.#raised.delete(this.#raised.values().next().value as string);
    }
    const alert: Alert = { ...a, at: new Date(this.#o.now()).toISOString() };
    this.alerts.inc([a.kind]);
    this.#push(this.recentAlerts, alert);
    this.version++;
    this.#o.onAlert?.(alert);
  }
}
