/**
 * A two-lane, bounded mailbox. The system lane (supervision, stop) is always
 * taken before the user lane and is never full; the user lane holds at most
 * `capacity` messages and says what happens beyond that.
 *
 * @module
 */

/**
 * What a full user lane does with one more message:
 * - `reject`: refuse it (`push` returns false; the sender decides);
 * - `drop-oldest`: make room by dropping the oldest queued message (returned
 *   to the caller so it can go to dead letters).
 */
export type OverflowPolicy = "reject" | "drop-oldest";

/** A FIFO ring buffer that grows by doubling. */
export class Deque<T> {
  #buf: (T | undefined)[];
  #head = 0;
  #size = 0;

  constructor(initial = 16) {
    this.#buf = new Array(Math.max(2, initial));
  }

  get size(): number {
    return this.#size;
  }

  push(value: T): void {
    if (this.#size === this.#buf.length) this.#grow();
    this.#buf[(this.#head + this.#size) % this.#buf.length] = value;
    this.#size++;
  }

  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const v = this.#buf[this.#head];
    this.#buf[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#buf.length;
    this.#size--;
    return v;
  }

  peek(): T | undefined {
    return this.#size === 0 ? undefined : this.#buf[this.#head];
  }

  clear(): T[] {
    const out: T[] = [];
    for (let v = this.shift(); v !== undefined; v = this.shift()) out.push(v);
    return out;
  }

  #grow(): void {
    const next = new Array<T | undefined>(this.#buf.length * 2);
    for (let i = 0; i < this.#size; i++) next[i] = this.#buf[(this.#head + i) % this.#buf.length];
    this.#buf = next;
    this.#head = 0;
  }
}

/** The result of offering a user message. */
export type Offer<M> =
  | { accepted: true; dropped?: M }
  | { accepted: false };

/** A mailbox with a system lane `S` and a bounded user lane `M`. */
export class Mailbox<M, S> {
  readonly system: Deque<S> = new Deque<S>(4);
  readonly user: Deque<M> = new Deque<M>(16);

  constructor(readonly capacity: number, readonly overflow: OverflowPolicy = "reject") {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`mailbox capacity must be a positive integer: got ${capacity}`);
    }
  }

  /** Messages waiting in both lanes. */
  get size(): number {
    return this.system.size + this.user.size;
  }

  /** Offer a user message, applying the overflow policy when full. */
  offer(msg: M): Offer<M> {
    if (this.user.size < this.capacity) {
      this.user.push(msg);
      return { accepted: true };
    }
    if (this.overflow === "drop-oldest") {
      const dropped = this.user.shift();
      this.user.push(msg);
      return { accepted: true, dropped };
    }
    return { accepted: false };
  }

  /** Queue a system message; the system lane is unbounded. */
  offerSystem(msg: S): void {
    this.system.push(msg);
  }
}
