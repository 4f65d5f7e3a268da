/**
 * Task handles: what `submit` returns. A handle listens on
 * `tasks.result.<id>` from before its submission is published, and reads the
 * stored outcome from the `RESULTS` stream when it may have missed the live
 * one (after a reconnect, when `result()` is called, every `resultPollMs`
 * while someone waits), so `result()` never misses the result.
 *
 * @module
 */

import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { Channel } from "./_channel.ts";
import { decodeJson, directGetLast, streamSeqOf } from "./_wire.ts";
import { SchedulerClientError, TaskFailedError, TaskRejectedError } from "./errors.ts";
import type { CancelReply, ProgressEvent, TaskHandle, TaskResult, TaskStatus } from "./types.ts";

/** What a handle needs from its client. Internal. */
export interface HandleHost {
  readonly nc: NatsConnection;
  readonly resultSubject: (id: string) => string;
  readonly progressSubject: (id: string) => string;
  readonly outcomeSubject: (id: string) => string;
  readonly resultsStream: string;
  readonly requestTimeoutMs: number;
  readonly resultPollMs: number;
  readonly closed: boolean;
  track(h: Handle): void;
  untrack(h: Handle): void;
  cancel(id: string): Promise<CancelReply>;
  /** `tasks.status`; `submitted`: stored by this client, so a NOT_FOUND is asked again a while. */
  status(id: string, submitted: boolean): Promise<TaskStatus>;
}

/**
 * What was stored for the id before this submission was published: results
 * that are not newer and are rejections are someone else's (an id may be used
 * again after a rejection). `undefined`: no submission (a looked-up handle),
 * so whatever is stored is the answer; `unknown`: the look-up failed, so only
 * a stored result that is not a rejection is believed from the stream.
 * `replaced`: a retry replaces the stored result, so no result up to `seq`
 * is this run's, whatever its state.
 */
export type Baseline =
  | { seq: number; rejected: boolean; replaced?: boolean }
  | null
  | undefined
  | "unknown";

const decoder = new TextDecoder();
const PROGRESS_BUFFER = 1_000;

interface Waiter {
  resolve: () => void;
}

/** The handle's implementation. Internal: users see {@link TaskHandle}. */
export class Handle implements TaskHandle {
  readonly id: string;
  readonly type: string | undefined;
  stored: { stream: string; seq: number; duplicate: boolean } | undefined;
  #host: HandleHost;
  #baseline: Baseline;
  #settled: TaskResult | undefined;
  #closedError: SchedulerClientError | undefined;
  #sub: Subscription | undefined;
  #waiters = new Set<Waiter>();
  #progress = new Set<Channel<ProgressEvent>>();
  #early: { sub: Subscription; ch: Channel<ProgressEvent> } | undefined;
  #reading: Promise<void> | undefined;
  #poll: ReturnType<typeof setInterval> | undefined;

  constructor(host: HandleHost, id: string, type: string | undefined, baseline: Baseline) {
    this.#host = host;
    this.id = id;
    this.type = type;
    this.#baseline = baseline;
  }

  get settled(): TaskResult | undefined {
    return this.#settled;
  }

