/**
 * Where a node's CPU goes per task: an all-in-one node (`actors/main.ts`,
 * default settings) against its own nats-server, profiled through the V8
 * inspector (Deno has no `--cpu-prof`): the sampling profiler runs while
 * this process sends `--tasks` echo tasks (one a message, or `--batch` to a
 * message) and waits for their results. Prints the node's CPU µs per task,
 * split by what the time was spent on (the files and functions the samples
 * fall in), nats-server's own CPU per task (from /proc), and writes the
 * whole profile as a `.cpuprofile` (Chrome DevTools opens it).
 *
 * ```
 * deno run -A bench/profile.ts [--tasks 50000] [--batch 0] [--out /tmp/node.cpuprofile] [--top 25]
 * deno run -A bench/profile.ts --alloc [--tasks 50000]
 * deno run -A bench/profile.ts --survivors [--tasks 50000]
 * deno run -A bench/profile.ts --rate 10000 [--tasks 50000] [--alloc | --survivors]
 * ```
 *
 * `--rate` offers the tasks open loop at that rate, one a message, instead of
 * as one burst: the steady state the latency tail comes from, rather than a
 * backlog.
 *
 * `--alloc` samples allocations instead (the inspector's sampling heap
 * profiler, garbage included) and prints the bytes allocated per task by
 * function: what the young-generation collections have to deal with, and
 * writes the whole sampling heap profile beside `--out` (`.heapprofile`, which
 * Chrome DevTools opens too).
 * `--survivors` leaves out what young-generation collections took: what is
 * left is what outlived one (promoted, or still young when sampling stops)
 * and what a full collection took later, by the function that allocated it.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Client, startNodeProcess } from "../test/_cluster.ts";
import { TestServer } from "../test/_nats_server.ts";
import { freePort } from "../src/transport/nats_server.ts";
import { cpuMicros, echoBurst, echoOpenLoop, NotSucceeded } from "./_echo.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** A minimal Chrome DevTools Protocol session over the inspector's WebSocket. */
export class Inspector {
  #ws: WebSocket;
  #next = 0;
  #waiting = new Map<number, (r: Record<string, unknown>) => void>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data as string);
      if (m.id !== undefined) this.#waiting.get(m.id)?.(m.result ?? m.error);
    };
  }

  static async open(port: number): Promise<Inspector> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
        const ws = new WebSocket(list[0].webSocketDebuggerUrl);
        await new Promise((resolve, reject) => {
          ws.onopen = resolve;
          ws.onerror = reject;
        });
        return new Inspector(ws);
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = ++this.#next;
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.#ws.close();
  }
}

/** What a sample is spent on: the project's file, a library, or the runtime. */
export function categoryOf(frame: ProfileNode["callFrame"]): string {
  const { url, functionName } = frame;
  if (!url) {
    if (functionName === "(garbage collector)") return "GC";
    if (functionName === "(idle)" || functionName === "(program)") return functionName;
    return `runtime ${functionName || "(anonymous)"}`;
  }
  const npm = url.match(
    /node_modules\/(?:\.deno\/)?([^/]+?)@[^/]*\/node_modules\/((?:@[^/]+\/)?[^/]+)/,
  );
  if (npm) return `npm:${npm[2]}`;
  const own = url.match(/\/(actors|src)\/(.+)$/);
  if (own) return `${own[1]}/${own[2]}`;
  if (url.startsWith("ext:") || url.startsWith("node:")) {
    return url.split("/").slice(0, 2).join("/");
  }
  return url;
}

interface HeapNode {
  callFrame: ProfileNode["callFrame"];
  selfSize: number;
  children: HeapNode[];
}

/** Amounts (µs, bytes) summed by what they were spent in: a file or library, and a function. */
class Tally {
  readonly #cats = new Map<string, number>();
  readonly #fns = new Map<string, number>();
  total = 0;

  add(frame: ProfileNode["callFrame"], cat: string, amount: number): void {
    const fn = `${frame.functionName || "(anonymous)"} ${cat}:${frame.lineNumber + 1}`;
    this.#cats.set(cat, (this.#cats.get(cat) ?? 0) + amount);
    this.#fns.set(fn, (this.#fns.get(fn) ?? 0) + amount);
    this.total += amount;
  }

