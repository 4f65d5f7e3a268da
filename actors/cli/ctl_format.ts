/**
 * How `deno task ctl` shows things to people: tables, results, times and
 * sizes, and the progress bar of a task it waits for.
 *
 * @module
 */

import type { ProgressEvent, TaskHandle, TaskResult } from "../../src/client/mod.ts";
import type { Output } from "./ctl_common.ts";

/** Rows as aligned columns; the first row is the header. */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => (c ?? "").padEnd(widths[i])).join("  ").trimEnd())
    .join("\n");
}

/** Name and value pairs as two aligned columns, without a header. */
export function pairs(rows: string[][]): string {
  const width = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`.trimEnd()).join("\n");
}

/** `1.2 s`, `340 ms`, `2 min 5 s`, `3 h 10 min`. */
export function duration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 59_500) return `${(ms / 1_000).toFixed(ms < 9_950 ? 1 : 0)} s`;
  if (ms < 3_570_000) {
    const s = Math.round(ms / 1_000);
    return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ""}`;
  }
  if (ms < 171_000_000) {
    const m = Math.round(ms / 60_000);
    return `${Math.floor(m / 60)} h${m % 60 ? ` ${m % 60} min` : ""}`;
  }
  return `${Math.round(ms / 86_400_000)} d`;
}

/** `in 5 min` or `3 s ago`, relative to now. */
export function relative(at: number, now = Date.now()): string {
  const d = at - now;
  return d >= 0 ? `in ${duration(d)}` : `${duration(-d)} ago`;
}

/** `12.3 MB`. */
export function bytes(n: number): string {
  if (!Number.isFinite(n)) return "-";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 || n >= 100 ? 0 : 1)} ${units[i]}`;
}

/** At most `n` characters, with an ellipsis. */
export function clip(text: string, n: number): string {
  return text.length <= n ? text : `${text.slice(0, n - 1)}…`;
}

/** A compact one-line JSON, clipped. */
export function brief(value: unknown, n = 60): string {
  return clip(JSON.stringify(value) ?? "null", n);
}

/** A result for people: a summary line, then the output (or the error). */
export function showResult(out: Output, r: TaskResult): void {
  const head = `${r.id} ${r.state}${r.type ? ` (${r.type})` : ""}`;
  if (r.state === "rejected") {
    out.line(`${head}: ${r.error?.code ?? "?"}: ${r.error?.message ?? ""}`);
    return;
  }
  const parts = [
    `${head} in ${duration(r.durationMs)}`,
    `${r.attempts} attempt${r.attempts === 1 ? "" : "s"}`,
  ];
  if (r.worker) parts.push(`last on ${r.worker}`);
  out.line(parts.join(", "));
  if (r.state === "succeeded") {
    out.line(JSON.stringify(r.result ?? null, null, 2));
  } else if (r.error) {
    out.line(`${r.error.code}: ${r.error.message}`);
  }
}

/**
 * Show progress while `result` is pending: a bar redrawn on stderr when it is
 * a terminal, a plain line per report when not; nothing with `--json`.
 * Resolves once the progress ends (the task ended) or `done` settles.
 */
export async function followProgress(
  out: Output,
  task: TaskHandle,
  done: Promise<unknown>,
): Promise<void> {
  if (out.json) return;
  const width = 30;
  let drawn = false;
  const draw = (p: number, message: string) => {
    const filled = Math.max(0, Math.min(width, Math.round(p * width)));
    const pct = `${Math.round(p * 100)}%`.padStart(4);
    const line = `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${pct} ${clip(message, 60)}`;
    out.raw(`\r\x1b[2K${line}`);
    drawn = true;
  };
  if (out.tty) draw(0, `${task.id} waiting`);
  // Ctrl-C stops waiting, not the task: say how to find it again.
  const onInterrupt = () => {
    if (drawn) out.raw("\r\x1b[2K");
    out.note(
      `${task.id} goes on: \`deno task ctl result ${task.id}\` waits again, \`cancel\` stops it`,
    );
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  const it = task.progress();
  const ended = done.then(() => undefined, () => undefined);
  try {
    for (;;) {
      const next = await Promise.race([it.next(), ended.then(() => null)]);
      if (next === null || next.done) break;
      const p: ProgressEvent = next.value;
      const message = p.message ?? "";
      if (out.tty) draw(p.progress, message);
      else out.note(`${task.id} ${Math.round(p.progress * 100)}%${message ? ` ${message}` : ""}`);
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
    await it.return?.();
    if (drawn) out.raw("\r\x1b[2K");
  }
}
