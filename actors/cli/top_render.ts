/**
 * The frames of `deno task top`, drawn from a {@link MonitorFold}: pure
 * functions of the fold, the time and the terminal's size, no I/O. Every line
 * fits the width in terminal cells (wide characters count two); text that
 * came over NATS is stripped of control characters before it is shown.
 *
 * @module
 */

import type { MonitorFold, NodeRecord, TaskRecord } from "../monitor/view.ts";
import { bytes, duration } from "./ctl_format.ts";

/** How a line is shown on a colour terminal. */
export type Style = "title" | "head" | "bad" | "warn" | "dim";

/** One line of a frame. */
export interface Line {
  text: string;
  style?: Style;
}

/** What a frame is drawn from besides the fold. */
export interface FrameInput {
  fold: MonitorFold;
  /** Epoch ms. */
  now: number;
  /** Terminal columns and rows. */
  width: number;
  height: number;
  /** The NATS server(s), as shown. */
  server: string;
  connected: boolean;
  /** A word on the monitor snapshot (`asking…`, `none answered`), if any. */
  note?: string;
}

// --- cells -------------------------------------------------------------------

/** Columns a code point takes in a terminal: 0 (combining), 1, or 2 (wide). */
export function cellsOf(cp: number): number {
  if (cp < 0x300) return 1;
  if (
    (cp <= 0x36f) || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0xfe00 && cp <= 0xfe0f) ||
    (cp >= 0x1ab0 && cp <= 0x1aff) || (cp >= 0x20d0 && cp <= 0x20ff)
  ) return 0;
  if (
    (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf && cp !== 0x303f) ||
    (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1faff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  ) return 2;
  return 1;
}

/** Columns `text` takes. */
export function cellWidth(text: string): number {
  let n = 0;
  for (const ch of text) n += cellsOf(ch.codePointAt(0)!);
  return n;
}

// Control characters (escape sequences among them) and bidirectional overrides.
// deno-lint-ignore no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** Text from the network made safe to print: no control characters, one line. */
export function sanitize(text: string): string {
  return text.replace(UNSAFE, " ");
}

/** At most `n` cells of `text`, ending with `…` when cut. */
export function clipCells(text: string, n: number): string {
  if (n <= 0) return "";
  if (cellWidth(text) <= n) return text;
  let out = "";
  let used = 0;
  for (const ch of text) {
    const w = cellsOf(ch.codePointAt(0)!);
    if (used + w > n - 1) break;
    out += ch;
    used += w;
  }
  return `${out}…`;
}

/** At most `n` cells of an id, cut in the middle (`node-wi…name-3`): both ends tell ids apart. */
export function clipMiddle(text: string, n: number): string {
  if (cellWidth(text) <= n || n < 5) return clipCells(text, n);
  const chars = [...text];
  let head = "";
  let tail = "";
  let used = 1;
  for (let a = 0, b = chars.length - 1; a <= b;) {
    const front = used <= n / 2 + 0.5;
    const ch = front ? chars[a] : chars[b];
    const w = cellsOf(ch.codePointAt(0)!);
    if (used + w > n) break;
    used += w;
    if (front) {
      head += ch;
      a++;
    } else {
      tail = ch + tail;
      b--;
    }
  }
  return `${head}…${tail}`;
}

/** `text` clipped or padded to exactly `n` cells. */
export function padCells(text: string, n: number, right = false, id = false): string {
  const t = id ? clipMiddle(text, n) : clipCells(text, n);
  const pad = " ".repeat(Math.max(0, n - cellWidth(t)));
  return right ? pad + t : t + pad;
}

// --- bars and numbers ----------------------------------------------------------

/** A bar of `cells` cells, `████░░`, filled to `fraction` (clamped to 0..1). */
export function bar(fraction: number, cells: number): string {
  const f = Number.isFinite(fraction) ? Math.max(0, Math.min(1, fraction)) : 0;
  const filled = Math.round(f * cells);
  return "█".repeat(filled) + "░".repeat(cells - filled);
}

/** A node's health bar and score, `████████░░  80`; dots when unknown. */
export function healthBar(health: unknown, cells: number): string {
  if (typeof health !== "number" || !Number.isFinite(health)) {
    return `${"·".repeat(cells)}   -`;
  }
  const h = Math.max(0, Math.min(100, Math.round(health)));
  return `${bar(h / 100, cells)} ${String(h).padStart(3)}`;
}

