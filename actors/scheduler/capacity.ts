/**
 * Storage capacity as the leader sees it: when the `TASKS` stream reaches its
 * message or byte limit, or storing a result fails because a stream or
 * JetStream's storage (its `max_file_store`, the account's limit, the disk)
 * is full. Nothing is lost either way: a full `TASKS` refuses new submissions
 * (discard new; an acked publisher is told why), and a result that cannot be
 * stored stays with its task and is stored again with backoff (the
 * `result.published` path), so the submission stays in `TASKS` until then.
 * What this module adds is that the condition is seen: each change goes out
 * once as a delta on `monitor.scheduler.<id>` and once in the log, never per
 * message.
 *
 * - `stored` hears every result store (hot path: one Map size check when it
 *   succeeded). A failure whose message names a full stream or full storage
 *   marks `RESULTS` full; the next success clears it.
 * - `tick` runs with the leader's tick. While `TASKS` has a limit it reads
 *   the stream's state at most once a second (one JetStream API request,
 *   answered from the server's memory) and reports what it found at the next
 *   tick, with hysteresis: full when the room left is under a threshold (1 %
 *   of the limit, at least one message, and for bytes at least two average
 *   submissions), clear again at twice that room.
 * - `leaseLost` hears why the lease could not be renewed: full storage fails
 *   the lease's writes too, so a leader stops acting within 80 % of the
 *   lease, often before any result fails; that reason is reported as well,
 *   and cleared when the scheduler leads again (the lease was written).
 * - A new term clears a `STORAGE_FULL` seen in an earlier term: taking the
 *   lease was a JetStream write, so storage takes writes again (a result that
 *   still fails marks it again).
 *
 * @module
 */

import type { ActorContext, StreamState } from "../../src/internal_mod.ts";
import type { Kit, SchedulerMsg, State } from "./types.ts";

type Ctx = ActorContext<SchedulerMsg>;

/** What makes a store fail for lack of room. */
export type StorageCode = "STREAM_FULL" | "STORAGE_FULL";

/** Why a stream is full, as reported. */
interface Full {
  code: StorageCode;
  reason: string;
  /** The term in which it was seen. */
  epoch: number;
}

/** How often the TASKS stream's state is read while it has limits. */
export const POLL_MS = 1_000;

const STREAM_LIMIT = /^maximum (messages|bytes) exceeded/i;
const NO_STORAGE =
  /insufficient (storage )?resources|resource limits exceeded|no space left|quota/i;

/**
 * Classify a stream's refusal by its message (nats-server 2.9): a stream's
 * own limit with discard new, or storage that is used up.
 */
export function storageProblem(message: string | undefined): StorageCode | null {
  if (!message) return null;
  if (STREAM_LIMIT.test(message)) return "STREAM_FULL";
  if (NO_STORAGE.test(message)) return "STORAGE_FULL";
  return null;
}

/** Room left under which a stream counts as full; `factor` 2 gives the room at which it clears. */
function fullness(s: StreamState, factor: number): string | null {
  if (s.maxMsgs > 0) {
    const threshold = Math.max(1, Math.ceil(s.maxMsgs / 100)) * factor;
    if (s.maxMsgs - s.messages < threshold) return `holds ${s.messages} of ${s.maxMsgs} messages`;
  }
  if (s.maxBytes > 0) {
    const average = s.messages > 0 ? s.bytes / s.messages : 0;
    const threshold = Math.max(Math.ceil(s.maxBytes / 100), 2 * average, 1) * factor;
    if (s.maxBytes - s.bytes < threshold) return `holds ${s.bytes} of ${s.maxBytes} bytes`;
  }
  return null;
}

/** The storage watch of one scheduler (see the module comment). */
export class Capacity {
  #kit: Kit;
  #full = new Map<string, Full>();
  #polling = false;
  #nextPoll = 0;
  #observed: StreamState | null = null;
  #epoch = 0;

  constructor(kit: Kit) {
    this.#kit = kit;
  }

