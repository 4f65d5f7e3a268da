/**
 * The operator's requests: `tasks.list` (held tasks by state and type, or the
 * dead letters; paged; viewer), `tasks.retry` (a failed task runs again with a
 * fresh attempt budget; admin) and `tasks.purge` (dead letters, one or all;
 * admin). Each answers with JSON; refusals go on the audit trail like other
 * requests.
 *
 * A retry does not bypass the stream: the leader reads the task's dead letter
 * (its payload and settings) and publishes it again on `tasks.submit.<type>`
 * under the operator's token, with a mark only a scheduler can sign naming the
 * stored result it replaces. The submission is checked like any other; the
 * mark lets it run although a result is stored, and lets its outcome replace
 * that result. Its history keeps the earlier attempts and a `retried` record.
 *
 * @module
 */

import {
  authorize,
  type InMsg,
  isTaskId,
  isTaskType,
  type Principal,
  SchedulerError,
  type TaskResult,
  type TaskState,
} from "../../src/internal_mod.ts";
import type { SchedulerCore, StatusView } from "./core.ts";
import { RETRY_HEADER, retrySignature } from "./results.ts";
import { decoder, encoder, type Kit } from "./types.ts";
import { PART_SEQ_SCALE } from "./batch.ts";

/** Most entries one `tasks.list` answer carries. */
export const LIST_MAX = 1_000;

const HELD_STATES: readonly string[] = [
  "waiting",
  "queued",
  "dispatched",
  "running",
  "retrying",
];

/** A `tasks.list` request, checked. */
export interface ListQuery {
  /** A held state, `dead` for dead letters, or none for every held task. */
  state?: string;
  type?: string;
  limit: number;
  /** Cursor from the previous page's `next`. */
  after?: number;
}

/** One dead letter in a `tasks.list` answer. */
export interface DeadView {
  id: string;
  type: string;
  state: TaskState;
  attempts: number;
  finishedAt?: string;
  error?: unknown;
}

/** Read a request body as a JSON object, or say why not. */
export function bodyOf(msg: InMsg): Record<string, unknown> {
  let body: unknown;
  try {
    body = msg.data.length ? JSON.parse(decoder.decode(msg.data)) : {};
  } catch (err) {
    throw new SchedulerError(
      "INVALID_ARGUMENT",
      `body is not valid JSON: ${(err as Error).message}`,
    );
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new SchedulerError("INVALID_ARGUMENT", "body must be a JSON object");
  }
  return body as Record<string, unknown>;
}

/** Check a `tasks.list` body: `{state?, type?, limit?, after?}`. */
export function parseList(body: Record<string, unknown>): ListQuery {
  for (const k of Object.keys(body)) {
    if (!["state", "type", "limit", "after"].includes(k)) {
      throw new SchedulerError(
        "INVALID_ARGUMENT",
        `unknown field ${JSON.stringify(k)} (known: state, type, limit, after)`,
      );
    }
  }
  const { state, type, limit = 100, after } = body;
  if (
    state !== undefined && (typeof state !== "string" || ![...HELD_STATES, "dead"].includes(state))
  ) {
    throw new SchedulerError(
      "INVALID_ARGUMENT",
      `state must be one of ${[...HELD_STATES, "dead"].join(", ")}: got ${JSON.stringify(state)}`,
    );
  }
  if (type !== undefined && !isTaskType(type)) {
    throw new SchedulerError(
      "INVALID_ARGUMENT",
      `type is not a task type: ${JSON.stringify(type)}`,
    );
  }
  if (!Number.isInteger(limit) || (limit as number) < 1 || (limit as number) > LIST_MAX) {
    throw new SchedulerError(
      "INVALID_ARGUMENT",
      `limit must be an integer 1..${LIST_MAX}: got ${JSON.stringify(limit)}`,
    );
  }
  if (after !== undefined && (typeof after !== "string" || !/^[0-9]{1,16}$/.test(after))) {
    throw new SchedulerError(
      "INVALID_ARGUMENT",
      `after must be the "next" of an earlier page: got ${JSON.stringify(after)}`,
    );
  }
  return {
    state: state as string | undefined,
    type: type as string | undefined,
    limit: limit as number,
    // The cursor is a submission's order scaled to an integer (a batch's tasks have fractions).
    after: after === undefined ? undefined : Number(after) / PART_SEQ_SCALE,
  };
}

/**
 * Held tasks matching `q`, in submission order, after the cursor. O(n) in the
 * tasks held: an operator's request, not a hot path.
 */
export function listHeld(
  core: SchedulerCore,
  q: ListQuery,
): { tasks: StatusView[]; next?: string } {
  const picked: { seq: number; id: string }[] = [];
  for (const e of core.tasks.values()) {
    if (e.result) continue;
    if (q.state && e.state !== q.state) continue;
    if (q.type && e.type !== q.type) continue;
    if (q.after !== undefined && e.seq <= q.after) continue;
    picked.push({ seq: e.seq, id: e.id });
  }
  picked.sort((a, b) => a.seq - b.seq);
  const page = picked.slice(0, q.limit);
  const tasks = page.map((p) => core.status(p.id) as StatusView);
  const more = picked.length > q.limit;
  return more ? { tasks, next: String(page[page.length - 1].seq * PART_SEQ_SCALE) } : { tasks };
}

