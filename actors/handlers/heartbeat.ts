/**
 * The `heartbeat` task type: writes one line to the worker's log and returns
 * when and where it ran, as the Python job runner's hourly
 * `log_event("Scheduler heartbeat")` job did. Scheduled every so often, its
 * results show that the whole chain (schedule, scheduler, queue, worker) is
 * alive, and which worker process picked each tick up.
 *
 * `node.hostname` needs `--allow-sys=hostname`; without it the field is left
 * out rather than the task failing.
 *
 * @module
 */

import { show } from "../../src/mod.ts";
import { type HandlerDefinition, type TaskHandler, Unrecoverable } from "../../src/mod.ts";
import { payloadObject } from "./_payload.ts";

/** `{}` or `{ "message": "scheduler heartbeat" }` */
export interface HeartbeatPayload {
  /** The line to log: 1 to {@link MAX_MESSAGE} characters; default "scheduler heartbeat". */
  message?: string;
}

/** The worker process that ran the heartbeat. */
export interface HeartbeatNode {
  /** The machine's host name; absent when the worker may not read it. */
  hostname?: string;
  /** The worker process's id. */
  pid: number;
}

/** What was logged, when, and by which process. */
export interface HeartbeatResult {
  message: string;
  /** When the line was logged: ISO 8601, UTC. */
  at: string;
  node: HeartbeatNode;
}

/** The default message. */
export const DEFAULT_MESSAGE = "scheduler heartbeat";
/** The longest message accepted, in UTF-16 code units. */
export const MAX_MESSAGE = 1000;
const FIELDS = ["message"];

/** Check an untrusted payload and fill in the default; throws {@link Unrecoverable} naming the bad field. */
export function parseHeartbeatPayload(payload: unknown): Required<HeartbeatPayload> {
  const { message = DEFAULT_MESSAGE } = payloadObject(payload, "heartbeat", FIELDS);
  if (typeof message !== "string" || message === "" || message.length > MAX_MESSAGE) {
    throw new Unrecoverable(
      `payload.message must be a string of 1 to ${MAX_MESSAGE} characters: got ${show(message)}`,
    );
  }
  return { message };
}

function hostname(): string | undefined {
  try {
    return Deno.hostname();
  } catch (err) {
    if (err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.NotCapable) {
      return undefined;
    }
    throw err;
  }
}

const heartbeat: TaskHandler<unknown, HeartbeatResult> = async function* (payload, ctx) {
  const { message } = parseHeartbeatPayload(payload);
  ctx.signal.throwIfAborted();
  const at = new Date().toISOString();
  const host = hostname();
  const node: HeartbeatNode = host === undefined
    ? { pid: Deno.pid }
    : { hostname: host, pid: Deno.pid };
  ctx.log.info(message, { task: ctx.id, ...node });
  yield { progress: 1, message };
  return { message, at, node };
};

/**
 * The `heartbeat` handler.
 *
 * @example
 * ```ts
 * // tasks.submit.heartbeat with {} logs "scheduler heartbeat" and completes with
 * // { "message": "scheduler heartbeat", "at": "2026-01-31T12:00:00.000Z",
 * //   "node": { "hostname": "worker-1", "pid": 4242 } }
 * ```
 */
export const definition: HandlerDefinition<unknown, HeartbeatResult> = {
  type: "heartbeat",
  handler: heartbeat,
};
