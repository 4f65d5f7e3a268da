/**
 * The monitor's counters: labelled counters and histograms in the shape
 * Prometheus reads, a per-second series ring for the dashboard's charts, and
 * a reservoir of recent samples for its percentiles. Every update is O(1)
 * (a histogram's is O(buckets), a fixed 18); memory is fixed by the caps.
 *
 * @module
 */

/** Bucket bounds of the latency histograms, seconds. */
export const LATENCY_BUCKETS = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  300,
  900,
  3600,
] as const;

/** The label value that stands for every set past the cap. */
export const OVERFLOW = "other";

/**
 * A counter with labels. Past `cap` label sets the first label (the type,
 * the schedule, the actor) of a new set becomes `other`; the others (a state,
 * a result: few values) are kept.
 */
export class LabelledCounter {
  readonly labels: readonly string[];
  readonly #cap: number;
  readonly #values = new Map<string, { labels: string[]; value: number }>();

  constructor(labels: readonly string[], cap: number) {
    this.labels = labels;
    this.#cap = cap;
  }

  inc(values: string[], by = 1): void {
    let key = values.join("\u0000");
    let e = this.#values.get(key);
    if (!e) {
      if (this.#values.size >= this.#cap) {
        values = [OVERFLOW, ...values.slice(1)];
        key = values.join("\u0000");
        e = this.#values.get(key);
      }
      if (!e) {
        e = { labels: values, value: 0 };
        this.#values.set(key, e);
      }
    }
    e.value += by;
  }

  get(values: string[]): number {
    return this.#values.get(values.join("\u0000"))?.value ?? 0;
  }

  /** Every label set with its value. */
  entries(): { labels: string[]; value: number }[] {
    return [...this.#values.values()];
  }

  /** The sum over label sets whose label `at` is `value`. */
  sumWhere(at: number, value: string): number {
    let n = 0;
    for (const e of this.#values.values()) if (e.labels[at] === value) n += e.value;
    return n;
  }
}

/** One histogram per label value (the task type), cumulative on output. */
export class Histogram {
  readonly #cap: number;
  readonly #byLabel = new Map<string, { counts: number[]; sum: number; count: number }>();

  constructor(cap: number) {
    this.#cap = cap;
  }

  observe(label: string, seconds: number): void {
    let h = this.#byLabel.get(label);
    if (!h) {
      if (this.#byLabel.size >= this.#cap) {
        label = OVERFLOW;
        h = this.#byLabel.get(label);
      }
      if (!h) {
        h = { counts: new Array(LATENCY_BUCKETS.length).fill(0), sum: 0, count: 0 };
        this.#byLabel.set(label, h);
      }
    }
    // Non-cumulative here; cumulated when written out.
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]) i++;
    if (i < LATENCY_BUCKETS.length) h.counts[i]++;
    h.sum += seconds;
    h.count++;
  }

  /** Each label's buckets (cumulative, without +Inf), sum and count. */
  entries(): { label: string; cumulative: number[]; sum: number; count: number }[] {
    return [...this.#byLabel].map(([label, h]) => {
      let run = 0;
      return { label, cumulative: h.counts.map((c) => (run += c)), sum: h.sum, count: h.count };
    });
  }
}

/** The last `size` samples; percentiles over them. */
export class Reservoir {
  readonly #buf: Float64Array;
  #n = 0;
  #next = 0;

  constructor(size: number) {
    this.#buf = new Float64Array(size);
  }

  add(v: number): void {
    this.#buf[this.#next] = v;
    this.#next = (this.#next + 1) % this.#buf.length;
    if (this.#n < this.#buf.length) this.#n++;
  }

  get size(): number {
    return this.#n;
  }

  /** p50, p90, p99 and max of the samples held (null when none). */
  percentiles(): { p50: number; p90: number; p99: number; max: number; samples: number } | null {
    if (this.#n === 0) return null;
    const s = this.#buf.slice(0, this.#n).sort();
    const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
    return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: s[s.length - 1], samples: this.#n };
  }
}

/** Per-second counts of the last `seconds` seconds, for a few named fields. */
export class Series {
  readonly fields: readonly string[];
  readonly #seconds: number;
  readonly #rings: Float64Array[];
  /** The second (epoch s) of the newest slot. */
  #head = 0;

  constructor(seconds: number, fields: readonly string[]) {
    this.fields = fields;
    this.#seconds = seconds;
    this.#rings = fields.map(() => new Float64Array(seconds));
  }

  /** Count one event of `field` at `nowMs`. */
  add(nowMs: number, field: string, by = 1): void {
    const i = this.fields.indexOf(field);
    if (i < 0) return;
    this.advance(nowMs);
    const sec = Math.floor(nowMs / 1000);
    if (sec < this.#head - this.#seconds + 1) return; // older than the window
    this.#rings[i][sec % this.#seconds] += by;
  }

  /** Move the head to `nowMs`, zeroing the slots passed over. */
  advance(nowMs: number): void {
    const sec = Math.floor(nowMs / 1000);
    if (sec <= this.#head) return;
    const steps = Math.min(this.#seconds, sec - this.#head);
    for (let k = 1; k <= steps; k++) {
      const slot = (this.#head + k) % this.#seconds;
      for (const r of this.#rings) r[slot] = 0;
    }
    this.#head = sec;
  }

  /** The last `n` seconds (oldest first), ending with the current, partial second. */
  last(nowMs: number, n = this.#seconds): { start: number; values: Record<string, number[]> } {
    this.advance(nowMs);
    n = Math.min(n, this.#seconds);
    const values: Record<string, number[]> = {};
    this.fields.forEach((f, i) => {
      const out = new Array<number>(n);
      for (let k = 0; k < n; k++) {
        const sec = this.#head - n + 1 + k;
        out[k] = this.#rings[i][((sec % this.#seconds) + this.#seconds) % this.#seconds];
      }
      values[f] = out;
    });
    return { start: (this.#head - n + 1) * 1000, values };
  }

  /** The sum of `field` over the last `n` whole seconds before the current one. */
  rate(nowMs: number, field: string, n = 10): number {
    const v = this.last(nowMs, n + 1).values[field];
    if (!v) return 0;
    let s = 0;
    for (let k = 0; k < n; k++) s += v[k];
    return s / n;
  }
}
