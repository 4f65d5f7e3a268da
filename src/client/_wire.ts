/**
 * NATS plumbing of the client: requests with typed errors, acked publishes,
 * and direct gets from the `RESULTS` stream. Internal: not exported by
 * `mod.ts`.
 *
 * @module
 */

import { headers as natsHeaders, type Msg, type NatsConnection } from "@nats-io/transport-node";
import {
  type ErrorCode,
  type ErrorInfo,
  PublishRefusedError,
  RequestRefusedError,
  SchedulerClientError,
} from "./errors.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encode a JSON body. */
export function encode(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Decode a JSON body, or throw `BAD_REPLY` naming the subject. */
export function decodeJson(data: Uint8Array, subject: string): unknown {
  try {
    return JSON.parse(decoder.decode(data));
  } catch (err) {
    throw new SchedulerClientError(
      "BAD_REPLY",
      `reply on ${subject} is not JSON: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/** A NATS error as a {@link SchedulerClientError}. */
export function transportError(subject: string, err: unknown): SchedulerClientError {
  if (err instanceof SchedulerClientError) return err;
  const e = err as Error & { isNoResponders?: () => boolean; cause?: unknown };
  const name = e?.name ?? "";
  const message = e?.message ?? String(err);
  if (
    (typeof e?.isNoResponders === "function" && e.isNoResponders()) ||
    name === "NoRespondersError" || /no responders/i.test(message)
  ) {
    return new SchedulerClientError("NO_RESPONDERS", `nothing answers ${subject}`, { cause: err });
  }
  if (name === "TimeoutError" || /timeout/i.test(message)) {
    return new SchedulerClientError("REQUEST_TIMEOUT", `no reply on ${subject} in time`, {
      cause: err,
    });
  }
  if (name === "ClosedConnectionError" || /closed/i.test(message)) {
    return new SchedulerClientError("CONNECTION_CLOSED", "the connection is closed", {
      cause: err,
    });
  }
  return new SchedulerClientError("TRANSPORT", `${subject}: ${message}`, { cause: err });
}

/** Headers for a request or publish. */
export function toHeaders(h: Record<string, string>): ReturnType<typeof natsHeaders> {
  const out = natsHeaders();
  for (const [k, v] of Object.entries(h)) out.set(k, v);
  return out;
}

/** Send a request, get the raw reply; NATS failures become typed errors. */
export async function rawRequest(
  nc: NatsConnection,
  subject: string,
  body: Uint8Array,
  opts: { timeoutMs: number; headers?: Record<string, string> },
): Promise<Msg> {
  try {
    return await nc.request(subject, body, {
      timeout: opts.timeoutMs,
      headers: opts.headers ? toHeaders(opts.headers) : undefined,
    });
  } catch (err) {
    throw transportError(subject, err);
  }
}

/**
 * Send a JSON request to a scheduler and return its JSON reply; a reply with
 * `error` (whether `ok: false` or not) throws a {@link RequestRefusedError}.
 */
export async function jsonRequest(
  nc: NatsConnection,
  subject: string,
  body: unknown,
  opts: { timeoutMs: number; headers?: Record<string, string> },
): Promise<Record<string, unknown>> {
  const m = await rawRequest(nc, subject, encode(body), opts);
  const reply = decodeJson(m.data, subject);
  if (typeof reply !== "object" || reply === null || Array.isArray(reply)) {
    throw new SchedulerClientError("BAD_REPLY", `reply on ${subject} is not a JSON object`);
  }
  const r = reply as Record<string, unknown>;
  const error = r.error as ErrorInfo | undefined;
  if (r.ok === false || (error && typeof error === "object")) {
    throw new RequestRefusedError(
      subject,
      error && typeof error.code === "string"
        ? error
        : { code: "INTERNAL", message: `refused without a reason: ${JSON.stringify(r)}` },
      r,
    );
  }
  return r;
}

/** What JetStream answered an acked publish with. */
export interface PubAck {
  /** The stream that stored it. */
  stream: string;
  /** Its sequence in that stream. */
  seq: number;
  /** The stream dropped it as a repeat of its `Nats-Msg-Id` within the window. */
  duplicate: boolean;
}

/** Publish and wait for JetStream's PubAck; a refusal throws a {@link PublishRefusedError}. */
export async function ackedPublish(
  nc: NatsConnection,
  subject: string,
  id: string,
  body: Uint8Array,
  opts: { timeoutMs: number; headers: Record<string, string> },
): Promise<PubAck> {
  let m: Msg;
  try {
    m = await nc.request(subject, body, {
      timeout: opts.timeoutMs,
      headers: toHeaders(opts.headers),
    });
  } catch (err) {
    const e = transportError(subject, err);
    if (e.code === "NO_RESPONDERS") {
      throw new PublishRefusedError("NO_STREAM", id, `no stream stores ${subject}`, undefined, {
        cause: err,
      });
    }
    if (e.code === "REQUEST_TIMEOUT") {
      throw new PublishRefusedError(
        "REQUEST_TIMEOUT",
        id,
        "no PubAck in time (it may have been stored)",
        undefined,
        { cause: err },
      );
    }
    throw e;
  }
  const r = decodeJson(m.data, subject) as {
    stream?: string;
    seq?: number;
    duplicate?: boolean;
    error?: { code?: number; err_code?: number; description?: string };
  };
  if (r.error) {
    const description = r.error.description ?? "stream error";
    throw new PublishRefusedError(
      pubAckErrorCode(r.error.err_code, description),
      id,
      description,
      r.error.err_code,
    );
  }
  return { stream: r.stream ?? "", seq: r.seq ?? 0, duplicate: r.duplicate === true };
}

/** A message read from a stream. */
export interface Stored {
  /** Its sequence in the stream. */
  seq: number;
  /** The body. */
  data: Uint8Array;
}

/**
 * The last message on `subject` in `stream` (a direct get), or null when
 * there is none. Throws when the stream cannot be asked (a timeout: no such
 * stream, or JetStream unreachable).
 */
export async function directGetLast(
  nc: NatsConnection,
  stream: string,
  subject: string,
  timeoutMs: number,
): Promise<Stored | null> {
  const api = `$JS.API.DIRECT.GET.${stream}`;
  const m = await rawRequest(nc, api, encode({ last_by_subj: subject }), { timeoutMs });
  const code = m.headers?.code ?? 0;
  if (code === 404 || (code === 0 && m.data.length === 0 && !m.headers?.get("Nats-Sequence"))) {
    return null;
  }
  if (code >= 400) {
    throw new SchedulerClientError(
      "TRANSPORT",
      `direct get of ${subject} from ${stream}: ${code} ${m.headers?.description ?? ""}`.trim(),
    );
  }
  return { seq: Number(m.headers?.get("Nats-Sequence") ?? 0), data: m.data };
}

/** The `Nats-Sequence` header of a message (the stream's republished copies carry it), or 0. */
export function streamSeqOf(m: Msg): number {
  const v = m.headers?.get("Nats-Sequence");
  return v ? Number(v) || 0 : 0;
}

/** Sleep `ms`, or less when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** The code of a JetStream PubAck error (err_codes and descriptions of nats-server 2.9). */
export function pubAckErrorCode(errCode: number | undefined, description: string): ErrorCode {
  switch (errCode) {
    case 10023: // insufficient resources: JetStream's storage is used up
    case 10002: // resource limits exceeded for account
    case 10047: // insufficient storage resources available
      return "STORAGE_FULL";
    case 10077:
      if (/^maximum (messages|bytes) exceeded/i.test(description)) return "STREAM_FULL";
      if (/no space left|quota|insufficient|resource/i.test(description)) return "STORAGE_FULL";
      return "TRANSPORT";
    default:
      return "TRANSPORT";
  }
}
