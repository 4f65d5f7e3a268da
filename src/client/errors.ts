/**
 * The client's errors: one base class with a `code`, and a subclass per kind
 * of failure. Codes of the wire contract (`docs/PROTOCOL.md`, section 4.4)
 * keep their names; the client adds its own for what happens before or
 * around the wire (a stream that refuses a publish, a request nobody answers).
 *
 * @module
 */

import type { TaskResult } from "./types.ts";

/** The error codes of the wire contract (`docs/PROTOCOL.md`, section 4.4). */
export const WIRE_ERROR_CODES = [
  "INVALID_ARGUMENT",
  "UNKNOWN_TYPE",
  "UNAUTHENTICATED",
  "PERMISSION_DENIED",
  "PAYLOAD_TOO_LARGE",
  "DEADLINE_EXCEEDED",
  "TIMEOUT",
  "HANDLER_ERROR",
  "UNRECOVERABLE",
  "CANCELLED",
  "DEPENDENCY_FAILED",
  "ABANDONED",
  "NOT_FOUND",
  "RESOURCE_EXHAUSTED",
  "INTERNAL",
] as const;

/** A code of the wire contract: what the scheduler answers or a result carries. */
export type WireErrorCode = typeof WIRE_ERROR_CODES[number];

/** The codes the client adds for failures before or around the wire. */
export const CLIENT_ERROR_CODES = [
  /** JetStream refused the submission: `TASKS` holds as many messages or bytes as it may. */
  "STREAM_FULL",
  /** JetStream refused the submission: its storage, or the account's, is used up. */
  "STORAGE_FULL",
  /** No stream stores `tasks.submit.<type>`: no scheduler has ever started on this NATS. */
  "NO_STREAM",
  /** Nothing answered a request: no scheduler leads (retry in a second or two), or none runs. */
  "NO_RESPONDERS",
  /** No reply (or no PubAck) in time. */
  "REQUEST_TIMEOUT",
  /** `result()` waited its `timeoutMs` without a terminal result. */
  "WAIT_TIMEOUT",
  /** An `AbortSignal` ended the wait. */
  "ABORTED",
  /** The client was closed. */
  "CONNECTION_CLOSED",
  /** A reply that is not what the contract says. */
  "BAD_REPLY",
  /** Any other failure of the NATS connection (a permission violation, say). */
  "TRANSPORT",
] as const;

/** A code the client adds. */
export type ClientErrorCode = typeof CLIENT_ERROR_CODES[number];

/** Every code a {@link SchedulerClientError} may carry. */
export type ErrorCode = WireErrorCode | ClientErrorCode;

/** An error as the wire carries it. */
export interface ErrorInfo {
  /** The machine-readable code; match on it. */
  code: string;
  /** For people; may change. */
  message: string;
}

/** Is `code` one of the wire contract's codes? */
export function isWireErrorCode(code: unknown): code is WireErrorCode {
  return typeof code === "string" && (WIRE_ERROR_CODES as readonly string[]).includes(code);
}

/**
 * The base of every error the client throws: `code` says what went wrong,
 * `message` says it for people.
 *
 * @example
 * ```ts
 * import { SchedulerClientError } from "./mod.ts";
 * try {
 *   // await c.schedules.get("nope");
 * } catch (err) {
 *   if (err instanceof SchedulerClientError && err.code === "NOT_FOUND") console.log("none");
 * }
 * ```
 */
export class SchedulerClientError extends Error {
  /** The code: one of the wire contract's, or one the client adds. */
  readonly code: ErrorCode;

  /** An error with a code, a message and an optional cause. */
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SchedulerClientError";
    this.code = code;
  }

  /** The wire form, `{ code, message }`. */
  toJSON(): ErrorInfo {
    return { code: this.code, message: this.message };
  }
}

/**
 * The scheduler refused a submission: the task never ran. `code` is the
 * rejection's (`UNAUTHENTICATED`, `PERMISSION_DENIED`, `INVALID_ARGUMENT`,
 * `UNKNOWN_TYPE`, `PAYLOAD_TOO_LARGE`, `RESOURCE_EXHAUSTED`), `result` the
 * `rejected` result as published. The id may be submitted again.
 */
export class TaskRejectedError extends SchedulerClientError {
  /** The `rejected` result. */
  readonly result: TaskResult;

  /** Build it from a `rejected` result. */
  constructor(result: TaskResult) {
    const code = isWireErrorCode(result.error?.code) ? result.error.code : "INTERNAL";
    super(code, `task ${result.id} rejected: ${result.error?.message ?? "no reason given"}`);
    this.name = "TaskRejectedError";
    this.result = result;
  }
}

/**
 * A task ended other than `succeeded` (`failed`, `expired` or `cancelled`):
 * thrown by `TaskHandle.value()`, never by `result()`, which resolves with
 * every terminal result but `rejected`.
 */
export class TaskFailedError extends SchedulerClientError {
  /** The terminal result. */
  readonly result: TaskResult;

  /** Build it from a terminal result that is not `succeeded`. */
  constructor(result: TaskResult) {
    const code = isWireErrorCode(result.error?.code) ? result.error.code : "INTERNAL";
    super(code, `task ${result.id} ${result.state}: ${result.error?.message ?? "no reason given"}`);
    this.name = "TaskFailedError";
    this.result = result;
  }
}

/**
 * A scheduler answered a request (`tasks.status`, `tasks.cancel`,
 * `schedules.*`, `auth.login`) with an error: `code` is the reply's,
 * `reply` the whole reply body.
 */
export class RequestRefusedError extends SchedulerClientError {
  /** The subject the request went to. */
  readonly subject: string;
  /** The reply, as JSON. */
  readonly reply: unknown;

  /** Build it from a reply's `error`. */
  constructor(subject: string, error: ErrorInfo, reply: unknown) {
    super(isWireErrorCode(error.code) ? error.code : "INTERNAL", error.message);
    this.name = "RequestRefusedError";
    this.subject = subject;
    this.reply = reply;
  }
}

/**
 * JetStream did not store a submission: `STREAM_FULL`, `STORAGE_FULL`,
 * `NO_STREAM`, or `REQUEST_TIMEOUT` when no PubAck came (the submission may
 * or may not be stored: submitting the same id again is safe). Nothing
 * reaches `tasks.result.<id>` for a refused publish.
 */
export class PublishRefusedError extends SchedulerClientError {
  /** The task id of the submission. */
  readonly id: string;
  /** JetStream's `err_code` (10077, 10023, ...), when it gave one. */
  readonly errCode: number | undefined;

  /** Build it from a PubAck's error. */
  constructor(
    code: ErrorCode,
    id: string,
    message: string,
    errCode?: number,
    options?: { cause?: unknown },
  ) {
    super(code, `submission ${id} not stored: ${message}`, options);
    this.name = "PublishRefusedError";
    this.id = id;
    this.errCode = errCode;
  }
}
