/**
 * The floor of `bench:peers`: the same throughput runs as this system's
 * through `floor_worker.ts`, which does only the JetStream work of a task, with
 * the CPU each process spent a task.
 *
 * @module
 */

import { Client } from "../../test/_cluster.ts";
import { TestServer } from "../../test/_nats_server.ts";
import { cpuMicros, NotSucceeded } from "../_echo.ts";
import { fastAsItGoes, lines, script } from "./children.ts";

/** A floor run: tasks/s, and CPU µs a task of its worker, nats-server and the load generator. */
export interface Floor {
  rate: number;
  cpu: number[];
}

/** The floor's two throughput runs, and how many of their tasks did not succeed. */
export interface FloorRuns {
  one: Floor;
  batched: Floor;
  failures: number;
}

/** A run's CPU µs a task, worker / nats-server / load generator, as printed. */
export const cpuText = (x: Floor): string => x.cpu.map((n) => n.toFixed(1)).join(" / ");

/**
 * The floor: the same throughput runs through `floor_worker.ts` (only the
 * JetStream work of a task: its stored submission, delivery and ack, one stored
 * and republished result) against a nats-server of its own.
 */
export async function floor(
  o: { tasks: number; warmup: number; floorWith?: string[] },
): Promise<FloorRuns> {
  const failures = new NotSucceeded();
  await using server = await TestServer.start();
  const child = script("floor_worker.ts", [
    "--server",
    server.url,
    ...(o.floorWith ?? []).map((part) => `--${part}`),
  ]);
  // A worker that dies fails the run instead of leaving it waiting for results.
  const died = child.status.then((s) => {
    throw new Error(`floor_worker.ts exited (code ${s.code}) during the run`);
  });
  died.catch(() => {});
  const orDied = <T>(p: Promise<T>) => Promise.race([p, died]);
  try {
    const out = lines(child.stdout);
    for (;;) {
      const line = await orDied(out.next());
      if (line.done) throw new Error("floor_worker.ts ended before it was ready");
      if (line.value === "ready") break;
    }
    await using client = await Client.connect(server.url);
    /** A run, with the CPU µs a task of the worker, nats-server and this process. */
    const timed = async (run: () => Promise<number>) => {
      const pids = [child.pid, server.pid, Deno.pid];
      const before = await Promise.all(pids.map(cpuMicros));
      const rate = await orDied(run());
      const after = await Promise.all(pids.map(cpuMicros));
      return { rate, cpu: after.map((x, i) => (x - before[i]) / o.tasks) };
    };
    await orDied(fastAsItGoes(client, "fwarm-", o.warmup, 1, failures));
    const one = await timed(() => fastAsItGoes(client, "ftp-", o.tasks, 1, failures));
    await orDied(fastAsItGoes(client, "fwarmb-", o.warmup, 1_000, failures));
    const b = await timed(() => fastAsItGoes(client, "fbt-", o.tasks, 1_000, failures));
    return { one, batched: b, failures: failures.count("ftp-") + failures.count("fbt-") };
  } finally {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
  }
}
