/**
 * The internal entry: the actor runtime, the NATS transport, the skew heap and
 * worker index, auth, config, schedules, the protocol and the test fixtures
 * (`MemoryBroker`, `ManualClock`, `freePort`). `actors/`, the tests and the
 * benchmarks build on it; it is not a public interface (that is `src/mod.ts`,
 * `src/client/mod.ts` and `src/auth/result_sig.ts`).
 *
 * @module
 */

export { ErrorCodes, isErrorCode, SchedulerError, show, toErrorInfo } from "./errors.ts";
export { consoleSink, createLogger, silentLogger } from "./log.ts";
export { RetryAfter, Unrecoverable } from "./handler.ts";

export * from "./runtime/mod.ts";
export * from "./transport/mod.ts";
export * from "./auth/mod.ts";

export { IdFilter } from "./sched/id_filter.ts";
export { SkewHeap } from "./sched/skew_heap.ts";
export { runsBefore } from "./sched/task_order.ts";
export { WorkerIndex } from "./sched/worker_index.ts";

export { isTerminal } from "./protocol/task.ts";
export {
  decodeBatch,
  decodeSubmission,
  DEFAULT_LIMITS,
  generateTaskId,
  isBatchBody,
  isTaskId,
  isTaskType,
  MAX_BATCH,
} from "./protocol/submission.ts";
export { lastToken, subjects } from "./protocol/subjects.ts";
export { DeltaTracker, healthScore } from "./protocol/monitor.ts";
export { defaults as defaultConfig, loadConfig, USAGE } from "./config/config.ts";
export { CONFIG_KEYS, DECLARED } from "./config/keys.ts";
export { checkPath, FS_ROOTS_VAR, pathExists, realPathOf, resolveRoots } from "./fs_roots.ts";
export { checkUrl, HTTP_ALLOW_VAR } from "./http_allow.ts";
export { RotatingFileSink } from "./log_file.ts";
export * from "./schedule/mod.ts";

export type { ErrorCode, ErrorInfo } from "./errors.ts";
export type { LogFields, Logger, LoggerOptions, LogLevel, LogSink } from "./log.ts";
export type { HandlerDefinition, Progress, TaskContext, TaskHandler } from "./handler.ts";
export type { HeapLinks } from "./sched/skew_heap.ts";
export type { Ordered } from "./sched/task_order.ts";
export type { WorkerEntry } from "./sched/worker_index.ts";
export type {
  AttemptRecord,
  NodeId,
  Principal,
  ProgressEvent,
  TaskId,
  TaskResult,
  TaskSpec,
  TaskState,
  TerminalState,
} from "./protocol/task.ts";
export type {
  Decoded,
  DecodedBatch,
  SubmissionDraft,
  SubmissionLimits,
} from "./protocol/submission.ts";
export type { Subjects } from "./protocol/subjects.ts";
export type { Delta, NodeStatus } from "./protocol/monitor.ts";
export type {
  Assignment,
  AttemptOutcome,
  Report,
  RunningTask,
  ToNode,
  ToScheduler,
  WorkerInfo,
} from "./protocol/internal.ts";
export type { Config, ConfigSources, Flags, Role as ProcessRole } from "./config/config.ts";
