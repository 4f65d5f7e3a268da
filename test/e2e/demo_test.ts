/**
 * `deno task start --demo` as a newcomer runs it: a node process against a
 * real nats-server shows a result of each of the six ops jobs, and on SIGTERM
 * removes its schedules and its folder.
 */

import assert from "node:assert/strict";
import { startNodeProcess } from "../_cluster.ts";
import { TestServer } from "../_nats_server.ts";

const JOBS = ["system-check", "backup", "cleanup", "http-check", "rotate-logs", "heartbeat"];

Deno.test("demo - --demo shows a succeeded result of each of the six ops jobs within 90 s, then cleans up", async () => {
  await using server = await TestServer.start();
  const node = startNodeProcess(["--demo", "--node-id", "demo"], {
    TASK_SCHEDULER_MESSAGE_BROKER: server.url,
  });
  try {
    await node.waitFor("node started", 30_000);
    const started = Date.now();
    await Promise.all(JOBS.map((type) => node.waitFor(`type=${type} `, 90_000)));
    const seenMs = Date.now() - started;
    const lines = node.log.filter((l) => l.includes("demo job "));
    for (const type of JOBS) {
      assert.ok(
        lines.some((l) => l.includes(`type=${type} `) && l.includes("demo job succeeded")),
        `no succeeded ${type} result in:\n${lines.join("\n")}`,
      );
    }
    const folder = /folder=(\S+)/.exec(node.log.find((l) => l.includes("folder=")) ?? "")?.[1];
    assert.ok(folder, "the demo folder is logged");
    assert.ok((await Deno.stat(folder)).isDirectory);
    console.log(`[demo] all six jobs had a result ${seenMs} ms after the node started`);
    node.kill("SIGTERM");
    assert.equal((await node.exited).code, 0);
    assert.ok(
      node.log.some((l) => l.includes("demo schedules removed") && l.includes("schedules=6")),
      node.log.join("\n"),
    );
    await assert.rejects(Deno.stat(folder), Deno.errors.NotFound);
  } finally {
    node.kill("SIGKILL");
    await node.exited;
  }
});
