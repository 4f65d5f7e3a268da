/**
 * The typed client of task-scheduler: submit tasks and get their results,
 * follow progress, cancel, ask status, manage schedules, log in, and watch
 * the cluster, over NATS as `docs/PROTOCOL.md` describes. It needs no actor
 * runtime, and runs on Deno and (built with `deno task build:client`) on
 * Node.js.
 *
 * - `submit` is an acked publish: it resolves once JetStream stored the
 *   task, and a full or missing stream is an error, not silence.
 * - `result()` never misses the result: the handle listens on
 *   `tasks.result.<id>` before publishing, and reads the stored outcome from
 *   the `RESULTS` stream after a reconnect, when called late, and every
 *   `resultPollMs` while it waits.
 * - Operators list held tasks and dead letters (`list`), retry failed tasks
 *   (`retry`) and purge dead letters (`purge`).
 * - `watch()` and `onNodeStatus()` fold the deltas of `monitor.>` into full
 *   pictures, asking for a snapshot on a gap.
 * - Errors are {@link SchedulerClientError}s with the contract's codes.
 *
 * @example
 * ```ts
 * import { connect } from "./mod.ts";
 *
 * const c = await connect({ servers: "nats://127.0.0.1:4222", token: "eyJ…" });
 * const t = await c.submit("sleep", { ms: 1000 }, { priority: 7, timeoutMs: 5000 });
 * for await (const p of t.progress()) console.log(p.progress, p.message);
 * const r = await t.result(); // { state: "succeeded", result: …, attempts: 1, … }
 * console.log(r.state);
 * await c.close();
 * ```
 *
 * @module
 */

export { connect, SchedulerClient } from "./client.ts";
export type { ConnectOptions, SubmitManyResult } from "./client.ts";
export {
  CLIENT_ERROR_CODES,
  isWireErrorCode,
  PublishRefusedError,
  RequestRefusedError,
  SchedulerClientError,
  TaskFailedError,
  TaskRejectedError,
  WIRE_ERROR_CODES,
} from "./errors.ts";
export type { ClientErrorCode, ErrorCode, ErrorInfo, WireErrorCode } from "./errors.ts";
export type {
  ActiveState,
  AttemptOutcome,
  AttemptRecord,
  BatchItem,
  CancelReply,
  DeadLetter,
  DeadListQuery,
  HeldListQuery,
  ListQuery,
  LoginResult,
  MonitorUpdate,
  MonitorView,
  MonitorWatch,
  NodeStatus,
  NodeStatusSubscription,
  ProgressEvent,
  RetryResult,
  SchedulerStatus,
  ScheduleRun,
  Schedules,
  ScheduleSpec,
  ScheduleView,
  SubmitItem,
  SubmitOptions,
  TaskHandle,
  TaskMonitorState,
  TaskPage,
  TaskResult,
  TaskState,
  TaskStatus,
  TaskStatusView,
  TerminalState,
} from "./types.ts";
