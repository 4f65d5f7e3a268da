/**
 * Alerts out of the monitor: each goes on `monitor.alert` at once and, with
 * a webhook configured, is POSTed there as JSON. Deliveries run one at a
 * time in the background, in order, each try bounded by a timeout, retried
 * with exponential backoff (1 s doubling to 60 s) for up to ten minutes; the
 * queue holds at most 1,000 alerts (the oldest go first). Nothing here waits
 * on the network in the caller: {@link AlertSender.send} returns at once.
 *
 * @module
 */

import type { Logger } from "../../src/internal_mod.ts";
import type { Alert } from "./view.ts";

/** Options of {@link AlertSender}. */
export interface AlertSenderOptions {
  /** This process's node id, in every alert. */
  node: string;
  /** Publish one alert on `monitor.alert`. */
  publish: (data: Uint8Array) => void;
  /** The webhook, if any. */
  url?: string;
  log: Logger;
  fetch?: typeof fetch;
  now?: () => number;
  /** Per try (default 10 s). */
  timeoutMs?: number;
  /** Give an alert up after this long (default 10 minutes). */
  giveUpMs?: number;
  /** First retry delay (default 1 s); doubles up to `maxDelayMs`. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  maxQueue?: number;
}

interface Pending {
  body: string;
  key: string;
  since: number;
  tries: number;
}

const encoder = new TextEncoder();

/** Publishes alerts and delivers them to the webhook. */
export class AlertSender {
  /** Tries that failed (a network error, a timeout or a status other than 2xx). */
  failures = 0;
  delivered = 0;
  /** Alerts given up (too old, or pushed out of a full queue). */
  dropped = 0;
  #o: Required<Omit<AlertSenderOptions, "url">> & { url?: string };
  #seq = 0;
  #queue: Pending[] = [];
  #busy = false;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #abort: AbortController | null = null;
  #stopped = false;

  constructor(o: AlertSenderOptions) {
    this.#o = {
      fetch: globalThis.fetch.bind(globalThis),
      now: Date.now,
      timeoutMs: 10_000,
      giveUpMs: 600_000,
      baseDelayMs: 1_000,
      maxDelayMs: 60_000,
      maxQueue: 1_000,
      ...o,
    };
  }

  /** Alerts waiting for the webhook. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Publish the alert and queue it for the webhook. Never throws, never waits. */
  send(alert: Alert): void {
    if (this.#stopped) return;
    const body = JSON.stringify({ ...alert, node: this.#o.node, seq: ++this.#seq });
    try {
      this.#o.publish(encoder.encode(body));
    } catch (err) {
      this.#o.log.warn("alert not published", { key: alert.key, error: (err as Error).message });
    }
    this.#o.log.info("alert", { kind: alert.kind, key: alert.key, summary: alert.summary });
    if (!this.#o.url) return;
    this.#queue.push({ body, key: alert.key, since: this.#o.now(), tries: 0 });
    if (this.#queue.length > this.#o.maxQueue) {
      const gone = this.#queue.shift()!;
      this.dropped++;
      this.#o.log.warn("alert webhook queue full: oldest alert dropped", { key: gone.key });
    }
    this.#pump();
  }

  /** Stop: the queue is dropped, a try under way is aborted. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#abort?.abort();
    this.#queue = [];
  }

  #pump(): void {
    if (this.#busy || this.#timer !== null || this.#stopped) return;
    const next = this.#queue[0];
    if (!next) return;
    this.#busy = true;
    this.#try(next).then((ok) => {
      this.#busy = false;
      if (this.#stopped) return;
      // The queue may have pushed this alert out meanwhile (full): remove only what was sent.
      const first = this.#queue[0] === next;
      if (ok) {
        if (first) this.#queue.shift();
        this.delivered++;
        this.#pump();
        return;
      }
      if (!first) {
        this.#pump();
        return;
      }
      if (this.#o.now() - next.since >= this.#o.giveUpMs) {
        this.#queue.shift();
        this.dropped++;
        this.#o.log.warn("alert webhook: gave up on an alert", {
          key: next.key,
          tries: next.tries,
        });
        this.#pump();
        return;
      }
      const delay = Math.min(this.#o.maxDelayMs, this.#o.baseDelayMs * 2 ** (next.tries - 1));
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.#pump();
      }, delay);
    });
  }

  async #try(p: Pending): Promise<boolean> {
    p.tries++;
    const abort = new AbortController();
    this.#abort = abort;
    const timer = setTimeout(() => abort.abort(), this.#o.timeoutMs);
    try {
      const res = await this.#o.fetch(this.#o.url!, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: p.body,
        signal: abort.signal,
      });
      await res.body?.cancel();
      if (res.ok) return true;
      this.failures++;
      this.#o.log.warn("alert webhook refused", { key: p.key, status: res.status, try: p.tries });
      return false;
    } catch (err) {
      this.failures++;
      if (!this.#stopped) {
        // The error may quote the URL, which can hold a secret: log its origin only.
        const url = this.#o.url!;
        this.#o.log.warn("alert webhook failed", {
          key: p.key,
          error: (err as Error).message.replaceAll(url, origin(url)),
          try: p.tries,
        });
      }
      return false;
    } finally {
      clearTimeout(timer);
      this.#abort = null;
    }
  }
}

function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "(webhook)";
  }
}
