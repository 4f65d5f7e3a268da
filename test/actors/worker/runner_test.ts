import assert from "node:assert/strict";
import type { HandlerDefinition } from "../../../src/internal_mod.ts";
import { AbortReason, runAttempt } from "../../../actors/worker/runner.ts";
import { createLogger } from "../../../src/log.ts";

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

Deno.test("runner - the task's logger is made when the handler first asks, once, and carries the task", async () => {
  const lines: string[] = [];
  let made = 0;
  const input = (def: HandlerDefinition) => ({
    def,
    id: "t3",
    payload: null,
    attempt: 1,
    maxAttempts: 1,
    signal: new AbortController().signal,
    log: () => {
      made++;
      return createLogger({
        level: "debug",
        format: "json",
        fields: { task: "t3" },
        sinks: [{ write: (line: string) => lines.push(line) }],
      });
    },
    onProgress: () => {},
    maxResultBytes: 1_000,
  });
  const quiet = await runAttempt(input({
    type: "quiet",
    // deno-lint-ignore require-yield
    async *handler() {
      return 1;
    },
  }));
  assert.deepEqual(quiet, { outcome: "succeeded", result: 1 });
  assert.equal(made, 0, "a handler that never logs costs no logger");
  const talky = await runAttempt(input({
    type: "talky",
    async *handler(_p, ctx) {
      ctx.log.info("one");
      const { log } = ctx;
      log.info("two");
      yield "not progress" as never;
      return 2;
    },
  }));
  assert.deepEqual(talky, { outcome: "succeeded", result: 2 });
  assert.equal(made, 1);
  assert.deepEqual(lines.map((l) => [JSON.parse(l).msg, JSON.parse(l).task]), [
    ["one", "t3"],
    ["two", "t3"],
    ["handler yielded something that is not progress; ignored", "t3"],
  ]);
});
