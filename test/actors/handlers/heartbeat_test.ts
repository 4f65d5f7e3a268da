import assert from "node:assert/strict";
import { DEFAULT_MESSAGE, definition, MAX_MESSAGE } from "../../../actors/handlers/heartbeat.ts";
import type { Progress, TaskContext } from "../../../src/handler.ts";
import { createLogger, type LogLevel } from "../../../src/log.ts";
import { abortableSleep, assertAborted, assertThrew, runHandler } from "./_run.ts";

/** Run the handler with a real logger whose lines are kept, as the worker binds it. */
async function runLogged(payload: unknown) {
  const lines: { line: string; level: LogLevel }[] = [];
  const controller = new AbortController();
  const ctx: TaskContext = {
    id: "heartbeat:20260131T120000Z",
    type: definition.type,
    attempt: 1,
    maxAttempts: 1,
    signal: controller.signal,
    log: createLogger({
      format: "json",
      sinks: [{ write: (line, level) => lines.push({ line, level }) }],
      fields: { actor: "worker" },
    }),
    sleep: abortableSleep(controller.signal),
    fsRoots: [],
    httpAllow: [],
  };
  const progress: Progress[] = [];
  const gen = definition.handler(payload, ctx);
  while (true) {
    const step = await gen.next();
    if (step.done) return { result: step.value, progress, lines, ctx };
    progress.push(step.value);
  }
}

Deno.test("heartbeat - returns the default message, the time and the worker process", async () => {
  const before = Date.now();
  const run = await runHandler(definition, {});
  const after = Date.now();
  assert.equal(run.error, undefined);
  const r = run.result!;
  assert.equal(r.message, DEFAULT_MESSAGE);
  assert.equal(r.message, "scheduler heartbeat");
  assert.match(r.at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  const at = Date.parse(r.at);
  assert.ok(at >= before && at <= after, `${r.at} is not within the run`);
  assert.equal(r.node.pid, Deno.pid);
  assert.equal(r.node.hostname, Deno.hostname());
  assert.deepEqual(run.progress, [{ progress: 1, message: DEFAULT_MESSAGE }]);
  // The result travels as JSON: nothing in it is lost on the way.
  assert.deepEqual(JSON.parse(JSON.stringify(r)), r);
});

Deno.test("heartbeat - logs its message at info, with the task id, on the context's logger", async () => {
  const { result, progress, lines, ctx } = await runLogged({ message: "nightly chain alive" });
  assert.equal(result.message, "nightly chain alive");
  assert.deepEqual(progress, [{ progress: 1, message: "nightly chain alive" }]);
  assert.equal(lines.length, 1);
  assert.equal(lines[0].level, "info");
  const entry = JSON.parse(lines[0].line);
  assert.equal(entry.msg, "nightly chain alive");
  assert.equal(entry.level, "info");
  assert.equal(entry.task, ctx.id);
  assert.equal(entry.actor, "worker");
  assert.equal(entry.pid, Deno.pid);
  assert.equal(entry.hostname, result.node.hostname);
});

Deno.test("heartbeat - the logged line in text format names the task", async () => {
  const lines: string[] = [];
  const controller = new AbortController();
  const gen = definition.handler({}, {
    id: "t-42",
    type: "heartbeat",
    attempt: 1,
    maxAttempts: 1,
    signal: controller.signal,
    log: createLogger({ sinks: [{ write: (line) => lines.push(line) }] }),
    sleep: abortableSleep(controller.signal),
    fsRoots: [],
    httpAllow: [],
  });
  while (!(await gen.next()).done) { /* drain */ }
  assert.equal(lines.length, 1);
  assert.match(lines[0], /INFO {2}task=t-42 scheduler heartbeat (hostname=\S+ )?pid=\d+$/);
});

Deno.test("heartbeat - rejects bad payloads, naming the field", async () => {
  assertThrew(
    await runHandler(definition, { msg: "hi" }),
    "Unrecoverable",
    "payload.msg",
    "not a heartbeat field",
    "message",
  );
  assertThrew(
    await runHandler(definition, { message: 42 }),
    "Unrecoverable",
    "payload.message",
    "42",
  );
  assertThrew(
    await runHandler(definition, { message: "" }),
    "Unrecoverable",
    "payload.message",
    `1 to ${MAX_MESSAGE} characters`,
  );
  assertThrew(
    await runHandler(definition, { message: "x".repeat(MAX_MESSAGE + 1) }),
    "Unrecoverable",
    "payload.message",
  );
  assertThrew(
    await runHandler(definition, null),
    "Unrecoverable",
    "payload must be an object",
  );
  assertThrew(
    await runHandler(definition, ["scheduler heartbeat"]),
    "Unrecoverable",
    "payload must be an object",
  );
});

Deno.test("heartbeat - an aborted task does not complete", async () => {
  const controller = new AbortController();
  controller.abort(new Error("test abort"));
  const run = await runHandler(definition, {}, { controller });
  assertAborted(run);
  assert.deepEqual(run.progress, []);
});
