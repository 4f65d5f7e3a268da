/**
 * `/metrics`: the folded view in Prometheus's text format (version 0.0.4).
 * Counters count what this monitor process heard since it started (a
 * restart is a counter reset, which Prometheus's `rate()` handles); gauges
 * are the view now.
 *
 * @module
 */

import { LATENCY_BUCKETS } from "./stats.ts";
import type { LabelledCounter } from "./stats.ts";
import type { MonitorFold } from "./view.ts";

/** Every metric this file writes: name, type and help. Tests and `deploy/` read it. */
export const METRICS = {
  tasks_submitted_total: ["counter", "Tasks accepted into the queue, by type."],
  tasks_finished_total: ["counter", "Tasks that ended, by type and terminal state."],
  tasks: ["gauge", "Tasks the leading scheduler holds, by state."],
  queue_depth: ["gauge", "Tasks queued and ready to run, by priority (0 runs first)."],
  task_wait_seconds: ["histogram", "From submission to the start of the first attempt."],
  task_run_seconds: ["histogram", "From the start of the last attempt to its end."],
  worker_slots: ["gauge", "Task slots of a node's workers, busy or free."],
  node_health: ["gauge", "A node's health score, 0 to 100."],
  node_up: ["gauge", "1 while a node is up, 0 when draining, leaving or lost."],
  node_cpu_load_percent: ["gauge", "CPU load of a node's machine, percent of all cores."],
  node_memory_bytes: ["gauge", "Resident memory of a node's process."],
  node_fenced_reports_total: [
    "counter",
    "Reports of a node the leader refused as stale (a fenced incarnation).",
  ],
  nodes: ["gauge", "Worker nodes known, by state."],
  leader: ["gauge", "1 while a scheduler leads, 0 when none is known."],
  leader_epoch: ["gauge", "The leader's term; it grows at every change of leader."],
  leader_changes_total: ["counter", "Changes of leader seen."],
  storage_full: ["gauge", "1 for a stream that refuses messages for lack of room."],
  schedule_ticks_total: [
    "counter",
    "Schedule ticks by result: fired, triggered, skipped, missed, failed.",
  ],
  actor_restarts_total: ["counter", "Actors restarted by their supervisor."],
  alerts_total: ["counter", "Alerts raised, by kind."],
  alert_webhook_failures_total: ["counter", "Webhook deliveries that failed (each try)."],
  monitor_deltas_total: ["counter", "Messages of monitor.> folded."],
  monitor_gaps_total: ["counter", "Sequence gaps seen in monitor.>."],
} as const;

/** The prefix of every name. */
export const PREFIX = "task_scheduler_";

/** What the text needs besides the fold. */
export interface MetricsExtra {
  webhookFailures: number;
}

const STORAGE_STREAMS = ["TASKS", "RESULTS"];

/** Render the fold as Prometheus text. */
export function renderMetrics(f: MonitorFold, extra: MetricsExtra): string {
  const out: string[] = [];
  const head = (m: keyof typeof METRICS) => {
    const [type, help] = METRICS[m];
    out.push(`# HELP ${PREFIX}${m} ${help}`, `# TYPE ${PREFIX}${m} ${type}`);
  };
  const line = (m: string, labels: Record<string, string | number>, v: number) => {
    const l = Object.entries(labels).map(([k, x]) => `${k}="${escapeLabel(String(x))}"`);
    out.push(`${PREFIX}${m}${l.length ? `{${l.join(",")}}` : ""} ${num(v)}`);
  };
  const counter = (m: keyof typeof METRICS, c: LabelledCounter) => {
    head(m);
    for (const e of c.entries()) {
      line(m, Object.fromEntries(c.labels.map((k, i) => [k, e.labels[i]])), e.value);
    }
  };

  counter("tasks_submitted_total", f.submitted);
  counter("tasks_finished_total", f.finished);
  head("tasks");
  for (const s of ["held", "queued", "waiting", "retrying", "running"]) {
    line("tasks", { state: s }, f.counts[s] ?? 0);
  }
  head("queue_depth");
  f.queuedByPriority.forEach((n, p) => line("queue_depth", { priority: p }, n));
  for (
    const [m, h] of [["task_wait_seconds", f.waitSeconds], [
      "task_run_seconds",
      f.runSeconds,
    ]] as const
  ) {
    head(m);
    for (const e of h.entries()) {
      LATENCY_BUCKETS.forEach((le, i) =>
        line(`${m}_bucket`, { type: e.label, le: String(le) }, e.cumulative[i])
      );
      line(`${m}_bucket`, { type: e.label, le: "+Inf" }, e.count);
      line(`${m}_sum`, { type: e.label }, e.sum);
      line(`${m}_count`, { type: e.label }, e.count);
    }
  }
  const byState: Record<string, number> = { up: 0, draining: 0, leaving: 0, lost: 0 };
  head("worker_slots");
  for (const [node, e] of f.nodes) {
    const total = Number(e.status.concurrency) || 0;
    const busy = Math.min(total, Number(e.status.tasksProcessing) || 0);
    const live = e.status.state === "up" || e.status.state === "draining";
    line("worker_slots", { node, state: "busy" }, live ? busy : 0);
    line("worker_slots", { node, state: "free" }, live ? total - busy : 0);
  }
  const perNode = (m: keyof typeof METRICS, v: (s: Record<string, unknown>) => unknown) => {
    head(m);
    for (const [node, e] of f.nodes) {
      const x = v(e.status);
      if (typeof x === "number" && Number.isFinite(x)) line(m, { node }, x);
    }
  };
  perNode("node_health", (s) => (s.state === "lost" ? 0 : s.health));
  perNode("node_up", (s) => (s.state === "up" ? 1 : 0));
  // A lost or departed node's last readings are not current: left out.
  const live = (s: Record<string, unknown>) => s.state === "up" || s.state === "draining";
  perNode("node_cpu_load_percent", (s) => (live(s) ? s.cpuLoad : undefined));
  perNode("node_memory_bytes", (s) => (live(s) ? s.memoryUsed : undefined));
  head("node_fenced_reports_total");
  for (const [node, e] of f.nodes) line("node_fenced_reports_total", { node }, e.fenced);
  for (const e of f.nodes.values()) {
    const st = String(e.status.state);
    byState[st] = (byState[st] ?? 0) + 1;
  }
  head("nodes");
  for (const [state, n] of Object.entries(byState)) line("nodes", { state }, n);
  head("leader");
  line("leader", {}, f.leader ? 1 : 0);
  head("leader_epoch");
  line("leader_epoch", {}, f.epoch);
  head("leader_changes_total");
  line("leader_changes_total", {}, f.leaderChanges);
  head("storage_full");
  for (const s of new Set([...STORAGE_STREAMS, ...f.storageFull])) {
    line("storage_full", { stream: s }, f.storageFull.includes(s) ? 1 : 0);
  }
  counter("schedule_ticks_total", f.scheduleTicks);
  counter("actor_restarts_total", f.actorRestarts);
  counter("alerts_total", f.alerts);
  head("alert_webhook_failures_total");
  line("alert_webhook_failures_total", {}, extra.webhookFailures);
  head("monitor_deltas_total");
  line("monitor_deltas_total", {}, f.applied);
  head("monitor_gaps_total");
  line("monitor_gaps_total", {}, f.gaps);
  return out.join("\n") + "\n";
}

function escapeLabel(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function num(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}
