/**
 * The client's data types: what travels on the wire (`docs/PROTOCOL.md`) and
 * the options of the client's calls. Self-contained, so that the declarations
 * built for Node.js need nothing else.
 *
 * @module
 */

import type { ErrorInfo } from "./errors.ts";

/** The states a task ends in; each task reaches exactly one. */
export type TerminalState = "succeeded" | "failed" | "expired" | "cancelled" | "rejected";

/** The states of a task the leader holds (`tasks.status`, `monitor.task.<id>`). */
export type ActiveState = "queued" | "waiting" | "dispatched" | "running" | "retrying";

/** Every state a task can be in. */
export type TaskState = ActiveState | TerminalState;

/** How one attempt ended (`history`); later versions may add outcomes. */
export type AttemptOutcome =
  | "succeeded"
  | "failed"
  | "timeout"
  | "cancelled"
  | "lost"
  | "retried"
  | (string & Record<never, never>);

/** One attempt in a result's `history` (section 4.1). */
export interface AttemptRecord {
  /** Attempt number, from 1. */
  attempt: number;
  /** The worker that ran it, `<node>/w<index>`. */
  worker: string;
  /** Epoch ms; 0 when it never started. */
  startedAt: number;
  /** Epoch ms. */
  endedAt: number;
  /** How it ended (`retried`: not an attempt, the mark of a `tasks.retry`). */
  outcome: AttemptOutcome;
  /** Why it did not succeed. */
  error?: ErrorInfo;
  /** Who asked for the retry, on a `retried` mark. */
  by?: string;
}

/** The terminal result of a task, as published on `tasks.result.<id>` (section 4.1). */
export interface TaskResult {
  /** Task id. */
  id: string;
  /** Task type. */
  type: string;
  /** The terminal state. */
  state: TerminalState;
  /** Attempts started (0 when none ran). */
  attempts: number;
  /** From `submittedAt` to the end (0 for `rejected`). */
  durationMs: number;
  /** The last worker, once dispatched. */
  worker?: string;
  /** What the handler returned, when `succeeded`. */
  result?: unknown;
  /** Why, in every state but `succeeded`. */
  error?: ErrorInfo;
  /** ISO time the `TASKS` stream stored the submission (all but `rejected`). */
  submittedAt?: string;
  /** ISO start of the last attempt, once one started. */
  startedAt?: string;
  /** ISO time the terminal state was reached. */
  finishedAt: string;
  /** One record per attempt, in all states but `succeeded`, once an attempt ended. */
  history?: AttemptRecord[];
}

/** A progress report of a running task, on `tasks.progress.<id>` (section 5). */
export interface ProgressEvent {
  /** Task id. */
  id: string;
  /** Between 0 and 1. */
  progress: number;
  /** At most 500 characters. */
  message?: string;
  /** Which attempt reports: each reports from its own start. */
  attempt: number;
  /** The worker that runs it. */
  worker: string;
}

/** What `tasks.status` answers for a task the leader holds (section 6.1). */
export interface TaskStatusView {
  /** Task id. */
  id: string;
  /** Task type. */
  type: string;
  /** Where the task is. */
  state: ActiveState;
  /** Attempts started so far. */
  attempts: number;
  /** 0..9. */
  priority: number;
  /** ISO time the stream stored the submission. */
  submittedAt: string;
  /** The worker, once dispatched. */
  worker?: string;
  /** ISO deadline, when it has one. */
  deadline?: string;
  /** Dependencies not yet finished. */
  waitingOn?: string[];
}

/** `tasks.status`: the view of a held task, or the stored result of one that ended. */
export type TaskStatus = TaskStatusView | TaskResult;

/** A successful answer of `tasks.cancel` (section 6.2). */
export interface CancelReply {
  /** Always true here: a refusal throws. */
  ok: true;
  /** Task id. */
  id: string;
  /** `cancelled` (it had not started: ended now) or `cancelling` (its worker is told to stop). */
  state: "cancelled" | "cancelling";
  /** The state it was in. */
  was: ActiveState;
}

/**
 * A `tasks.list` query (section 6.3); every field is optional. Without
 * `state` it lists every task the leader holds; `state: "dead"` lists the
 * dead letters (failed tasks) instead.
 */
export interface ListQuery {
  /** A held state, or `dead` for the dead letters. */
  state?: ActiveState | "dead";
  /** Only tasks of this type. */
  type?: string;
  /** Most entries in the page: 1..1000 (default 100). */
  limit?: number;
  /** The `next` of the page before. */
  after?: string;
}

/** A `tasks.list` query for held tasks. */
export interface HeldListQuery extends ListQuery {
  /** A held state; none: every held task. */
  state?: ActiveState;
}

