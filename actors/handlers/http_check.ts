/**
 * The `http-check` task type: requests a URL and reports its status code and
 * response time, as the Python job runner's website check did.
 *
 * A site that is down fails the task rather than completing it with
 * `up: false`: a timeout, a refused connection, a DNS failure, or a status
 * other than the expected one (any 2xx when `expectStatus` is not given) all
 * throw a plain `Error` that names the URL and the reason. The scheduler then
 * retries with backoff, so a single blip does not read as an outage, and a
 * task that exhausts its attempts is the alert. A completed check therefore
 * always has `up: true`; the field is kept so results read on their own.
 *
 * Redirects are followed. The body is read to its end and thrown away, so
 * `responseTimeMs` covers the whole response, as `requests.get` did.
 *
 * @module
 */

import { show } from "../../src/errors.ts";
import { type HandlerDefinition, type TaskHandler, Unrecoverable } from "../../src/handler.ts";
import { intField, payloadObject } from "./_payload.ts";

/** `{ "url": "https://example.com/health", "timeoutMs": 10000 }` */
export interface HttpCheckPayload {
  /** An http: or https: URL. */
  url: string;
  /** Give up after this long, 1 to 120 000 ms; default 10 000. Covers the body too. */
  timeoutMs?: number;
  /** The status that counts as up, 100 to 599; default any 2xx. */
  expectStatus?: number;
  /** Default "GET". */
  method?: "GET" | "HEAD";
}

/** A site that answered as expected. */
export interface HttpCheckResult {
  /** The URL as checked (normalised by the URL parser). */
  url: string;
  status: number;
  /** Whether the status is 2xx (false when a non-2xx `expectStatus` was met). */
  ok: boolean;
  /** From sending the request to the end of the body, in ms, to 0.1 ms. */
  responseTimeMs: number;
  /** Bytes of body read. */
  bytes: number;
  /** Always true: a site that is down fails the task instead. */
  up: true;
}

const FIELDS = ["url", "timeoutMs", "expectStatus", "method"];
const MAX_TIMEOUT_MS = 120_000;

/** Check an untrusted payload and fill in defaults; throws {@link Unrecoverable} naming the bad field. */
export function parseHttpCheckPayload(
  payload: unknown,
): HttpCheckPayload & { timeoutMs: number; method: "GET" | "HEAD" } {
  const p = payloadObject(payload, "http-check", FIELDS, "an");
  const { url, method = "GET" } = p;
  let parsed: URL | undefined;
  try {
    parsed = typeof url === "string" ? new URL(url) : undefined;
  } catch {
    parsed = undefined; // reported just below, with the value
  }
  if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
    throw new Unrecoverable(`payload.url must be an http or https URL: got ${show(url)}`);
  }
  const timeoutMs = intField(p, "timeoutMs", 1, MAX_TIMEOUT_MS, 10_000);
  const expectStatus = p.expectStatus === undefined
    ? undefined
    : intField(p, "expectStatus", 100, 599);
  if (method !== "GET" && method !== "HEAD") {
    throw new Unrecoverable(`payload.method must be "GET" or "HEAD": got ${show(method)}`);
  }
  return { url: parsed.href, timeoutMs, expectStatus, method };
}

const httpCheck: TaskHandler<unknown, HttpCheckResult> = async function* (payload, ctx) {
  const { url, timeoutMs, expectStatus, method } = parseHttpCheckPayload(payload);
  ctx.signal.throwIfAborted();
  // A timer of our own rather than AbortSignal.timeout, so it is cleared as soon as we are done.
  const timeout = new AbortController();
  const timer = setTimeout(
    () => timeout.abort(new DOMException(`no response within ${timeoutMs} ms`, "TimeoutError")),
    timeoutMs,
  );
  const signal = AbortSignal.any([ctx.signal, timeout.signal]);
  const start = performance.now();
  let status: number;
  let ok: boolean;
  let bytes = 0;
  try {
    const res = await fetch(url, { method, signal, redirect: "follow" });
    status = res.status;
    ok = res.ok;
    if (res.body) {
      for await (const chunk of res.body) bytes += chunk.byteLength;
    }
  } catch (err) {
    // The task's own abort (cancel, task timeout, shutdown) goes up as it is.
    if (ctx.signal.aborted) throw ctx.signal.reason;
    if (timeout.signal.aborted) {
      throw new Error(`http-check ${method} ${url}: no complete response within ${timeoutMs} ms`, {
        cause: err,
      });
    }
    throw new Error(`http-check ${method} ${url}: ${(err as Error).message}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
  const responseTimeMs = Math.round((performance.now() - start) * 10) / 10;
  const up = expectStatus === undefined ? ok : status === expectStatus;
  if (!up) {
    const wanted = expectStatus === undefined ? "a 2xx status" : `status ${expectStatus}`;
    throw new Error(
      `http-check ${method} ${url}: got status ${status} after ${responseTimeMs} ms, expected ${wanted}`,
    );
  }
  yield { progress: 1, message: `${status} in ${responseTimeMs} ms` };
  return { url, status, ok, responseTimeMs, bytes, up: true };
};

/**
 * The `http-check` handler.
 *
 * @example
 * ```ts
 * // tasks.submit.http-check with { "url": "http://127.0.0.1:8080/health" } completes with
 * // { "url": "http://127.0.0.1:8080/health", "status": 200, "ok": true, "responseTimeMs": 3.2, "bytes": 2, "up": true }
 * ```
 */
export const definition: HandlerDefinition<unknown, HttpCheckResult> = {
  type: "http-check",
  handler: httpCheck,
};
