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
 * Redirects are followed, up to {@link MAX_REDIRECTS}, one at a time. The
 * body is read to its end and thrown away, so `responseTimeMs` covers the
 * whole response, as `requests.get` did.
 *
 * When the node has TASK_SCHEDULER_HTTP_ALLOW, the URL's host (and port, where
 * a rule names one) must be on it, and so must every redirect's target: a
 * host that is not fails the task at once with PERMISSION_DENIED naming it,
 * before anything is sent to it (see src/http_allow.ts).
 *
 * @module
 */

import { show } from "../../src/mod.ts";
import { checkUrl } from "../../src/mod.ts";
import { type HandlerDefinition, type TaskHandler, Unrecoverable } from "../../src/mod.ts";
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
/** Redirects followed before giving up, as fetch does. */
export const MAX_REDIRECTS = 20;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Fetch `url`, following redirects one at a time so that each target is
 * checked against `allow` before it is asked. GET and HEAD stay as they are
 * across every kind of redirect.
 */
async function fetchChecked(
  url: string,
  method: "GET" | "HEAD",
  signal: AbortSignal,
  allow: readonly string[],
): Promise<Response> {
  let current = new URL(url);
  for (let hops = 0;; hops++) {
    const res = await fetch(current, { method, signal, redirect: "manual" });
    const location = res.headers.get("location");
    if (!REDIRECTS.has(res.status) || location === null) return res;
    await res.body?.cancel();
    if (hops >= MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects`);
    const next = new URL(location, current);
    if (next.protocol !== "http:" && next.protocol !== "https:") {
      throw new Unrecoverable(
        `http-check ${method} ${url}: redirect to ${show(next.href)}, which is not http or https`,
      );
    }
    checkUrl(next, allow, `http-check: redirect from ${current.href} to ${next.href}`);
    current = next;
  }
}

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
  checkUrl(new URL(url), ctx.httpAllow, "http-check");
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
    const res = await fetchChecked(url, method, signal, ctx.httpAllow);
    status = res.status;
    ok = res.ok;
    if (res.body) {
      for await (const chunk of res.body) bytes += chunk.byteLength;
    }
  } catch (err) {
    // The task's own abort (cancel, task timeout, shutdown) goes up as it is.
    if (ctx.signal.aborted) throw ctx.signal.reason;
    // A refused redirect, or one to another scheme: no retry.
    if (err instanceof Unrecoverable) throw err;
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
