/**
 * The order in which queued tasks run.
 *
 * @module
 */

/** What the queue orders a task by. */
export interface Ordered {
  /** Integer 0..9; higher runs first. */
  priority: number;
  /** Epoch milliseconds, `Infinity` for none; earlier runs first. */
  deadline: number;
  /** Submission order; lower (earlier) runs first. */
  seq: number;
}

/**
 * Does `a` run before `b`? Higher priority first; on equal priority the
 * earlier deadline (a task with no deadline, `Infinity`, comes after any task
 * that has one); then the earlier submission. A strict order: false for equal
 * keys, and total over tasks with distinct `seq`. Values are validated at the
 * edge, so no `NaN` reaches here.
 *
 * @example
 * ```ts
 * runsBefore({ priority: 9, deadline: Infinity, seq: 2 }, { priority: 5, deadline: 0, seq: 1 }); // true
 * ```
 */
export function runsBefore(a: Ordered, b: Ordered): boolean {
  if (a.priority !== b.priority) return a.priority > b.priority;
  if (a.deadline !== b.deadline) return a.deadline < b.deadline;
  return a.seq < b.seq;
}
