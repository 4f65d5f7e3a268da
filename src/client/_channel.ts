/**
 * A small bounded queue read as an async iterator: one producer pushes, one
 * consumer reads with `for await`, `close()` ends the iteration once what is
 * queued has been read. When full, the oldest item is dropped. Internal.
 *
 * @module
 */

/** See the module comment. */
export class Channel<T> implements AsyncIterableIterator<T> {
  #items: T[] = [];
  #waiting: ((r: IteratorResult<T>) => void) | null = null;
  #closed = false;
  #onReturn: (() => void) | undefined;
  /** Items dropped because the queue was full. */
  dropped = 0;

  constructor(readonly capacity: number) {}

  /** Call `fn` once when the channel closes (by `close()` or the reader's `break`). */
  onClose(fn: () => void): void {
    if (this.#closed) fn();
    else this.#onReturn = fn;
  }

  /** Is it closed? */
  get closed(): boolean {
    return this.#closed;
  }

  /** Queue an item (ignored once closed). */
  push(item: T): void {
    if (this.#closed) return;
    if (this.#waiting) {
      const w = this.#waiting;
      this.#waiting = null;
      w({ value: item, done: false });
      return;
    }
    this.#items.push(item);
    if (this.#items.length > this.capacity) {
      this.#items.shift();
      this.dropped++;
    }
  }

  /** End the iteration after what is queued. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#waiting && this.#items.length === 0) {
      const w = this.#waiting;
      this.#waiting = null;
      w({ value: undefined, done: true });
    }
    this.#onReturn?.();
    this.#onReturn = undefined;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#items.length > 0) {
      return Promise.resolve({ value: this.#items.shift()!, done: false });
    }
    if (this.#closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.#waiting = resolve));
  }

  return(): Promise<IteratorResult<T>> {
    this.#items = [];
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
