/**
 * Incoming NATS frames: the deliveries (`MSG`, `HMSG`) read ahead of nats.js's
 * protocol parser.
 *
 * nats.js's parser is a port of nats.go's state machine: every byte of every
 * protocol line goes through a `switch` whose cases are property reads
 * (`State.X`, `cc.X`), tried one after another. Measured in a loop, that cost
 * 1.4 to 2.3 µs a message on this project's slower machine, and a task brings
 * the node two messages or more (its submission, or its share of a batch, and
 * the PubAck of its result).
 *
 * Here each socket read goes first through {@link readDeliveries}, which takes
 * the whole frames that are deliveries written as nats-server writes them:
 * `MSG` or `HMSG` in capitals, fields split by spaces, numbers in plain
 * digits within nats.js's limits, the line ended by CR LF, and the payload,
 * followed by CR LF, all within this read. It hands each to nats.js's protocol
 * handler exactly as the parser would (the same `MsgArg` fields, the subject,
 * reply and payload as views of the same bytes). A frame that is anything
 * else (`PING`, `INFO`, `-ERR`, a frame split between two reads, any spelling
 * it does not expect) goes to nats.js's parser, from its first byte to its
 * last, as does the end of a frame nats.js's parser was reading when the read
 * began; then the reader goes on. nats.js's parser is never cut inside a line
 * (it reads some malformed lines differently depending on where a read ends:
 * an LF right after an operation's space starts its argument), so what this
 * reader does not take is parsed, and refused, as nats.js always did (an error
 * names the bytes up to the end of the frame given, not of the read).
 *
 * It is installed on nats.js's `Parser` class ({@link useFastDeliveries}), so
 * the parser nats.js makes again after a reconnect has it too, and only when
 * that class is the one the connection's parser is made from and has the
 * fields the reader relies on; otherwise nothing changes.
 *
 * @module
 */

import { Kind, Parser, State } from "@nats-io/nats-core/internal";
import type { NatsConnection } from "@nats-io/transport-node";
import { digitsIn } from "./nats_msg.ts";

/** A delivery's protocol fields, as nats.js's parser hands them on. */
export interface DeliveryArgs {
  sid: number;
  /** The header block's length, or -1 for a `MSG`. */
  hdr: number;
  size: number;
  subject: Uint8Array;
  reply: Uint8Array | undefined;
}

/** What nats.js's parser gives its protocol handler for a delivery. */
export interface DeliveryEvent {
  kind: number;
  msg: DeliveryArgs;
  data: Uint8Array;
}

/** Where deliveries go: nats.js's protocol handler. */
export interface DeliverySink {
  push(e: DeliveryEvent): void;
}

const SP = 0x20;
const CR = 0x0d;
const LF = 0x0a;
const TAB = 0x09;
const M = 0x4d;
const S = 0x53;
const G = 0x47;
const H = 0x48;
/** nats.js's largest header block and payload. */
const MAX_SIZE = 64 * 1024 * 1024;
/** nats.js reads at most 15 digits (below `Number.MAX_SAFE_INTEGER`). */
const MAX_DIGITS = 15;

/** Field bounds of the line being read: start and end of up to five fields. */
const bounds = new Int32Array(10);

/** Plain digits from `start` to `end` as a number, or -1 (as nats.js's `protoParseInt`). */
function digits(buf: Uint8Array, start: number, end: number): number {
  return end - start > MAX_DIGITS ? -1 : digitsIn(buf, start, end);
}

/**
 * Hand each whole delivery from `start` in `buf` on to `to`; returns the
 * index of the first byte not taken (`buf.length` when all were).
 */
export function readDeliveries(buf: Uint8Array, to: DeliverySink, start = 0): number {
  const n = buf.length;
  let i = start;
  while (i < n) {
    let p: number;
    let headers: boolean;
    if (buf[i] === M && buf[i + 1] === S && buf[i + 2] === G && buf[i + 3] === SP) {
      p = i + 4;
      headers = false;
    } else if (
      buf[i] === H && buf[i + 1] === M && buf[i + 2] === S && buf[i + 3] === G && buf[i + 4] === SP
    ) {
      p = i + 5;
      headers = true;
    } else {
      return i;
    }
    // The fields, split by spaces (nats-server writes two where a PubAck has no reply), up to
    // CR LF.
    let count = 0;
    let start = p;
    let j = p;
    for (;;) {
      if (j >= n) return i;
      const b = buf[j];
      if (b === SP || b === CR) {
        if (j > start) {
          if (count === 5) return i;
          bounds[2 * count] = start;
          bounds[2 * count + 1] = j;
          count++;
        }
        if (b === CR) {
          if (j + 1 >= n || buf[j + 1] !== LF) return i;
          break;
        }
        start = j + 1;
      } else if (b === LF || b === TAB) {
        return i;
      }
      j++;
    }
    const fields = count - (headers ? 4 : 3);
    if (fields !== 0 && fields !== 1) return i;
    const hasReply = fields === 1;
    const sid = digits(buf, bounds[2], bounds[3]);
    const last = 2 * (count - 1);
    const size = digits(buf, bounds[last], bounds[last + 1]);
    const hdr = headers ? digits(buf, bounds[last - 2], bounds[last - 1]) : -1;
    if (sid < 0 || size < 0 || size > MAX_SIZE) return i;
    if (headers && (hdr < 0 || hdr > size)) return i;
    const from = j + 2;
    const end = from + size;
    if (end + 2 > n || buf[end] !== CR || buf[end + 1] !== LF) return i;
    to.push({
      kind: Kind.MSG,
      msg: {
        sid,
        hdr,
        size,
        subject: buf.subarray(bounds[0], bounds[1]),
        reply: hasReply ? buf.subarray(bounds[4], bounds[5]) : undefined,
      },
      data: buf.subarray(from, end),
    });
    i = end + 2;
  }
  return i;
}

