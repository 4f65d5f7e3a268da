// Submit an echo task from Node.js and print its result.
//
//   deno task build:client         # in the repository: dist/client (mod.js, mod.d.ts, package.json)
//   cd my-node-app && npm install /path/to/task-scheduler/dist/client
//   cp /path/to/task-scheduler/examples/client/node_echo.mjs .
//   NATS_URL=nats://127.0.0.1:4222 TASK_SCHEDULER_TOKEN=eyJ… node node_echo.mjs
//
// The bundle carries its NATS client: nothing else to install. The token is read from
// TASK_SCHEDULER_TOKEN when `token` is not given.
import { connect, SchedulerClientError } from "@task-scheduler/client";

const c = await connect({ servers: process.env.NATS_URL ?? "nats://127.0.0.1:4222" });
try {
  const t = await c.submit("echo", { hello: "from node", at: process.version });
  const r = await t.result({ timeoutMs: 30_000 });
  console.log(JSON.stringify({ id: t.id, state: r.state, result: r.result }));
} catch (err) {
  if (err instanceof SchedulerClientError) console.error(`${err.code}: ${err.message}`);
  else console.error(err);
  process.exitCode = 1;
} finally {
  await c.close();
}
