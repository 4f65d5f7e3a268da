/**
 * One error type for the whole system. Across NATS an error travels as
 * `{ code, message }`; receivers match on `code`, never on `instanceof`.
 *
 * @module
 */

/** Every error code the system produces, on the wire and in process. */
export const ErrorCodes = [
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
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "RESOURCE_EXHAUSTED",
  "ABANDONED",
  "MAILBOX_FULL",
  "ACTOR_STOPPED",
  "ESCALATED",
  "CONFIG",
  "TRANSPORT",
  "INTERNAL",
] as const;

/** A machine-readable error code. */
export type ErrorCode = typeof ErrorCodes[number];

/** The wire form of an error. */
export interface ErrorInfo {
  /** What went wrong, as a code to match on. */
  code: ErrorCode;
  /** For people: names the problem; may change. */
  message: string;
}

/**
 * The base error: a `code` from {@link ErrorCodes}, a human message that names
 * the problem, and an optional `cause`.
 *
 * @example
 * ```ts
 * throw new SchedulerError("INVALID_ARGUMENT", "priority must be an integer from 0 to 9: got 1.5");
 * ```
 */
export class SchedulerError extends Error {
  /** The error's name. */
  override name = "SchedulerError";
  /** What went wrong, as a code to match on. */
  readonly code: ErrorCode;

  /** An error with a code and a message that names the problem. */
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** The wire form. */
  toInfo(): ErrorInfo {
    return { code: this.code, message: this.message };
  }
}

/** Is `value` a known error code? */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && (ErrorCodes as readonly string[]).includes(value);
}

/** Turn anything thrown into the wire form, keeping a code when there is one. */
export function toErrorInfo(err: unknown, fallback: ErrorCode = "INTERNAL"): ErrorInfo {
  if (err instanceof SchedulerError) return err.toInfo();
  if (err instanceof Error) return { code: fallback, message: err.message || err.name };
  return { code: fallback, message: String(err) };
}

/** Render a value for an error message: short, quoted when a string. */
export function show(value: unknown, max = 60): string {
  let text: string;
  if (typeof value === "string") text = JSON.stringify(value);
  else if (value === undefined) text = "undefined";
  else if (typeof value === "bigint") text = `${value}n`;
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = Object.prototype.toString.call(value);
    }
  }
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
