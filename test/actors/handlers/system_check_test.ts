import assert from "node:assert/strict";
import { definition, type SystemCheckResult } from "../../../actors/handlers/system_check.ts";
import {
  assertAborted,
  assertProgressMonotonic,
  assertThrew,
  runHandler,
  tempDir,
} from "./_run.ts";

function assertPlausible(r: SystemCheckResult): void {
  for (const percent of [r.cpuPercent, r.memory.percent, r.disk.percent]) {
    assert.ok(percent >= 0 && percent <= 100, `percent ${percent} is outside 0..100`);
  }
  assert.ok(r.memory.totalBytes > 0 && r.memory.usedBytes <= r.memory.totalBytes);
  assert.ok(r.disk.totalBytes > 0 && r.disk.usedBytes <= r.disk.totalBytes);
}

Deno.test("system check - returns plausible CPU, memory and disk figures", async () => {
  const run = await runHandler(definition, {
    cpuWarnPercent: 100,
    memoryWarnPercent: 100,
    diskWarnPercent: 100,
  });
  assert.equal(run.error, undefined);
  const r = run.result!;
  assertPlausible(r);
  assert.equal(r.disk.path, "/");
  assertProgressMonotonic(run.progress);
  assert.equal(run.progress.at(-1)?.progress, 1);
  // Only a machine at 100% of something warns here.
  assert.equal(r.status === "All systems normal", r.warnings.length === 0);
});

Deno.test("system check - thresholds of 0 give a warning status naming each measure", async () => {
  await using dir = await tempDir();
  const run = await runHandler(definition, {
    cpuWarnPercent: 0,
    memoryWarnPercent: 0,
    diskWarnPercent: 0,
    path: dir.path,
  });
  assert.equal(run.error, undefined);
  const r = run.result!;
  assertPlausible(r);
  assert.equal(r.disk.path, dir.path);
  assert.equal(r.warnings.length, 3);
  assert.ok(r.status.startsWith("Warning: "), r.status);
  for (const word of ["CPU", "memory", "disk"]) assert.ok(r.status.includes(word), r.status);
});

Deno.test("system check - stops promptly when aborted during the CPU sample", async () => {
  const run = await runHandler(definition, {}, { abortAfterMs: 20 });
  assertAborted(run);
  assert.ok(run.elapsedMs < 200, `took ${run.elapsedMs} ms to stop`);
});

Deno.test("system check - rejects bad payloads, naming the field", async () => {
  assertThrew(
    await runHandler(definition, { cpuWarnPercent: 101 }),
    "Unrecoverable",
    "payload.cpuWarnPercent",
    "0 to 100",
    "101",
  );
  assertThrew(
    await runHandler(definition, { memoryWarnPercent: "80" }),
    "Unrecoverable",
    "payload.memoryWarnPercent",
    '"80"',
  );
  assertThrew(
    await runHandler(definition, { diskWarnPercent: -5 }),
    "Unrecoverable",
    "payload.diskWarnPercent",
    "-5",
  );
  assertThrew(await runHandler(definition, { path: 7 }), "Unrecoverable", "payload.path", "7");
  assertThrew(
    await runHandler(definition, { cpu: 1 }),
    "Unrecoverable",
    "payload.cpu",
    "not a system-check field",
  );
});

Deno.test("system check - a path that does not exist is unrecoverable", async () => {
  await using dir = await tempDir();
  const missing = `${dir.path}/nowhere`;
  assertThrew(
    await runHandler(definition, { path: missing }),
    "Unrecoverable",
    "payload.path",
    missing,
  );
});
