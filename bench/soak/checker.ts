/**
 * The independent checker's eyes: it knows nothing of the scheduler's own
 * bookkeeping (no status requests, no monitor deltas). It sees results only
 * as a client does:
 *
 * - live, on `tasks.result.>`, subscribed before the first task is sent, on a
 *   connection of its own straight to the server: every message is kept as
 *   (id, a hash of its bytes, its `Nats-Sequence`, arrival time, `finishedAt`);
 * - at the end, every result stored in the `RESULTS` stream
 *   (`tasks.outcome.>`), read with a consumer of its own, with its
 *   `Ts-Signature` checked against the cluster secret.
 *
 * A second live message for an id with the same bytes is a republish of the
 * same stored result (counted, not a duplicate run); one with different bytes
 * is a conflict. Results stored while this connection was down (a
 * nats-server restart) are missed live and found in the stream.
 *
 * @module
 */

import {
  connectNats,
  type NatsTransport,
  ResultVerifier,
  type TaskResult,
} from "../../src/internal_mod.ts";
import { SECRET } from "../../test/_cluster.ts";

/** What the live subscription saw of one id. */
export interface LiveResult {
  /** FNV-1a of the first message's bytes. */
  hash: number;
  seq: string | undefined;
  state: string;
  /** Arrival of the first message (epoch ms). */
  at: number;
  count: number;
}

/** The same id seen live with different bytes. */
export interface Conflict {
  id: string;
  firstSeq: string | undefined;
  laterSeq: string | undefined;
  /** The first message, if it was still among the last {@link RECENT_BODIES} kept. */
  first: string;
  later: string;
}

/** One message of the `RESULTS` stream. */
export interface StoredResult {
  id: string;
  seq: number;
  hash: number;
  result: TaskResult;
  /** Why its signature does not hold, if it does not. */
  badSignature?: string;
}

/** Every stored result by id (more than one entry: stored twice). */
export type StoredResults = Map<string, StoredResult[]>;

/** Live bodies kept (the latest), so that a conflict can show both versions. */
const RECENT_BODIES = 20_000;
/** Stream messages read at a time at the end (bounds the memory of one read). */
const READ_CHUNK = 10_000;
const RESULT_PREFIX = "tasks.result.";
const OUTCOME_PREFIX = "tasks.outcome.";

/** FNV-1a over bytes: enough to tell two versions of one result apart. */
export function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193);
  return h >>> 0;
}

/** Watches results from the start; reads the stream at the end. */
export class Checker implements AsyncDisposable {
  readonly live = new Map<string, LiveResult>();
  readonly conflicts: Conflict[] = [];
  /** Second and later messages for an id with the same bytes. */
  republished = 0;
  /** Arrival times of every live message, in order. */
  readonly arrivals: number[] = [];
  #waiters: { since: number; resolve: (at: number) => void }[] = [];
  #recent = new Map<string, string>();

  private constructor(
    private readonly t: NatsTransport,
    private readonly verifier: ResultVerifier,
  ) {}

  /** Subscribe now, before anything is submitted. */
  static async start(url: string): Promise<Checker> {
    const t = await connectNats({ servers: url, name: "soak-checker" });
    const c = new Checker(t, await ResultVerifier.fromSecret(SECRET));
    t.subscribe(
      `${RESULT_PREFIX}>`,
      (m) => c.#onResult(m.subject, m.data, m.header("Nats-Sequence")),
    );
    await t.flush();
    return c;
  }

