/**
 * NATS messages as the transport's types (`InMsg`, `DurableMsg`), headers
 * read and built, and PubAck errors as codes: what `nats.ts` turns nats.js's
 * objects into and back.
 *
 * @module
 */

import {
  canonicalMIMEHeaderKey,
  type Msg,
  type MsgHdrs,
  MsgHdrsImpl,
} from "@nats-io/transport-node";
import type { JsMsg } from "@nats-io/jetstream";
import type { DurableMsg, InMsg, PubAckError } from "./types.ts";
import type { FrameWriter } from "./nats_out.ts";

/** Nanoseconds in a millisecond (JetStream's durations and times are in nanoseconds). */
export const MS = 1_000_000;

/**
 * A header's first value. nats.js's own `get` and `set` copy the list of names
 * into a new array (twice for `set`) on every call, a kilobyte and a half of
 * garbage a task on the hot path: its header map is read directly here.
 */
export function headerOf(h: MsgHdrs | undefined, name: string): string | undefined {
  if (!h) return undefined;
  const map = h instanceof MsgHdrsImpl ? h.headers : new Map(h);
  const v = map.get(name)?.[0];
  if (v) return v;
  if (map.size === 0) return undefined;
  // Another spelling of the name? Only names of the same length are lowered and compared:
  // most look-ups are of a header the message does not have, once per message.
  const lower = name.toLowerCase();
  for (const [k, values] of map) {
    if (k.length === name.length && k.toLowerCase() === lower) return values[0];
  }
  return undefined;
}

/** Header names already checked for characters a header name may not have. */
const validNames = new Set<string>();

export function toHeaders(h: Record<string, string> | undefined): MsgHdrs | undefined {
  if (!h) return undefined;
  const out = new MsgHdrsImpl();
  for (const k of Object.keys(h)) {
    checkName(k);
    out.headers.set(k, [MsgHdrsImpl.validHeaderValue(h[k])]);
  }
  return out;
}

function checkName(k: string): void {
  if (validNames.has(k)) return;
  canonicalMIMEHeaderKey(k); // throws on a name nats.js would refuse
  if (validNames.size < 1_000) validNames.add(k);
}

/**
 * A header block as nats.js writes it (`NATS/1.0\r\nName: value\r\n\r\n`),
 * with the same checks as {@link toHeaders}; `""` for no headers.
 */
export function headerText(h: Record<string, string> | undefined): string {
  if (!h) return "";
  let s = "";
  for (const k of Object.keys(h)) s += headerLine(k, h[k]);
  return s === "" ? "" : `NATS/1.0${s}\r\n\r\n`;
}

function headerLine(k: string, v: string): string {
  checkName(k);
  return `\r\n${k}: ${MsgHdrsImpl.validHeaderValue(v)}`;
}

export function inMsg(m: Msg): InMsg {
  return {
    subject: m.subject,
    data: m.data,
    reply: m.reply,
    header: (n) => headerOf(m.headers, n),
  };
}

/** A JetStream message as a {@link DurableMsg}: methods on the prototype, no closures per message. */
export class JsDurable implements DurableMsg {
  constructor(readonly m: JsMsg, readonly out?: FrameWriter) {}
  get subject(): string {
    return this.m.subject;
  }
  get data(): Uint8Array {
    return this.m.data;
  }
  get seq(): number {
    return this.m.seq;
  }
  get deliveries(): number {
    return this.m.info.deliveryCount;
  }
  get storedAt(): number {
    return Math.floor(this.m.info.timestampNanos / MS);
  }
  header(name: string): string | undefined {
    return headerOf(this.m.headers, name);
  }
  ack(): void {
    // As nats.js's own ack (one final ack, marked on the message), written with the frames.
    const m = this.m as JsMsg & { didAck: boolean; reply?: string };
    if (m.didAck) return;
    if (this.out && m.reply && this.out.publish(m.reply, "+ACK")) m.didAck = true;
    else m.ack();
  }
  settler(): { ack(): void } {
    const reply = (this.m as JsMsg & { reply?: string }).reply;
    return this.out && reply ? new AckOnly(reply, this.out) : this;
  }
  nak(delayMs?: number): void {
    this.out?.flush();
    this.m.nak(delayMs);
  }
  working(): void {
    this.out?.flush();
    this.m.working();
  }
  term(): void {
    this.out?.flush();
    this.m.term();
  }
}

/**
 * The ack of a message and nothing else: its reply subject. What holds a task
 * until it ends keeps this, not the message with its body, headers and
 * nats.js's objects: thousands of tasks are held at once under a backlog, and
 * every byte they keep is copied by each young-generation collection they
 * live through.
 */
class AckOnly {
  #done = false;
  constructor(readonly reply: string, readonly out: FrameWriter) {}
  ack(): void {
    if (this.#done) return;
    this.#done = true;
    this.out.send(this.reply, "+ACK");
  }
}

/**
 * A PubAck's error as a code (err_codes and descriptions of nats-server 2.9).
 * 10077 ("store failed") carries the store's own reason: a subject, message
 * or byte limit with discard new, or the disk's write error.
 */
export function pubAckError(errCode: number | undefined, description: string): PubAckError {
  switch (errCode) {
    case 10071:
      return "WRONG_LAST_SEQUENCE";
    case 10023: // insufficient resources: JetStream's max_file_store (or max_memory_store) is used up
    case 10002: // resource limits exceeded for account
    case 10047: // insufficient storage resources available
      return "STORAGE_FULL";
    case 10077:
      if (/per subject/i.test(description)) return "SUBJECT_FULL";
      if (/^maximum (messages|bytes) exceeded/i.test(description)) return "STREAM_FULL";
      if (/no space left|quota|insufficient|resource/i.test(description)) {
        return "STORAGE_FULL";
      }
      return "ERROR";
    default:
      return "ERROR";
  }
}
