/**
 * A `Map` for keys that come and go all the time (a task per key, held for
 * milliseconds), which does not make the garbage collector keep what it
 * deleted.
 *
 * Why: when V8 rehashes a `Map`'s table (it fills up with deleted entries,
 * or grows), the old table keeps its entries and a link to the new one, for
 * iterators still walking it. A young-generation collection counts every
 * old-generation object as alive, so once one old table is dropped (a table
 * becomes old by living through two collections, and every full collection
 * promotes the current one), it keeps its successor alive, which keeps the
 * next: every table since, with every entry it held when it was replaced,
 * survives each young collection and is promoted, until the next full
 * collection. Measured in the scheduler: about 2 MB promoted at every young
 * collection, whatever the rate, and pauses of 5 to 20 ms.
 *
 * This map copies its entries into a fresh `Map` once it has deleted more
 * keys than it holds (and at least 64): the copy has no link from the old
 * tables, so such a chain stops growing there. The copy costs one insert
 * per entry held, at most one per delete over time; a map of more than
 * 8,192 entries is not copied (see `MAX_COPY`). It is never made while
 * one of its iterators is open, so iterating and deleting behave as they do
 * on a `Map` (an iterator left open stops the copies: a plain `Map` again).
 *
 * @module
 */

/** At least this many deletes between two copies. */
const MIN_DELETES = 64;
/**
 * No copy past this many entries: a copy is one synchronous step (half a
 * millisecond at 8,192 entries here, 6 ms at 100,000), and a map that large
 * (a backlog of queued tasks) is left to V8's own rehashing.
 */
const MAX_COPY = 8_192;

/** A `Map` that copies itself into a new one now and then; see the module doc. */
export class ChurnMap<K, V> implements Iterable<[K, V]> {
  #map = new Map<K, V>();
  #deletes = 0;
  /** Iterators open now. */
  #iterating = 0;
  #copies = 0;

  /** How many times the entries were copied into a fresh `Map`. */
  get copies(): number {
    return this.#copies;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: K): V | undefined {
    return this.#map.get(key);
  }

  has(key: K): boolean {
    return this.#map.has(key);
  }

  set(key: K, value: V): this {
    this.#map.set(key, value);
    return this;
  }

  delete(key: K): boolean {
    if (!this.#map.delete(key)) return false;
    if (
      ++this.#deletes >= MIN_DELETES && this.#deletes > this.#map.size &&
      this.#map.size <= MAX_COPY && this.#iterating === 0
    ) {
      // forEach, not `new Map(old)`: the constructor's iterator makes a [key, value] array
      // and a result object per entry, garbage that a young collection then has to meet.
      const fresh = new Map<K, V>();
      this.#map.forEach((v, k) => fresh.set(k, v));
      this.#map = fresh;
      this.#deletes = 0;
      this.#copies++;
    }
    return true;
  }

  /** The first key in insertion order (the oldest), without opening an iterator. */
  firstKey(): K | undefined {
    return this.#map.keys().next().value;
  }

  clear(): void {
    // An open iterator sees what is set after a clear, as on a Map: clear that Map then.
    if (this.#iterating > 0) this.#map.clear();
    else this.#map = new Map();
    this.#deletes = 0;
  }

  keys(): Generator<K, void, undefined> {
    return this.#open((m) => m.keys());
  }

  values(): Generator<V, void, undefined> {
    return this.#open((m) => m.values());
  }

  entries(): Generator<[K, V], void, undefined> {
    return this.#open((m) => m.entries());
  }

  [Symbol.iterator](): Generator<[K, V], void, undefined> {
    return this.entries();
  }

  *#open<T>(from: (m: Map<K, V>) => Iterator<T>): Generator<T, void, undefined> {
    this.#iterating++;
    try {
      const it = from(this.#map);
      for (let r = it.next(); !r.done; r = it.next()) yield r.value;
    } finally {
      this.#iterating--;
    }
  }
}