/** The operator's requests of one scheduler. */
export interface Operator {
  /** Dead letters matching `q`, oldest first, after the cursor (a stream sequence). */
  listDead(q: ListQuery): Promise<{ tasks: DeadView[]; next?: string }>;
  /**
   * Submit a failed task again (the caller checked it is not held): resolves
   * with what the requester is told.
   */
  retry(principal: Principal, authorization: string, id: string): Promise<Record<string, unknown>>;
  /** Remove the dead letter of `id`, or every dead letter. */
  purge(principal: Principal, target: { id?: string; all?: boolean }): Promise<number>;
}

/** Build the operator's requests of one scheduler. */
export function operator(kit: Kit): Operator {
  const { transport, subj, deps } = kit;

  async function listDead(q: ListQuery): Promise<{ tasks: DeadView[]; next?: string }> {
    const tasks: DeadView[] = [];
    let from = (q.after ?? 0) + 1;
    let last = 0;
    // Filtering by type happens here: read in pages until one is full or the stream ends.
    for (;;) {
      const batch = await transport.readStream(subj.deadLetterStream, {
        fromSeq: from,
        limit: q.limit + 1,
      });
      for (const m of batch) {
        const d = JSON.parse(decoder.decode(m.data)) as TaskResult;
        if (q.type && d.type !== q.type) continue;
        if (tasks.length === q.limit) return { tasks, next: String(last) };
        tasks.push({
          id: d.id,
          type: d.type,
          state: d.state,
          attempts: d.attempts,
          finishedAt: d.finishedAt,
          error: d.error,
        });
        last = m.seq;
      }
      if (batch.length <= q.limit) return { tasks };
      from = batch[batch.length - 1].seq + 1;
    }
  }

  async function retry(
    principal: Principal,
    authorization: string,
    id: string,
  ): Promise<Record<string, unknown>> {
    authorize(principal, "tasks.manage");
    const stored = await kit.storedResult(id);
    if (!stored) throw new SchedulerError("NOT_FOUND", `no finished task ${id}`);
    const result = JSON.parse(decoder.decode(stored.data)) as TaskResult;
    if (result.state !== "failed") {
      throw new SchedulerError(
        "INVALID_ARGUMENT",
        `task ${id} ended ${result.state}: only a failed task can be retried`,
      );
    }
    const dead = await transport.lastMessage(subj.deadLetterStream, subj.deadLetter(id));
    if (!dead) {
      throw new SchedulerError(
        "NOT_FOUND",
        `task ${id} has no dead letter (purged, or older than 30 days): its payload is gone`,
      );
    }
    const letter = JSON.parse(decoder.decode(dead.data)) as TaskResult & {
      payload?: unknown;
      requires?: string[];
      priority?: number;
      timeoutMs?: number;
      maxAttempts?: number;
    };
    const body: Record<string, unknown> = { id, payload: letter.payload ?? null };
    for (const k of ["priority", "timeoutMs", "maxAttempts", "requires"] as const) {
      if (letter[k] !== undefined) body[k] = letter[k];
    }
    const ack = await transport.publishDurable(
      subj.submit(result.type),
      encoder.encode(JSON.stringify(body)),
      {
        headers: {
          Authorization: authorization,
          [RETRY_HEADER]: `${stored.seq}.${retrySignature(deps.results.signer, id, stored.seq)}`,
        },
        // A second retry of the same result within two minutes is the same retry.
        msgId: `retry-${id}-${stored.seq}`,
        timeoutMs: 5_000,
      },
    );
    if (!ack.ok) {
      throw new SchedulerError("TRANSPORT", `the retry was not stored: ${ack.message}`);
    }
    // The task is live again: its old dead letter goes (a new failure writes a new one).
    await transport.purgeSubject(subj.deadLetterStream, subj.deadLetter(id)).catch(() => 0);
    return { ok: true, id, state: "resubmitted", replaces: stored.seq, duplicate: ack.duplicate };
  }

  async function purge(
    principal: Principal,
    target: { id?: string; all?: boolean },
  ): Promise<number> {
    authorize(principal, "tasks.manage");
    if (target.id !== undefined) {
      if (!isTaskId(target.id)) {
        throw new SchedulerError(
          "INVALID_ARGUMENT",
          `id is not a task id: ${JSON.stringify(target.id)}`,
        );
      }
      return await transport.purgeSubject(subj.deadLetterStream, subj.deadLetter(target.id));
    }
    if (target.all !== true) {
      throw new SchedulerError(
        "INVALID_ARGUMENT",
        `body must be {"id": "<task id>"} or {"all": true}`,
      );
    }
    return await transport.purgeSubject(subj.deadLetterStream, subj.deadLetter(">"));
  }

  return { listDead, retry, purge };
}
