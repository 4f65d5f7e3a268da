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
 * Headers nats.js has read (`MsgHdrs`) as {@link receivedHeaders} gives them: each name with its
 * first value. nats.js's own `get` copies the list of names into a new array on every call; its
 * map is read directly here.
 */
export function firstValues(h: MsgHdrs | undefined): ReadonlyMap<string, string> {
  const map = new Map<string, string>();
  for (const [k, v] of h instanceof MsgHdrsImpl ? h.headers : h ?? []) {
    if (!map.has(k)) map.set(k, v[0]);
  }
  return map;
}

/** Header names already checked for characters a header name may not have. */
const validNames = new Set<string>();

export function toHeaders(h: Record<string, string> | undefined): MsgHdrs | undefined {
  if (!h) return undefined;
  const out = new MsgHdrsImpl();
  for (const k of Object.keys(h)) out.headers.set(k, [checked(k, h[k])]);
  return out;
}

/** A header's value as nats.js would send it (trimmed); throws on what nats.js would refuse. */
function checked(k: string, v: string): string {
  if (!validNames.has(k)) {
    canonicalMIMEHeaderKey(k); // throws on a name nats.js would refuse
    if (validNames.size < 1_000) validNames.add(k);
  }
  return MsgHdrsImpl.validHeaderValue(v);
}

/**
 * A header block as nats.js writes it (`NATS/1.0\r\nName: value\r\n\r\n`),
 * with the same checks as {@link toHeaders}; `""` for no headers.
 */
export function headerText(h: Record<string, string> | undefined): string {
  if (!h) return "";
  let s = "";
  for (const k of Object.keys(h)) s += `\r\n${k}: ${checked(k, h[k])}`;
  return s === "" ? "" : `NATS/1.0${s}\r\n\r\n`;
}

export function inMsg(m: Msg): InMsg {
  let h: ReadonlyMap<string, string> | undefined;
  return {
    subject: m.subject,
    data: m.data,
    reply: m.reply,
    header: (n) => headerIn(h ??= receivedHeaders(m), n),
  };
}

const NO_HEADERS: ReadonlyMap<string, string> = new Map();
const utf8 = new TextDecoder();

/**
 * The headers of a received message, read from its bytes: each name as
 * written, with its first value. nats.js's own reading (`msg.headers`) builds
 * a map of arrays through its checks of each name and value, which costs more
 * than the rest of reading a submission, and throws on a name it would not
 * send (a space, a byte past ASCII): a submission from a client that checks
 * nothing made the scheduler throw wherever it read a header. Here such a
 * line is kept as written and simply never asked for. Lines are
 * `Name: value` (the value trimmed, as nats.js does) after the status line; a
 * line without a name before its colon is skipped. If nats.js's message object
 * is not what this was written against (its raw bytes, starting with a header
 * block of the length it gives), its own reading is used.
 */
export function receivedHeaders(m: Pick<Msg, "headers">): ReadonlyMap<string, string> {
  const text = headerBlockText(m);
  if (text === undefined) return firstValues(m.headers);
  if (text === "") return NO_HEADERS;
  const map = new Map<string, string>();
  forEachHeaderLine(text, (name, value) => {
    if (!map.has(name)) map.set(name, value);
  });
  return map;
}

/**
 * A received message's header block as written (`NATS/1.0…\r\n\r\n`), `""`
 * when it has none, or `undefined` when nats.js's message object is not what
 * this was written against (its raw bytes, starting with a header block of
 * the length it gives).
 */
export function headerBlockText(m: Pick<Msg, "headers">): string | undefined {
  const raw = m as unknown as { _rdata?: unknown; _msg?: { hdr?: unknown } };
  const hdr = raw._msg?.hdr;
  const bytes = raw._rdata;
  if (typeof hdr === "number" && hdr <= 0 && bytes !== undefined) return "";
  if (typeof hdr !== "number" || !(bytes instanceof Uint8Array) || !isHeaderBlock(bytes, hdr)) {
    return undefined;
  }
  return utf8.decode(bytes.subarray(0, hdr));
}

/**
 * Each `Name: value` line of a header block after its status line, in order
 * (the value trimmed); a line without a name before its colon is skipped.
 */
export function forEachHeaderLine(text: string, fn: (name: string, value: string) => void): void {
  let at = text.indexOf("\r\n");
  while (at >= 0 && at + 2 < text.length) {
    const from = at + 2;
    at = text.indexOf("\r\n", from);
    const line = text.slice(from, at < 0 ? text.length : at);
    const colon = line.indexOf(":");
    if (colon > 0) fn(line.slice(0, colon), line.slice(colon + 1).trim());
  }
}

