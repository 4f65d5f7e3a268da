/**
 * Outgoing NATS frames as text, encoded once for many messages.
 *
 * nats.js's `publish` encodes each message's protocol line (and its headers)
 * with a `TextEncoder` call of its own, each a fresh `ArrayBuffer`, and then
 * copies every piece into one buffer before the socket write: with a task's
 * delta, its result and the ack of its submission, that was about a tenth of
 * the node's CPU a task and three kilobytes of garbage. Here a message whose
 * payload is text is appended, protocol line and all, to one string; the
 * string is encoded once, at the end of the microtask, and handed to the
 * connection as a single command, as if it were one already encoded frame.
 *
 * The frames keep their order among themselves, and with everything else the
 * transport sends: it calls {@link FrameWriter.flush} before any other call
 * it makes on the connection. (What nats.js sends by itself, a consumer's
 * pull requests and pings, is not ordered with them.) The checks of nats.js's
 * `publish` are kept: a closed or draining connection, a subject with white
 * space, a message past the server's `max_payload` are not written here, and
 * go through nats.js, which throws what it always threw.
 *
 * This reaches into nats.js's connection for its protocol handler
 * (`protocol.sendCommand`, pinned at the version in `deno.json`); without it,
 * every message goes through nats.js as before.
 *
 * @module
 */

import type { NatsConnection } from "@nats-io/transport-node";
import { headerText, toHeaders } from "./nats_msg.ts";

/** What is used of nats.js's protocol handler. */
interface Protocol {
  sendCommand(cmd: Uint8Array): void;
  noMorePublishing?: boolean;
  info?: { max_payload?: number };
  /** Counted as nats.js's `publish` counts them (`nc.stats()`). */
  outMsgs: number;
  outBytes: number;
}

const WHITESPACE = /[ \n\r\t]/;
const NOT_ASCII = /[\u0080-\uffff]/;
const encoder = new TextEncoder();

/** The UTF-8 length of `s` (a lone surrogate becomes U+FFFD, three bytes, as `TextEncoder` does). */
export function utf8Length(s: string): number {
  if (!NOT_ASCII.test(s)) return s.length;
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      n += 1;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++; // a pair: four bytes for two code units
      n += 2;
    } else {
      n += 2;
    }
  }
  return n;
}

/** Text frames for one connection, written once a microtask. */
export class FrameWriter {
  readonly #nc: NatsConnection;
  readonly #protocol: Protocol | null;
  #text = "";
  #queued = false;
  readonly #flush = () => this.flush();

  constructor(nc: NatsConnection) {
    this.#nc = nc;
    const p = (nc as unknown as { protocol?: Protocol }).protocol;
    this.#protocol = p && typeof p.sendCommand === "function" ? p : null;
  }

  /**
   * Send one message. Text goes as a queued frame when it can; bytes, and
   * text the checks below refuse, go through nats.js after the frames queued
   * before them, so nats.js throws what it always threw.
   */
  send(
    subject: string,
    data: Uint8Array | string,
    reply?: string,
    headers?: Record<string, string>,
  ): void {
    if (typeof data === "string") {
      if (this.#queue(subject, data, reply, headerText(headers))) return;
      data = encoder.encode(data);
    }
    this.flush();
    this.#nc.publish(subject, data, { reply, headers: toHeaders(headers) });
  }

  /** Queue a text message (`headers`: a whole header block, or ""); false when it cannot be. */
  #queue(subject: string, payload: string, reply: string | undefined, headers: string): boolean {
    const p = this.#protocol;
    if (p === null || p.noMorePublishing || this.#nc.isClosed()) return false;
    if (subject.length === 0 || WHITESPACE.test(subject)) return false;
    if (reply && WHITESPACE.test(reply)) return false;
    const size = utf8Length(payload);
    const hlen = headers ? utf8Length(headers) : 0;
    const max = p.info?.max_payload;
    if (max !== undefined && size + hlen > max) return false;
    const line = headers
      ? reply
        ? `HPUB ${subject} ${reply} ${hlen} ${hlen + size}\r\n${headers}`
        : `HPUB ${subject} ${hlen} ${hlen + size}\r\n${headers}`
      : reply
      ? `PUB ${subject} ${reply} ${size}\r\n`
      : `PUB ${subject} ${size}\r\n`;
    this.#text += `${line}${payload}\r\n`;
    p.outMsgs++;
    p.outBytes += hlen + size;
    if (!this.#queued) {
      this.#queued = true;
      queueMicrotask(this.#flush);
    }
    return true;
  }

  /** Hand what is queued to the connection now (before anything else is sent on it). */
  flush(): void {
    this.#queued = false;
    if (this.#text === "") return;
    const text = this.#text;
    this.#text = "";
    // A connection closed since the frames were queued drops them, as nats.js drops its buffer.
    if (this.#nc.isClosed()) return;
    this.#protocol!.sendCommand(encoder.encode(text));
  }
}
