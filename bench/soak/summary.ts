/**
 * The soak's one-screen summary: the run (seed, rate, length, cluster), the
 * faults by kind with recovery p50/max and the longest stall, the tasks by
 * kind and terminal state, the cancels, the highest RSS of each process, the
 * processes that exited on their own, and the verdict of every check with a
 * few examples of what failed.
 *
 * @module
 */

import type { StoredResults } from "./checker.ts";
import { type CheckOutcome, int, mb } from "./checks.ts";
import type { Crash } from "./cluster.ts";
import { FAULT_KINDS, type FaultRecord } from "./faults.ts";
import type { LoadStats, Submission } from "./load.ts";
import { KINDS } from "./mix.ts";
import type { RssFigure } from "./rss.ts";

/** Everything the summary shows. */
export interface SummaryInput {
  seed: number;
  minutes: number;
  rate: number;
  /** The command line that replays this run. */
  replay: string;
  /** The commit under test and uncommitted changes. */
  code: string;
  cluster: string;
  ranMs: number;
  drainMs: number;
  /** Acknowledged tasks still without a result when the drain ended. */
  undrained: number;
  /** Submissions still in the TASKS stream at the end (stuck, not gone), if it could be read. */
  submissionsWaiting: number | undefined;
  /** `tasks.status` of (some of) the tasks that never ended: triage, not a verdict. */
  triage: { id: string; status: string }[];
  faults: FaultRecord[];
  submissions: Map<string, Submission>;
  stored: StoredResults;
  load: LoadStats;
  rss: Map<string, RssFigure>;
  rssLimitBytes: number;
  crashes: Crash[];
  checks: CheckOutcome[];
  interrupted: boolean;
}

const STATES = ["succeeded", "failed", "cancelled", "expired", "rejected"] as const;
const EXAMPLES = 3;

/** Nearest-rank percentile of `values` (unsorted), or undefined when empty. */
export function percentile(values: number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function secs(ms: number | undefined): string {
  return ms === undefined ? "-" : `${(ms / 1000).toFixed(2)} s`;
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

function table(rows: string[][], indent = "  "): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) =>
    indent + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ")
  );
}

