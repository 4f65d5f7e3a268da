/**
 * Requests whose answers come back under one inbox of a connection: the
 * transport's durable publishes (their PubAcks) and direct gets.
 *
 * nats.js's `request` makes a promise, a timer and an `Error` or two (for
 * their stack traces) per request; `js.publish` is such a request, which
 * capped a connection at about 10,500 acked publishes a second here. Here a
 * request goes out with a reply subject under one wildcard subscription,
 * ending in a number nobody can guess ({@link ReplyIds}); its answer is
 * matched by that number and read once, and one sweep a quarter of a second
 * ends those that waited too long.
 *
 * @module
 */

import { createInbox, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { ChurnMap } from "../runtime/churn_map.ts";
import { pubAckId } from "./nats_msg.ts";
import { ReplyIds } from "./reply_ids.ts";

interface Pending<T> {
  resolve: (value: T) => void;
  expires: number;
}

/** Requests answered under one inbox; each answer read into a `T`. */
export class InboxRequests<T> {
  readonly #inbox = createInbox();
  readonly #pending = new ChurnMap<number, Pending<T>>();
  readonly #ids = new ReplyIds();
  readonly #taken = (id: number) => this.#pending.has(id);
  readonly #read: (m: Msg) => T;
  readonly #expired: () => T;
  readonly #sub: { unsubscribe(): void };
  #sweep: ReturnType<typeof setInterval> | undefined;

  /** `read` makes an answer into a `T`; `expired` is what a request that waited too long gets. */
  constructor(nc: NatsConnection, read: (m: Msg) => T, expired: () => T) {
    this.#read = read;
    this.#expired = expired;
    this.#sub = nc.subscribe(`${this.#inbox}.*`, { callback: (_err, m) => this.#answer(m) });
  }

  /**
   * One request: `send` writes it with the reply subject given. Resolves with
   * its answer, read, or with `expired()` once `timeoutMs` have passed. When
   * `send` throws, nothing waits and the error is thrown here.
   */
  request(timeoutMs: number, send: (reply: string) => void): Promise<T> {
    const id = this.#ids.next(this.#taken);
    const { promise, resolve } = Promise.withResolvers<T>();
    this.#pending.set(id, { resolve, expires: Date.now() + timeoutMs });
    this.#armSweep();
    try {
      send(`${this.#inbox}.${id}`);
    } catch (err) {
      this.#pending.delete(id);
      throw err;
    }
    return promise;
  }

  /** Every request still waiting resolves with `value` (its answer may never come). */
  abandon(value: T): void {
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id);
      p.resolve(value);
    }
  }

  /** Stop: what waits resolves with `value`, and answers are no longer listened for. */
  close(value: T): void {
    if (this.#sweep !== undefined) clearInterval(this.#sweep);
    this.#sweep = undefined;
    this.abandon(value);
    this.#sub.unsubscribe();
  }

  #answer(m: Msg): void {
    const id = pubAckId(m, this.#inbox.length + 1);
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    p.resolve(this.#read(m));
  }

  #armSweep(): void {
    if (this.#sweep !== undefined) return;
    this.#sweep = setInterval(() => {
      const now = Date.now();
      for (const [id, p] of this.#pending) {
        if (p.expires > now) continue;
        this.#pending.delete(id);
        p.resolve(this.#expired());
      }
      if (this.#pending.size === 0) {
        clearInterval(this.#sweep);
        this.#sweep = undefined;
      }
    }, 250);
    Deno.unrefTimer(this.#sweep as unknown as number);
  }
}
