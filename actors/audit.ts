/**
 * The audit trail: every refusal (a rejected submission, whatever its code; a
 * request refused for its token, role or body) and every admin action
 * (`tasks.cancel` by anyone; `schedules.put`, `delete`, `pause`, `resume`,
 * `trigger`) becomes one `audit` log line and one message on `monitor.audit`:
 *
 * ```json
 * {"seq": 7, "at": "2026-11-28T07:55:36.007Z", "who": "alice", "action": "tasks.submit",
 *  "target": "t1", "outcome": "rejected", "code": "RESOURCE_EXHAUSTED",
 *  "message": "user \"alice\" is over …", "node": "n1"}
 * ```
 *
 * The format lives here only: the scheduler (submissions, `tasks.cancel`,
 * `tasks.status`) and the schedules actor call {@link Audit.record} with what
 * happened; one {@link Audit} per process numbers the messages (`seq`).
 *
 * What never goes in: a token or any header value (callers pass the verified
 * `sub` only), a payload or body. `message` is the error message the client
 * got, cut to {@link MAX_MESSAGE} characters, with anything shaped like a JWT
 * replaced by `<jwt>` (a client may put one in a field it gets quoted back).
 *
 * Floods: at most `perSecond` events (default {@link AUDIT_PER_SECOND}) are
 * published one by one in each second of the clock. Beyond that, events are
 * counted per (who, action, outcome, code) and, when the second ends, each
 * such group goes out once, with `repeated` (how many were held back), `target`
 * null and the group's first message. At most {@link MAX_GROUPS} groups keep
 * their `who`; beyond that `who` is null. A random-garbage flood therefore
 * costs a Map update per event and a handful of messages a second.
 *
 * @module
 */

import type { Clock, ErrorCode, Logger } from "../src/internal_mod.ts";

/** How an audited action ended. */
export type AuditOutcome = "ok" | "rejected" | "denied";

/** What a caller tells the audit. */
export interface AuditEntry {
  /** The verified token's `sub`; null when there was no valid token. */
  who: string | null;
  /** `tasks.submit`, `tasks.cancel`, `tasks.status`, `schedules.<op>`. */
  action: string;
  /** The task id or schedule name acted on, when known. */
  target: string | null;
  outcome: AuditOutcome;
  code?: ErrorCode;
  message?: string;
}

/** One message on `monitor.audit`. */
export interface AuditEvent extends AuditEntry {
  /** Grows by 1 per message of this process (restarts at 1 with the process). */
  seq: number;
  /** ISO time. */
  at: string;
  /** Events of this group held back in the second before (only on a coalesced message). */
  repeated?: number;
  /** The node (process) that saw it. */
  node: string;
}

/** Events published one by one per second before coalescing starts. */
export const AUDIT_PER_SECOND = 100;
/** Coalesced groups per second that keep their `who`. */
export const MAX_GROUPS = 100;
/** Longest `message`, characters. */
export const MAX_MESSAGE = 300;

/** Auth failures are `denied`; every other refusal is `rejected`. */
export function outcomeOf(code: ErrorCode): "denied" | "rejected" {
  return code === "UNAUTHENTICATED" || code === "PERMISSION_DENIED" ? "denied" : "rejected";
}

/** Options of {@link Audit}. */
export interface AuditOptions {
  /** The node id written in every event. */
  node: string;
  clock: Clock;
  log: Logger;
  /** Publish one encoded event (on `monitor.audit`). */
  publish(data: Uint8Array): void;
  /** Events published one by one per second (default {@link AUDIT_PER_SECOND}). */
  perSecond?: number;
}

const JWT = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(\.[A-Za-z0-9_-]*)?/g;
const encoder = new TextEncoder();

interface Group {
  entry: AuditEntry;
  n: number;
}

/** The audit trail of one process. */
export class Audit {
  #o: AuditOptions;
  #perSecond: number;
  #seq = 0;
  #windowEnd = 0;
  #budget = 0;
  #groups = new Map<string, Group>();
  #flush: { cancel(): void } | null = null;

  constructor(o: AuditOptions) {
    this.#o = o;
    this.#perSecond = o.perSecond ?? AUDIT_PER_SECOND;
  }

  /** Record one event. O(1); never throws. */
  record(entry: AuditEntry): void {
    const now = this.#o.clock.now();
    if (now >= this.#windowEnd) this.#roll(now);
    if (this.#budget > 0) {
      this.#budget--;
      this.#emit(entry, now);
      return;
    }
    let key = groupKey(entry);
    let group = this.#groups.get(key);
    if (!group && entry.who !== null && this.#groups.size >= MAX_GROUPS) {
      entry = { ...entry, who: null };
      key = groupKey(entry);
      group = this.#groups.get(key);
    }
    if (!group) {
      this.#groups.set(key, group = { entry: { ...entry, target: null }, n: 0 });
    }
    group.n++;
    this.#flush ??= this.#o.clock.setTimer(this.#windowEnd - now, () => {
      this.#flush = null;
      this.#roll(this.#o.clock.now());
    });
  }

  /** Publish what was held back, now (at shutdown, in tests). */
  flush(): void {
    this.#roll(this.#o.clock.now());
  }

  /** Start a new second: publish the held-back groups, refill the budget. */
  #roll(now: number): void {
    this.#flush?.cancel();
    this.#flush = null;
    for (const g of this.#groups.values()) this.#emit(g.entry, now, g.n);
    this.#groups.clear();
    this.#windowEnd = (Math.floor(now / 1000) + 1) * 1000;
    this.#budget = this.#perSecond;
  }

  #emit(e: AuditEntry, now: number, repeated?: number): void {
    const event: AuditEvent = {
      seq: ++this.#seq,
      at: new Date(now).toISOString(),
      who: e.who === null ? null : e.who.slice(0, 200),
      action: e.action,
      target: e.target,
      outcome: e.outcome,
    } as AuditEvent;
    if (e.code) event.code = e.code;
    if (e.message) event.message = clean(e.message);
    if (repeated) event.repeated = repeated;
    event.node = this.#o.node;
    try {
      this.#o.log.info("audit", { ...event });
      this.#o.publish(encoder.encode(JSON.stringify(event)));
    } catch {
      // The trail must never break what it watches: a closed connection loses the event.
    }
  }
}

/** Events that coalesce: same who, action, outcome and code. */
function groupKey(e: AuditEntry): string {
  return `${e.who === null ? "\u0001" : `\u0002${e.who}`}\u0000${e.action}\u0000${e.outcome}\u0000${
    e.code ?? ""
  }`;
}

/** Blank anything shaped like a JWT, then cut the message. */
function clean(message: string): string {
  const text = message.replace(JWT, "<jwt>");
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE - 1)}…` : text;
}
