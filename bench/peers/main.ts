/**
 * `deno task bench:peers`: this system and BullMQ, the same workload in one
 * run on this machine, each against its own server started here.
 *
 * - This system: an all-in-one node (`actors/main.ts`, default settings)
 *   against its own nats-server (file storage); this process publishes echo
 *   tasks with plain NATS publishes, one message per task (and again 1,000
 *   tasks per message, a batch), and counts results on `tasks.result.>`.
 * - BullMQ 5 (npm `bullmq`) against its own redis-server (Debian's, default
 *   settings but for the port and folder); a Worker with concurrency 100 in
 *   its own process (`bullmq_worker.ts`) runs no-op jobs; this process adds
 *   them (`addBulk` in chunks of 1,000 for throughput, `add` one at a time
 *   for the open loop).
 *
 * - The floor: `floor_worker.ts` in its own process against another
 *   nats-server, doing only the JetStream work of a task (its stored
 *   submission, delivery and ack, one stored and republished result), with the
 *   same throughput runs: how far this system is from what its storage pattern
 *   allows here, with the CPU each process spent a task. It runs twice: bare,
 *   and with what this system keeps on by default (its results signed, a task
 *   delta a task), unless `--floor-with` says which parts to add.
 *
 * Each side is warmed up (`--warmup` tasks), then: throughput (`--tasks` as
 * fast as they can be sent, until the last completes), and open loop at each
 * of `--rates` for `--seconds`, latency from each task's intended send time:
 * for this system to its result reaching this process, for BullMQ to its
 * completion in the worker (which flatters BullMQ a little). Prints tasks/s,
 * p50/p99/p99.9/max and the ratios. `--ours` rates run on this system alone
 * (with the handler's start too). Never fails on time.
 *
 * ```
 * deno task bench:peers [--tasks 50000] [--warmup 20000] [--rates 1000,2000,5000,8000]
 *                       [--ours 10000] [--seconds 5]
 * deno task bench:peers --floor-only [--floor-with sign,deltas]   # the floor alone
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import * as hdr from "hdr-histogram-js";
import { Queue } from "bullmq";
import { Client, startNodeProcess } from "../../test/_cluster.ts";
import { TestServer } from "../../test/_nats_server.ts";
import { freePort, natsProcs } from "../../src/transport/nats_server.ts";
import { NotSucceeded, offerOpenLoop } from "../_echo.ts";
import { fastAsItGoes, lines, now, script } from "./children.ts";
import { cpuText, floor, type FloorRuns } from "./floor.ts";

interface Options {
  tasks: number;
  warmup: number;
  rates: number[];
  /** Rates run by this system alone (BullMQ saturates below them here). */
  ours?: number[];
  seconds: number;
  /** Parts of this system the floor worker adds (`sign`, `deltas`: see floor_worker.ts). */
  floorWith?: string[];
  /** Run the floor alone. */
  floorOnly?: boolean;
}

interface Latency {
  p50: number;
  p99: number;
  p999: number;
  max: number;
  done: number;
  /** This system only: from intended send to the handler's start. */
  start?: { p50: number; p99: number; p999: number };
}

interface Figures {
  throughput: number;
  /** This system only: the same tasks, 1,000 to a message (a JSON array). */
  batched?: number;
  open: Map<number, Latency>;
  /** This system's results that were not `succeeded`, by phase (its tag). */
  failures?: NotSucceeded;
}

async function ours(o: Options): Promise<Figures> {
  const failures = new NotSucceeded();
  await using server = await TestServer.start();
  const node = startNodeProcess(["--node-id", "peers"], {
    TASK_SCHEDULER_MESSAGE_BROKER: server.url,
    TASK_SCHEDULER_LOG_LEVEL: "warn",
  });
  try {
    await using client = await Client.connect(server.url);
    await client.waitForNode();
    const burst = (tag: string, n: number) => fastAsItGoes(client, tag, n, 1, failures);
    const batches = (tag: string, n: number) => fastAsItGoes(client, tag, n, 1_000, failures);
    await burst("warm-", o.warmup);
    const throughput = await burst("tp-", o.tasks);
    await batches("warmb-", o.warmup);
    const batched = await batches("bt-", o.tasks);
    const open = new Map<number, Latency>();
    for (const rate of [...o.rates, ...(o.ours ?? [])]) {
      const total = rate * o.seconds;
      const tag = `r${rate}-`;
      const intended = new Float64Array(total);
      const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000 });
      const hs = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000 });
      let done = 0;
      const all = Promise.withResolvers<void>();
      client.onResult((r) => {
        if (!r.id.startsWith(tag)) return;
        failures.note(tag, r);
        const at = now();
        const t = intended[Number(r.id.slice(tag.length))];
        h.recordValue(Math.max(1, Math.round((at - t) * 1000)));
        if (r.startedAt) {
          hs.recordValue(Math.max(1, Math.round((Date.parse(r.startedAt) - t) * 1000)));
        }
        if (++done === total) all.resolve();
      });
      await offerOpenLoop(total, rate, (i, at) => {
        intended[i] = at;
        client.submit("echo", { id: `${tag}${i}`, payload: { i } });
      }, { clock: now, leadMs: 20 });
      await client.t.flush();
      await Promise.race([all.promise, new Promise((r) => setTimeout(r, 60_000))]);
      open.set(rate, {
        p50: h.getValueAtPercentile(50) / 1000,
        p99: h.getValueAtPercentile(99) / 1000,
        p999: h.getValueAtPercentile(99.9) / 1000,
        max: h.maxValue / 1000,
        done,
        start: {
          p50: hs.getValueAtPercentile(50) / 1000,
          p99: hs.getValueAtPercentile(99) / 1000,
          p999: hs.getValueAtPercentile(99.9) / 1000,
        },
      });
    }
    return { throughput, batched, open, failures };
  } finally {
    node.kill("SIGTERM");
    await node.exited;
  }
}

