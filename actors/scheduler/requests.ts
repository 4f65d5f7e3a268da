/**
 * Answering `tasks.status` and `tasks.cancel`: authentication of the request
 * and JSON replies. Every answer to `tasks.cancel` (done or refused) and every
 * `tasks.status` refused for its token, role or body goes on the audit trail
 * (actors/audit.ts) with the verified `sub` and the task id, once known.
 *
 * @module
 */

import {
  type ErrorInfo,
  type InMsg,
  isTaskId,
  type Principal,
  SchedulerError,
  toErrorInfo,
} from "../../src/internal_mod.ts";
import { outcomeOf } from "../audit.ts";
import type { CancelOutcome } from "./core.ts";
import { decoder, encoder, type Kit } from "./types.ts";

/** The request helpers of one scheduler. */
export interface Requests {
  replyJson(msg: InMsg, body: unknown): void;
  /** Verify the request's token only. */
  authOnly(msg: InMsg): Promise<Principal>;
  /** Verify the request's token and read `{"id": ...}` from its body. */
  authRequest(msg: InMsg): Promise<{ principal: Principal; id: string }>;
  /** Answer a request that failed (token, role, body, leadership) with `{"error"}`; audited. */
  replyError(msg: InMsg, err: unknown): void;
  /** Answer `tasks.cancel` with what came of it; audited. */
  replyCancel(msg: InMsg, body: CancelOutcome | { error: ErrorInfo }): void;
  /** Answer a change an operator asked for (`tasks.retry`, `tasks.purge`); audited. */
  replyDone(msg: InMsg, body: unknown, summary: string, target: string | null): void;
}

/** Build the request helpers of one scheduler. */
export function requests(kit: Kit): Requests {
  const { deps, transport, subj } = kit;
  /** Who asked about which task, as far as the request got: for the audit. */
  const asked = new WeakMap<InMsg, { who: string; id: string | null }>();

  function replyJson(msg: InMsg, body: unknown): void {
    transport.respond(msg, encoder.encode(JSON.stringify(body)));
  }

  async function authRequest(msg: InMsg): Promise<{ principal: Principal; id: string }> {
    const principal = await deps.verifier.verifyHeader(msg.header("Authorization"));
    const seen = { who: principal.sub, id: null as string | null };
    asked.set(msg, seen);
    let body: unknown;
    try {
      body = JSON.parse(decoder.decode(msg.data));
    } catch (err) {
      throw new SchedulerError(
        "INVALID_ARGUMENT",
        `body is not valid JSON: ${(err as Error).message}`,
      );
    }
    const id = (body as { id?: unknown } | null)?.id;
    if (!isTaskId(id)) {
      throw new SchedulerError(
        "INVALID_ARGUMENT",
        `body must be {"id": "<task id>"}: got ${JSON.stringify(body)?.slice(0, 80)}`,
      );
    }
    seen.id = id;
    return { principal, id };
  }

  /** The audit action of a request, by its subject. */
  const actions = new Map([
    [subj.cancel, "tasks.cancel"],
    [subj.status, "tasks.status"],
    [subj.list, "tasks.list"],
    [subj.retry, "tasks.retry"],
    [subj.purge, "tasks.purge"],
  ]);
  /** Requests that change something: audited whatever came of them. */
  const changes = new Set([subj.cancel, subj.retry, subj.purge]);

  function audit(msg: InMsg, error: ErrorInfo | undefined, okMessage?: string): void {
    if (!deps.audit) return;
    // A read is audited only when refused for its token, role or body.
    if (
      !changes.has(msg.subject) &&
      (!error || (outcomeOf(error.code) !== "denied" && error.code !== "INVALID_ARGUMENT"))
    ) {
      return;
    }
    const seen = asked.get(msg);
    deps.audit.record({
      who: seen?.who ?? null,
      action: actions.get(msg.subject) ?? msg.subject,
      target: seen?.id ?? null,
      outcome: error ? outcomeOf(error.code) : "ok",
      code: error?.code,
      message: error?.message ?? okMessage,
    });
  }

  function replyError(msg: InMsg, err: unknown): void {
    const error = toErrorInfo(err, "INVALID_ARGUMENT");
    replyJson(msg, { error });
    audit(msg, error);
  }

  function replyCancel(msg: InMsg, body: CancelOutcome | { error: ErrorInfo }): void {
    replyJson(msg, body);
    if ("ok" in body && body.ok) audit(msg, undefined, `${body.state} (was ${body.was})`);
    else audit(msg, body.error);
  }

  function replyDone(msg: InMsg, body: unknown, summary: string, target: string | null): void {
    replyJson(msg, body);
    const seen = asked.get(msg);
    if (seen) seen.id = target;
    audit(msg, undefined, summary);
  }

  /** Verify a request's token only (bodies other than `{"id"}`); the audit learns who asked. */
  async function authOnly(msg: InMsg): Promise<Principal> {
    const principal = await deps.verifier.verifyHeader(msg.header("Authorization"));
    asked.set(msg, { who: principal.sub, id: null });
    return principal;
  }

  return { replyJson, authRequest, authOnly, replyError, replyCancel, replyDone };
}
