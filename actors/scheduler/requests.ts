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
} from "../../src/mod.ts";
import { outcomeOf } from "../audit.ts";
import type { CancelOutcome } from "./core.ts";
import { decoder, encoder, type Kit } from "./types.ts";

/** The request helpers of one scheduler. */
export interface Requests {
  replyJson(msg: InMsg, body: unknown): void;
  /** Verify the request's token and read `{"id": ...}` from its body. */
  authRequest(msg: InMsg): Promise<{ principal: Principal; id: string }>;
  /** Answer a request that failed (token, role, body, leadership) with `{"error"}`; audited. */
  replyError(msg: InMsg, err: unknown): void;
  /** Answer `tasks.cancel` with what came of it; audited. */
  replyCancel(msg: InMsg, body: CancelOutcome | { error: ErrorInfo }): void;
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

  function audit(msg: InMsg, error: ErrorInfo | undefined, okMessage?: string): void {
    if (!deps.audit) return;
    const cancel = msg.subject === subj.cancel;
    // A read is audited only when refused for its token, role or body.
    if (
      !cancel &&
      (!error || (outcomeOf(error.code) !== "denied" && error.code !== "INVALID_ARGUMENT"))
    ) {
      return;
    }
    const seen = asked.get(msg);
    deps.audit.record({
      who: seen?.who ?? null,
      action: cancel ? "tasks.cancel" : "tasks.status",
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

  return { replyJson, authRequest, replyError, replyCancel };
}
