/**
 * Numbers for the reply subjects of a transport's own requests (PubAcks,
 * direct gets), which nobody can guess.
 *
 * An answer is matched to its caller by the number its subject ends with,
 * under one inbox per connection. A counter would do for that, but a client
 * allowed to subscribe to `_INBOX.>` learns the inbox from any answer it sees,
 * and one allowed to publish a JetStream request (a submission, a direct get
 * of `RESULTS`) may name any reply subject: with the next number it could have
 * nats-server itself send the scheduler a "stored" PubAck, or a "no such
 * message", meant for another request. So each number is 48 random bits from
 * the system's generator (drawn 512 at a time), and one already waiting is
 * never given twice.
 *
 * @module
 */

const POOL = 1_024;

/** Random reply numbers, none equal to one still waiting. */
export class ReplyIds {
  readonly #pool = new Uint32Array(POOL);
  #at = POOL;

  /** A number in [0, 2^48) for which `taken` is false. */
  next(taken: (id: number) => boolean): number {
    for (;;) {
      if (this.#at >= POOL) {
        crypto.getRandomValues(this.#pool);
        this.#at = 0;
      }
      const id = (this.#pool[this.#at++] & 0xffff) * 0x1_0000_0000 + this.#pool[this.#at++];
      if (!taken(id)) return id;
    }
  }
}
