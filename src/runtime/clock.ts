/**
 * Time, injected. Everything in the runtime reads the time and sets timers
 * through a {@link Clock}, so tests drive timeouts, backoff and restart windows
 * with a {@link ManualClock} instead of sleeping.
 *
 * Both clocks keep their timers in one indexed binary heap and (for the real
 * clock) arm one host timer for the earliest: thousands of task timeouts cost
 * one `setTimeout`, and cancelling is O(log n) with no garbage left behind.
 *
 * @module
 */

/** A timer that can be cancelled. Cancelling twice, or after it fired, is a no-op. */
export interface TimerHandle {
  cancel(): void;
}

/** Time and timers. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Run `fn` after `ms` milliseconds. */
  setTimer(ms: number, fn: () => void): TimerHandle;
}

class Entry implements TimerHandle {
  index = -1;
  constructor(
    readonly queue: TimerQueue,
    readonly at: number,
    readonly seq: number,
    readonly fn: () => void,
  ) {}
  cancel(): void {
    if (this.index >= 0) this.queue.remove(this);
  }
}

/** An indexed min-heap of timers ordered by due time, then by insertion. */
export class TimerQueue {
  #heap: Entry[] = [];
  #seq = 0;

  /** Number of pending timers. */
  get size(): number {
    return this.#heap.length;
  }

  /** Due time of the earliest timer, or `Infinity`. */
  get nextAt(): number {
    return this.#heap.length ? this.#heap[0].at : Infinity;
  }

  /** Add a timer due at `at`. */
  add(at: number, fn: () => void): TimerHandle {
    const e = new Entry(this, at, this.#seq++, fn);
    e.index = this.#heap.length;
    this.#heap.push(e);
    this.#up(e.index);
    return e;
  }

  /** Remove and return the earliest timer if it is due at or before `now`. */
  takeDue(now: number): (() => void) | undefined {
    const top = this.#heap[0];
    if (!top || top.at > now) return undefined;
    this.remove(top);
    return top.fn;
  }

  /** @internal */
  remove(e: Entry): void {
    const i = e.index;
    const last = this.#heap.pop()!;
    e.index = -1;
    if (last === e) return;
    this.#heap[i] = last;
    last.index = i;
    this.#down(i);
    this.#up(last.index);
  }

  #less(a: Entry, b: Entry): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #up(i: number): void {
    const h = this.#heap;
    const e = h[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(e, h[p])) break;
      h[i] = h[p];
      h[i].index = i;
      i = p;
    }
    h[i] = e;
    e.index = i;
  }

  #down(i: number): void {
    const h = this.#heap;
    const n = h.length;
    const e = h[i];
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.#less(h[r], h[l]) ? r : l;
      if (!this.#less(h[c], e)) break;
      h[i] = h[c];
      h[i].index = i;
      i = c;
    }
    h[i] = e;
    e.index = i;
  }
}

/** The real clock: `Date.now()` and one host timer for all timers. */
export class SystemClock implements Clock {
  #queue = new TimerQueue();
  #armedAt = Infinity;
  #host: ReturnType<typeof setTimeout> | undefined;
  #unref: boolean;

  /** With `unref`, pending timers do not keep the process alive. */
  constructor(options: { unref?: boolean } = {}) {
    this.#unref = options.unref ?? false;
  }

  now(): number {
    return Date.now();
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const handle = this.#queue.add(Date.now() + Math.max(0, ms), fn);
    this.#arm();
    return {
      cancel: () => {
        handle.cancel();
        if (this.#queue.size === 0) this.#disarm();
      },
    };
  }

  #arm(): void {
    const next = this.#queue.nextAt;
    if (next >= this.#armedAt) return;
    this.#disarm();
    this.#armedAt = next;
    this.#host = setTimeout(() => this.#fire(), Math.max(0, next - Date.now()));
    if (this.#unref) Deno.unrefTimer(this.#host as unknown as number);
  }

  #disarm(): void {
    if (this.#host !== undefined) clearTimeout(this.#host);
    this.#host = undefined;
    this.#armedAt = Infinity;
  }

  #fire(): void {
    this.#host = undefined;
    this.#armedAt = Infinity;
    const now = Date.now();
    for (let fn = this.#queue.takeDue(now); fn; fn = this.#queue.takeDue(now)) {
      try {
        fn();
      } catch (err) {
        // A timer callback must not stop the others; surface it as the host would.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
    this.#arm();
  }
}

/**
 * A clock that moves only when told. `advance` runs due timers in time order,
 * including ones that callbacks set while it runs.
 */
export class ManualClock implements Clock {
  #now: number;
  #queue = new TimerQueue();

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    return this.#queue.add(this.#now + Math.max(0, ms), fn);
  }

  /** Number of pending timers. */
  get pending(): number {
    return this.#queue.size;
  }

  /** Due time of the next timer, or `Infinity`. */
  get nextAt(): number {
    return this.#queue.nextAt;
  }

  /** Move time forward by `ms`, running every timer that falls due on the way. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      const next = this.#queue.nextAt;
      if (next > target) break;
      this.#now = Math.max(this.#now, next);
      this.#queue.takeDue(this.#now)!();
    }
    this.#now = target;
  }

  /** Advance to the next timer and run it (and any others due then); false if none. */
  runNext(): boolean {
    const next = this.#queue.nextAt;
    if (next === Infinity) return false;
    this.advance(Math.max(0, next - this.#now));
    return true;
  }
}
