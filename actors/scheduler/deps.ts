/**
 * Dependencies between tasks: a task that depends on others waits until all
 * of them succeed, and is cancelled as soon as one ends any other way. A
 * dependency still held keeps a list of its dependants (on its side object,
 * see task_table.ts); one already finished is looked up by its state.
 *
 * @module
 */

import type { ErrorInfo, TerminalState } from "../../src/internal_mod.ts";
import type { TaskEntry, TaskTable } from "./task_table.ts";

/** A dependency that ended other than succeeded. */
export interface FailedDependency {
  /** Its id. */
  dep: string;
  /** How it ended. */
  state: TerminalState;
}

/** What becomes of a dependant when its dependencies settle: the lifecycle's transitions. */
export interface DependantSettler {
  /** Its last dependency succeeded: it may run. */
  dependenciesMet(d: TaskEntry): void;
  /** A dependency ended other than succeeded: it never runs. */
  dependencyFailed(d: TaskEntry, error: ErrorInfo): void;
}

/**
 * Make `e` wait on the unfinished tasks of `dependsOn`. `looked` has the
 * terminal states the caller looked up outside memory; every dependency is
 * resolved by then. Returns the first dependency that did not succeed, with
 * `e` unlinked from all of them again, or `undefined` when `e` waits on
 * `e.waitingOn` tasks (maybe none).
 */
export function waitOnDependencies(
  table: TaskTable,
  e: TaskEntry,
  dependsOn: readonly string[],
  looked: ReadonlyMap<string, TerminalState | "unknown">,
): FailedDependency | undefined {
  for (const dep of dependsOn) {
    const d = table.tasks.get(dep);
    if (d && !d.result) {
      (d.dependants ??= []).push(e);
      e.waitingOn++;
      continue;
    }
    const state = d?.result?.state ?? table.recent.get(dep) ?? looked.get(dep);
    if (state === "succeeded") continue;
    unlinkFromDependencies(table, e, dependsOn);
    return { dep, state: state as TerminalState };
  }
  return undefined;
}

/** Take `e` off the dependant lists of `dependsOn`. */
export function unlinkFromDependencies(
  table: TaskTable,
  e: TaskEntry,
  dependsOn: readonly string[],
): void {
  for (const dep of dependsOn) {
    const d = table.tasks.get(dep);
    if (d?.dependants) d.dependants = d.dependants.filter((x) => x !== e);
  }
}

/** `e` ended `state`: tell each dependant still waiting. */
export function settleDependants(
  e: TaskEntry,
  state: TerminalState,
  settler: DependantSettler,
): void {
  const deps = e.dependants;
  if (!deps) return;
  e.dependants = null;
  for (const d of deps) {
    if (d.result || d.state !== "waiting") continue;
    if (state !== "succeeded") {
      settler.dependencyFailed(d, {
        code: "DEPENDENCY_FAILED",
        message: `dependency ${e.id} ended ${state}`,
      });
    } else if (--d.waitingOn === 0) settler.dependenciesMet(d);
  }
}
