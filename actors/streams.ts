/**
 * The JetStream streams every deployment has.
 *
 * @module
 */

import type { StreamSpec, Subjects } from "../src/mod.ts";

/** The streams every deployment has. */
export function streamSpecs(subj: Subjects, replicas: number): StreamSpec[] {
  return [
    // Submissions wait here until their result is stored; acked then, and so removed.
    {
      name: subj.tasksStream,
      subjects: [subj.submitAll],
      retention: "workqueue",
      duplicateWindowMs: 120_000,
      replicas,
    },
    // One result per task id, kept a week, readable later; each stored result
    // is republished on tasks.result.<id>, so subscribers see each once. A
    // second result for an id is refused by the stream itself (discard new per
    // subject), so no compare-and-set header travels with the republished copy.
    {
      name: subj.resultsStream,
      subjects: [subj.outcomeAll],
      republish: { src: subj.outcomeAll, dest: subj.resultAll },
      retention: "limits",
      maxMsgsPerSubject: 1,
      discard: "new-per-subject",
      maxAgeMs: 7 * 86_400_000,
      duplicateWindowMs: 120_000,
      replicas,
    },
    // Tasks that used up their attempts, with their history, kept 30 days.
    {
      name: subj.deadLetterStream,
      subjects: [subj.deadLetter("*")],
      retention: "limits",
      maxAgeMs: 30 * 86_400_000,
      replicas,
    },
  ];
}