/** A task's progress bar and percentage, `████░░░░░░  40%`. */
export function progressBar(progress: number | undefined, cells: number): string {
  if (typeof progress !== "number" || !Number.isFinite(progress)) {
    return `${"·".repeat(cells)}    -`;
  }
  const p = Math.max(0, Math.min(1, progress));
  return `${bar(p, cells)} ${`${Math.floor(p * 100 + 1e-9)}%`.padStart(4)}`;
}

/** A rate per second: `0`, `0.3`, `12`, `1.2k`. */
export function rate(n: number): string {
  if (n === 0) return "0";
  if (n < 10) return n.toFixed(1);
  if (n < 1_000) return String(Math.round(n));
  return `${(n / 1_000).toFixed(1)}k`;
}

function ms(n: number | undefined): string {
  return n === undefined ? "-" : duration(n);
}

function hhmmss(at: number): string {
  return new Date(at).toISOString().slice(11, 19);
}

/** Segments joined by two spaces, wrapped onto as many lines of `width` as they need. */
export function wrap(segments: string[], width: number, style?: Style): Line[] {
  const out: Line[] = [];
  let cur = "";
  for (const s of segments) {
    if (cur && cellWidth(cur) + 2 + cellWidth(s) > width) {
      out.push({ text: cur, style });
      cur = s;
    } else {
      cur = cur ? `${cur}  ${s}` : s;
    }
  }
  if (cur) out.push({ text: cur, style });
  return out;
}

// --- the frame -----------------------------------------------------------------

const NAMES = new Intl.Collator("en", { numeric: true });
const COUNTS = ["held", "queued", "running", "waiting", "retrying"];

function header(i: FrameInput): Line[] {
  const { fold, now, width } = i;
  const out: Line[] = [];
  out.push(
    ...wrap(
      [
        "task-scheduler top",
        sanitize(i.server),
        i.connected ? "connected" : "DISCONNECTED, reconnecting",
        `${hhmmss(now)} UTC`,
        ...(i.note ? [sanitize(i.note)] : []),
      ],
      width,
      i.connected ? "title" : "bad",
    ),
  );
  const leader = fold.leader
    ? `leader ${sanitize(fold.leader)}  epoch ${fold.epoch}${
      fold.leaderChanges ? `  (${fold.leaderChanges} changes seen)` : ""
    }`
    : `no leader seen${fold.epoch ? ` (last epoch ${fold.epoch})` : ""}`;
  const counts = COUNTS.map((k) => `${k} ${k in fold.counts ? fold.counts[k] : "-"}`);
  out.push(...wrap([leader, ...counts], width, fold.leader ? undefined : "warn"));
  const w = fold.waitRecent.percentiles();
  const r = fold.runRecent.percentiles();
  out.push(
    ...wrap([
      `submitted ${rate(fold.series.rate(now, "submitted"))}/s`,
      `succeeded ${rate(fold.series.rate(now, "succeeded"))}/s`,
      `failed ${rate(fold.series.rate(now, "failed"))}/s`,
      `wait p50 ${ms(w?.p50)} p99 ${ms(w?.p99)}`,
      `run p50 ${ms(r?.p50)} p99 ${ms(r?.p99)}`,
    ], width),
  );
  if (fold.storageFull.length) {
    out.push({ text: `STORAGE FULL: ${fold.storageFull.map(sanitize).join(", ")}`, style: "bad" });
  }
  return out;
}