/** A `tasks.list` query for the dead letters. */
export interface DeadListQuery extends ListQuery {
  /** The dead letters. */
  state: "dead";
}

/** A dead letter as `tasks.list` shows it: a failed task, kept 30 days (section 4.6). */
export interface DeadLetter {
  /** Task id. */
  id: string;
  /** Task type. */
  type: string;
  /** Its terminal state (`failed`). */
  state: TerminalState;
  /** Attempts it had. */
  attempts: number;
  /** ISO time it ended. */
  finishedAt?: string;
  /** Why the last attempt failed. */
  error?: ErrorInfo;
}

/** One page of `tasks.list`, oldest submission first. */
export interface TaskPage<T> {
  /** The entries. */
  tasks: T[];
  /** Pass it as `after` for the next page; absent on the last page. */
  next?: string;
}

/** What `retry` gives (section 6.4): the failed task was submitted again. */
export interface RetryResult {
  /** Task id. */
  id: string;
  /** Always `resubmitted`. */
  state: "resubmitted";
  /** The `RESULTS` sequence of the failed result the new outcome replaces. */
  replaces: number;
  /** The stream took it for a repeat of the same retry (within 2 minutes). */
  duplicate: boolean;
  /**
   * Follows the new run: `result()` waits for the outcome that replaces the
   * failed one (the failed result still stored meanwhile is not taken).
   */
  task: TaskHandle;
}

/** The fields of a submission besides type and payload (section 3.1). */
export interface SubmitOptions {
  /** Task id (one subject token, 1–128 of `A–Z a–z 0–9 _ - :`); generated when left out. */
  id?: string;
  /** 0..9, higher runs first (default 5). */
  priority?: number;
  /** Must start by then, else `expired`: a Date or an ISO date-time with a zone. */
  deadline?: Date | string;
  /** Limit of one attempt, ms. */
  timeoutMs?: number;
  /** 1..100. */
  maxAttempts?: number;
  /** Capabilities a worker must all have. */
  requires?: string[];
  /** Ids of tasks that must succeed first. */
  dependsOn?: string[];
  /**
   * Subscribe to `tasks.progress.<id>` before publishing, so that
   * `progress()` sees every report (up to 1,000 are kept until read). Without
   * it `progress()` starts listening when it is called.
   */
  progress?: boolean;
}

/** One task of `submitBatch` (its type is the batch's): an `id` is required. */
export interface BatchItem extends SubmitOptions {
  /** Task id, unique in the batch. */
  id: string;
  /** The handler's input: any JSON value. */
  payload: unknown;
}

/** One item of `submitMany`. */
export interface SubmitItem extends SubmitOptions {
  /** Task type. */
  type: string;
  /** The handler's input: any JSON value. */
  payload: unknown;
}

/** A worker node's full status (section 7.3), as folded from its deltas. */
export interface NodeStatus {
  /** Node id. */
  node: string;
  /** Epoch ms this incarnation started: a new one means a restart. */
  incarnation: number;
  /** `up`, `draining`, `leaving` or `lost`. */
  state: "up" | "draining" | "leaving" | "lost";
  /** Sequence number of the last delta folded in. */
  seq: number;
  /** Machine CPU, percent of all cores. */
  cpuLoad: number;
  /** Resident memory of the process, bytes. */
  memoryUsed: number;
  /** Attempts running. */
  tasksProcessing: number;
  /** Attempts waiting for a thread of the pool. */
  tasksQueued: number;
  /** What its workers offer. */
  capabilities: string[];
  /** Task types its workers run. */
  types: string[];
  /** Worker actors. */
  workers: number;
  /** Attempts the workers run at once, in all. */
  concurrency: number;
  /** 0..100. */
  health: number;
  /** Attempts not succeeded in the last minute. */
  recentFailures: number;
  /** Totals of this incarnation. */
  tasksSucceeded: number;
  /** Totals of this incarnation. */
  tasksFailed: number;
  /** Epoch ms of the last heartbeat. */
  heartbeatAt: number;
  /** Fields this client does not know. */
  [field: string]: unknown;
}

/** A scheduler process as folded from `monitor.scheduler.<id>` (section 7.4). */
export interface SchedulerStatus {
  /** Scheduler id, `<node>-<8 hex digits>`. */
  id: string;
  /** Sequence number of the last delta folded in. */
  seq: number;
  /** `leader` or `follower`. */
  role?: "leader" | "follower";
  /** Its node id. */
  node?: string;
  /** The leader's term. */
  epoch?: number;
  /** Every other field of its deltas (counts, the last event, storage). */
  [field: string]: unknown;
}