/** What is used of nats.js's parser. */
interface ParserInternals {
  state: number;
  dispatcher: DeliverySink;
  parse(buf: Uint8Array): void;
  /** The delivery being read, while in one. */
  ma?: { size?: unknown };
  /** Its payload so far, when it was split between reads. */
  msgBuf?: { length?: unknown };
}

/**
 * The end of what nats.js's parser should be given from `from` to finish the
 * frame it is in, or the one that starts there: just past the next LF that
 * ends a line, once the rest of a payload it is gathering is skipped (a
 * payload may hold LFs); `buf.length` when the frame does not end in this
 * read. Giving it more than the frame is safe (it is what it was given
 * before); giving it less could change how it reads a malformed line.
 */
function frameEnd(p: ParserInternals, buf: Uint8Array, from: number): number {
  let at = from;
  if (
    p.state === State.MSG_PAYLOAD && typeof p.ma?.size === "number" &&
    typeof p.msgBuf?.length === "number"
  ) {
    at += Math.max(0, p.ma.size - p.msgBuf.length);
    if (at >= buf.length) return buf.length;
  }
  // An LF right after an operation's spaces is the first byte of its argument, not the end of
  // its line, to nats.js's parser; cut there, it would read the rest of the line differently.
  let lf = buf.indexOf(LF, at);
  while (lf >= 0 && startsArgument(p, buf, from, lf)) lf = buf.indexOf(LF, lf + 1);
  return lf < 0 ? buf.length : lf + 1;
}

/** Whether the LF at `lf` may be the first byte of an argument (after spaces or tabs). */
function startsArgument(p: ParserInternals, buf: Uint8Array, from: number, lf: number): boolean {
  if (lf > from) return buf[lf - 1] === SP || buf[lf - 1] === TAB;
  return p.state === State.OP_MSG_SPC || p.state === State.OP_INFO_SPC ||
    p.state === State.OP_MINUS_ERR_SPC;
}

/**
 * `parse` (nats.js's, given `this` as its parser) with the deliveries read
 * ahead of it: what {@link useFastDeliveries} installs.
 */
export function withDeliveries(
  parse: (this: never, buf: Uint8Array) => void,
): (this: unknown, buf: Uint8Array) => void {
  const original = parse as (this: ParserInternals, buf: Uint8Array) => void;
  return function (this: unknown, buf: Uint8Array): void {
    const p = this as ParserInternals;
    const n = buf.length;
    let i = 0;
    while (i < n) {
      if (p.state === State.OP_START) {
        i = readDeliveries(buf, p.dispatcher, i);
        if (i >= n) return;
      }
      const end = frameEnd(p, buf, i);
      original.call(p, i === 0 && end === n ? buf : buf.subarray(i, end));
      i = end;
    }
  };
}

const INSTALLED = Symbol.for("task-scheduler.fastDeliveries");

/**
 * Read deliveries ahead of nats.js's parser on `nc` and on every connection
 * made with the same nats.js (the parser's class is changed once). Returns
 * whether they are: false when `nc`'s parser is not the class imported here,
 * or does not have the fields this reader relies on.
 *
 * nats.js's parser is given one frame at a time, the one the reader did not
 * take or the one nats.js was in the middle of when the read began (under
 * load most reads begin in the middle of a frame), so the reader takes over
 * again right after it.
 */
export function useFastDeliveries(nc: NatsConnection): boolean {
  const proto = Parser.prototype as unknown as {
    parse: (this: never, buf: Uint8Array) => void;
    [INSTALLED]?: true;
  };
  if (proto[INSTALLED]) return true;
  const parser = (nc as unknown as { protocol?: { parser?: ParserInternals } }).protocol?.parser;
  if (
    !parser || Object.getPrototypeOf(parser) !== proto || typeof parser.state !== "number" ||
    typeof parser.dispatcher?.push !== "function" || typeof proto.parse !== "function" ||
    State.OP_START !== 0 || State.MSG_PAYLOAD === undefined || Kind.MSG !== 2
  ) {
    return false;
  }
  proto.parse = withDeliveries(proto.parse);
  proto[INSTALLED] = true;
  return true;
}
