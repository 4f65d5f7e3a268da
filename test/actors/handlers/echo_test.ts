import assert from "node:assert/strict";
import { definition } from "../../../actors/handlers/echo.ts";
import { assertAborted, runHandler } from "./_run.ts";

Deno.test("echo - returns the payload unchanged, without progress", async () => {
  const payload = { hello: "world", n: [1, 2, 3], nested: { ok: true } };
  const run = await runHandler(definition, payload);
  assert.equal(run.error, undefined);
  assert.equal(run.result, payload);
  assert.deepEqual(run.progress, []);
});

Deno.test("echo - returns scalars and null as they are", async () => {
  for (const payload of [null, 0, "", "text", false, []]) {
    const run = await runHandler(definition, payload);
    assert.deepEqual(run.result, payload);
  }
});

Deno.test("echo - an aborted task does not complete", async () => {
  const controller = new AbortController();
  controller.abort(new Error("test abort"));
  assertAborted(await runHandler(definition, {}, { controller }));
});
