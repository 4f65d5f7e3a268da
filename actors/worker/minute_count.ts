/**
 * How many events happened in the last minute, in fixed memory: one count per
 * second of the last 60. A node counts its successes and failures here for
 * its health score; at 10,000 tasks a second a list of timestamps would hold
 * 600,000 numbers and shift them out one by one.
 *
 * @module
 */

const SECONDS = 60;

/** Events of the last 60 seconds, counted per whole second. */
export class MinuteCount {
  readonly #second = new Float64Array(SECONDS).fill(-Infinity);
  readonly #count = new Uint32Array(SECONDS);

  /** One event at `now` (epoch ms). */
  add(now: number): void {
    const s = Math.floor(now / 1_000);
    const i = s % SECONDS;
    if (this.#second[i] !== s) {
      this.#second[i] = s;
      this.#count[i] = 0;
    }
    this.#count[i]++;
  }

  /** Events in the 60 whole seconds up to and including the one `now` is in. */
  total(now: number): number {
    const oldest = Math.floor(now / 1_000) - SECONDS;
    let n = 0;
    for (let i = 0; i < SECONDS; i++) if (this.#second[i] > oldest) n += this.#count[i];
    return n;
  }
}
