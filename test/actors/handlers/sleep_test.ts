import assert from "node:assert/strict";
import { definition } from "../../../actors/handlers/sleep.ts";
import { assertAborted, assertProgressMonotonic, assertThrew, runHandler } from "./_run.ts";

Deno.test("sleep - waits the time asked, reporting progress up to 1", async () => {
  const run = await runHandler(definition, { ms: 300 });
  assert.equal(run.error, undefined);
  assert.deepEqual(run.result, { sleptMs: 300 });
  assert.ok(run.elapsedMs >= 290, `took only ${run.elapsedMs} ms`);
  assert.ok(
    run.progress.length >= 3 && run.progress.length <= 20,
    `${run.progress.length} reports`,
  );
  assertProgressMonotonic(run.progress);
  assert.equal(run.progress.at(-1)?.progress, 1);
});

Deno.test("sleep - zero ms completes at once", async () => {
  const run = await runHandler(definition, { ms: 0 });
  assert.deepEqual(run.result, { sleptMs: 0 });
});

Deno.test("sleep - stops promptly when aborted mid-run", async () => {
  const run = await runHandler(definition, { ms: 10_000 }, { abortAfterMs: 100 });
  assertAborted(run);
  assert.ok(run.elapsedMs < 500, `took ${run.elapsedMs} ms to stop`);
});

Deno.test("sleep - rejects a bad ms, naming the field, the rule and the value", async () => {
  assertThrew(
    await runHandler(definition, { ms: "x" }),
    "Unrecoverable",
    "payload.ms",
    "non-negative integer",
    '"x"',
  );
  assertThrew(await runHandler(definition, { ms: -1 }), "Unrecoverable", "payload.ms", "-1");
  assertThrew(await runHandler(definition, { ms: 1.5 }), "Unrecoverable", "payload.ms", "1.5");
  assertThrew(await runHandler(definition, { ms: 86_400_001 }), "Unrecoverable", "payload.ms");
  assertThrew(await runHandler(definition, {}), "Unrecoverable", "payload.ms", "undefined");
  assertThrew(await runHandler(definition, null), "Unrecoverable", "payload must be an object");
  assertThrew(await runHandler(definition, { ms: 1, extra: 2 }), "Unrecoverable", "payload.extra");
});
