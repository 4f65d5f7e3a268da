/**
 * The public entry for those who write task handlers: the handler types, the
 * errors a handler throws to steer retries, the checks file and network jobs
 * make against the node's roots and allowed hosts, and the shapes of results
 * and progress on the wire.
 *
 * ```ts
 * import { type HandlerDefinition, Unrecoverable } from "./src/mod.ts";
 *
 * export const handler: HandlerDefinition = {
 *   type: "greet",
 *   async *handler(payload) {
 *     if (typeof payload !== "string") throw new Unrecoverable("payload must be a name");
 *     yield { progress: 0.5, message: "thinking" };
 *     return `hello ${payload}`;
 *   },
 * };
 * ```
 *
 * The package's other public entries: `./client` (`src/client/mod.ts`), a
 * typed client for submitting tasks and watching the system, and `./results`
 * (`src/auth/result_sig.ts`), to check a result's signature. The system itself
 * (`actors/`) and the tests use `src/internal_mod.ts`, which is not a public
 * interface. This entry stays light: pool threads load it with their handler.
 *
 * @module
 */

export { ErrorCodes, isErrorCode, SchedulerError, show, toErrorInfo } from "./errors.ts";
export type { ErrorCode, ErrorInfo } from "./errors.ts";
export { RetryAfter, Unrecoverable } from "./handler.ts";
export type { HandlerDefinition, Progress, TaskContext, TaskHandler } from "./handler.ts";
export type { LogFields, Logger } from "./log.ts";
export { checkPath, isWithin, pathExists, realPathOf } from "./fs_roots.ts";
export { checkUrl } from "./http_allow.ts";
export { isTerminal } from "./protocol/task.ts";
export type {
  AttemptRecord,
  ProgressEvent,
  TaskResult,
  TaskState,
  TerminalState,
} from "./protocol/task.ts";