/** Do `bytes` start with a header block (`NATS/…`) at least `hdr` long? */
function isHeaderBlock(bytes: Uint8Array, hdr: number): boolean {
  return hdr >= 5 && hdr <= bytes.length && bytes[0] === 0x4e && bytes[1] === 0x41 &&
    bytes[2] === 0x54 && bytes[3] === 0x53 && bytes[4] === 0x2f;
}

/** {@link receivedHeaders} of a JetStream delivery: the message nats.js received, inside it. */
export function jsHeaders(m: JsMsg): ReadonlyMap<string, string> {
  return receivedHeaders((m as unknown as { msg?: Msg }).msg ?? m);
}

/**
 * A header's first value from {@link receivedHeaders} or {@link firstValues}: the name as given,
 * else another spelling of it (only names of the same length are lowered and compared: most
 * look-ups are of a header the message does not have).
 */
export function headerIn(h: ReadonlyMap<string, string>, name: string): string | undefined {
  const v = h.get(name);
  if (v) return v;
  if (h.size === 0) return undefined;
  const lower = name.toLowerCase();
  for (const [k, value] of h) {
    if (k.length === name.length && k.toLowerCase() === lower) return value;
  }
  return undefined;
}

/** A delivery's stream sequence, delivery count and storage time (ms), from its reply subject. */
export interface AckInfo {
  seq: number;
  deliveries: number;
  /** When the stream stored it, in whole milliseconds since the epoch. */
  ms: number;
}

/**
 * Read a JetStream reply subject: `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer
 * seq>.<time ns>.<pending>` (nats-server 2.9), or with `<domain>.<account hash>` after `ACK` and
 * perhaps a token more at the end (later servers). Null for anything else. Numbers are read digit
 * by digit from the string: no array of tokens, no substrings.
 */
export function ackInfo(reply: string): AckInfo | null {
  if (!reply.startsWith("$JS.ACK.")) return null;
  const dots: number[] = ACK_DOTS;
  let n = 0;
  for (let i = reply.indexOf("."); i >= 0 && n < 12; i = reply.indexOf(".", i + 1)) dots[n++] = i;
  // Tokens are n + 1: 9 in the old form, 11 or 12 in the new; the fields start at `first`.
  const first = n === 8 ? 4 : n === 10 || n === 11 ? 6 : -1;
  if (first < 0) return null;
  const end = (k: number) => (k < n ? dots[k] : reply.length);
  const deliveries = digits(reply, dots[first - 1] + 1, end(first));
  const seq = digits(reply, dots[first] + 1, end(first + 1));
  // Nanoseconds: all but the last six digits are the milliseconds, exactly (no float rounding).
  const ms = digits(reply, dots[first + 2] + 1, end(first + 3) - 6);
  if (deliveries < 0 || seq < 0 || ms < 0) return null;
  return { seq, deliveries, ms };
}

const ACK_DOTS: number[] = new Array(12).fill(0);