/** The summary as lines. */
export function summarize(o: SummaryInput): string[] {
  const passed = o.checks.every((c) => c.ok) && !o.interrupted;
  const out: string[] = [];
  out.push(
    `chaos soak   seed ${o.seed}, ${o.minutes} min at ${o.rate} tasks/s   replay: ${o.replay}`,
  );
  out.push(`code         ${o.code}`);
  out.push(
    `cluster      ${o.cluster}; ran ${duration(o.ranMs)}, drained in ${secs(o.drainMs)}${
      o.undrained
        ? ` (${int(o.undrained)} never ended; ${
          o.submissionsWaiting ?? "?"
        } submissions still in the TASKS stream)`
        : ""
    }${o.interrupted ? "; INTERRUPTED" : ""}`,
  );
  if (o.triage.length > 0) {
    const said = new Map<string, number>();
    for (const t of o.triage) said.set(t.status, (said.get(t.status) ?? 0) + 1);
    out.push(
      `             tasks.status of ${o.triage.length} of them: ${
        [...said].map(([st, n]) => `${st} x${n}`).join(", ")
      }`,
    );
  }
  out.push("");

  out.push(`faults       ${o.faults.length} injected, one after another`);
  const faultRows = [["kind", "n", "recovery p50", "max", "longest stall", "errors"]];
  for (const kind of FAULT_KINDS) {
    const fs = o.faults.filter((f) => f.kind === kind);
    if (fs.length === 0) continue;
    const rec = fs.flatMap((f) =>
      f.recoveredAt !== undefined && f.recoveryFrom !== undefined
        ? [f.recoveredAt - f.recoveryFrom]
        : []
    );
    const none = fs.length - rec.length;
    faultRows.push([
      kind,
      String(fs.length),
      secs(percentile(rec, 50)),
      none ? `none x${none}` : secs(percentile(rec, 100)),
      secs(percentile(fs.map((f) => f.stallMs ?? 0), 100)),
      String(fs.filter((f) => f.error).length),
    ]);
  }
  if (faultRows.length > 1) out.push(...table(faultRows));
  out.push(
    "  (recovery: from the kill, or from the heal of a stop, cut or restart, to the next result)",
  );
  out.push("");

  const subs = [...o.submissions.values()];
  const acked = subs.filter((s) => s.ackedAt !== undefined);
  const states = new Map<string, number>();
  const byKind = new Map<string, Map<string, number>>();
  for (const s of acked) {
    const state = o.stored.get(s.id)?.[0]?.result.state ?? "none";
    states.set(state, (states.get(state) ?? 0) + 1);
    const k = byKind.get(s.kind) ?? new Map<string, number>();
    k.set(state, (k.get(state) ?? 0) + 1);
    byKind.set(s.kind, k);
  }
  out.push(
    `tasks        ${int(subs.length)} sent, ${int(acked.length)} acknowledged, ${
      int(subs.length - acked.length)
    } unconfirmed; ${int(o.load.republishes)} re-sent, ${
      int(o.load.duplicateAcks)
    } duplicate acks, ${int(o.load.shed)} not offered (backlog)`,
  );
  const kindRows = [["kind", "acked", ...STATES, "none"]];
  for (const kind of KINDS) {
    const k = byKind.get(kind);
    if (!k) continue;
    const n = [...k.values()].reduce((a, b) => a + b, 0);
    kindRows.push([
      kind,
      int(n),
      ...[...STATES, "none"].map((st) => (k.get(st) ? int(k.get(st)!) : "")),
    ]);
  }
  kindRows.push([
    "all",
    int(acked.length),
    ...[...STATES, "none"].map((st) => (states.get(st) ? int(states.get(st)!) : "")),
  ]);
  out.push(...table(kindRows));
  const cancels = subs.filter((s) => s.cancel);
  const answers = new Map<string, number>();
  for (const s of cancels) answers.set(s.cancel!.answer, (answers.get(s.cancel!.answer) ?? 0) + 1);
  const endedCancelled =
    cancels.filter((s) => o.stored.get(s.id)?.[0]?.result.state === "cancelled").length;
  const notHonoured =
    cancels.filter((s) =>
      (s.cancel!.answer === "cancelling" || s.cancel!.answer === "cancelled") &&
      o.stored.get(s.id)?.[0]?.result.state !== "cancelled"
    ).length;
  out.push(
    `  cancels: ${int(cancels.length)} sent (${
      [...answers].map(([a, n]) => `${a} ${int(n)}`).join(", ") || "none"
    }); ${int(endedCancelled)} ended cancelled${
      notHonoured ? `; ${notHonoured} accepted but ended otherwise (in the report)` : ""
    }`,
  );
  out.push("");

  const rss = [...o.rss].sort(([a], [b]) => a.localeCompare(b))
    .map(([name, f]) => `${name} ${mb(f.maxBytes).replace(" MB", "")}`);
  out.push(
    `memory       highest RSS in MB (bound ${mb(o.rssLimitBytes)}, not for soak): ${
      rss.join(", ")
    }`,
  );
  out.push(
    `crashes      ${
      o.crashes.length === 0
        ? "none (no process exited on its own)"
        : o.crashes.map((c) => `${c.name} exited ${c.code} at ${new Date(c.at).toISOString()}`)
          .join("; ")
    }`,
  );
  out.push("");

  out.push("checks");
  for (const c of o.checks) {
    out.push(`  ${c.ok ? "PASS" : "FAIL"}  ${c.name}: ${c.detail}`);
    for (const p of c.problems.slice(0, EXAMPLES)) {
      out.push(`          ${p.length > 300 ? `${p.slice(0, 300)}...` : p}`);
    }
    if (c.problems.length > EXAMPLES) {
      out.push(`          ... and ${c.problems.length - EXAMPLES} more`);
    }
  }
  out.push(`verdict      ${passed ? "PASS" : "FAIL"} (seed ${o.seed})`);
  return out;
}
