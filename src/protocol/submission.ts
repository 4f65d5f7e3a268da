/**
 * Decoding a submission from `tasks.submit.<type>`: bytes and headers in, a
 * typed task or a rejection that names the field, the rule and the value out.
 * Nothing here throws on input.
 *
 * @module
 */

import { type ErrorInfo, show } from "../errors.ts";
import type { TaskId } from "./task.ts";

/** The limits a submission is checked against. */
export interface SubmissionLimits {
  /** Largest body accepted, in bytes. */
  maxPayloadBytes: number;
  /** Largest `timeoutMs`. */
  maxTimeoutMs: number;
  /** Largest `maxAttempts`. */
  maxAttempts: number;
  defaultTimeoutMs: number;
  defaultMaxAttempts: number;
  defaultPriority: number;
}

/** Defaults used when a deployment sets nothing. */
export const DEFAULT_LIMITS: SubmissionLimits = {
  maxPayloadBytes: 1024 * 1024,
  maxTimeoutMs: 24 * 3600_000,
  maxAttempts: 100,
  defaultTimeoutMs: 30_000,
  defaultMaxAttempts: 3,
  defaultPriority: 5,
};

/** The fields of a task body, after validation, before authorisation. */
export interface SubmissionDraft {
  id: TaskId;
  type: string;
  payload: unknown;
  priority: number;
  deadline: number;
  timeoutMs: number;
  maxAttempts: number;
  requires: string[];
  dependsOn: TaskId[];
  /** Whether the id was chosen by the client (body or Nats-Msg-Id) or generated. */
  idSource: "body" | "header" | "generated";
}

/** The outcome of decoding: a draft, or a rejection with the id to answer on. */
export type Decoded =
  | { ok: true; draft: SubmissionDraft }
  | { ok: false; id: TaskId; type: string; error: ErrorInfo };

const ID = /^[A-Za-z0-9_-][A-Za-z0-9_:-]{0,127}$/;
const CAPABILITY = /^[A-Za-z0-9_:-]{1,64}$/;
const TYPE = /^[A-Za-z0-9_-]{1,64}$/;
const FIELDS = new Set([
  "id",
  "payload",
  "priority",
  "deadline",
  "timeoutMs",
  "maxAttempts",
  "requires",
  "dependsOn",
]);

/** Is this a valid task id (one subject token, at most 128 characters)? */
export function isTaskId(value: unknown): value is TaskId {
  return typeof value === "string" && ID.test(value);
}

/** Is this a valid task type name? */
export function isTaskType(value: unknown): value is string {
  return typeof value === "string" && TYPE.test(value);
}

let generated = 0;
const nodePart = crypto.randomUUID().slice(0, 8);

/** A fresh task id, unique across processes. */
export function generateTaskId(): TaskId {
  generated = (generated + 1) >>> 0;
  return `t-${nodePart}-${Date.now().toString(36)}-${generated.toString(36)}` as TaskId;
}

class Invalid {
  constructor(readonly error: ErrorInfo) {}
}

function invalid(message: string): never {
  throw new Invalid({ code: "INVALID_ARGUMENT", message });
}

/**
 * Decode and validate a submission body. `headerId` is the `Nats-Msg-Id`
 * header, if any; `now` is epoch ms.
 */
export function decodeSubmission(
  type: string,
  body: Uint8Array,
  headerId: string | undefined,
  limits: SubmissionLimits,
  now: number,
): Decoded {
  const fallbackId = isTaskId(headerId) ? headerId : generateTaskId();
  const idSource = isTaskId(headerId) ? "header" as const : "generated" as const;
  const read = parseBody(body, limits);
  if (!read.ok) return reject(fallbackId, type, read.error.code, read.error.message);
  const parsed = read.value;
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    const kind = Array.isArray(parsed) ? "an array" : parsed === null ? "null" : typeof parsed;
    return reject(fallbackId, type, "INVALID_ARGUMENT", `body must be a JSON object: got ${kind}`);
  }
  const obj = parsed as Record<string, unknown>;
  let id = fallbackId;
  let source: SubmissionDraft["idSource"] = idSource;
  if ("id" in obj) {
    if (!isTaskId(obj.id)) {
      return reject(
        fallbackId,
        type,
        "INVALID_ARGUMENT",
        `id must be 1 to 128 letters, digits, "_", "-" or ":" (not starting with ":"): got ${
          show(obj.id)
        }`,
      );
    }
    id = obj.id;
    source = "body";
  }
  if (!isTaskType(type)) {
    return reject(id, type, "UNKNOWN_TYPE", `task type ${show(type)} is not a valid type name`);
  }
  try {
    return { ok: true, draft: validate(obj, id, type, source, limits, now) };
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, id, type, error: err.error };
    throw err;
  }
}