function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** Node rows: at most `rows` lines (the last says how many more when cut). */
function nodes(i: FrameInput, list: [string, NodeRecord][], rows: number): Line[] {
  const { width, now } = i;
  const nameW = Math.max(
    4,
    Math.min(width >= 100 ? 24 : 16, Math.max(0, ...list.map(([id]) => cellWidth(sanitize(id))))),
  );
  const barW = width >= 100 ? 10 : 5;
  // Most wanted first: the columns that do not fit the width are left out.
  const all: [string, number, boolean][] = [
    ["NODE", nameW, false],
    ["STATE", 8, false],
    ["HEALTH", barW + 4, false],
    ["CPU", 5, true],
    ["MEMORY", 9, true],
    ["SLOTS", 7, true],
    ["HEARD", 8, true],
    ["QUEUED", 6, true],
    ["FAIL/1m", 7, true],
  ];
  const cols = [all[0]];
  let used = nameW;
  for (const c of all.slice(1)) {
    if ((used += c[1] + 2) > width) break;
    cols.push(c);
  }
  const row = (cells: string[]) =>
    cols.map((c, k) => padCells(cells[k], c[1], c[2], k === 0)).join("  ").trimEnd();
  const byState = new Map<string, number>();
  for (const [, e] of list) {
    const st = String(e.status.state ?? "?");
    byState.set(st, (byState.get(st) ?? 0) + 1);
  }
  const summary = [...byState].map(([s, n]) => `${n} ${sanitize(s)}`).join(", ");
  const out: Line[] = [
    { text: `NODES  ${list.length ? summary : "none seen yet"}`, style: "title" },
  ];
  if (!list.length) return out;
  out.push({ text: row(cols.map((c) => c[0])), style: "head" });
  const shown = list.length > rows ? Math.max(0, rows - 1) : list.length;
  for (const [id, e] of list.slice(0, shown)) {
    const s = e.status;
    const state = String(s.state ?? "?");
    const lost = state === "lost";
    const busy = num(s.tasksProcessing);
    const total = num(s.concurrency);
    const cpu = num(s.cpuLoad);
    const mem = num(s.memoryUsed);
    const ago = now - e.heard;
    const silent = !lost && state !== "leaving" && ago > 3_000;
    const line = row([
      sanitize(id),
      lost ? "✗ LOST" : sanitize(state),
      healthBar(lost ? 0 : s.health, barW),
      cpu === undefined ? "-" : `${Math.round(cpu)}%`,
      mem === undefined ? "-" : bytes(mem),
      `${busy ?? "-"}/${total ?? "-"}`,
      duration(Math.max(0, ago)),
      String(num(s.tasksQueued) ?? "-"),
      String(num(s.recentFailures) ?? "-"),
    ]);
    out.push({ text: line, style: lost ? "bad" : silent || state !== "up" ? "warn" : undefined });
  }
  if (shown < list.length) {
    out.push({ text: `… ${list.length - shown} more nodes`, style: "dim" });
  }
  return out;
}

function queue(i: FrameInput): Line[] {
  const q = i.fold.queuedByPriority;
  const total = q.reduce((a, b) => a + b, 0);
  const max = Math.max(1, ...q);
  const ticks = "▁▂▃▄▅▆▇█";
  const spark = [...q].reverse().map((n) =>
    n === 0 ? "·" : ticks[Math.min(7, Math.floor((n / max) * 7.999))]
  ).join("");
  const parts = [
    "QUEUE BY PRIORITY",
    `${total} queued`,
    q.map((n, p) => `${p}:${n}`).reverse().join(" "),
  ];
  if (cellWidth(parts.join("  ")) + 2 + spark.length <= i.width) parts.push(spark);
  return wrap(parts, i.width).map((l, k) => (k === 0 ? { ...l, style: "title" as Style } : l));
}

/** Running tasks, newest first: at most `rows` rows. */
function running(i: FrameInput, tasks: TaskRecord[], total: number, rows: number): Line[] {
  const { width } = i;
  const shown = tasks.slice(0, Math.max(0, rows));
  const idW = Math.max(
    2,
    Math.min(24, Math.max(0, ...shown.map((t) => cellWidth(sanitize(t.id))))),
  );
  const typeW = Math.max(
    4,
    Math.min(14, Math.max(0, ...shown.map((t) => cellWidth(sanitize(t.type ?? "-"))))),
  );
  const workerW = Math.max(
    6,
    Math.min(18, Math.max(0, ...shown.map((t) => cellWidth(sanitize(t.worker ?? "-"))))),
  );
  const barW = width >= 100 ? 20 : 10;
  const title = shown.length < total
    ? `RUNNING  ${total} (newest ${shown.length} shown)`
    : `RUNNING  ${total}`;
  const out: Line[] = [{ text: title, style: "title" }];
  if (!total) return out;
  const row = (c: string[]) =>
    [
      padCells(c[0], idW, false, true),
      padCells(c[1], typeW),
      padCells(c[2], workerW, false, true),
      padCells(c[3], barW + 5),
      c[4],
    ].join("  ").trimEnd();
  if (rows > 0) {
    out.push({ text: row(["ID", "TYPE", "WORKER", "PROGRESS", "MESSAGE"]), style: "head" });
  }
  for (const t of shown) {
    const msg = [
      t.attempt && t.attempt > 1 ? `attempt ${t.attempt}` : "",
      t.cancelling ? "cancelling" : "",
      sanitize(t.message ?? ""),
    ].filter(Boolean).join(" · ");
    out.push({
      text: row([
        sanitize(t.id),
        sanitize(t.type ?? "-"),
        sanitize(t.worker ?? "-"),
        progressBar(t.progress, barW),
        msg,
      ]),
      style: t.cancelling ? "warn" : undefined,
    });
  }
  return out;
}

