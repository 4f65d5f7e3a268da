/**
 * Reading a subject's last stored message with JetStream's direct get, as
 * one message out and one back, without nats.js's request machinery.
 *
 * The scheduler looks a task's result up in `RESULTS` whenever it cannot rule
 * one out (a redelivery, a backlog found at a takeover, a filter's "maybe"),
 * so after a takeover every task of a backlog is looked up. Through nats.js
 * (`jsm.streams.getMessage`: a `STREAM.MSG.GET` request, its JSON answer with
 * the message in base64, and for a missing one an error thrown) a look-up cost
 * more than a whole echo task: 76–98 µs of the caller's CPU and 48–58 µs of
 * nats-server's. nats.js builds two or three `Error`s a request (for their
 * stack traces) and a timer; a direct get answers with the stored message
 * itself, or a `404` status.
 *
 * Here every get goes out with a reply subject under one wildcard inbox, is
 * matched to its caller by the number the subject ends with, and expires in
 * one sweep, as the transport does for PubAcks.
 *
 * A direct get may be answered by any replica of a stream, which can be
 * behind its leader; a look-up that must see what was just stored asks the
 * leader. So it is used only for a stream with one replica that allows it
 * ({@link directGetUsable}); the caller reads other streams as before.
 *
 * @module
 */

import { createInbox, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { ChurnMap } from "../runtime/churn_map.ts";
import { headerIn, pubAckId, receivedHeaders } from "./nats_msg.ts";
import type { StoredMsg } from "./types.ts";

/**
 * What a direct get found: the message, or none (`null`); `"unavailable"`
 * when no answer came (nothing serves direct gets for the stream: it does not
 * allow them, or no longer does) or the server said there are no responders.
 */
export type DirectGetResult = StoredMsg | null | "unavailable";

interface PendingGet {
  resolve: (m: Msg | null) => void;
  expires: number;
}

/** Can `stream`'s last messages be read with a direct get, and see what its leader has? */
export function directGetUsable(
  config: { allow_direct?: boolean; num_replicas?: number },
): boolean {
  return config.allow_direct === true && (config.num_replicas ?? 1) <= 1;
}

/**
 * Direct gets over one connection: `last` reads a subject's last message.
 * `send` writes a message (the transport's frame writer, so that a get goes
 * out after what was published before it).
 */
export class DirectGets {
  readonly #inbox = createInbox();
  readonly #pending = new ChurnMap<number, PendingGet>();
  readonly #send: (subject: string, data: string, reply: string) => void;
  #next = 0;
  #sweep: ReturnType<typeof setInterval> | undefined;

  constructor(nc: NatsConnection, send: (subject: string, data: string, reply: string) => void) {
    this.#send = send;
    nc.subscribe(`${this.#inbox}.*`, { callback: (_err, m) => this.#answer(m) });
  }

  /**
   * The last message stored on `subject` in `stream`; `null` when there is
   * none; `"unavailable"` when no answer comes in `timeoutMs` or nothing
   * responds. Rejects when the server answers with another status.
   */
  async last(stream: string, subject: string, timeoutMs = 5_000): Promise<DirectGetResult> {
    const m = await new Promise<Msg | null>((resolve) => {
      const id = ++this.#next;
      this.#pending.set(id, { resolve, expires: Date.now() + timeoutMs });
      this.#armSweep();
      try {
        this.#send(
          `$JS.API.DIRECT.GET.${stream}`,
          JSON.stringify({ last_by_subj: subject }),
          `${this.#inbox}.${id}`,
        );
      } catch (err) {
        this.#pending.delete(id);
        throw err;
      }
    });
    if (m === null) return "unavailable";
    const code = m.headers?.code ?? 0;
    if (code === 404) return null;
    if (code === 503) return "unavailable";
    if (code !== 0 && code !== 200) {
      throw new Error(`status ${code}${m.headers?.description ? ` ${m.headers.description}` : ""}`);
    }
    let headers: ReadonlyMap<string, string> | undefined;
    const header = (n: string) => headerIn(headers ??= receivedHeaders(m), n);
    const seq = Number(header("Nats-Sequence"));
    const time = Date.parse(header("Nats-Time-Stamp") ?? "");
    if (!Number.isSafeInteger(seq) || seq <= 0) throw new Error("an answer without its sequence");
    return {
      subject: header("Nats-Subject") ?? subject,
      seq,
      data: m.data,
      time: Number.isFinite(time) ? time : 0,
      header,
    };
  }

  /** Every get still waiting ends without an answer (the connection is gone). */
  abandon(): void {
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id);
      p.resolve(null);
    }
  }

  /** Stop: what waits ends without an answer. */
  close(): void {
    if (this.#sweep !== undefined) clearInterval(this.#sweep);
    this.#sweep = undefined;
    this.abandon();
  }

  #answer(m: Msg): void {
    const id = pubAckId(m, this.#inbox.length + 1);
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    p.resolve(m);
  }

  #armSweep(): void {
    if (this.#sweep !== undefined) return;
    this.#sweep = setInterval(() => {
      const now = Date.now();
      for (const [id, p] of this.#pending) {
        if (p.expires > now) continue;
        this.#pending.delete(id);
        p.resolve(null);
      }
      if (this.#pending.size === 0) {
        clearInterval(this.#sweep);
        this.#sweep = undefined;
      }
    }, 250);
    Deno.unrefTimer(this.#sweep as unknown as number);
  }
}
