/**
 * Bursts through one all-in-one node (default settings) against its own
 * nats-server: `--bursts` rounds of `--tasks` echo tasks sent as fast as they
 * go, one task a message and then 1,000 a message (a batch), each round
 * timed to its last result. Prints tasks/s and the CPU each process spent a
 * task (node and nats-server, from /proc), so a cost that grows with the
 * tasks a node has run, or a change in what a task costs, shows round by
 * round. Never fails on time.
 *
 * ```
 * deno run -A bench/burst_bench.ts [--tasks 30000] [--bursts 2]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Client, startNodeProcess } from "../test/_cluster.ts";
import { TestServer } from "../test/_nats_server.ts";
import { cpuMicros, echoBurst, NotSucceeded } from "./_echo.ts";

/** Run and print. */
export async function run(o: { tasks: number; bursts: number }): Promise<void> {
  await using server = await TestServer.start();
  const node = startNodeProcess(["--node-id", "burst"], {
    TASK_SCHEDULER_MESSAGE_BROKER: server.url,
    TASK_SCHEDULER_LOG_LEVEL: "warn",
  });
  try {
    await using client = await Client.connect(server.url);
    await client.waitForNode();
    const failures = new NotSucceeded();
    const burst = async (tag: string, n: number, batched: boolean) => {
      const node0 = await cpuMicros(node.child.pid);
      const nats0 = await cpuMicros(server.pid);
      const t0 = performance.now();
      await echoBurst(client, tag, n, batched ? 1_000 : 1, failures);
      const s = (performance.now() - t0) / 1000;
      const nodeUs = (await cpuMicros(node.child.pid) - node0) / n;
      const natsUs = (await cpuMicros(server.pid) - nats0) / n;
      console.log(
        `  ${batched ? "1,000 a message" : "one a message  "} ${String(n).padStart(7)} ${
          String(Math.round(n / s)).padStart(8)
        } ${nodeUs.toFixed(1).padStart(9)} ${natsUs.toFixed(1).padStart(9)}`,
      );
    };
    console.log(`bursts of ${o.tasks} echo tasks through one node (after 20,000 to warm up)`);
    console.log("  how              tasks  tasks/s  node µs/t  nats µs/t");
    await burst("warm-", 20_000, false);
    for (let k = 0; k < o.bursts; k++) {
      await burst(`s${k}-`, o.tasks, false);
      await burst(`b${k}-`, o.tasks, true);
    }
    for (const line of failures.lines()) console.log(line);
  } finally {
    node.kill("SIGTERM");
    await node.exited;
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      tasks: { type: "string", default: "30000" },
      bursts: { type: "string", default: "2" },
    },
  });
  await run({ tasks: Number(values.tasks), bursts: Number(values.bursts) });
}
