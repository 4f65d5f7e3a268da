/**
 * The soak's verdicts, as pure functions of what the load sent, what the
 * checker saw and read, and the memory samples:
 *
 * 1. **Exactly one terminal result per acknowledged submission**: each has
 *    exactly one stored result in `RESULTS`, and no id was seen live on
 *    `tasks.result.>` with different bytes (from another message, or from
 *    what the stream holds). The same bytes again (the same stored message
 *    republished) are counted but are not a second run's result.
 * 2. **No result without a submission**: every id stored or seen live is one
 *    the load published (a publish that never got its PubAck may or may not
 *    have a result: both are fine).
 * 3. **Dependants never ran before their dependency succeeded**: a dependant
 *    that ran (attempts, `startedAt`, `history`) had every dependency
 *    `succeeded`, and no attempt of it started before the latest dependency's
 *    `finishedAt`; a dependant with a dependency that did not succeed ended
 *    `cancelled` with `DEPENDENCY_FAILED` and never ran; one whose
 *    dependencies all succeeded was not cancelled for them; and none was
 *    rejected (its dependency was stored in `TASKS` before it was sent).
 * 4. **RSS within the bound** for every process name over the whole run.
 * 5. **Every stored result is signed** by the cluster (`Ts-Signature`).
 *
 * @module
 */

import type { TaskResult } from "../../src/internal_mod.ts";
import type { Checker, StoredResults } from "./checker.ts";
import type { Submission } from "./load.ts";
import type { RssFigure } from "./rss.ts";

/** One verdict. */
export interface CheckOutcome {
  name: string;
  ok: boolean;
  /** Counts behind the verdict. */
  detail: string;
  /** Every offending id with what is wrong. */
  problems: string[];
}

function outcome(name: string, problems: string[], detail: string): CheckOutcome {
  return { name, ok: problems.length === 0, detail, problems };
}

/** Check 1. */
export function checkExactlyOnce(
  subs: Map<string, Submission>,
  stored: StoredResults,
  checker: Checker,
): CheckOutcome {
  const acked = [...subs.values()].filter((s) => s.ackedAt !== undefined);
  const missing = acked.filter((s) => !stored.has(s.id));
  const twice = [...stored].filter(([, list]) => list.length > 1);
  const liveDiffers = [...checker.live].filter(([id, l]) => {
    const s = stored.get(id)?.[0];
    return s !== undefined && s.hash !== l.hash;
  });
  const problems = [
    ...missing.map((s) =>
      `${s.id}: acknowledged at ${iso(s.ackedAt!)} (${s.kind}${
        s.dependsOn.map((d) => `, after ${d}: ${stored.get(d)?.[0]?.result.state ?? "no result"}`)
          .join("")
      }), no stored result${
        checker.live.has(s.id) ? ` though seen live (${checker.live.get(s.id)!.state})` : ""
      }`
    ),
    ...twice.map(([id, list]) =>
      `${id}: stored ${list.length} times (seq ${list.map((x) => x.seq)})`
    ),
    ...checker.conflicts.map((c) =>
      `${c.id}: seen live again with other bytes: seq ${c.firstSeq} ${c.first} then seq ${c.laterSeq} ${c.later}`
    ),
    ...liveDiffers.map(([id, l]) =>
      `${id}: the live result (seq ${l.seq}, ${l.state}) differs from the stored one (seq ${
        stored.get(id)![0].seq
      }, ${stored.get(id)![0].result.state})`
    ),
  ];
  return outcome(
    "exactly one terminal result per acknowledged submission",
    problems,
    `${int(acked.length)} acknowledged, ${int(missing.length)} without a result, ${
      int(twice.length)
    } stored twice, ${int(checker.conflicts.length + liveDiffers.length)} conflicting; ${
      int(checker.republished)
    } republished with the same bytes`,
  );
}

/** Check 2. */
export function checkNoOrphans(
  subs: Map<string, Submission>,
  stored: StoredResults,
  checker: Checker,
): CheckOutcome {
  const ids = new Set([...stored.keys(), ...checker.live.keys()]);
  const orphans = [...ids].filter((id) => !subs.has(id));
  const problems = orphans.map((id) => {
    const r = stored.get(id)?.[0]?.result;
    return `${id}: ${
      r ? `stored ${r.state}` : `seen live ${checker.live.get(id)?.state}`
    }, never submitted`;
  });
  const unconfirmed = [...subs.values()].filter((s) => s.ackedAt === undefined);
  const withResult = unconfirmed.filter((s) => ids.has(s.id)).length;
  return outcome(
    "no result without a submission",
    problems,
    `${int(ids.size)} ids with a result, ${int(orphans.length)} never submitted; ${
      int(unconfirmed.length)
    } unconfirmed publishes, ${int(withResult)} of them with a result`,
  );
}

