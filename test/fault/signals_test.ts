/**
 * One signal to the whole process group, as a terminal's Ctrl-C and systemd's
 * default KillMode=control-group send it, reaches both `deno task` and the
 * node, and `deno task` passes its copy on: the node must take all of that
 * as one graceful stop.
 */

import assert from "node:assert/strict";
import { Client, SECRET } from "../_cluster.ts";
import { TestServer } from "../_nats_server.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** `deno task start` as the leader of a process group of its own; resolves with its log and exit. */
async function runAndSignal(url: string, signal: Deno.Signal, tag: string) {
  const child = new Deno.Command("setsid", {
    args: [Deno.execPath(), "task", "start", "--node-id", `sig-${tag}`, "--workers", "2"],
    cwd: ROOT,
    env: {
      TASK_SCHEDULER_MESSAGE_BROKER: url,
      TASK_SCHEDULER_JWT_SECRET: SECRET,
      TASK_SCHEDULER_SHUTDOWN_GRACE_MS: "3000",
      NO_COLOR: "1",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let log = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of stream) log += dec.decode(chunk, { stream: true });
  };
  const pumped = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const deadline = Date.now() + 30_000;
  while (!log.includes("node started")) {
    if (Date.now() > deadline) throw new Error(`the node did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  await using client = await Client.connect(url);
  // Running tasks when the signal comes: 40 short sleeps.
  for (let i = 0; i < 40; i++) {
    client.submit("sleep", { id: `${tag}-${i}`, payload: { ms: 300 } });
  }
  await client.result(`${tag}-0`, 30_000);
  // The group: setsid made the child its leader, so its pid is the group id.
  Deno.kill(-child.pid, signal);
  // A stop that hangs fails the test with the node's log instead of holding up the suite.
  let hung = false;
  const guard = setTimeout(() => {
    hung = true;
    Deno.kill(-child.pid, "SIGKILL");
  }, 20_000);
  const status = await child.status;
  clearTimeout(guard);
  await pumped;
  if (hung) throw new Error(`${signal} (${tag}): still running 20 s after the signal:\n${log}`);
  return { status, log };
}

Deno.test("fault - one SIGTERM or SIGINT to the process group always stops gracefully (5 of 5)", async () => {
  await using server = await TestServer.start();
  const runs: [Deno.Signal, string][] = [
    ["SIGTERM", "t1"],
    ["SIGINT", "i1"],
    ["SIGTERM", "t2"],
    ["SIGINT", "i2"],
    ["SIGTERM", "t3"],
  ];
  for (const [signal, tag] of runs) {
    const { status, log } = await runAndSignal(server.url, signal, tag);
    assert.equal(status.code, 0, `${signal} (${tag}) exited ${status.code}:\n${log}`);
    assert.match(log, /stopped cleanly/, `${signal} (${tag}):\n${log}`);
    assert.doesNotMatch(log, /second signal/);
  }
});
