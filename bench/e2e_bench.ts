/**
 * End to end: a node process (`actors/main.ts`, all-in-one, file storage)
 * against its own nats-server; this process publishes echo tasks with plain
 * NATS publishes and reads `tasks.result.<id>`.
 *
 * 1. Throughput: N tasks published as fast as the client can, time until the
 *    last result.
 * 2. Latency, open loop: tasks offered at a fixed rate; each task's latency is
 *    measured from its intended send time (not the actual one, so a stalled
 *    sender cannot hide queueing), to its handler start (`startedAt` in the
 *    result) and to its result arriving here.
 *
 * With `--split` the scheduler and the workers run as two processes, so that
 * every assignment and report crosses NATS, sealed (the cost of sealing
 * internal messages shows there; all-in-one moves them as objects).
 *
 * Prints figures; never fails on time.
 *
 * ```
 * deno run -A bench/e2e_bench.ts [--tasks 50000] [--rates 2000,5000,10000] [--seconds 5] [--split]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import * as hdr from "hdr-histogram-js";
import { Client, startNodeProcess } from "../test/_cluster.ts";
import { TestServer } from "../test/_nats_server.ts";
import { NotSucceeded, offerOpenLoop } from "./_echo.ts";

interface Options {
  tasks: number;
  rates: number[];
  seconds: number;
  workers: number;
  /** Scheduler and workers in two processes. */
  split: boolean;
}

function histogram() {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

function ms(us: number): string {
  return (us / 1000).toFixed(2);
}

/** Run the benchmark and print its tables. */
export async function run(o: Partial<Options> = {}): Promise<void> {
  const given = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  const opts: Options = {
    tasks: 50_000,
    rates: [2_000, 5_000, 10_000],
    seconds: 5,
    workers: 5,
    split: false,
    ...given,
  };
  await using server = await TestServer.start();
  const env = {
    TASK_SCHEDULER_MESSAGE_BROKER: server.url,
    TASK_SCHEDULER_LOG_LEVEL: "warn",
    TASK_SCHEDULER_WORKERS: String(opts.workers),
    TASK_SCHEDULER_CONCURRENCY: "64",
  };
  const nodes = opts.split
    ? [
      startNodeProcess(["--role", "scheduler", "--node-id", "bench-s"], env),
      startNodeProcess(["--role", "worker", "--node-id", "bench-w"], env),
    ]
    : [startNodeProcess(["--node-id", "bench"], env)];
  try {
    await using client = await Client.connect(server.url);
    // Warm up, and wait for the leader.
    await client.waitForNode();
    for (let i = 0; i < 2_000; i++) client.submit("echo", { id: `warmup-${i}`, payload: { i } });
    await client.result("warmup-1999", 30_000);

    console.log(
      `end to end, ${
        opts.split ? "scheduler and worker processes" : "all-in-one node"
      } (${opts.workers} workers), nats-server file storage, echo tasks`,
    );
    const failures = new NotSucceeded();
    // 1. Throughput.
    {
      const n = opts.tasks;
      let done = 0;
      const finished = Promise.withResolvers<number>();
      client.onResult((r) => {
        if (!r.id.startsWith("tp-")) return;
        failures.note("throughput", r);
        if (++done === n) finished.resolve(performance.now());
      });
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        client.submit("echo", { id: `tp-${i}`, payload: { i } });
        if (i % 500 === 499) await client.t.flush();
      }
      await client.t.flush();
      const sent = performance.now();
      const t1 = await finished.promise;
      console.log(
        `throughput: ${n} tasks in ${((t1 - t0) / 1000).toFixed(2)} s = ${
          Math.round(n / ((t1 - t0) / 1000))
        } tasks/s ` +
          `(publishing took ${((sent - t0) / 1000).toFixed(2)} s)`,
      );
    }
    // 2. Open-loop latency at fixed rates.
    console.log("\nopen loop: latency from intended send time (ms)");
    console.log(
      "  rate/s  sent    to start p50   p99  p99.9 | to result p50   p99  p99.9    max  achieved/s",
    );
    for (const rate of opts.rates) {
      const total = rate * opts.seconds;
      const intended = new Float64Array(total);
      const toStart = histogram();
      const toResult = histogram();
      let done = 0;
      const tag = `r${rate}-`;
      const finished = Promise.withResolvers<void>();
      let lastAt = 0;
      client.onResult((r, at) => {
        if (!r.id.startsWith(tag)) return;
        failures.note(`${rate}/s`, r);
        const i = Number(r.id.slice(tag.length));
        const t = intended[i];
        toResult.recordValue(Math.max(1, Math.round((at - t) * 1000)));
        if (r.startedAt) {
          toStart.recordValue(Math.max(1, Math.round((Date.parse(r.startedAt) - t) * 1000)));
        }
        lastAt = at;
        if (++done === total) finished.resolve();
      });
      const start = await offerOpenLoop(total, rate, (i, at) => {
        intended[i] = at;
        client.submit("echo", { id: `${tag}${i}`, payload: { i } });
      }, { leadMs: 20 });
      await client.t.flush();
      await Promise.race([finished.promise, new Promise((r) => setTimeout(r, 60_000))]);
      const achieved = done / ((lastAt - start) / 1000);
      console.log(
        `  ${String(rate).padStart(6)} ${String(total).padStart(6)}  ${
          ms(toStart.getValueAtPercentile(50)).padStart(12)
        } ${ms(toStart.getValueAtPercentile(99)).padStart(5)} ${
          ms(toStart.getValueAtPercentile(99.9)).padStart(6)
        } | ${ms(toResult.getValueAtPercentile(50)).padStart(13)} ${
          ms(toResult.getValueAtPercentile(99)).padStart(5)
        } ${ms(toResult.getValueAtPercentile(99.9)).padStart(6)} ${
          ms(toResult.maxValue).padStart(6)
        }  ${Math.round(achieved).toString().padStart(10)}` +
          (done < total ? `  (only ${done} of ${total} results within 60 s)` : ""),
      );
    }
    for (const line of failures.lines()) console.log(line);
  } finally {
    for (const node of nodes) node.kill("SIGTERM");
    for (const node of nodes) await node.exited;
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      tasks: { type: "string" },
      rates: { type: "string" },
      seconds: { type: "string" },
      workers: { type: "string" },
      split: { type: "boolean" },
    },
  });
  await run({
    tasks: values.tasks ? Number(values.tasks) : undefined,
    rates: values.rates ? values.rates.split(",").map(Number) : undefined,
    seconds: values.seconds ? Number(values.seconds) : undefined,
    workers: values.workers ? Number(values.workers) : undefined,
    split: values.split,
  });
}
