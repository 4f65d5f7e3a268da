/**
 * The monitor under load.
 *
 * 1. Fold alone: messages of `monitor.>` (node heartbeats and task
 *    transitions, as JSON bytes) parsed and folded in this process; prints
 *    messages per second of one core, and the heap after many tasks (the
 *    fold keeps a ring of recent tasks, not every task).
 * 2. Live: a monitor process (`--role monitor`) against its own nats-server;
 *    this process publishes, open loop in 10 ms slices, the heartbeats of
 *    `--nodes` nodes (one a second each) plus `--transitions` task
 *    transitions a second (queued, dispatched, running, succeeded: a quarter
 *    as many tasks) for `--seconds`. Prints what the monitor folded (from
 *    its `/metrics`) against what was sent, per second and at the end, and
 *    its resident memory at start and end.
 *
 * Prints figures; never fails on time.
 *
 * ```
 * deno run -A bench/monitor_bench.ts [--nodes 1000] [--transitions 10000] [--seconds 20]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type FoldKind, MonitorFold } from "../actors/monitor/view.ts";
import { connectNats } from "../src/internal_mod.ts";
import { startNodeProcess } from "../test/_cluster.ts";
import { TestServer } from "../test/_nats_server.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** One second of traffic: [kind, id, bytes] for each message. */
class Traffic {
  #nodeSeq = new Map<string, number>();
  #task = 0;
  constructor(readonly nodes: number, readonly transitions: number) {}

  heartbeat(i: number, now: number): [FoldKind, string, Uint8Array] {
    const node = `node-${i}`;
    const seq = (this.#nodeSeq.get(node) ?? 0) + 1;
    this.#nodeSeq.set(node, seq);
    const d: Record<string, unknown> = {
      node,
      incarnation: 1,
      state: "up",
      seq,
      heartbeatAt: now,
      cpuLoad: (i * 7 + seq) % 100,
      memoryUsed: 200_000_000 + seq,
      tasksProcessing: seq % 16,
      health: 90 + (seq % 10),
    };
    if (seq === 1) {
      Object.assign(d, {
        tasksQueued: 0,
        capabilities: ["gpu"],
        types: ["echo", "sleep"],
        workers: 4,
        concurrency: 16,
        recentFailures: 0,
        tasksSucceeded: 0,
        tasksFailed: 0,
      });
    }
    return ["worker", node, enc.encode(JSON.stringify(d))];
  }

  /** The k-th transition: tasks go queued, dispatched, running, succeeded. */
  transition(): [FoldKind, string, Uint8Array] {
    const n = this.#task++;
    const id = `t${Math.floor(n / 4)}`;
    const step = n % 4;
    const d = step === 0
      ? { id, seq: 1, state: "queued", priority: 5, type: "echo", attempt: 0 }
      : step === 1
      ? { id, seq: 2, state: "dispatched", worker: "node-1/w0", attempt: 1 }
      : step === 2
      ? { id, seq: 3, state: "running", worker: "node-1/w0", attempt: 1, type: "echo", waitMs: 3 }
      : { id, seq: 4, state: "succeeded", attempts: 1, type: "echo", runMs: 1 };
    return ["task", id, enc.encode(JSON.stringify(d))];
  }
}

function mb(bytes: number): string {
  return (bytes / 1_048_576).toFixed(1);
}

function foldAlone(nodes: number, transitions: number): void {
  const t = new Traffic(nodes, transitions);
  const now = Date.now();
  const msgs: [FoldKind, string, Uint8Array][] = [];
  for (let i = 0; i < nodes; i++) msgs.push(t.heartbeat(i, now));
  for (let k = 0; k < transitions; k++) msgs.push(t.transition());
  const f = new MonitorFold({ now: Date.now });
  const fold = (m: [FoldKind, string, Uint8Array]) =>
    f.apply(m[0], m[1], JSON.parse(dec.decode(m[2])));
  for (const m of msgs) fold(m); // warm up
  const rounds = 20;
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < nodes; i++) fold(t.heartbeat(i, now));
    for (let k = 0; k < transitions; k++) fold(t.transition());
  }
  const secs = (performance.now() - t0) / 1000;
  const perSec = (rounds * (nodes + transitions)) / secs;
  console.log(
    `fold alone: ${Math.round(perSec).toLocaleString("en")} messages/s on one core ` +
      `(encoding included), ${(rounds / secs).toFixed(1)}x the load of ${nodes} nodes + ` +
      `${transitions.toLocaleString("en")} transitions a second; ring holds ${f.tasks.size} tasks`,
  );
  // deno-lint-ignore no-explicit-any
  (globalThis as any).gc?.();
  const before = Deno.memoryUsage().heapUsed;
  for (let k = 0; k < 1_000_000; k++) {
    const m = t.transition();
    f.apply(m[0], m[1], JSON.parse(dec.decode(m[2])));
  }
  // deno-lint-ignore no-explicit-any
  (globalThis as any).gc?.();
  const after = Deno.memoryUsage().heapUsed;
  console.log(
    `fold alone: heap ${mb(before)} MB -> ${mb(after)} MB after 1,000,000 more transitions ` +
      `(250,000 tasks); ring ${f.tasks.size} tasks`,
  );
}

