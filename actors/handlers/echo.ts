/**
 * The `echo` task type: returns its payload unchanged. The cheapest task there
 * is, for benchmarks and for checking that the pipeline works end to end.
 *
 * @module
 */

import type { HandlerDefinition, TaskHandler } from "../../src/mod.ts";

/** Any JSON value: echo accepts whatever the submission carried. */
export type EchoPayload = unknown;

/** The payload, as given. */
export type EchoResult = unknown;

// deno-lint-ignore require-yield -- nothing to report: the task is over as soon as it starts
const echo: TaskHandler<EchoPayload, EchoResult> = async function* (payload, ctx) {
  ctx.signal.throwIfAborted();
  return payload;
};

/**
 * The `echo` handler.
 *
 * @example
 * ```ts
 * // tasks.submit.echo with { "hello": "world" } completes with { "hello": "world" }
 * ```
 */
export const definition: HandlerDefinition<EchoPayload, EchoResult> = {
  type: "echo",
  handler: echo,
};
