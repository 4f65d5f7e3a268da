/**
 * A set of task ids that answers "certainly not here" or "maybe here", in
 * about 10 bits per id: a Bloom filter that grows by adding layers. The
 * scheduler keeps the ids that have a stored result in one, so that a new
 * submission whose id never finished (nearly all of them) needs no look-up in
 * the results stream; a "maybe" is settled by the look-up, as before.
 *
 * A "no" is always right for an id that was added; a "maybe" is wrong for
 * about 1% of ids never added, until a layer is over its capacity (then a new
 * layer, twice as large, takes the next ids, so the rate stays near 1%).
 *
 * @module
 */

/** One fixed-size Bloom filter. */
interface Layer {
  bits: Uint32Array;
  /** Bit count minus one (a power of two minus one). */
  mask: number;
  count: number;
  capacity: number;
}

/** Probes per id: optimal for 10 bits per id (false positives near 1%). */
const PROBES = 7;
const BITS_PER_ID = 10;

/**
 * Ids, approximately: {@link IdFilter.mightHave} is false only for an id
 * never added.
 *
 * @example
 * ```ts
 * const f = new IdFilter(1_000);
 * f.add("t-1");
 * f.mightHave("t-1"); // true
 * f.mightHave("t-2"); // false, or (rarely) true
 * ```
 */
export class IdFilter {
  #layers: Layer[] = [];

  /** `expected`: how many ids the first layer holds at a ~1% false-positive rate. */
  constructor(expected = 65_536) {
    this.#layers.push(layer(Math.max(1_024, expected)));
  }

  /** Ids added (with repeats). */
  get size(): number {
    let n = 0;
    for (const l of this.#layers) n += l.count;
    return n;
  }

  /** Bytes the bit arrays take. */
  get bytes(): number {
    let n = 0;
    for (const l of this.#layers) n += l.bits.byteLength;
    return n;
  }

  add(id: string): void {
    let top = this.#layers[this.#layers.length - 1];
    if (top.count >= top.capacity) {
      top = layer(top.capacity * 2);
      this.#layers.push(top);
    }
    const [h1, h2] = hashes(id);
    for (let i = 0; i < PROBES; i++) {
      const bit = (h1 + Math.imul(i, h2)) & top.mask;
      top.bits[bit >>> 5] |= 1 << (bit & 31);
    }
    top.count++;
  }

  /** False: `id` was never added. True: it may have been. */
  mightHave(id: string): boolean {
    const [h1, h2] = hashes(id);
    for (const l of this.#layers) {
      let all = true;
      for (let i = 0; i < PROBES && all; i++) {
        const bit = (h1 + Math.imul(i, h2)) & l.mask;
        all = (l.bits[bit >>> 5] & (1 << (bit & 31))) !== 0;
      }
      if (all) return true;
    }
    return false;
  }
}

function layer(capacity: number): Layer {
  // A power of two of bits, at least BITS_PER_ID per id of capacity.
  let size = 1 << 15;
  while (size < capacity * BITS_PER_ID) size *= 2;
  return { bits: new Uint32Array(size / 32), mask: size - 1, count: 0, capacity };
}

const pair: [number, number] = [0, 0];

/**
 * Two independent 32-bit hashes of the UTF-16 code units (FNV-1a, and a
 * multiply-rotate hash with another seed), for double hashing. The second is
 * forced odd so that probes cycle through the whole power-of-two table.
 */
function hashes(s: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  // Final mixes: spread the last characters over every bit.
  a ^= a >>> 16;
  a = Math.imul(a, 0x85ebca6b);
  a ^= a >>> 13;
  b = Math.imul(b ^ (b >>> 16), 0xc2b2ae35);
  b ^= b >>> 16;
  pair[0] = a >>> 0;
  pair[1] = (b | 1) >>> 0;
  return pair;
}