function alerts(i: FrameInput, n: number): Line[] {
  const list = i.fold.recentAlerts;
  if (!list.length) return [{ text: "ALERTS  none", style: "title" }];
  const out: Line[] = [{ text: `ALERTS  ${list.length} recent`, style: "title" }];
  for (let k = list.length - 1; k >= 0 && k >= list.length - n; k--) {
    const a = list[k];
    out.push({
      text: `${a.at.slice(11, 19)}  ${a.severity.padEnd(8)}  ${a.kind.padEnd(16)}  ${
        sanitize(a.summary)
      }`,
      style: a.severity === "critical" ? "bad" : a.severity === "warning" ? "warn" : undefined,
    });
  }
  return out;
}

/** The running tasks of the fold, newest state change first, and how many run. */
export function runningTasks(
  fold: MonitorFold,
  max: number,
): { tasks: TaskRecord[]; total: number } {
  const all = [...fold.tasks.values()];
  const tasks: TaskRecord[] = [];
  let total = 0;
  for (let k = all.length - 1; k >= 0; k--) {
    if (all[k].state !== "running") continue;
    total++;
    if (tasks.length < max) tasks.push(all[k]);
  }
  return { tasks, total };
}

/**
 * One frame: the header, the nodes, the queue by priority, the running
 * tasks (as many as fit), the last alerts. At most `height` lines, each at
 * most `width` cells.
 */
export function renderFrame(i: FrameInput): Line[] {
  const width = Math.max(20, i.width);
  const height = Math.max(8, i.height);
  const input = { ...i, width, height };
  const blank: Line = { text: "" };
  const head = header(input);
  const q = queue(input);
  const alertRows = Math.min(3, i.fold.recentAlerts.length);
  const al = alerts(input, alertRows);
  const nodeList = [...i.fold.nodes].sort((a, b) => NAMES.compare(a[0], b[0]));
  const { tasks, total } = runningTasks(i.fold, height);
  // Fixed: header, blank, queue, blank, alerts; then nodes and tasks share the rest.
  const fixed = head.length + 1 + q.length + 1 + al.length + 1;
  const free = Math.max(0, height - fixed);
  const nodeHead = nodeList.length ? 2 : 1;
  const taskHead = total ? 2 : 1;
  const minTasks = Math.min(total, 3);
  const nodeRows = Math.max(
    Math.min(nodeList.length, 1),
    Math.min(nodeList.length, free - nodeHead - 1 - taskHead - minTasks),
  );
  const nodeLines = nodes(input, nodeList, nodeRows);
  const taskRows = Math.max(0, free - nodeLines.length - 1 - taskHead);
  const lines = [
    ...head,
    blank,
    ...nodeLines,
    blank,
    ...q,
    blank,
    ...running(input, tasks, total, taskRows),
    blank,
    ...al,
  ];
  return lines.slice(0, height).map((l) => ({ ...l, text: clipCells(l.text, width) }));
}

const SGR: Record<Style, string> = {
  title: "\x1b[1m",
  head: "\x1b[2m",
  bad: "\x1b[31m",
  warn: "\x1b[33m",
  dim: "\x1b[2m",
};

/** A frame as plain text, one line each, no escape codes. */
export function plain(frame: Line[]): string {
  return frame.map((l) => l.text.trimEnd()).join("\n");
}

/**
 * A frame drawn over the previous one: cursor home, each line cleared to
 * its end, the rest of the screen cleared. No newline after the last line
 * (it would scroll a full screen).
 */
export function inPlace(frame: Line[], color: boolean): string {
  const body = frame.map((l) =>
    color && l.style && l.text ? `${SGR[l.style]}${l.text}\x1b[0m\x1b[K` : `${l.text}\x1b[K`
  ).join("\r\n");
  return `\x1b[H${body}\x1b[J`;
}