/** A task as folded from `monitor.task.<id>` (section 7.2), while it has not ended. */
export interface TaskMonitorState {
  /** Task id. */
  id: string;
  /** Sequence number of the last delta folded in. */
  seq: number;
  /** Its state. */
  state?: TaskState;
  /** Every other field of its deltas. */
  [field: string]: unknown;
}

/** The whole picture folded from `monitor.>`. */
export interface MonitorView {
  /** Worker nodes by id, each complete (section 7.3). */
  nodes: Record<string, NodeStatus>;
  /** Scheduler processes by id. */
  schedulers: Record<string, SchedulerStatus>;
  /** The leading scheduler's id, when one is known. */
  leader: string | null;
  /** Tasks by state, as the leader last reported them (`held`, `queued`, `running`, ...). */
  counts: Record<string, number>;
  /** Tasks not ended, when the watch follows tasks (`watch({ tasks: true })`). */
  tasks: Record<string, TaskMonitorState>;
  /** Deltas folded in. */
  applied: number;
  /** Gaps in sequence numbers seen (each made the client ask for a snapshot). */
  gaps: number;
  /** Snapshots asked for and applied. */
  snapshots: number;
}

/** One change of a {@link MonitorView}: what changed, and the whole view after it. */
export interface MonitorUpdate {
  /** `snapshot` (a snapshot was applied), or the kind of entity that changed. */
  kind: "snapshot" | "node" | "scheduler" | "task";
  /** The entity's id (not for `snapshot`). */
  id?: string;
  /** The view after the change: a copy, safe to keep. */
  view: MonitorView;
}

/** A schedule spec as written (section 8.1). */
export interface ScheduleSpec {
  /** 1–64 of `A–Z a–z 0–9 _ -`. */
  name: string;
  /** A duration, `"30s"`, `"1h30m"`. */
  every?: string;
  /** With `every`: a duration shorter than it. */
  offset?: string;
  /** `"HH:MM"` or `"HH:MM:SS"` on the zone's wall clock. */
  daily?: string;
  /** Days and a time. */
  weekly?: { days: string[] | string; at: string };
  /** 5 or 6 cron fields. */
  cron?: string;
  /** IANA time zone (default UTC). */
  tz?: string;
  /** No tick before (ISO). */
  start?: string;
  /** No tick after (ISO). */
  end?: string;
  /** Most ticks ever fired. */
  limit?: number;
  /** Up to this much late per tick, ms. */
  jitterMs?: number;
  /** What ticks more than a minute late do. */
  catchup?: "skip" | "one" | "all";
  /** How far back `one` and `all` look: a duration. */
  catchupWindow?: string;
  /** A tick while a run has not ended. */
  overlap?: "skip" | "allow" | "buffer-one" | "cancel-previous";
  /** Create it paused. */
  paused?: boolean;
  /** The task each tick submits. */
  task: {
    /** Task type. */
    type: string;
    /** Input (default `{}`). */
    payload?: unknown;
    /** 0..9. */
    priority?: number;
    /** Limit of one attempt, ms. */
    timeoutMs?: number;
    /** 1..100. */
    maxAttempts?: number;
    /** Capabilities. */
    requires?: string[];
    /** A duration after the tick's nominal time. */
    deadline?: string;
  };
}

/** One run of a schedule in its view's `recent` (section 8.4). */
export interface ScheduleRun {
  /** The run's task id. */
  id: string;
  /** ISO nominal time; null for a trigger. */
  nominal: string | null;
  /** True for a trigger. */
  trigger?: boolean;
  /** ISO time it fired. */
  firedAt: string;
  /** Ticks only: from fire time to stored submission. */
  lateMs?: number;
  /** ISO time it ended, or null. */
  finishedAt: string | null;
  /** Its terminal state, once it ended. */
  state?: TerminalState;
  /** When it did not succeed. */
  error?: ErrorInfo;
}

/** A stored schedule with its state (section 8.4): the spec with defaults filled in, and more. */
export interface ScheduleView extends ScheduleSpec {
  /** Whether it is paused now. */
  paused: boolean;
  /** Its state. */
  state: {
    /** Paused now. */
    paused: boolean;
    /** The last note given. */
    note?: string;
    /** ISO time or null. */
    pausedAt: string | null;
    /** Ticks fired by the timetable. */
    runs: number;
    /** ISO time up to which ticks are settled, or null. */
    lastTick: string | null;
    /** Ids of runs not ended. */
    active: string[];
    /** Nominal time of a tick held by `buffer-one`, or null. */
    buffered: string | null;
    /** Counts. */
    counts: { fired: number; skipped: number; missed: number; triggered: number };
    /** ISO time. */
    createdAt: string;
    /** ISO time. */
    updatedAt: string;
  };
  /** Next fire times; empty when paused. */
  next: { at: string; local: string }[];
  /** The last 20 runs, oldest first. */
  recent: ScheduleRun[];
}

