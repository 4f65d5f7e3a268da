/**
 * `deno task ctl nodes`: a snapshot of the worker nodes (and the leading
 * scheduler's task counts), from `monitor.snapshot` folded with the nodes'
 * heartbeats on `monitor.worker.<node>`.
 *
 * @module
 */

import type { MonitorView, NodeStatus } from "../../src/client/mod.ts";
import { type Ctx, EXIT, parseDuration, positionals, str } from "./ctl_common.ts";
import { bytes, relative, table } from "./ctl_format.ts";

/** Help of `nodes`. */
export const NODES_HELP = `Usage: deno task ctl nodes [--listen DURATION]

A table of the worker nodes: state, health, CPU, memory, tasks running and queued, workers and
slots, tasks succeeded and failed, the last heartbeat, and the task types they run; above it the
leading scheduler and its task counts. It asks monitor.snapshot (answered by every process that
runs a monitor; the all-in-one node does) and, when that has no nodes, listens to heartbeats for
--listen (default 2.5s). Needs no token.`;

function sleep(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms));
}

/** `ctl nodes`. */
export async function nodes(ctx: Ctx): Promise<number> {
  positionals(ctx, "nodes", []);
  const listenText = str(ctx.flags, "listen");
  const listen = listenText === undefined ? 2_500 : parseDuration(listenText, "--listen");
  const c = await ctx.client({ token: false });
  const w = c.watch();
  let view: MonitorView;
  try {
    await w.ready;
    if (Object.keys(w.view.nodes).length === 0) {
      // No monitor answered, or it knew no node yet: heartbeats come every second.
      const end = Date.now() + listen;
      while (Date.now() < end && Object.keys(w.view.nodes).length === 0) await sleep(100);
      // Give the others a heartbeat's time to show up too.
      if (Object.keys(w.view.nodes).length) await sleep(Math.min(1_200, end - Date.now()));
    }
    view = w.view;
  } finally {
    w.stop();
  }
  const list: NodeStatus[] = Object.values(view.nodes).sort((a, b) => a.node.localeCompare(b.node));
  if (ctx.out.json) {
    ctx.out.data({
      leader: view.leader,
      epoch: view.leader ? view.schedulers[view.leader]?.epoch ?? null : null,
      counts: view.counts,
      nodes: list,
    });
    return EXIT.ok;
  }
  const leader = view.leader ? view.schedulers[view.leader] : undefined;
  const counts = Object.entries(view.counts).map(([k, v]) => `${k} ${v}`).join(", ");
  ctx.out.line(
    leader
      ? `leader ${leader.id} (epoch ${leader.epoch ?? "?"})${counts ? `; tasks: ${counts}` : ""}`
      : "no leading scheduler seen",
  );
  if (!list.length) {
    ctx.out.line("no worker nodes seen");
    return EXIT.ok;
  }
  const rows = [[
    "NODE",
    "STATE",
    "HEALTH",
    "CPU",
    "MEMORY",
    "RUNNING",
    "QUEUED",
    "WORKERS",
    "SLOTS",
    "OK",
    "FAILED",
    "HEARTBEAT",
    "TYPES",
  ]];
  for (const n of list) {
    rows.push([
      n.node,
      n.state,
      String(n.health ?? "-"),
      typeof n.cpuLoad === "number" ? `${Math.round(n.cpuLoad)}%` : "-",
      bytes(n.memoryUsed),
      String(n.tasksProcessing ?? 0),
      String(n.tasksQueued ?? 0),
      String(n.workers ?? "-"),
      String(n.concurrency ?? "-"),
      String(n.tasksSucceeded ?? 0),
      String(n.tasksFailed ?? 0),
      n.heartbeatAt ? relative(n.heartbeatAt) : "-",
      (n.types ?? []).join(","),
    ]);
  }
  ctx.out.line(table(rows));
  return EXIT.ok;
}