async function bullmq(o: Options): Promise<Figures> {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "peers-redis-" });
  const redis = new Deno.Command("redis-server", {
    args: ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const worker = script("bullmq_worker.ts", ["--port", String(port)]);
  const out = lines(worker.stdout);
  const next = async (): Promise<Record<string, unknown>> => {
    const { value, done } = await out.next();
    if (done) throw new Error("the BullMQ worker exited");
    return JSON.parse(value);
  };
  const queue = new Queue("bench", { connection: { host: "127.0.0.1", port } });
  try {
    await next(); // ready
    const bulk = async (name: string, n: number): Promise<number> => {
      const start = now();
      for (let i = 0; i < n; i += 1_000) {
        const size = Math.min(1_000, n - i);
        await queue.addBulk(
          Array.from({ length: size }, (_, k) => ({ name, data: { n, i: i + k } })),
        );
      }
      const r = await next();
      return n / (((r.last as number) - start) / 1000);
    };
    await bulk("warm", o.warmup);
    const throughput = await bulk("tp", o.tasks);
    const open = new Map<number, Latency>();
    for (const rate of o.rates) {
      const total = rate * o.seconds;
      const name = `r${rate}`;
      const adds: Promise<unknown>[] = [];
      await offerOpenLoop(total, rate, (_i, at) => {
        adds.push(queue.add(name, { n: total, t: at }));
      }, { clock: now, leadMs: 20 });
      await Promise.all(adds);
      const r = await Promise.race([
        next(),
        new Promise<null>((res) => setTimeout(() => res(null), 60_000)),
      ]);
      open.set(
        rate,
        r
          ? {
            p50: r.p50 as number,
            p99: r.p99 as number,
            p999: r.p999 as number,
            max: r.max as number,
            done: r.count as number,
          }
          : { p50: NaN, p99: NaN, p999: NaN, max: NaN, done: 0 },
      );
    }
    return { throughput, open };
  } finally {
    await queue.close();
    worker.kill("SIGTERM");
    await worker.status;
    redis.kill("SIGTERM");
    await redis.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

async function version(cmd: string, args: string[]): Promise<string> {
  const o = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output()
    .catch(() => null);
  return o ? new TextDecoder().decode(o.stdout).trim().split("\n")[0] : "not found";
}

/** Run both sides and print the comparison. */
export async function run(given: Partial<Options> = {}): Promise<void> {
  const o: Options = {
    tasks: 50_000,
    warmup: 20_000,
    rates: [1_000, 2_000, 5_000, 8_000],
    ours: [10_000],
    seconds: 5,
    ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)),
  };
  console.log(
    `peers: ${o.warmup} warm-up then ${o.tasks} tasks; open loop ${o.rates.join(", ")}/s for ` +
      `${o.seconds} s each; ${navigator.hardwareConcurrency} cores; deno ${Deno.version.deno}; ` +
      `${await version("/usr/sbin/nats-server", [
        "--version",
      ])} (GOMAXPROCS ${natsProcs()}); ${await version("redis-server", [
        "--version",
      ])}; bullmq 5 (concurrency 100)`,
  );
  if (o.floorOnly) {
    const fl = await floor(o);
    console.log(
      `floor with ${o.floorWith?.join(", ") || "nothing more"}: one a message ${
        Math.round(fl.one.rate)
      } tasks/s (CPU µs a task, worker / nats-server / load generator: ${cpuText(fl.one)}), ` +
        `1,000 a message ${Math.round(fl.batched.rate)} (${cpuText(fl.batched)})` +
        (fl.failures ? `  (NOT VALID: ${fl.failures} did not succeed)` : ""),
    );
    return;
  }
  const a = await ours(o);
  const b = await bullmq(o);
  const fl = await floor(o);
  // The floor with what this system keeps on by default (signed results, a task delta a task):
  // what a scheduler of this design could reach here, with no scheduling cost at all.
  const kept = o.floorWith?.length ? null : await floor({ ...o, floorWith: ["sign", "deltas"] });
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "-");
  console.log("\nthroughput (tasks/s)");
  const invalid = (tag: string) => {
    const n = a.failures!.count(tag);
    return n ? `  (NOT VALID: ${n} of these tasks did not succeed)` : "";
  };
  console.log(
    `  one task a message: this system ${Math.round(a.throughput)}  BullMQ (addBulk) ${
      Math.round(b.throughput)
    }  ratio ${(a.throughput / b.throughput).toFixed(2)}x${invalid("tp-")}`,
  );
  console.log(
    `  1,000 tasks a message: this system ${Math.round(a.batched!)}  BullMQ (addBulk) ${
      Math.round(b.throughput)
    }  ratio ${(a.batched! / b.throughput).toFixed(2)}x${invalid("bt-")}`,
  );
  const floorLines = (what: string, x: FloorRuns) => {
    console.log(
      `  ${what}: one a message ${Math.round(x.one.rate)} (${
        (x.one.rate / b.throughput).toFixed(2)
      }x BullMQ), 1,000 a message ${Math.round(x.batched.rate)} (${
        (x.batched.rate / b.throughput).toFixed(2)
      }x)${x.failures ? `  (NOT VALID: ${x.failures} did not succeed)` : ""}`,
    );
    console.log(
      `    CPU µs a task, its worker / nats-server / the load generator: one a message ${
        cpuText(x.one)
      }, 1,000 a message ${cpuText(x.batched)}`,
    );
    console.log(
      `    this system / this floor: one a message ${(a.throughput / x.one.rate).toFixed(2)}, ` +
        `1,000 a message ${(a.batched! / x.batched.rate).toFixed(2)}`,
    );
  };
  floorLines(
    `floor (only the JetStream work of a task, no scheduling${
      o.floorWith?.length ? `, with ${o.floorWith.join(", ")}` : ""
    }; floor_worker.ts)`,
    fl,
  );
  if (kept) {
    floorLines(
      "floor with signed results and a task delta a task (--floor-with sign,deltas)",
      kept,
    );
  }
  console.log(
    "\nopen loop, ms from intended send (this system: to the handler's start and to the result at the client;",
  );
  console.log("BullMQ: to completion in the worker)");
  console.log(
    "  rate/s | ours start p99 p99.9 | ours result p50   p99 p99.9   max | BullMQ p50   p99 p99.9   max | p99 BullMQ/ours",
  );
  const row = (x: Latency, width: number) =>
    `${f(x.p50).padStart(width)} ${f(x.p99).padStart(5)} ${f(x.p999).padStart(5)} ${
      f(x.max).padStart(5)
    }`;
  for (const rate of [...o.rates, ...(o.ours ?? [])]) {
    const x = a.open.get(rate)!;
    const y = b.open.get(rate);
    console.log(
      `  ${String(rate).padStart(6)} | ${f(x.start!.p99).padStart(14)} ${
        f(x.start!.p999).padStart(5)
      } | ${row(x, 15)} | ${y ? row(y, 10) : "             (not run)"} | ${
        y ? (y.p99 / x.p99).toFixed(2) + "x" : "-"
      }` +
        (x.done < rate * o.seconds ? `  (ours: ${x.done} of ${rate * o.seconds} in time)` : "") +
        (y && y.done < rate * o.seconds ? `  (BullMQ: ${y.done} in time)` : "") +
        invalid(`r${rate}-`),
    );
  }
  for (const line of a.failures!.lines()) console.log(line);
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      tasks: { type: "string" },
      warmup: { type: "string" },
      rates: { type: "string" },
      ours: { type: "string" },
      seconds: { type: "string" },
      "floor-with": { type: "string" },
      "floor-only": { type: "boolean" },
    },
  });
  const floorWith = values["floor-with"]?.split(",").filter(Boolean);
  const unknown = floorWith?.filter((part) => part !== "sign" && part !== "deltas") ?? [];
  if (unknown.length) {
    console.error(
      `--floor-with takes sign and deltas (comma-separated): got ${unknown.join(", ")}`,
    );
    Deno.exit(2);
  }
  await run({
    tasks: values.tasks ? Number(values.tasks) : undefined,
    warmup: values.warmup ? Number(values.warmup) : undefined,
    rates: values.rates ? values.rates.split(",").map(Number) : undefined,
    ours: values.ours !== undefined
      ? values.ours.split(",").filter(Boolean).map(Number)
      : undefined,
    seconds: values.seconds ? Number(values.seconds) : undefined,
    floorWith,
    floorOnly: values["floor-only"],
  });
}