/** The decimal number in `s` from `from` to `to`, or -1 if that is not all digits. */
function digits(s: string, from: number, to: number): number {
  if (to <= from) return -1;
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/**
 * Read a successful PubAck from its bytes, without decoding them to text and parsing JSON.
 * nats-server writes it from a template, `{"stream":"S", "seq":N}`, with `"domain"` and
 * `"duplicate": true` when they apply and a space after some of the commas and colons; any JSON
 * white space is allowed there. Null for anything else (an error, another shape): the caller
 * parses those as JSON.
 */
export function plainPubAck(d: Uint8Array): { seq: number; duplicate: boolean } | null {
  const n = d.length;
  if (n < 20 || n > 512 || d[n - 1] !== 0x7d || !startsWith(d, 0, STREAM_KEY)) return null;
  if (find(d, ERROR_KEY, 0) >= 0) return null;
  const at = find(d, SEQ_KEY, STREAM_KEY.length);
  if (at < 0) return null;
  let i = space(d, at + SEQ_KEY.length);
  let seq = 0;
  const from = i;
  for (; i < n && d[i] >= 0x30 && d[i] <= 0x39; i++) seq = seq * 10 + (d[i] - 0x30);
  if (i === from || i - from > 16 || seq > Number.MAX_SAFE_INTEGER) return null;
  i = space(d, i);
  if (d[i] !== 0x2c && d[i] !== 0x7d) return null;
  const dup = find(d, DUPLICATE_KEY, STREAM_KEY.length);
  if (dup < 0) return { seq, duplicate: false };
  const v = space(d, dup + DUPLICATE_KEY.length);
  if (startsWith(d, v, TRUE)) return { seq, duplicate: true };
  if (startsWith(d, v, FALSE)) return { seq, duplicate: false };
  return null;
}

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const STREAM_KEY = ascii('{"stream":"');
const SEQ_KEY = ascii('"seq":');
const ERROR_KEY = ascii('"error"');
const DUPLICATE_KEY = ascii('"duplicate":');
const TRUE = ascii("true");
const FALSE = ascii("false");

/** The index of the first byte at or after `i` that is not JSON white space. */
function space(d: Uint8Array, i: number): number {
  while (i < d.length && (d[i] === 0x20 || d[i] === 0x09 || d[i] === 0x0a || d[i] === 0x0d)) i++;
  return i;
}

function startsWith(d: Uint8Array, at: number, key: Uint8Array): boolean {
  if (at + key.length > d.length) return false;
  for (let k = 0; k < key.length; k++) if (d[at + k] !== key[k]) return false;
  return true;
}

/** Where `key` first occurs in `d` at or after `from`, or -1. */
function find(d: Uint8Array, key: Uint8Array, from: number): number {
  const last = d.length - key.length;
  for (let i = from; i <= last; i++) if (d[i] === key[0] && startsWith(d, i, key)) return i;
  return -1;
}

/**
 * The number a PubAck's subject ends with (`<inbox>.<n>`, the digits from `from`): read from the
 * subject's bytes as nats.js received them, not from the text its `subject` decodes for each
 * message; -1 when they are not all digits.
 */
export function pubAckId(m: Msg, from: number): number {
  const raw = (m as unknown as { _msg?: { subject?: unknown } })._msg?.subject;
  // Not nats.js's subject bytes as this was written against (the inbox, then "."): its text.
  if (!(raw instanceof Uint8Array) || raw[from - 1] !== 0x2e) {
    return digits(m.subject, from, m.subject.length);
  }
  return digitsIn(raw, from, raw.length);
}

/** The plain decimal digits from `from` to `to` in `b` as a number; -1 if none, or not all digits. */
export function digitsIn(b: Uint8Array, from: number, to: number): number {
  if (to <= from) return -1;
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = b[i] - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** The body of a positive ack. */
const ACK = "+ACK";

/** A JetStream message as a {@link DurableMsg}: methods on the prototype, no closures per message. */
export class JsDurable implements DurableMsg {
  constructor(readonly m: JsMsg, readonly out?: FrameWriter) {}
  get subject(): string {
    return this.m.subject;
  }
  get data(): Uint8Array {
    return this.m.data;
  }
  /** The subject its acks go to (nats.js's `JsMsg` has it, its type does not say so). */
  get #reply(): string {
    return (this.m as JsMsg & { reply?: string }).reply ?? "";
  }
  #info: AckInfo | undefined;
  /** What the reply subject says (nats.js's own parse splits it into an array first). */
  get #ack(): AckInfo {
    if (this.#info) return this.#info;
    let info = ackInfo(this.#reply);
    if (!info) {
      const i = this.m.info;
      info = {
        seq: i.streamSequence,
        deliveries: i.deliveryCount,
        ms: Math.floor(i.timestampNanos / MS),
      };
    }
    return this.#info = info;
  }
  get seq(): number {
    return this.#ack.seq;
  }
  get deliveries(): number {
    return this.#ack.deliveries;
  }
  get storedAt(): number {
    return this.#ack.ms;
  }
  #headers: ReadonlyMap<string, string> | undefined;
  header(name: string): string | undefined {
    return headerIn(this.#headers ??= jsHeaders(this.m), name);
  }
  ack(): void {
    // As nats.js's own ack: one final ack, marked on the message before it is sent.
    const m = this.m as JsMsg & { didAck: boolean };
    if (m.didAck) return;
    if (!this.out || !this.#reply) return m.ack();
    m.didAck = true;
    this.out.send(this.#reply, ACK);
  }
  settler(): { ack(): void } {
    return this.out && this.#reply ? new AckOnly(this.#reply, this.out) : this;
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
    this.out.send(this.reply, ACK);
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
