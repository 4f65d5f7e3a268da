/**
 * Answering `tasks.status` and `tasks.cancel`: authentication of the request
 * and JSON replies.
 *
 * @module
 */

import { type InMsg, isTaskId, type Principal, SchedulerError } from "../../src/mod.ts";
import { decoder, encoder, type Kit } from "./types.ts";

/** The request helpers of one scheduler. */
export interface Requests {
  replyJson(msg: InMsg, body: unknown): void;
  /** Verify the request's token and read `{"id": ...}` from its body. */
  authRequest(msg: InMsg): Promise<{ principal: Principal; id: string }>;
}

/** Build the request helpers of one scheduler. */
export function requests(kit: Kit): Requests {
  const { deps, transport } = kit;
  function replyJson(msg: InMsg, body: unknown): void {
    transport.respond(msg, encoder.encode(JSON.stringify(body)));
  }

  async function authRequest(msg: InMsg): Promise<{ principal: Principal; id: string }> {
    const principal = await deps.verifier.verifyHeader(msg.header("Authorization"));
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
    return { principal, id };
  }

  return { replyJson, authRequest };
}
