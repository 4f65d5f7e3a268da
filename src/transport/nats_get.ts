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
 * Here every get goes out as one of the transport's {@link InboxRequests},
 * as its durable publishes do.
 *
 * A direct get may be answered by any replica of a stream, and by a mirror
 * made with `mirror_direct`, either of which can be behind the leader: a
 * look-up that must see what was just stored asks the leader. So the
 * transport uses it only for a stream with one replica that allows it
 * ({@link directGetUsable}), and `RESULTS` must not be mirrored with
 * `mirror_direct`.
 *
 * @module
 */

import type { Msg, NatsConnection } from "@nats-io/transport-node";
import { InboxRequests } from "./inbox_requests.ts";
import { firstValues, forEachHeaderLine, headerBlockText, headerIn } from "./nats_msg.ts";
import type { StoredMsg } from "./types.ts";

/**
 * What a direct get found: the message, or none (`null`); `"unavailable"`
 * when nothing served it (the server said there are no responders, or no
 * answer came in time: the stream does not allow direct gets, the server is
 * slow, or the connection went).
 */
export type DirectGetResult = StoredMsg | null | "unavailable";

/** Can `stream`'s last messages be read with a direct get, and see what its leader has? */
export function directGetUsable(
  config: { allow_direct?: boolean; num_replicas?: number },
): boolean {
  return config.allow_direct === true && (config.num_replicas ?? 1) <= 1;
}

/** A direct get's answer: its status, and its headers (each name's first and last value). */
interface Answer {
  status: number;
  description: string;
  first: ReadonlyMap<string, string>;
  last: ReadonlyMap<string, string>;
}

const STATUS = /^NATS\/1\.0(?: (\d{3})(?: (.*))?)?$/;

/** Read an answer's status line and headers from its bytes (nats.js's reading throws on some). */
function answerOf(m: Msg): Answer {
  const text = headerBlockText(m);
  if (text === undefined) {
    // Not the message object this was written against: nats.js's own reading.
    let first: ReadonlyMap<string, string> = new Map();
    try {
      first = firstValues(m.headers);
    } catch {
      // names it refuses: none read
    }
    return {
      status: m.headers?.code ?? 0,
      description: m.headers?.description ?? "",
      first,
      last: first,
    };
  }
  const end = text.indexOf("\r\n");
  const status = STATUS.exec(end < 0 ? text : text.slice(0, end));
  const first = new Map<string, string>();
  const last = new Map<string, string>();
  forEachHeaderLine(text, (name, value) => {
    if (!first.has(name)) first.set(name, value);
    last.set(name, value);
  });
  return {
    status: status?.[1] ? Number(status[1]) : 0,
    description: status?.[2] ?? "",
    first,
    last,
  };
}

/**
 * Direct gets over one connection: `last` reads a subject's last message.
 * `send` writes a message (the transport's frame writer, so that a get goes
 * out after what was published before it); `api` is JetStream's API prefix.
 */
export class DirectGets {
  readonly #requests: InboxRequests<Msg | null>;
  readonly #send: (subject: string, data: string, reply: string) => void;
  readonly #api: string;
  /** Whether each stream is read by direct get: its configuration, asked at most every 30 s. */
  readonly #usable = new Map<string, { usable: Promise<boolean>; at: number }>();

  constructor(
    nc: NatsConnection,
    send: (subject: string, data: string, reply: string) => void,
    api = "$JS.API",
  ) {
    this.#requests = new InboxRequests<Msg | null>(nc, (m) => m, () => null);
    this.#send = send;
    this.#api = api;
  }

  /**
   * The last message on `subject` in `stream`, or `null`: by direct get where
   * the stream's configuration ({@link directGetUsable}, from `config`)
   * allows it, else, or when the get is not served, from `leader`. Rejects,
   * naming the get, as {@link DirectGets.last} does.
   */
  async read(
    stream: string,
    subject: string,
    config: (stream: string) => Promise<{ allow_direct?: boolean; num_replicas?: number }>,
    leader: () => Promise<StoredMsg | null>,
  ): Promise<StoredMsg | null> {
    const entry = this.#usableEntry(stream, config);
    if (await entry.usable) {
      const found = await this.last(stream, subject);
      if (found !== "unavailable") return found;
      // Nothing served it (the stream stopped allowing direct gets, a slow server, the connection
      // went): ask the leader, and the stream's configuration again next time.
      if (this.#usable.get(stream) === entry) this.#usable.delete(stream);
    }
    return leader();
  }

  /** Ask every stream's configuration again (streams are being created or changed). */
  forget(): void {
    this.#usable.clear();
  }

  /** Is `stream` read by direct get? Its configuration, asked again after 30 s or a failure. */
  #usableEntry(
    stream: string,
    config: (stream: string) => Promise<{ allow_direct?: boolean; num_replicas?: number }>,
  ): { usable: Promise<boolean>; at: number } {
    const known = this.#usable.get(stream);
    if (known && Date.now() - known.at < 30_000) return known;
    const entry = {
      at: Date.now(),
      usable: config(stream).then(directGetUsable, () => {
        if (this.#usable.get(stream) === entry) this.#usable.delete(stream);
        return false;
      }),
    };
    this.#usable.set(stream, entry);
    return entry;
  }

  /**
   * The last message stored on `subject` in `stream`; `null` when there is
   * none; `"unavailable"` when nothing served the get in `timeoutMs` (see
   * {@link DirectGetResult}). Rejects, naming the get, when the server answers
   * with another status, or with a message that is not the one asked for (its
   * stream, subject or sequence missing or different), or when it cannot be
   * sent.
   */
  async last(stream: string, subject: string, timeoutMs = 5_000): Promise<DirectGetResult> {
    const what = `direct get of ${subject} from ${stream}`;
    let m: Msg | null;
    try {
      m = await this.#requests.request(timeoutMs, (reply) =>
        this.#send(
          `${this.#api}.DIRECT.GET.${stream}`,
          JSON.stringify({ last_by_subj: subject }),
          reply,
        ));
    } catch (err) {
      throw new Error(`${what}: not sent: ${(err as Error).message}`, { cause: err });
    }
    if (m === null) return "unavailable";
    const a = answerOf(m);
    if (a.status === 404) return null;
    if (a.status === 503) return "unavailable";
    if (a.status !== 0 && a.status !== 200) {
      throw new Error(`${what}: answered ${a.status}${a.description ? ` ${a.description}` : ""}`);
    }
    // The server adds these after the stored message's own headers: its values are the last ones.
    const seq = Number(a.last.get("Nats-Sequence"));
    if (!Number.isSafeInteger(seq) || seq <= 0) {
      throw new Error(`${what}: answered without a Nats-Sequence`);
    }
    if (a.last.get("Nats-Stream") !== stream || a.last.get("Nats-Subject") !== subject) {
      throw new Error(
        `${what}: answered with ${a.last.get("Nats-Subject")} from ${a.last.get("Nats-Stream")}`,
      );
    }
    const time = Date.parse(a.last.get("Nats-Time-Stamp") ?? "");
    return {
      subject,
      seq,
      data: m.data,
      time: Number.isFinite(time) ? time : 0,
      header: (n) => n.startsWith("Nats-") ? a.last.get(n) : headerIn(a.first, n),
    };
  }

  /** Every get still waiting ends without an answer (the connection went). */
  abandon(): void {
    this.#requests.abandon(null);
  }

  /** Stop: what waits ends without an answer, and answers are no longer listened for. */
  close(): void {
    this.#requests.close(null);
  }
}
