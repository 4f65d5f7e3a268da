import assert from "node:assert/strict";
import { computeIterations, definition } from "../../../actors/handlers/compute.ts";
import { assertAborted, assertProgressMonotonic, assertThrew, runHandler } from "./_run.ts";

Deno.test("compute - is deterministic for the same input and differs for another", async () => {
  const a = await runHandler(definition, { complexity: 4, input: 42 });
  const b = await runHandler(definition, { complexity: 4, input: 42 });
  const c = await runHandler(definition, { complexity: 4, input: 43 });
  assert.equal(a.error, undefined);
  assert.deepEqual(a.result, b.result);
  assert.notEqual(a.result?.output, c.result?.output);
  assert.equal(a.result?.iterations, computeIterations(4));
  const output = a.result!.output;
  assert.ok(Number.isInteger(output) && output >= 0 && output < 2 ** 32);
});

Deno.test("compute - work grows with complexity", () => {
  const counts = Array.from({ length: 10 }, (_, i) => computeIterations(i + 1));
  for (let i = 1; i < counts.length; i++) assert.ok(counts[i] > counts[i - 1]);
  assert.equal(computeIterations(5), 316_228);
});

Deno.test("compute - reports monotonic progress in chunks, ending at 1", async () => {
  const run = await runHandler(definition, { complexity: 6, input: -1.25 });
  assert.equal(run.error, undefined);
  assert.ok(run.progress.length > 1, `${run.progress.length} reports`);
  assertProgressMonotonic(run.progress);
  assert.equal(run.progress.at(-1)?.progress, 1);
});

Deno.test("compute - stops promptly when aborted mid-run", async () => {
  // Complexity 10 runs for seconds; the abort lands between chunks.
  const run = await runHandler(definition, { complexity: 10, input: 1 }, { abortAfterMs: 50 });
  assertAborted(run);
  assert.ok(run.elapsedMs < 250, `took ${run.elapsedMs} ms to stop`);
});

Deno.test("compute - rejects bad payloads, naming the field", async () => {
  const bad: [unknown, string, string][] = [
    [{ complexity: 0, input: 1 }, "payload.complexity", "0"],
    [{ complexity: 11, input: 1 }, "payload.complexity", "11"],
    [{ complexity: 2.5, input: 1 }, "payload.complexity", "2.5"],
    [{ complexity: "5", input: 1 }, "payload.complexity", '"5"'],
    [{ complexity: 5 }, "payload.input", "undefined"],
    [{ complexity: 5, input: "1" }, "payload.input", '"1"'],
  ];
  for (const [payload, field, value] of bad) {
    assertThrew(await runHandler(definition, payload), "Unrecoverable", field, value);
  }
});