  /**
   * A result store came back. Returns true when it failed for lack of room,
   * which is reported here once per change (the caller need not log it).
   */
  stored(ctx: Ctx, state: State, ok: boolean, error?: string): boolean {
    const stream = this.#kit.subj.resultsStream;
    if (ok) {
      if (this.#full.size !== 0 && this.#full.has(stream)) this.#clear(ctx, state, stream, {});
      return false;
    }
    const code = storageProblem(error);
    if (!code) return false;
    this.#mark(ctx, state, stream, code, error!, {});
    return true;
  }

  /**
   * The lease could not be renewed (the leader paused or stepped down). When
   * that is because JetStream's storage is full (every write fails, the
   * lease's too, often before any result has failed), it is reported here,
   * under the lease bucket's stream; it clears once the lease is written
   * again (the scheduler leads on, or leads a new term).
   */
  leaseLost(ctx: Ctx, state: State, reason: string): void {
    if (storageProblem(reason) !== "STORAGE_FULL") return;
    const lease = `KV_${this.#kit.subj.leaseBucket}`;
    if (this.#full.has(lease)) return;
    this.#mark(ctx, state, lease, "STORAGE_FULL", reason, {});
  }

  /** The leader's tick: report what the last read found, and read again when due. */
  tick(ctx: Ctx, state: State): void {
    if (state.epoch !== this.#epoch) {
      this.#epoch = state.epoch;
      for (const [stream, f] of this.#full) {
        if (f.code === "STORAGE_FULL" && f.epoch !== state.epoch) {
          this.#clear(ctx, state, stream, {});
        }
      }
    }
    const lease = `KV_${this.#kit.subj.leaseBucket}`;
    if (this.#full.has(lease) && this.#kit.current.lease?.leading) {
      this.#clear(ctx, state, lease, {});
    }
    const tasks = this.#kit.subj.tasksStream;
    const seen = this.#observed;
    if (seen) {
      this.#observed = null;
      const detail = {
        messages: seen.messages,
        bytes: seen.bytes,
        maxMsgs: seen.maxMsgs,
        maxBytes: seen.maxBytes,
      };
      const was = this.#full.get(tasks);
      if (!was) {
        const reason = fullness(seen, 1);
        if (reason) this.#mark(ctx, state, tasks, "STREAM_FULL", reason, detail);
      } else if (was.code === "STREAM_FULL" && !fullness(seen, 2)) {
        this.#clear(ctx, state, tasks, detail);
      }
    }
    const { tasksMaxBytes, tasksMaxMsgs } = this.#kit.config;
    const now = ctx.clock.now();
    if ((tasksMaxBytes > 0 || tasksMaxMsgs > 0) && !this.#polling && now >= this.#nextPoll) {
      this.#polling = true;
      this.#nextPoll = now + POLL_MS;
      this.#kit.transport.streamInfo(tasks).then(
        (s) => (this.#observed = s),
        (err) => ctx.log.debug("stream state not read", { stream: tasks, error: String(err) }),
      ).finally(() => (this.#polling = false));
    }
  }

  #mark(
    ctx: Ctx,
    state: State,
    stream: string,
    code: StorageCode,
    reason: string,
    detail: Record<string, number>,
  ): void {
    const was = this.#full.get(stream);
    if (was && was.code === code) return;
    this.#full.set(stream, { code, reason, epoch: state.epoch });
    const full = [...this.#full.keys()];
    ctx.log.warn(
      code === "STORAGE_FULL"
        ? `storage full: JetStream cannot store in ${stream}; results wait and are stored again, submissions are refused`
        : stream === this.#kit.subj.tasksStream
        ? `storage full: stream ${stream} is at its limit; new submissions are refused`
        : `storage full: stream ${stream} is at its limit; results wait and are stored again`,
      { stream, code, reason, ...detail },
    );
    this.#kit.publishScheduler(state, { storage: "full", stream, code, reason, ...detail, full });
  }

  #clear(ctx: Ctx, state: State, stream: string, detail: Record<string, number>): void {
    const was = this.#full.get(stream);
    if (!was) return;
    this.#full.delete(stream);
    const full = [...this.#full.keys()];
    ctx.log.info(`storage available again: ${stream}`, { stream, was: was.code, ...detail });
    this.#kit.publishScheduler(state, { storage: "ok", stream, ...detail, full });
  }
}