/** Check 3. */
export function checkDependencies(
  subs: Map<string, Submission>,
  stored: StoredResults,
): CheckOutcome {
  const problems: string[] = [];
  let dependants = 0;
  let ran = 0;
  let cancelled = 0;
  for (const s of subs.values()) {
    if (s.dependsOn.length === 0 || s.ackedAt === undefined) continue;
    const r = stored.get(s.id)?.[0]?.result;
    if (!r) continue; // check 1 reports it
    dependants++;
    const deps = s.dependsOn.map((id) => ({ id, r: stored.get(id)?.[0]?.result }));
    const failedDep = deps.find((d) => d.r?.state !== "succeeded");
    const starts = attemptStarts(r);
    const didRun = starts.length > 0 || r.attempts > 0;
    const dependencyFailed = r.state === "cancelled" && r.error?.code === "DEPENDENCY_FAILED";
    if (dependencyFailed) cancelled++;
    if (didRun) ran++;
    if (r.state === "rejected") {
      const acked = s.dependsOn.map((d) => `${d} acknowledged ${iso(subs.get(d)?.ackedAt ?? 0)}`);
      problems.push(
        `${s.id}: sent ${iso(s.publishedAt)}, rejected ${r.error?.code}: ${r.error?.message} (${
          acked.join(", ")
        })`,
      );
    } else if (failedDep) {
      const why = `${failedDep.id} ended ${failedDep.r?.state ?? "without a result"}`;
      if (didRun) {
        const at = starts.length > 0 ? ` at ${iso(Math.min(...starts))}` : "";
        problems.push(`${s.id}: ran (${r.attempts} attempts)${at} although ${why}`);
      }
      if (!dependencyFailed) {
        problems.push(
          `${s.id}: ended ${r.state} ${r.error?.code ?? ""}, not DEPENDENCY_FAILED: ${why}`,
        );
      }
    } else {
      if (dependencyFailed) {
        problems.push(`${s.id}: cancelled DEPENDENCY_FAILED though ${s.dependsOn} succeeded`);
      }
      const last = deps.reduce((a, d) => (finished(d.r!) > finished(a.r!) ? d : a));
      const lastFinished = finished(last.r!);
      const first = starts.length > 0 ? Math.min(...starts) : Infinity;
      if (first < lastFinished) {
        problems.push(
          `${s.id}: an attempt started at ${iso(first)}, before ${last.id} finished at ${
            last.r!.finishedAt
          }`,
        );
      }
    }
  }
  return outcome(
    "dependants ran only after their dependencies succeeded",
    problems,
    `${int(dependants)} dependants: ${int(ran)} ran, ${
      int(cancelled)
    } cancelled DEPENDENCY_FAILED; ${int(problems.length)} violations`,
  );
}

/** Check 4; the processes named in `exclude` are not judged. */
export function checkRss(
  figures: Map<string, RssFigure>,
  limitBytes: number,
  exclude: string[] = [],
): CheckOutcome {
  const judged = [...figures].filter(([name]) => !exclude.includes(name));
  const problems = judged
    .filter(([, f]) => f.maxBytes > limitBytes)
    .map(([name, f]) => `${name}: ${mb(f.maxBytes)} at ${iso(f.maxAt)}`);
  const top = judged.reduce((a, [, f]) => Math.max(a, f.maxBytes), 0);
  return outcome(
    `RSS of every process within ${mb(limitBytes)}`,
    problems,
    `${judged.length} processes sampled, highest ${mb(top)}`,
  );
}

/** Check 5. */
export function checkSignatures(stored: StoredResults): CheckOutcome {
  const bad = [...stored.values()].flat().filter((s) => s.badSignature);
  return outcome(
    "every stored result is signed by the cluster",
    bad.map((s) => `${s.id}: seq ${s.seq} ${s.badSignature}`),
    `${int([...stored.values()].flat().length)} stored results, ${int(bad.length)} not signed`,
  );
}

/** Start times (epoch ms) of every attempt that started. */
export function attemptStarts(r: TaskResult): number[] {
  const starts = (r.history ?? []).map((h) => h.startedAt).filter((t) => t > 0);
  if (r.startedAt) starts.push(Date.parse(r.startedAt));
  return starts;
}

function finished(r: TaskResult): number {
  return Date.parse(r.finishedAt);
}

/** A count with thousands separators. */
export function int(n: number): string {
  return n.toLocaleString("en-US");
}

/** Megabytes, one decimal. */
export function mb(bytes: number): string {
  return `${(bytes / 1_048_576).toFixed(1)} MB`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
