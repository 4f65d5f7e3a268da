/**
 * The soak's mix of tasks: what each kind of task is, how its body is made,
 * and in what proportions they come. Every choice is drawn from a seeded
 * generator, so one seed always gives the same sequence of tasks (their
 * deadlines are relative to the time they are made).
 *
 * Kinds and the built-in type each uses:
 *
 * | kind           | task                                                      | ends                   |
 * | -------------- | --------------------------------------------------------- | ---------------------- |
 * | `echo`         | echo of a small object                                    | succeeded              |
 * | `sleep`        | sleep 50..1500 ms, reporting progress                     | succeeded              |
 * | `compute`      | compute, complexity 2..5, on the worker thread pool       | succeeded              |
 * | `fail-payload` | sleep with `{"ms": -1}`: the handler throws Unrecoverable | failed (UNRECOVERABLE) |
 * | `fail-timeout` | sleep 1000 ms with timeoutMs 150, maxAttempts 2           | failed (TIMEOUT)       |
 * | `cancel`       | sleep 3000 ms; the load cancels it at its first progress  | cancelled              |
 * | `deadline`     | echo or short sleep that must start within 0.5..6 s       | succeeded or expired   |
 * | `expired`      | echo whose deadline passed 1..5 s before it was sent      | expired                |
 * | `dep-parent`   | sleep 100..600 ms that one or two dependants wait on      | succeeded              |
 * | `dep-failing`  | a failing parent (bad payload) that dependants wait on    | failed                 |
 * | `dependant`    | echo or short sleep with `dependsOn`                      | succeeded, or cancelled (DEPENDENCY_FAILED) |
 *
 * @module
 */

/** What a task is for, in the soak. */
export type Kind =
  | "echo"
  | "sleep"
  | "compute"
  | "fail-payload"
  | "fail-timeout"
  | "cancel"
  | "deadline"
  | "expired"
  | "dep-parent"
  | "dep-failing"
  | "dependant";

/** Every kind, in the order the summary lists them. */
export const KINDS: readonly Kind[] = [
  "echo",
  "sleep",
  "compute",
  "fail-payload",
  "fail-timeout",
  "cancel",
  "deadline",
  "expired",
  "dep-parent",
  "dep-failing",
  "dependant",
];

/** One task to submit. */
export interface TaskPlan {
  id: string;
  kind: Kind;
  /** The task type: the last token of `tasks.submit.<type>`. */
  type: string;
  /** The submission body, `id` included. */
  body: Record<string, unknown>;
  /** Ids this task waits on (also in the body). */
  dependsOn: string[];
}

/**
 * Tasks submitted in order, each once the one before it was acknowledged: a
 * single task, or a parent followed by its dependants (a dependency must be
 * known when its dependant arrives).
 */
export type Group = TaskPlan[];

/** Share of groups of each shape (a dependency group holds 2 or 3 tasks). */
const WEIGHTS: readonly [string, number][] = [
  ["echo", 28],
  ["sleep", 20],
  ["compute", 10],
  ["fail-payload", 4],
  ["fail-timeout", 4],
  ["cancel", 6],
  ["deadline", 8],
  ["expired", 3],
  ["dependency", 9],
];
const TOTAL = WEIGHTS.reduce((s, [, w]) => s + w, 0);

/** Makes groups of tasks from a seeded generator. */
export class TaskMix {
  #n = 0;

  constructor(private readonly rng: () => number) {}

  /** The next group. */
  next(now = Date.now()): Group {
    let pick = this.rng() * TOTAL;
    const shape = WEIGHTS.find(([, w]) => (pick -= w) < 0)?.[0] ?? "echo";
    switch (shape) {
      case "echo":
        return [this.#plan("echo", "echo", { payload: { n: this.#n } })];
      case "sleep":
        return [this.#plan("sleep", "sleep", { payload: { ms: this.#int(50, 1500) } })];
      case "compute":
        return [
          this.#plan("compute", "compute", {
            payload: { complexity: this.#int(2, 5), input: this.#int(0, 1_000_000) },
          }),
        ];
      case "fail-payload":
        return [this.#plan("fail-payload", "sleep", { payload: { ms: -1 } })];
      case "fail-timeout":
        return [
          this.#plan("fail-timeout", "sleep", {
            payload: { ms: 1000 },
            timeoutMs: 150,
            maxAttempts: 2,
          }),
        ];
      case "cancel":
        return [this.#plan("cancel", "sleep", { payload: { ms: 3000 } })];
      case "deadline": {
        const deadline = new Date(now + this.#int(500, 6000)).toISOString();
        return [
          this.rng() < 0.5
            ? this.#plan("deadline", "echo", { payload: { n: this.#n }, deadline })
            : this.#plan("deadline", "sleep", { payload: { ms: this.#int(50, 500) }, deadline }),
        ];
      }
      case "expired": {
        const deadline = new Date(now - this.#int(1000, 5000)).toISOString();
        return [this.#plan("expired", "echo", { payload: { n: this.#n }, deadline })];
      }
      default:
        return this.#dependencyGroup();
    }
  }

  /** A parent (failing 30 % of the time) and one or two dependants: a chain or a fan. */
  #dependencyGroup(): Group {
    const failing = this.rng() < 0.3;
    const parent = failing
      ? this.#plan("dep-failing", "sleep", { payload: { ms: -1 } })
      : this.#plan("dep-parent", "sleep", { payload: { ms: this.#int(100, 600) } });
    const first = this.#dependant([parent.id]);
    if (this.rng() < 0.5) return [parent, first];
    const shape = this.rng();
    const on = shape < 0.4 ? [first.id] : shape < 0.7 ? [parent.id] : [parent.id, first.id];
    return [parent, first, this.#dependant(on)];
  }

  #dependant(dependsOn: string[]): TaskPlan {
    return this.rng() < 0.5
      ? this.#plan("dependant", "echo", { payload: { n: this.#n }, dependsOn })
      : this.#plan("dependant", "sleep", { payload: { ms: this.#int(50, 300) }, dependsOn });
  }

  #plan(kind: Kind, type: string, fields: Record<string, unknown>): TaskPlan {
    const id = `${kind}-${++this.#n}`;
    const dependsOn = (fields.dependsOn as string[] | undefined) ?? [];
    return { id, kind, type, body: { id, ...fields }, dependsOn };
  }

  #int(min: number, max: number): number {
    return min + Math.floor(this.rng() * (max - min + 1));
  }
}
