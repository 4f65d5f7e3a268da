/**
 * Machine and process figures for a node's status: CPU load (percent of all
 * cores since the last sample, from /proc/stat where there is one, else the
 * load average), and this process's resident memory.
 *
 * @module
 */

import { cpus, loadavg } from "node:os";

/** Samples CPU load between calls. */
export class CpuSampler {
  #last: { idle: number; total: number } | null = readProcStat();

  /** Percent of all cores busy since the previous call, 0..100. */
  sample(): number {
    const now = readProcStat();
    if (now && this.#last) {
      const total = now.total - this.#last.total;
      const idle = now.idle - this.#last.idle;
      this.#last = now;
      if (total > 0) return round1(Math.max(0, Math.min(100, (1 - idle / total) * 100)));
      return 0;
    }
    const n = Math.max(1, cpus().length);
    return round1(Math.min(100, (loadavg()[0] / n) * 100));
  }
}

function readProcStat(): { idle: number; total: number } | null {
  try {
    const line = Deno.readTextFileSync("/proc/stat").split("\n", 1)[0];
    const parts = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (parts[3] ?? 0) + (parts[4] ?? 0);
    const total = parts.slice(0, 8).reduce((a, b) => a + b, 0);
    return { idle, total };
  } catch {
    return null;
  }
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

/** Resident memory of this process, bytes. */
export function memoryUsed(): number {
  return Deno.memoryUsage().rss;
}
