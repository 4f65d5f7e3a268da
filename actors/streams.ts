/**
 * The JetStream streams every deployment has.
 *
 * @module
 */

import type { Config, StreamSpec, Subjects } from "../src/internal_mod.ts";

/** The settings the streams depend on (a number: replicas only, no limits). */
export type StreamSettings = Pick<Config, "replicas" | "tasksMaxBytes" | "tasksMaxMsgs">;

/** The streams every deployment has. */
export function streamSpecs(subj: Subjects, settings: number | StreamSettings): StreamSpec[] {
  const given: Partial<StreamSettings> = typeof settings === "number"
    ? { replicas: settings }
    : settings;
  const { replicas = 1, tasksMaxBytes = 0, tasksMaxMsgs = 0 } = given;
  return [
    // Submissions wait here until their result is stored; acked then, and so removed.
    // A full stream refuses new submissions (the publisher's ack says why); it never
    // drops an older one, which discard old would do silently.
    {
      name: subj.tasksStream,
      subjects: [subj.submitAll],
      retention: "workqueue",
      discard: "new",
      maxBytes: tasksMaxBytes,
      maxMsgs: tasksMaxMsgs,
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