/** Most tasks one batch submission may carry. */
export const MAX_BATCH = 1_000;

/** A batch decoded: one outcome per task, in order, or one error for the whole message. */
export type DecodedBatch =
  | { ok: true; parts: Decoded[] }
  | { ok: false; id: TaskId; type: string; error: ErrorInfo };

/**
 * Is this body a batch (a JSON array)? Looks at the first byte that is not
 * JSON whitespace, so a batch is known before anything is parsed.
 */
export function isBatchBody(body: Uint8Array): boolean {
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
    return c === 0x5b; // [
  }
  return false;
}

/**
 * Decode a batch: a JSON array of task bodies, each as {@link decodeSubmission}
 * takes one, all of the subject's type, each with its own `id`. A task whose
 * fields fail their checks is refused alone, on its id. A batch that cannot
 * be answered task by task (too large, not JSON, empty, more than
 * {@link MAX_BATCH} tasks, a task that is not an object, has no valid id or
 * repeats one) is refused as a whole, on `headerId` (or a generated id) as a
 * single submission's would be.
 */
export function decodeBatch(
  type: string,
  body: Uint8Array,
  headerId: string | undefined,
  limits: SubmissionLimits,
  now: number,
): DecodedBatch {
  const fallbackId = isTaskId(headerId) ? headerId : generateTaskId();
  const whole = (code: ErrorInfo["code"], message: string): DecodedBatch => ({
    ok: false,
    id: fallbackId,
    type,
    error: { code, message },
  });
  const read = parseBody(body, limits);
  if (!read.ok) return whole(read.error.code, read.error.message);
  const parsed = read.value;
  if (!Array.isArray(parsed)) return whole("INVALID_ARGUMENT", "a batch must be a JSON array");
  if (parsed.length === 0) return whole("INVALID_ARGUMENT", "a batch must hold at least one task");
  if (parsed.length > MAX_BATCH) {
    return whole(
      "INVALID_ARGUMENT",
      `a batch may hold at most ${MAX_BATCH} tasks: got ${parsed.length}`,
    );
  }
  if (!isTaskType(type)) {
    return whole("UNKNOWN_TYPE", `task type ${show(type)} is not a valid type name`);
  }
  // Every task must be answerable on its own id: a task that is not an object, or has no
  // valid id, or repeats one, refuses the batch as a whole (nothing of it runs).
  const seen = new Set<string>();
  for (let i = 0; i < parsed.length; i++) {
    const item: unknown = parsed[i];
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      const kind = Array.isArray(item) ? "an array" : item === null ? "null" : typeof item;
      return whole("INVALID_ARGUMENT", `task ${i} of the batch must be a JSON object: got ${kind}`);
    }
    const id = (item as Record<string, unknown>).id;
    if (!isTaskId(id)) {
      return whole(
        "INVALID_ARGUMENT",
        id === undefined
          ? `task ${i} of the batch has no id: every task of a batch needs one`
          : `task ${i} of the batch: id must be 1 to 128 letters, digits, "_", "-" or ":" (not starting with ":"): got ${
            show(id)
          }`,
      );
    }
    if (seen.has(id)) {
      return whole("INVALID_ARGUMENT", `id ${show(id)} appears twice in the batch (task ${i})`);
    }
    seen.add(id);
  }
  const parts = (parsed as Record<string, unknown>[]).map((obj): Decoded => {
    const id = obj.id as TaskId;
    try {
      return { ok: true, draft: validate(obj, id, type, "body", limits, now) };
    } catch (err) {
      if (err instanceof Invalid) return { ok: false, id, type, error: err.error };
      throw err;
    }
  });
  return { ok: true, parts };
}

const decoder = new TextDecoder();

