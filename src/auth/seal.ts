/**
 * Seals for the messages between schedulers and worker nodes (`sched.*` and
 * the heartbeats on `monitor.worker.<node>`): an HMAC-SHA256 over the
 * subject, the sender, a counter, a time and the body, with a key derived
 * from the cluster secret. A node acts on nothing that is not sealed by a
 * holder of that secret, so a connection that can publish on NATS but does
 * not know the secret cannot assign, cancel, fence or acknowledge anything.
 *
 * The seal travels in one header, `Ts-Seal`:
 *
 * ```
 * v1.<sender>.<boot>.<counter>.<time ms>.<mac, base64url>
 * ```
 *
 * - the subject is in the MAC, so a sealed message cannot be redirected to
 *   another node's subject;
 * - `boot` is random per sealer and `counter` grows by one per message: an
 *   opener remembers the recent counters of each (sender, boot) and refuses
 *   one it has seen (a replay), or one far below the highest it has seen;
 * - `time` must be within {@link MAX_SKEW_MS} of the opener's clock, so a
 *   message recorded long ago is refused even by an opener that forgot its
 *   counters (a restart).
 *
 * @module
 */

import { createHmac, hkdfSync, timingSafeEqual } from "node:crypto";

/** The header that carries a seal. */
export const SEAL_HEADER = "Ts-Seal";
/** How far a seal's time may be from the opener's clock. */
export const MAX_SKEW_MS = 60_000;
/** How many recent counters of one sender are remembered. */
const WINDOW = 4_096;
/** How many senders are remembered at most (oldest forgotten first). */
const MAX_SENDERS = 10_000;

const SENDER = /^[A-Za-z0-9_-]{1,128}$/;

/** Why a message was refused. */
export type SealProblem = "unsigned" | "malformed" | "forged" | "stale" | "replayed";

/** The outcome of opening a message. */
export type Opened = { ok: true; sender: string } | { ok: false; reason: SealProblem };

/** The key for seals, derived from the cluster secret (never the secret itself). */
export function sealKey(secret: string): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", secret, "task-scheduler", "sched.v1 seal", 32));
}

function mac(key: Uint8Array, head: string, subject: string, body: Uint8Array): Buffer {
  return createHmac("sha256", key).update(head).update("\n").update(subject).update("\n")
    .update(body).digest();
}

/** Seals the messages one process sends. */
export class Sealer {
  #key: Uint8Array;
  #sender: string;
  #boot: string;
  #counter = 0;
  #now: () => number;

  /** `sender` names this process (letters, digits, `_`, `-`). */
  constructor(secret: string, sender: string, now: () => number = Date.now) {
    if (!SENDER.test(sender)) throw new Error(`seal sender must be a token: got ${sender}`);
    this.#key = sealKey(secret);
    this.#sender = sender;
    this.#boot = crypto.randomUUID().slice(0, 8);
    this.#now = now;
  }

  /** The headers that seal `body` for `subject`. */
  seal(subject: string, body: Uint8Array): Record<string, string> {
    const head = `v1.${this.#sender}.${this.#boot}.${++this.#counter}.${this.#now()}`;
    const tag = mac(this.#key, head, subject, body).toString("base64url");
    return { [SEAL_HEADER]: `${head}.${tag}` };
  }
}

interface Seen {
  high: number;
  recent: Set<number>;
}

/** Checks seals: the MAC, the time and that no message is taken twice. */
export class Opener {
  #key: Uint8Array;
  #now: () => number;
  #senders = new Map<string, Seen>();

  constructor(secret: string, now: () => number = Date.now) {
    this.#key = sealKey(secret);
    this.#now = now;
  }

  /** Open a received message: is it sealed by a holder of the secret, for this subject, once? */
  open(subject: string, body: Uint8Array, header: string | undefined): Opened {
    if (!header) return { ok: false, reason: "unsigned" };
    const parts = header.split(".");
    if (parts.length !== 6 || parts[0] !== "v1" || !SENDER.test(parts[1])) {
      return { ok: false, reason: "malformed" };
    }
    const [, sender, boot, countText, timeText, tag] = parts;
    const counter = Number(countText);
    const time = Number(timeText);
    if (!Number.isSafeInteger(counter) || counter < 1 || !Number.isSafeInteger(time)) {
      return { ok: false, reason: "malformed" };
    }
    const expected = mac(this.#key, parts.slice(0, 5).join("."), subject, body);
    const given = Buffer.from(tag, "base64url");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return { ok: false, reason: "forged" };
    }
    if (Math.abs(this.#now() - time) > MAX_SKEW_MS) return { ok: false, reason: "stale" };
    const key = `${sender}.${boot}`;
    let seen = this.#senders.get(key);
    if (!seen) {
      seen = { high: 0, recent: new Set() };
      this.#senders.set(key, seen);
      if (this.#senders.size > MAX_SENDERS) {
        this.#senders.delete(this.#senders.keys().next().value!);
      }
    }
    if (counter <= seen.high - WINDOW || seen.recent.has(counter)) {
      return { ok: false, reason: "replayed" };
    }
    seen.recent.add(counter);
    if (counter > seen.high) seen.high = counter;
    if (seen.recent.size > 2 * WINDOW) {
      for (const c of seen.recent) if (c <= seen.high - WINDOW) seen.recent.delete(c);
    }
    return { ok: true, sender };
  }
}
