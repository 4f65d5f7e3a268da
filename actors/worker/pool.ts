/**
 * A pool of threads (Web Workers) for handlers that burn CPU, so that they
 * never stall the event loop that carries heartbeats, reports and the
 * scheduler. A thread runs one attempt at a time; attempts wait in order for a
 * free thread. Progress and abort work as on the main thread; a handler that
 * ignores its abort past the grace period has its thread terminated and
 * replaced, and the attempt is reported abandoned.
 *
 * @module
 */

import type { ErrorInfo, Progress } from "../../src/internal_mod.ts";
import type { AttemptResult } from "./runner.ts";

/** What a pool thread needs to run one attempt. */
export interface JobSpec {
  /** URL of the handler module. */
  module: string;
  taskType: string;
  id: string;
  payload: unknown;
  attempt: number;
  maxAttempts: number;
  maxResultBytes: number;
  /** The handler's `ctx.fsRoots`; default none. */
  fsRoots?: readonly string[];
  /** The handler's `ctx.httpAllow`; default any. */
  httpAllow?: readonly string[];
}

/** Main thread to pool thread. */
export type ToThread =
  | ({ type: "run"; job: number } & JobSpec)
  | {
    type: "abort";
    job: number;
    kind: "timeout" | "cancel" | "shutdown" | "fenced";
    message: string;
  };

/** Pool thread to main thread. */
export type FromThread =
  | { type: "progress"; job: number; progress: Progress }
  | { type: "done"; job: number; result: AttemptResult };

/** One attempt for the pool. */
export interface PoolJob extends JobSpec {
  signal: AbortSignal;
  onProgress(p: Progress): void;
}

interface Thread {
  worker: Worker;
  job: number | null;
}

interface Pending {
  job: PoolJob;
  n: number;
  resolve(r: AttemptResult): void;
  thread: Thread | null;
  abandonTimer?: ReturnType<typeof setTimeout>;
  onAbort?: () => void;
}

/** The thread pool. */
export class WorkerPool {
  #threads: Thread[] = [];
  #queue: Pending[] = [];
  #jobs = new Map<number, Pending>();
  #next = 0;
  #size: number;
  #abortGraceMs: number;
  #closed = false;
  /** Threads terminated because a handler ignored its abort. */
  abandoned = 0;

  constructor(size: number, abortGraceMs: number) {
    this.#size = Math.max(1, size);
    this.#abortGraceMs = abortGraceMs;
  }

  /** Attempts waiting for a thread. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Run an attempt on a pool thread. */
  run(job: PoolJob): Promise<AttemptResult> {
    return new Promise<AttemptResult>((resolve) => {
      if (this.#closed) {
        return resolve({
          outcome: "shutdown",
          error: { code: "CANCELLED", message: "worker pool closed" },
        });
      }
      const p: Pending = { job, n: ++this.#next, resolve, thread: null };
      this.#jobs.set(p.n, p);
      if (job.signal.aborted) return this.#finish(p, abortedBeforeStart(job.signal));
      p.onAbort = () => this.#abort(p);
      job.signal.addEventListener("abort", p.onAbort, { once: true });
      this.#queue.push(p);
      this.#dispatch();
    });
  }

  #dispatch(): void {
    while (this.#queue.length) {
      let t = this.#threads.find((x) => x.job === null);
      if (!t && this.#threads.length < this.#size) t = this.#spawn();
      if (!t) return;
      const p = this.#queue.shift()!;
      t.job = p.n;
      p.thread = t;
      const msg: ToThread = {
        type: "run",
        job: p.n,
        module: p.job.module,
        taskType: p.job.taskType,
        id: p.job.id,
        payload: p.job.payload,
        attempt: p.job.attempt,
        maxAttempts: p.job.maxAttempts,
        maxResultBytes: p.job.maxResultBytes,
        fsRoots: p.job.fsRoots,
        httpAllow: p.job.httpAllow,
      };
      t.worker.postMessage(msg);
    }
  }

  #spawn(): Thread {
    const worker = new Worker(new URL("./pool_entry.ts", import.meta.url).href, { type: "module" });
    const t: Thread = { worker, job: null };
    worker.onmessage = (e: MessageEvent<FromThread>) => {
      const m = e.data;
      const p = this.#jobs.get(m.job);
      if (!p) return;
      if (m.type === "progress") p.job.onProgress(m.progress);
      else {
        t.job = null;
        this.#finish(p, m.result);
        this.#dispatch();
      }
    };
    worker.onerror = (e) => {
      e.preventDefault();
      const p = t.job === null ? undefined : this.#jobs.get(t.job);
      this.#replace(t);
      if (p) {
        this.#finish(p, {
          outcome: "failed",
          error: { code: "HANDLER_ERROR", message: `pool thread crashed: ${e.message}` },
        });
      }
      this.#dispatch();
    };
    this.#threads.push(t);
    return t;
  }

  #abort(p: Pending): void {
    const reason = p.job.signal.reason as { kind?: string; message?: string };
    if (!p.thread) {
      // Still waiting for a thread: never started.
      this.#queue = this.#queue.filter((x) => x !== p);
      this.#finish(p, abortedBeforeStart(p.job.signal));
      return;
    }
    const kind = (reason?.kind ?? "cancel") as "timeout" | "cancel" | "shutdown" | "fenced";
    p.thread.worker.postMessage(
      { type: "abort", job: p.n, kind, message: reason?.message ?? "aborted" } satisfies ToThread,
    );
    p.abandonTimer = setTimeout(() => {
      if (!this.#jobs.has(p.n) || !p.thread) return;
      // The handler ignored its abort: the only way to stop it is to end its thread.
      this.abandoned++;
      this.#replace(p.thread);
      const error: ErrorInfo = {
        code: "ABANDONED",
        message:
          `handler ignored its abort signal for ${this.#abortGraceMs} ms; its thread was terminated`,
      };
      this.#finish(p, {
        outcome: kind === "timeout" ? "timeout" : kind === "cancel" ? "cancelled" : "shutdown",
        error,
      });
      this.#dispatch();
    }, this.#abortGraceMs);
  }

  #replace(t: Thread): void {
    t.worker.terminate();
    this.#threads = this.#threads.filter((x) => x !== t);
  }

  #finish(p: Pending, r: AttemptResult): void {
    if (!this.#jobs.delete(p.n)) return;
    if (p.abandonTimer) clearTimeout(p.abandonTimer);
    // An abort after the end must not reach a thread (or start a grace timer) again.
    if (p.onAbort) p.job.signal.removeEventListener("abort", p.onAbort);
    p.resolve(r);
  }

  /** Terminate every thread; waiting and running attempts end as shutdown. */
  close(): void {
    this.#closed = true;
    for (const t of this.#threads) t.worker.terminate();
    this.#threads = [];
    for (const p of [...this.#jobs.values()]) {
      this.#finish(p, {
        outcome: "shutdown",
        error: { code: "CANCELLED", message: "worker pool closed" },
      });
    }
    this.#queue = [];
  }
}

function abortedBeforeStart(signal: AbortSignal): AttemptResult {
  const r = signal.reason as { kind?: string; message?: string; code?: string };
  const kind = r?.kind;
  return {
    outcome: kind === "timeout"
      ? "timeout"
      : kind === "shutdown" || kind === "fenced"
      ? "shutdown"
      : "cancelled",
    error: {
      code: kind === "timeout" ? "TIMEOUT" : "CANCELLED",
      message: r?.message ?? "aborted before it started",
    },
  };
}