  /** Start listening for the result (and progress): before the submission is published. */
  listen(progress: boolean): void {
    if (this.#settled || this.#sub) return;
    this.#host.track(this);
    this.#sub = this.#host.nc.subscribe(this.#host.resultSubject(this.id), {
      callback: (err, m) => {
        if (err) return;
        let r: TaskResult;
        try {
          r = decodeJson(m.data, m.subject) as TaskResult;
        } catch {
          return;
        }
        this.#offer(r, streamSeqOf(m), "live");
      },
    });
    if (progress && !this.#early) {
      const ch = new Channel<ProgressEvent>(PROGRESS_BUFFER);
      this.#early = { sub: this.#subscribeProgress(ch), ch };
    }
  }

  /** Set what was stored before the submission was published. */
  setBaseline(b: Baseline): void {
    this.#baseline = b;
  }

  /** Stop listening: the submission was not stored. */
  abandon(): void {
    this.#stopListening();
    this.#host.untrack(this);
  }

  /** The client closed: every wait ends with `CONNECTION_CLOSED`. */
  closeWith(err: SchedulerClientError): void {
    if (this.#settled) return;
    this.#closedError = err;
    this.#stopListening();
    this.#wake();
  }

  /**
   * Read the stored outcome from `RESULTS` (after a reconnect, or when asked
   * late). Triggers while a read is under way share it, except `fresh` ones:
   * a read sent before a reconnect may have lost its reply with the old
   * connection, so a reconnect always sends its own.
   */
  readStored(fresh = false): Promise<void> {
    if (this.#settled || this.#host.closed) return Promise.resolve();
    if (this.#reading && !fresh) return this.#reading;
    const reading: Promise<void> = directGetLast(
      this.#host.nc,
      this.#host.resultsStream,
      this.#host.outcomeSubject(this.id),
      this.#host.requestTimeoutMs,
    ).then(
      (stored) => {
        if (!stored) return;
        let r: TaskResult;
        try {
          r = JSON.parse(decoder.decode(stored.data)) as TaskResult;
        } catch {
          return;
        }
        this.#offer(r, stored.seq, "stored");
      },
      () => {
        // Not readable now (JetStream away, a reconnect under way): the next trigger reads again.
      },
    ).finally(() => {
      if (this.#reading === reading) this.#reading = undefined;
    });
    this.#reading = reading;
    return reading;
  }

  /** Take a result if it is this submission's: the first one wins. */
  #offer(r: TaskResult, seq: number, from: "live" | "stored"): void {
    if (this.#settled || r?.id !== this.id || typeof r.state !== "string") return;
    const b = this.#baseline;
    if (b === "unknown") {
      // Without knowing what was stored before, a stored rejection may be an earlier one.
      if (from === "stored" && r.state === "rejected") return;
    } else if (
      b && seq > 0 && seq <= b.seq &&
      (b.replaced === true || (r.state === "rejected" && b.rejected))
    ) {
      // The rejection of an earlier submission of this id (this one replaces it), or the
      // result a retry replaces.
      return;
    }
    this.#settled = r;
    this.#stopListening();
    this.#host.untrack(this);
    this.#wake();
  }

  #wake(): void {
    for (const w of this.#waiters) w.resolve();
    this.#waiters.clear();
    for (const ch of this.#progress) ch.close();
    this.#progress.clear();
    if (this.#poll !== undefined) clearInterval(this.#poll);
    this.#poll = undefined;
  }

  #stopListening(): void {
    this.#sub?.unsubscribe();
    this.#sub = undefined;
    if (this.#early) {
      // Unclaimed: stop listening, keep what was heard for a later progress().
      this.#early.sub.unsubscribe();
      this.#early.ch.close();
    }
  }

  async result(opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<TaskResult> {
    if (!this.#settled && !this.#closedError) {
      if (this.#host.closed) {
        throw new SchedulerClientError("CONNECTION_CLOSED", "the client is closed");
      }
      opts.signal?.throwIfAborted();
      if (!this.#sub) this.listen(false);
      await this.#wait(opts);
    }
    if (this.#settled) {
      if (this.#settled.state === "rejected") throw new TaskRejectedError(this.#settled);
      return this.#settled;
    }
    throw this.#closedError!;
  }

  async value(opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<unknown> {
    const r = await this.result(opts);
    if (r.state !== "succeeded") throw new TaskFailedError(r);
    return r.result;
  }

  #wait(opts: { timeoutMs?: number; signal?: AbortSignal }): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const onAbort = () => finish(new SchedulerClientError("ABORTED", "the wait was aborted"));
      const waiter: Waiter = { resolve: () => finish() };
      const finish = (err?: SchedulerClientError) => {
        if (!this.#waiters.delete(waiter) && err) return;
        if (timer !== undefined) clearTimeout(timer);
        opts.signal?.removeEventListener("abort", onAbort);
        if (this.#waiters.size === 0 && this.#poll !== undefined) {
          clearInterval(this.#poll);
          this.#poll = undefined;
        }
        if (err) reject(err);
        else resolve();
      };
      this.#waiters.add(waiter);
      if (opts.timeoutMs !== undefined) {
        timer = setTimeout(
          () =>
            finish(
              new SchedulerClientError(
                "WAIT_TIMEOUT",
                `no result for task ${this.id} within ${opts.timeoutMs} ms`,
              ),
            ),
          opts.timeoutMs,
        );
      }
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      // Called late, or the live copy was lost: the stream has it if it was stored.
      void this.readStored();
      if (this.#host.resultPollMs > 0 && this.#poll === undefined) {
        this.#poll = setInterval(() => void this.readStored(), this.#host.resultPollMs);
      }
    });
  }

  #subscribeProgress(ch: Channel<ProgressEvent>): Subscription {
    return this.#host.nc.subscribe(this.#host.progressSubject(this.id), {
      callback: (err, m) => {
        if (err) return;
        try {
          ch.push(JSON.parse(decoder.decode(m.data)) as ProgressEvent);
        } catch {
          // not a progress report
        }
      },
    });
  }

  progress(): AsyncIterableIterator<ProgressEvent> {
    if (this.#early) {
      // Listening since before the submission: hand over what was kept (also once ended).
      const { sub, ch } = this.#early;
      this.#early = undefined;
      if (ch.closed) return ch;
      ch.onClose(() => {
        sub.unsubscribe();
        this.#progress.delete(ch);
      });
      this.#progress.add(ch);
      return ch;
    }
    if (this.#settled || this.#closedError || this.#host.closed) {
      const ch = new Channel<ProgressEvent>(0);
      ch.close();
      return ch;
    }
    const ch = new Channel<ProgressEvent>(PROGRESS_BUFFER);
    const sub = this.#subscribeProgress(ch);
    ch.onClose(() => {
      sub.unsubscribe();
      this.#progress.delete(ch);
    });
    this.#progress.add(ch);
    // The task may end without anyone waiting on its result: make sure the end is heard.
    if (!this.#sub) this.listen(false);
    return ch;
  }

  cancel(): Promise<CancelReply> {
    return this.#host.cancel(this.id);
  }

  status(): Promise<TaskStatus> {
    return this.#host.status(this.id, this.stored !== undefined);
  }
}

/** Run `fn` over `items` with at most `limit` at once; results in order. */
export async function pooled<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  });
  await Promise.all(lanes);
  return out;
}