  /** The `top` largest of each, under headings that start with `heading`. */
  print(heading: string, per: (amount: number) => string, top: number): void {
    const tables = [["by file or library", this.#cats], ["by function", this.#fns]] as const;
    for (const [title, by] of tables) {
      console.log(`\n${heading}${title}`);
      for (const [k, n] of [...by].sort((a, b) => b[1] - a[1]).slice(0, top)) {
        console.log(`  ${per(n)}  ${k}`);
      }
    }
  }
}

/** Bytes allocated per task by function and by file, from a sampling heap profile. */
function printAllocations(head: HeapNode, tasks: number, top: number, what: string): void {
  const tally = new Tally();
  const walk = (n: HeapNode) => {
    if (n.selfSize > 0) tally.add(n.callFrame, categoryOf(n.callFrame), n.selfSize);
    for (const c of n.children) walk(c);
  };
  walk(head);
  const per = (b: number) => Math.round(b / tasks).toString().padStart(8);
  console.log(`bytes ${what} per task (sampled): ${per(tally.total)}`);
  tally.print("", per, top);
}

/** Run, profile, print. */
export async function run(
  o: {
    tasks: number;
    batch: number;
    /** Tasks a second, open loop, one a message; 0: as fast as they go. */
    rate?: number;
    out: string;
    top: number;
    alloc?: boolean;
    survivors?: boolean;
  },
): Promise<void> {
  await using server = await TestServer.start();
  const port = freePort();
  const node = startNodeProcess(["--node-id", "profile"], {
    TASK_SCHEDULER_MESSAGE_BROKER: server.url,
    TASK_SCHEDULER_LOG_LEVEL: "warn",
    NODE_DENO_FLAGS: `--inspect=127.0.0.1:${port}`,
  });
  const failures = new NotSucceeded();
  try {
    await using client = await Client.connect(server.url);
    await client.waitForNode();
    const send = (tag: string, n: number) =>
      o.rate
        ? echoOpenLoop(client, tag, n, o.rate, failures)
        : echoBurst(client, tag, n, Math.max(1, o.batch), failures);
    await send("warm-", Math.min(20_000, o.tasks));
    const inspector = await Inspector.open(port);
    if (o.alloc || o.survivors) {
      await inspector.send("HeapProfiler.enable");
      await inspector.send("HeapProfiler.startSampling", {
        samplingInterval: 4_096,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: !o.survivors,
      });
      await send("a-", o.tasks);
      const { profile } = await inspector.send("HeapProfiler.stopSampling") as unknown as {
        profile: { head: HeapNode };
      };
      inspector.close();
      await Deno.writeTextFile(
        o.out.replace(/\.cpuprofile$/, "") + ".heapprofile",
        JSON.stringify(profile),
      );
      printAllocations(
        profile.head,
        o.tasks,
        o.top,
        o.survivors ? "outliving a young collection" : "allocated",
      );
      return;
    }
    await inspector.send("Profiler.enable");
    await inspector.send("Profiler.setSamplingInterval", { interval: 200 });
    const natsBefore = await cpuMicros(server.pid);
    const nodeBefore = await cpuMicros(node.child.pid);
    const t0 = performance.now();
    await inspector.send("Profiler.start");
    await send("p-", o.tasks);
    const { profile } = await inspector.send("Profiler.stop") as unknown as { profile: Profile };
    const wall = performance.now() - t0;
    const nodeCpu = await cpuMicros(node.child.pid) - nodeBefore;
    const natsCpu = await cpuMicros(server.pid) - natsBefore;
    inspector.close();
    await Deno.writeTextFile(o.out, JSON.stringify(profile));

    // Self time per sample's leaf, by category and by function.
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const tally = new Tally();
    for (let i = 0; i < profile.samples.length; i++) {
      const frame = byId.get(profile.samples[i])!.callFrame;
      const cat = categoryOf(frame);
      if (cat !== "(idle)") tally.add(frame, cat, profile.timeDeltas[i] ?? 0);
    }
    const per = (us: number) => (us / o.tasks).toFixed(2).padStart(8);
    console.log(
      `profile: ${o.tasks} echo tasks, ${
        o.rate ? `${o.rate}/s open loop` : o.batch > 0 ? `${o.batch} a message` : "one a message"
      }, in ${(wall / 1000).toFixed(2)} s = ${Math.round(o.tasks / (wall / 1000))} tasks/s`,
    );
    console.log(
      `CPU µs per task: node process ${per(nodeCpu)} (all threads), its JS thread ${
        per(tally.total)
      } (sampled), nats-server ${per(natsCpu)}`,
    );
    tally.print("JS thread µs per task, ", per, o.top);
    console.log(`\nprofile written to ${o.out}`);
  } finally {
    for (const line of failures.lines()) console.log(line);
    node.kill("SIGTERM");
    await node.exited;
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      tasks: { type: "string", default: "50000" },
      batch: { type: "string", default: "0" },
      rate: { type: "string", default: "0" },
      out: { type: "string", default: "/tmp/node.cpuprofile" },
      top: { type: "string", default: "25" },
      alloc: { type: "boolean", default: false },
      survivors: { type: "boolean", default: false },
    },
  });
  await run({
    tasks: Number(values.tasks),
    batch: Number(values.batch),
    rate: Number(values.rate),
    out: values.out!,
    top: Number(values.top),
    alloc: values.alloc,
    survivors: values.survivors,
  });
}