async function rssOf(pid: number): Promise<number> {
  const s = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
  const m = /VmRSS:\s+(\d+) kB/.exec(s);
  return m ? Number(m[1]) * 1024 : 0;
}

async function folded(url: string): Promise<number> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  const m = /^task_scheduler_monitor_deltas_total (\d+)$/m.exec(text);
  return m ? Number(m[1]) : -1;
}

async function live(nodes: number, transitions: number, seconds: number): Promise<void> {
  await using server = await TestServer.start();
  const monitor = startNodeProcess(["--role", "monitor"], {
    TASK_SCHEDULER_MESSAGE_BROKER: server.url,
    TASK_SCHEDULER_NODE_ID: "mon",
    TASK_SCHEDULER_LOG_LEVEL: "info",
  });
  try {
    await monitor.waitFor("dashboard and metrics");
    const line = monitor.log.find((l) => l.includes("dashboard and metrics")) ?? "";
    const url = /(http:\/\/[0-9.:]+)\//.exec(line)?.[1];
    if (!url) throw new Error(`no dashboard address in: ${line}`);
    const t = await connectNats({ servers: server.url, name: "monitor-bench" });
    const traffic = new Traffic(nodes, transitions);
    const rss0 = await rssOf(monitor.child.pid);
    const base = await folded(url);
    let sent = 0;
    const sliceMs = 10;
    const slices = (seconds * 1000) / sliceMs;
    const start = performance.now();
    let lastReport = start;
    let lastFolded = base;
    let nextNode = 0;
    console.log(
      `live: ${nodes} nodes' heartbeats + ${transitions.toLocaleString("en")} task transitions ` +
        `a second for ${seconds} s into a monitor process`,
    );
    for (let s = 0; s < slices; s++) {
      // Open loop: each slice's messages go at the slice's intended time, late or not.
      const due = start + s * sliceMs;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const hb = Math.round(((s + 1) * nodes * sliceMs) / 1000) -
        Math.round((s * nodes * sliceMs) / 1000);
      const tr = Math.round(((s + 1) * transitions * sliceMs) / 1000) -
        Math.round((s * transitions * sliceMs) / 1000);
      const now = Date.now();
      for (let i = 0; i < hb; i++) {
        const [, id, data] = traffic.heartbeat(nextNode, now);
        nextNode = (nextNode + 1) % nodes;
        t.publish(`monitor.worker.${id}`, data);
      }
      for (let i = 0; i < tr; i++) {
        const [, id, data] = traffic.transition();
        t.publish(`monitor.task.${id}`, data);
      }
      sent += hb + tr;
      if (performance.now() - lastReport >= 1000) {
        const f = (await folded(url)) - base;
        console.log(
          `  t=${((performance.now() - start) / 1000).toFixed(0)} s: sent ${sent}, folded ${f} ` +
            `(+${f - lastFolded} in the last second), behind by ${sent - f}; ` +
            `monitor RSS ${mb(await rssOf(monitor.child.pid))} MB`,
        );
        lastFolded = f;
        lastReport = performance.now();
      }
    }
    await t.flush();
    const sentIn = (performance.now() - start) / 1000;
    let f = (await folded(url)) - base;
    const drainStart = performance.now();
    while (f < sent && performance.now() - drainStart < 10_000) {
      await new Promise((r) => setTimeout(r, 100));
      f = (await folded(url)) - base;
    }
    const rss1 = await rssOf(monitor.child.pid);
    console.log(
      `live: sent ${sent.toLocaleString("en")} in ${sentIn.toFixed(1)} s ` +
        `(${Math.round(sent / sentIn).toLocaleString("en")}/s); folded ${f.toLocaleString("en")} ` +
        `(${((f / sent) * 100).toFixed(2)} %), ${
          ((performance.now() - drainStart) / 1000).toFixed(1)
        } s after the last send; monitor RSS ${mb(rss0)} MB at start, ${mb(rss1)} MB at end`,
    );
    await t.close();
  } finally {
    monitor.kill("SIGTERM");
    await monitor.exited;
  }
}

/** Run both parts. */
export async function run(
  o: { nodes?: number; transitions?: number; seconds?: number } = {},
): Promise<void> {
  const nodes = o.nodes ?? 1_000;
  const transitions = o.transitions ?? 10_000;
  foldAlone(nodes, transitions);
  await live(nodes, transitions, o.seconds ?? 20);
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      nodes: { type: "string", default: "1000" },
      transitions: { type: "string", default: "10000" },
      seconds: { type: "string", default: "20" },
    },
  });
  await run({
    nodes: Number(values.nodes),
    transitions: Number(values.transitions),
    seconds: Number(values.seconds),
  });
}
