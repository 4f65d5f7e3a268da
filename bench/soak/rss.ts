/**
 * Resident memory of the soak's processes: every second, `VmRSS` from
 * `/proc/<pid>/status` of each process the cluster runs, kept as the highest
 * and the latest value per name (`nats`, `s1`, `w2`, ...; a restarted
 * process keeps its name) with the time of the highest.
 *
 * @module
 */

/** What was seen of one process name. */
export interface RssFigure {
  /** Highest VmRSS seen, bytes. */
  maxBytes: number;
  /** When the highest was seen (epoch ms). */
  maxAt: number;
  /** Latest VmRSS seen, bytes. */
  lastBytes: number;
  samples: number;
}

/** Reads `VmRSS` of a pid, in bytes; undefined when the process is gone or a zombie. */
export async function readRss(pid: number): Promise<number | undefined> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Samples the given processes until stopped. */
export class RssSampler {
  readonly figures = new Map<string, RssFigure>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #busy = false;

  constructor(
    private readonly pids: () => { name: string; pid: number }[],
    private readonly intervalMs = 1_000,
  ) {}

  /** Take a sample now and then every interval. */
  start(): void {
    void this.sample();
    this.#timer = setInterval(() => void this.sample(), this.intervalMs);
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One round over every process (skipped if the previous round is still reading). */
  async sample(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const now = Date.now();
      await Promise.all(
        this.pids().map(async ({ name, pid }) => {
          const bytes = await readRss(pid);
          if (bytes === undefined) return;
          const f = this.figures.get(name) ??
            { maxBytes: 0, maxAt: now, lastBytes: 0, samples: 0 };
          f.samples++;
          f.lastBytes = bytes;
          if (bytes > f.maxBytes) {
            f.maxBytes = bytes;
            f.maxAt = now;
          }
          this.figures.set(name, f);
        }),
      );
    } finally {
      this.#busy = false;
    }
  }

  /** Names whose highest RSS went over `limitBytes`. */
  over(limitBytes: number): string[] {
    return [...this.figures].filter(([, f]) => f.maxBytes > limitBytes).map(([n]) => n);
  }
}
