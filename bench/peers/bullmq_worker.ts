/**
 * The BullMQ side of the peer bench, in its own process: a Worker with
 * concurrency 100 running no-op jobs. Each job names its phase and how many
 * jobs the phase has; when a phase's last job completes, one JSON line goes
 * to stdout with the phase's count, its first and last completion (epoch ms)
 * and, for timed jobs (`data.t`, the intended send time), latency
 * percentiles from the intended send time to completion here.
 *
 * ```
 * deno run -A bench/peers/bullmq_worker.ts --port 6390 [--concurrency 100]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Worker } from "bullmq";
import * as hdr from "hdr-histogram-js";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    concurrency: { type: "string", default: "100" },
    queue: { type: "string", default: "bench" },
  },
});

interface Phase {
  n: number;
  done: number;
  first: number;
  last: number;
  h: hdr.Histogram;
}
const phases = new Map<string, Phase>();

const worker = new Worker(
  values.queue!,
  // deno-lint-ignore require-await
  async (job) => {
    const now = Date.now();
    const data = job.data as { n: number; t?: number };
    let p = phases.get(job.name);
    if (!p) {
      p = {
        n: data.n,
        done: 0,
        first: now,
        last: now,
        h: hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000 }),
      };
      phases.set(job.name, p);
    }
    p.done++;
    p.last = now;
    if (typeof data.t === "number") {
      p.h.recordValue(
        Math.max(1, Math.round((performance.timeOrigin + performance.now() - data.t) * 1000)),
      );
    }
    if (p.done === p.n) {
      const us = (q: number) => p!.h.getValueAtPercentile(q) / 1000;
      console.log(JSON.stringify({
        phase: job.name,
        count: p.done,
        first: p.first,
        last: p.last,
        p50: us(50),
        p99: us(99),
        p999: us(99.9),
        max: p.h.maxValue / 1000,
      }));
      phases.delete(job.name);
    }
    return null;
  },
  {
    connection: { host: "127.0.0.1", port: Number(values.port) },
    concurrency: Number(values.concurrency),
  },
);
await worker.waitUntilReady();
console.log(JSON.stringify({ ready: true }));

const stop = async () => {
  await worker.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
