/**
 * A backlog found at start: echo tasks published while no node runs (a
 * first node made the streams and stopped), then a node started, timed until
 * the last result. Every task of such a backlog was in the stream at the
 * takeover, so each is looked up in `RESULTS` before it runs (a deposed
 * leader may have stored its result): what a restart, or a failover under
 * load, costs per task on top of running it.
 *
 * Prints figures; never fails on time.
 *
 * ```
 * deno run -A bench/backlog_bench.ts [--tasks 20000] [--batch 1000]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Client, startNodeProcess } from "../test/_cluster.ts";
import { TestServer } from "../test/_nats_server.ts";
import { allResults, cpuMicros, NotSucceeded } from "./_echo.ts";

/** One backlog of `tasks`, `perMessage` to a message; prints one line. */
async function backlog(tasks: number, perMessage: number): Promise<void> {
  await using server = await TestServer.start();
  const env = { TASK_SCHEDULER_MESSAGE_BROKER: server.url, TASK_SCHEDULER_LOG_LEVEL: "warn" };
  let node = startNodeProcess(["--node-id", "backlog-1"], env);
  await using client = await Client.connect(server.url);
  await client.waitForNode();
  node.kill("SIGTERM");
  await node.exited;
  const failures = new NotSucceeded();
  const all = allResults(client, "k-", tasks, failures);
  const headers = { Authorization: `Bearer ${client.token}` };
  for (let i = 0; i < tasks; i += perMessage) {
    if (perMessage > 1) {
      const batch = Array.from(
        { length: Math.min(perMessage, tasks - i) },
        (_, k) => ({ id: `k-${i + k}`, payload: { i: i + k } }),
      );
      client.t.publish("tasks.submit.echo", client.enc.encode(JSON.stringify(batch)), { headers });
    } else {
      client.submit("echo", { id: `k-${i}`, payload: { i } });
    }
    if (i % 500 < perMessage) await client.t.flush();
  }
  await client.t.flush();
  // Stored before the node starts: the stream's state says how many wait.
  const deadline = Date.now() + 30_000;
  const expected = Math.ceil(tasks / perMessage);
  while ((await client.t.streamInfo("TASKS")).messages < expected && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const natsBefore = await cpuMicros(server.pid);
  const t0 = performance.now();
  node = startNodeProcess(["--node-id", "backlog-2"], env);
  try {
    await all;
    const s = (performance.now() - t0) / 1000;
    const nodeCpu = await cpuMicros(node.child.pid);
    const natsCpu = await cpuMicros(server.pid) - natsBefore;
    console.log(
      `  ${perMessage > 1 ? `${perMessage.toLocaleString("en")} a message` : "one a message"}`
        .padEnd(18) +
        `${tasks}`.padStart(7) + `${s.toFixed(2)}`.padStart(9) +
        `${Math.round(tasks / s)}`.padStart(9) + `${(nodeCpu / tasks).toFixed(1)}`.padStart(12) +
        `${(natsCpu / tasks).toFixed(1)}`.padStart(11),
    );
    for (const line of failures.lines()) console.log(line);
  } finally {
    node.kill("SIGTERM");
    await node.exited;
  }
}

/** Run the benchmark: a backlog one a message, then one in batches. */
export async function run(o: { tasks?: number; batch?: number } = {}): Promise<void> {
  const tasks = o.tasks ?? 20_000;
  console.log("a backlog found at start: drained after the node started");
  console.log("  how                tasks  drain s  tasks/s  node µs/t*  nats µs/t");
  await backlog(tasks, 1);
  await backlog(tasks, o.batch ?? 1_000);
  console.log("  * the node's whole CPU since it started (its start included), per task");
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { tasks: { type: "string" }, batch: { type: "string" } },
  });
  await run({
    tasks: values.tasks ? Number(values.tasks) : undefined,
    batch: values.batch ? Number(values.batch) : undefined,
  });
}