/** What `auth.login` gives (section 2.2). */
export interface LoginResult {
  /** The token (the client uses it from now on). */
  token: string;
  /** ISO expiry. */
  expiresAt: string;
  /** The user's roles. */
  roles: string[];
  /** Task types it may submit, when limited. */
  types?: string[];
}

/** A submitted (or looked-up) task. */
export interface TaskHandle {
  /** The task id. */
  readonly id: string;
  /** The task type, when this client submitted it. */
  readonly type: string | undefined;
  /**
   * Where JetStream stored the submission (`TASKS` and its sequence), when
   * this client submitted it; `duplicate` when the stream took it for a
   * repeat of the same `Nats-Msg-Id`.
   */
  readonly stored: { stream: string; seq: number; duplicate: boolean } | undefined;
  /** The terminal result once this handle has seen it, else undefined. */
  readonly settled: TaskResult | undefined;
  /**
   * The terminal result: `succeeded`, `failed`, `expired` or `cancelled`.
   * A `rejected` submission rejects with a `TaskRejectedError` (the
   * task never ran; its code says why). Resolves with the first terminal
   * result seen for this submission, live or read from `RESULTS`; later calls
   * give the same.
   *
   * @param opts.timeoutMs give up after this long (`WAIT_TIMEOUT`); default: wait on
   * @param opts.signal give up when it aborts (`ABORTED`)
   */
  result(opts?: { timeoutMs?: number; signal?: AbortSignal }): Promise<TaskResult>;
  /**
   * The handler's return value when the task succeeded; otherwise throws a
   * `TaskFailedError` (or `TaskRejectedError`) carrying the result.
   */
  value(opts?: { timeoutMs?: number; signal?: AbortSignal }): Promise<unknown>;
  /**
   * Progress reports as they come (core NATS: not stored, so only those sent
   * while listening; see `SubmitOptions.progress`). Ends when the task ends.
   */
  progress(): AsyncIterableIterator<ProgressEvent>;
  /** Ask the leader to cancel it (`tasks.cancel`); a refusal throws a `RequestRefusedError`. */
  cancel(): Promise<CancelReply>;
  /** Ask the leader where it is (`tasks.status`): its view, or its stored result. */
  status(): Promise<TaskStatus>;
}

/**
 * A live, folded view of `monitor.>`: iterate it for updates (each carries
 * the whole view after the change), read `view` at any time, `stop()` when
 * done.
 */
export interface MonitorWatch extends AsyncIterable<MonitorUpdate> {
  /** The view now (a copy). */
  readonly view: MonitorView;
  /** Resolves once the first snapshot was applied (or none could be had). */
  readonly ready: Promise<void>;
  /** Updates dropped because the reader fell more than `buffer` behind. */
  readonly dropped: number;
  /** Stop following; the iteration ends. */
  stop(): void;
}

/** What `onNodeStatus` returns. */
export interface NodeStatusSubscription {
  /** Resolves once the first snapshot was delivered (or none could be had). */
  readonly ready: Promise<void>;
  /** The nodes now, each complete. */
  readonly nodes: Record<string, NodeStatus>;
  /** Stop the callbacks. */
  stop(): void;
}

/** The schedule requests (`docs/PROTOCOL.md`, section 8.3); refusals throw a `RequestRefusedError`. */
export interface Schedules {
  /** Create or change a schedule (admin). Putting the same spec again changes nothing. */
  put(spec: ScheduleSpec): Promise<{ created: boolean; changed: boolean; schedule: ScheduleView }>;
  /** One schedule with its state and its next `next` fire times (default 3). */
  get(name: string, opts?: { next?: number }): Promise<ScheduleView>;
  /** Every schedule, by name. */
  list(opts?: { next?: number }): Promise<ScheduleView[]>;
  /** Pause it (admin), with an optional note (at most 500 characters). */
  pause(name: string, note?: string): Promise<ScheduleView>;
  /** Resume it (admin), with an optional note. */
  resume(name: string, note?: string): Promise<ScheduleView>;
  /**
   * Run it once now (admin), even when paused; the handle follows that run
   * (`result()` reads it from `RESULTS` when it ended already).
   */
  trigger(name: string): Promise<TaskHandle>;
  /** Delete it (admin); runs in progress go on. */
  delete(name: string): Promise<void>;
}
