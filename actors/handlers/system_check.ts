/**
 * The `system-check` task type: CPU load, memory and disk use of the machine
 * the worker runs on, and a one-line status that names whatever is at or over
 * its threshold, as the Python job runner's system check reported.
 *
 * CPU load is the busy share of all CPUs between two samples of `/proc/stat`
 * taken 200 ms apart; where that file cannot be read, it is the one-minute load
 * average divided by the number of CPUs, capped at 100. Memory "used" is total
 * minus available. Disk figures come from `df -kP`, with the percentage taken
 * as df and psutil take it: used / (used + available to unprivileged users).
 *
 * Needs `--allow-read=/proc/stat`, `--allow-sys` and `--allow-run=df`.
 *
 * @module
 */

import { cpus, loadavg } from "node:os";
import { show } from "../../src/mod.ts";
import {
  type HandlerDefinition,
  type TaskContext,
  type TaskHandler,
  Unrecoverable,
} from "../../src/mod.ts";
import { numberField, pathField, payloadObject } from "./_payload.ts";

/** `{}`, or any of the thresholds and the disk path. */
export interface SystemCheckPayload {
  /** Warn at or above this CPU load, 0 to 100; default 80. */
  cpuWarnPercent?: number;
  /** Warn at or above this memory use, 0 to 100; default 80. */
  memoryWarnPercent?: number;
  /** Warn at or above this disk use, 0 to 100; default 90. */
  diskWarnPercent?: number;
  /** A path on the file system to measure; default "/". */
  path?: string;
}

/** Memory figures in bytes. */
export interface MemoryUse {
  usedBytes: number;
  totalBytes: number;
  percent: number;
}

/** Disk figures in bytes, for the file system that holds `path`. */
export interface DiskUse extends MemoryUse {
  path: string;
}

/** What the check found. Percentages are rounded to one decimal. */
export interface SystemCheckResult {
  cpuPercent: number;
  memory: MemoryUse;
  disk: DiskUse;
  /** "All systems normal", or "Warning: " and the warnings joined by "; ". */
  status: string;
  warnings: string[];
}

type Settings = Required<SystemCheckPayload>;

const DEFAULTS: Settings = {
  cpuWarnPercent: 80,
  memoryWarnPercent: 80,
  diskWarnPercent: 90,
  path: "/",
};
const CPU_SAMPLE_MS = 200;

/** Check an untrusted payload and fill in defaults; throws {@link Unrecoverable} naming the bad field. */
export function parseSystemCheckPayload(payload: unknown): Settings {
  const p = payloadObject(payload, "system-check", Object.keys(DEFAULTS));
  const percent = (key: Exclude<keyof Settings, "path">) =>
    numberField(p, key, { min: 0, max: 100 }, DEFAULTS[key]);
  return {
    cpuWarnPercent: percent("cpuWarnPercent"),
    memoryWarnPercent: percent("memoryWarnPercent"),
    diskWarnPercent: percent("diskWarnPercent"),
    path: pathField(p, "path", DEFAULTS.path),
  };
}

const round1 = (n: number): number => Math.round(n * 10) / 10;

/** Busy and total jiffies over all CPUs, or undefined when /proc/stat cannot be read. */
async function readProcStat(): Promise<{ busy: number; total: number } | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile("/proc/stat");
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.PermissionDenied) {
      return undefined;
    }
    throw err;
  }
  const line = text.split("\n").find((l) => l.startsWith("cpu "));
  if (!line) return undefined;
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (f.length < 4 || f.some((n) => !Number.isFinite(n))) return undefined;
  const idle = f[3] + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

async function cpuPercent(ctx: TaskContext): Promise<number> {
  const first = await readProcStat();
  if (first) {
    await ctx.sleep(CPU_SAMPLE_MS);
    const second = await readProcStat();
    if (second && second.total > first.total) {
      const busy = (second.busy - first.busy) / (second.total - first.total);
      return round1(Math.min(100, Math.max(0, busy * 100)));
    }
  }
  const n = Math.max(1, cpus().length);
  return round1(Math.min(100, Math.max(0, (loadavg()[0] / n) * 100)));
}

function memoryUse(): MemoryUse {
  const { total, available } = Deno.systemMemoryInfo();
  const used = Math.max(0, total - available);
  return {
    usedBytes: used,
    totalBytes: total,
    percent: total > 0 ? round1((used / total) * 100) : 0,
  };
}

async function assertExists(path: string): Promise<void> {
  try {
    await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new Unrecoverable(`payload.path must exist: got ${show(path)}`, { cause: err });
    }
    throw err;
  }
}

async function diskUse(path: string, signal: AbortSignal): Promise<DiskUse> {
  const out = await new Deno.Command("df", {
    args: ["-kP", "--", path],
    stdout: "piped",
    stderr: "piped",
    signal,
  }).output();
  signal.throwIfAborted();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    const why = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`df -kP ${path} exited with code ${out.code}: ${why}`);
  }
  // Filesystem 1024-blocks Used Available Capacity Mounted-on; the name may hold spaces,
  // so read the four numbers from the end of the line, before the mount point.
  const line = text.trim().split("\n")[1] ?? "";
  const m = line.match(/\s(\d+)\s+(\d+)\s+(\d+)\s+(?:\d+%|-)\s+\S/);
  if (!m) throw new Error(`df -kP ${path}: cannot read its output: ${show(text, 200)}`);
  const [size, used, avail] = [m[1], m[2], m[3]].map((s) => Number(s) * 1024);
  const percent = used + avail > 0 ? round1((used / (used + avail)) * 100) : 0;
  return { usedBytes: used, totalBytes: size, percent, path };
}

const systemCheck: TaskHandler<unknown, SystemCheckResult> = async function* (payload, ctx) {
  const s = parseSystemCheckPayload(payload);
  await assertExists(s.path);
  ctx.signal.throwIfAborted();
  const cpu = await cpuPercent(ctx);
  yield { progress: 0.5, message: `CPU ${cpu}%` };
  ctx.signal.throwIfAborted();
  const memory = memoryUse();
  yield { progress: 0.6, message: `memory ${memory.percent}%` };
  const disk = await diskUse(s.path, ctx.signal);
  yield { progress: 1, message: `disk ${disk.percent}%` };

  const warnings: string[] = [];
  if (cpu >= s.cpuWarnPercent) warnings.push(`CPU load ${cpu}% (threshold ${s.cpuWarnPercent}%)`);
  if (memory.percent >= s.memoryWarnPercent) {
    warnings.push(`memory use ${memory.percent}% (threshold ${s.memoryWarnPercent}%)`);
  }
  if (disk.percent >= s.diskWarnPercent) {
    warnings.push(`disk use ${disk.percent}% on ${disk.path} (threshold ${s.diskWarnPercent}%)`);
  }
  const status = warnings.length === 0 ? "All systems normal" : `Warning: ${warnings.join("; ")}`;
  if (warnings.length > 0) {
    ctx.log.warn(status, { cpu, memory: memory.percent, disk: disk.percent });
  }
  return { cpuPercent: cpu, memory, disk, status, warnings };
};

/**
 * The `system-check` handler.
 *
 * @example
 * ```ts
 * // tasks.submit.system-check with {} completes with, say,
 * // { "cpuPercent": 12.5, "memory": {...}, "disk": {...}, "status": "All systems normal", "warnings": [] }
 * ```
 */
export const definition: HandlerDefinition<unknown, SystemCheckResult> = {
  type: "system-check",
  handler: systemCheck,
};
