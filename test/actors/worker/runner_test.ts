import assert from "node:assert/strict";
import type { HandlerDefinition } from "../../../src/internal_mod.ts";
import { AbortReason, runAttempt } from "../../../actors/worker/runner.ts";

/** A handler that swallows its abort and returns as if it had finished. */
const stubborn: HandlerDefinition = {
  type: "stubborn",
  // deno-lint-ignore require-yield
  async *handler(_payload, ctx) {
    try {
      await ctx.sleep(60_000);
    } catch {
      // caught: returns at once, with no progress step in between
    }
    return { finished: true };
  },
};

/** Run the stubborn handler and abort it once it sleeps. */
async function abortWith(kind: "cancel" | "timeout" | "shutdown") {
  const ctl = new AbortController();
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  const run = runAttempt({
    def: stubborn,
    id: "t1",
    payload: null,
    attempt: 1,
    maxAttempts: 1,
    signal: ctl.signal,
    log: silent as never,
    onProgress: () => {},
    maxResultBytes: 1_000_000,
  });
  ctl.abort(new AbortReason(kind, `${kind} by the test`));
  return await run;
}

Deno.test("runner - a handler that catches its cancel and returns is cancelled, not succeeded", async () => {
  const r = await abortWith("cancel");
  assert.equal(r.outcome, "cancelled");
  assert.equal("error" in r && r.error.code, "CANCELLED");
});

Deno.test("runner - a handler that catches its timeout and returns timed out", async () => {
  const r = await abortWith("timeout");
  assert.equal(r.outcome, "timeout");
  assert.equal("error" in r && r.error.code, "TIMEOUT");
});

Deno.test("runner - a handler that catches a shutdown and returns is handed back as shutdown", async () => {
  assert.equal((await abortWith("shutdown")).outcome, "shutdown");
});

Deno.test("runner - a handler that ends before any abort succeeds", async () => {
  const r = await runAttempt({
    def: {
      type: "quick",
      // deno-lint-ignore require-yield
      async *handler() {
        return 42;
      },
    },
    id: "t2",
    payload: null,
    attempt: 1,
    maxAttempts: 1,
    signal: new AbortController().signal,
    log: { debug() {}, info() {}, warn() {}, error() {} } as never,
    onProgress: () => {},
    maxResultBytes: 1_000,
  });
  assert.deepEqual(r, { outcome: "succeeded", result: 42 });
});