/** The body's JSON, or why there is none: too large, or not JSON. */
function parseBody(
  body: Uint8Array,
  limits: SubmissionLimits,
): { ok: true; value: unknown } | { ok: false; error: ErrorInfo } {
  if (body.byteLength > limits.maxPayloadBytes) {
    return {
      ok: false,
      error: {
        code: "PAYLOAD_TOO_LARGE",
        message: `body is ${body.byteLength} bytes: the limit is ${limits.maxPayloadBytes}`,
      },
    };
  }
  try {
    return { ok: true, value: JSON.parse(decoder.decode(body)) };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return {
      ok: false,
      error: { code: "INVALID_ARGUMENT", message: `body is not valid JSON: ${reason}` },
    };
  }
}

function reject(id: TaskId, type: string, code: ErrorInfo["code"], message: string): Decoded {
  return { ok: false, id, type, error: { code, message } };
}

function validate(
  obj: Record<string, unknown>,
  id: TaskId,
  type: string,
  idSource: SubmissionDraft["idSource"],
  limits: SubmissionLimits,
  now: number,
): SubmissionDraft {
  for (const key of Object.keys(obj)) {
    if (!FIELDS.has(key)) {
      invalid(`unknown field ${show(key)}: allowed are ${[...FIELDS].join(", ")}`);
    }
  }
  if (!("payload" in obj)) invalid("payload is required (use {} when the task needs none)");
  const priority = intField(obj.priority, "priority", 0, 9, limits.defaultPriority);
  const timeoutMs = intField(
    obj.timeoutMs,
    "timeoutMs",
    1,
    limits.maxTimeoutMs,
    limits.defaultTimeoutMs,
  );
  const maxAttempts = intField(
    obj.maxAttempts,
    "maxAttempts",
    1,
    limits.maxAttempts,
    limits.defaultMaxAttempts,
  );
  const deadline = deadlineField(obj.deadline, now);
  const requires = listField(
    obj.requires,
    "requires",
    32,
    (v) => CAPABILITY.test(v),
    "capability names",
  );
  const dependsOn = listField(
    obj.dependsOn,
    "dependsOn",
    100,
    (v) => ID.test(v),
    "task ids",
  ) as TaskId[];
  if (dependsOn.includes(id)) invalid(`dependsOn must not name the task itself: got ${show(id)}`);
  return {
    id,
    type,
    payload: obj.payload,
    priority,
    deadline,
    timeoutMs,
    maxAttempts,
    requires: [...new Set(requires)].sort(),
    dependsOn: [...new Set(dependsOn)],
    idSource,
  };
}

function intField(
  value: unknown,
  name: string,
  min: number,
  max: number,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    invalid(`${name} must be an integer from ${min} to ${max}: got ${show(value)}`);
  }
  return value;
}

function deadlineField(value: unknown, _now: number): number {
  if (value === undefined || value === null) return Infinity;
  if (typeof value !== "string") {
    invalid(`deadline must be an ISO 8601 date-time string: got ${show(value)}`);
  }
  // Date.parse accepts loose forms; demand a full date and time with a zone.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(value)) {
    invalid(
      `deadline must be an ISO 8601 date-time with a time zone, e.g. "2026-11-22T10:00:00Z": got ${
        show(value)
      }`,
    );
  }
  const ms = Date.parse(value);
  if (!Number.isFinite(ms) || !dayExists(value)) {
    invalid(`deadline is not a real date: got ${show(value)}`);
  }
  return ms;
}

/** V8 rolls "2026-02-30" over to March 2; a day past the month's end is refused instead. */
function dayExists(iso: string): boolean {
  const [y, m, d] = iso.slice(0, 10).split("-").map(Number);
  const last = new Date(0);
  last.setUTCFullYear(y, m, 0); // day 0 of the next month: the last day of month m
  return d >= 1 && d <= last.getUTCDate();
}

function listField(
  value: unknown,
  name: string,
  max: number,
  ok: (v: string) => boolean,
  what: string,
): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) invalid(`${name} must be an array of ${what}: got ${show(value)}`);
  if (value.length > max) invalid(`${name} may hold at most ${max} entries: got ${value.length}`);
  for (const v of value) {
    if (typeof v !== "string" || !ok(v)) invalid(`${name} must hold only ${what}: got ${show(v)}`);
  }
  return value as string[];
}