  /**
   * Resolves with the arrival time of the first result finished at or after
   * `since` (epoch ms), or undefined after `timeoutMs`. Call it at `since`:
   * only results arriving after the call count.
   */
  firstResultSince(since: number, timeoutMs: number): Promise<number | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve(undefined);
      }, timeoutMs);
      const waiter = {
        since,
        resolve: (at: number) => {
          clearTimeout(timer);
          resolve(at);
        },
      };
      this.#waiters.push(waiter);
    });
  }

  /** The longest time without a result arriving between `from` and `to` (epoch ms). */
  longestGap(from: number, to: number): number {
    let last = from;
    let gap = 0;
    for (const at of this.arrivals) {
      if (at < from) continue;
      if (at > to) break;
      gap = Math.max(gap, at - last);
      last = at;
    }
    return Math.max(gap, to - last);
  }

  /**
   * Wait until every id in `ids` has a result, live or (when results stop
   * arriving for 5 s) in the stream, or until `deadline`. Returns the ids
   * still without one.
   */
  async drain(ids: string[], deadline: number): Promise<string[]> {
    let waiting = ids.filter((id) => !this.live.has(id));
    let storedIds = new Set<string>();
    while (waiting.length > 0 && Date.now() < deadline) {
      const arrived = await this.firstResultSince(0, Math.min(5_000, deadline - Date.now()));
      if (arrived === undefined) storedIds = await this.#storedAmong(waiting);
      waiting = waiting.filter((id) => !this.live.has(id) && !storedIds.has(id));
    }
    return waiting;
  }

  /**
   * Every result in the `RESULTS` stream, by id, read in chunks; the handler's
   * output (`result`) is dropped to keep a long soak's read small.
   */
  async readStored(): Promise<StoredResults> {
    const out: StoredResults = new Map();
    const dec = new TextDecoder();
    for (let from = 1;;) {
      const msgs = await this.t.readStream("RESULTS", {
        filterSubject: `${OUTCOME_PREFIX}>`,
        fromSeq: from,
        limit: READ_CHUNK,
      });
      for (const m of msgs) {
        const id = m.subject.slice(OUTCOME_PREFIX.length);
        const verdict = this.verifier.verify(m.data, m.header("Ts-Signature"), id);
        const result = JSON.parse(dec.decode(m.data)) as TaskResult;
        delete result.result;
        const stored: StoredResult = {
          id,
          seq: m.seq,
          hash: fnv1a(m.data),
          result,
          ...(verdict.ok ? {} : { badSignature: verdict.reason }),
        };
        const list = out.get(id);
        if (list) list.push(stored);
        else out.set(id, [stored]);
      }
      if (msgs.length < READ_CHUNK) return out;
      from = msgs[msgs.length - 1].seq + 1;
    }
  }

  /** Which of `ids` have a stored result: one look-up each, or one read of all when many. */
  async #storedAmong(ids: string[]): Promise<Set<string>> {
    if (ids.length > 2_000) return new Set((await this.readStored()).keys());
    const found = new Set<string>();
    let next = 0;
    const lane = async () => {
      while (next < ids.length) {
        const id = ids[next++];
        const m = await this.t.lastMessage("RESULTS", `${OUTCOME_PREFIX}${id}`).catch(() => null);
        if (m) found.add(id);
      }
    };
    await Promise.all(Array.from({ length: 32 }, lane));
    return found;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const w of this.#waiters) w.resolve(Date.now());
    await this.t.close();
  }

  #onResult(subject: string, data: Uint8Array, seq: string | undefined): void {
    const at = Date.now();
    this.arrivals.push(at);
    const id = subject.slice(RESULT_PREFIX.length);
    const hash = fnv1a(data);
    let result: TaskResult | undefined;
    try {
      result = JSON.parse(new TextDecoder().decode(data)) as TaskResult;
    } catch {
      // Not JSON: it still counts as a message for this id.
    }
    const seen = this.live.get(id);
    if (!seen) {
      this.live.set(id, { hash, seq, state: String(result?.state), at, count: 1 });
      this.#recent.set(id, new TextDecoder().decode(data));
      if (this.#recent.size > RECENT_BODIES) this.#recent.delete(this.#recent.keys().next().value!);
    } else {
      seen.count++;
      if (seen.hash === hash) this.republished++;
      else {
        this.conflicts.push({
          id,
          firstSeq: seen.seq,
          laterSeq: seq,
          first: this.#recent.get(id) ?? "(no longer kept)",
          later: new TextDecoder().decode(data),
        });
      }
    }
    const finished = result?.finishedAt ? Date.parse(result.finishedAt) : at;
    const ready = this.#waiters.filter((w) => finished >= w.since);
    if (ready.length > 0) {
      this.#waiters = this.#waiters.filter((w) => finished < w.since);
      for (const w of ready) w.resolve(at);
    }
  }
}
