/**
 * The fault injector. Every few seconds (a random gap of `gapMs`) it picks one
 * fault at random among the enabled kinds and a target, injects it, heals it,
 * and waits until results flow again before the next gap, so faults follow
 * one another and never overlap:
 *
 * | kind           | what                                                             | heal                 |
 * | -------------- | ---------------------------------------------------------------- | -------------------- |
 * | `kill-worker`  | kill -9 a worker process                                         | start it again       |
 * | `kill-leader`  | kill -9 the scheduler holding the leader lease                   | start it again       |
 * | `sigstop`      | SIGSTOP a scheduler, a worker or the nats-server for `stopMs`    | SIGCONT              |
 * | `restart-nats` | stop the nats-server (SIGTERM), keep it down `natsDownMs`, start | it is up (same port) |
 * | `cut`          | a process's proxy drops every byte for `cutMs`                   | forward again        |
 *
 * Recovery is measured from the injection for the kills (the system should
 * carry on without waiting for the restart) and from the heal for the others,
 * to the arrival of the first result finished after that moment. The longest
 * gap between results from the injection to the recovery is kept as `stallMs`.
 *
 * Kinds, targets, durations and gaps come from a seeded generator, so a seed
 * replays the same sequence of faults (which scheduler leads, and so the
 * target of `kill-leader`, depends on the run).
 *
 * @module
 */

import type { Checker } from "./checker.ts";
import type { SoakCluster } from "./cluster.ts";

/** The kinds of fault. */
export type FaultKind = "kill-worker" | "kill-leader" | "sigstop" | "restart-nats" | "cut";

/** Every kind, in the order the summary lists them. */
export const FAULT_KINDS: readonly FaultKind[] = [
  "kill-worker",
  "kill-leader",
  "sigstop",
  "restart-nats",
  "cut",
];

/** One fault as it happened. */
export interface FaultRecord {
  n: number;
  kind: FaultKind;
  /** Member name, or `nats`. */
  target: string;
  /** How long it was planned to last (stop, cut, server down), ms. */
  plannedMs: number;
  injectedAt: number;
  /** When it was undone: process continued or started again, cut healed, server up. */
  healedAt?: number;
  /** Recovery is measured from here. */
  recoveryFrom?: number;
  /** Arrival of the first result finished after `recoveryFrom`. */
  recoveredAt?: number;
  /** The longest time without results from the injection to the recovery. */
  stallMs?: number;
  /** What went wrong while injecting or healing, if anything. */
  error?: string;
}

/** Ranges in ms, `[min, max]`. */
export interface InjectorOptions {
  kinds: readonly FaultKind[];
  gapMs: [number, number];
  stopMs: [number, number];
  cutMs: [number, number];
  natsDownMs: [number, number];
  /** Give up waiting for results after a fault after this long (and go on). */
  recoveryTimeoutMs: number;
  /** Called with a line for each fault as it ends. */
  log: (line: string) => void;
}

/** The soak's default pacing and durations. */
export const DEFAULT_INJECTOR: Omit<InjectorOptions, "kinds" | "log"> = {
  gapMs: [2_000, 6_000],
  stopMs: [5_000, 15_000],
  cutMs: [3_000, 10_000],
  natsDownMs: [0, 3_000],
  recoveryTimeoutMs: 60_000,
};

/** Injects faults one after another until a given time. */
export class FaultInjector {
  readonly faults: FaultRecord[] = [];

  constructor(
    private readonly cluster: SoakCluster,
    private readonly checker: Checker,
    private readonly rng: () => number,
    private readonly o: InjectorOptions,
  ) {}

  /** Inject faults until `until` (epoch ms) or the signal aborts; everything is healed on return. */
  async run(until: number, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await sleep(this.#between(this.o.gapMs), signal);
      if (signal.aborted || Date.now() >= until) return;
      if (this.o.kinds.length === 0) continue;
      const kind = this.o.kinds[Math.floor(this.rng() * this.o.kinds.length)];
      const record = await this.#inject(kind, signal);
      this.faults.push(record);
      this.o.log(describe(record));
    }
  }

  async #inject(kind: FaultKind, signal: AbortSignal): Promise<FaultRecord> {
    const c = this.cluster;
    const n = this.faults.length + 1;
    const workers = c.names("worker");
    const nodes = [...c.names("scheduler"), ...workers];
    // Draw every random number first, whatever the kind, so a seed replays the same faults.
    const pickWorker = this.#pick(workers);
    const pickStop = this.#pick([...nodes, "nats"]);
    const pickCut = this.#pick(nodes);
    const stopMs = this.#between(this.o.stopMs);
    const cutMs = this.#between(this.o.cutMs);
    const downMs = this.#between(this.o.natsDownMs);
    const plannedMs = kind === "sigstop"
      ? stopMs
      : kind === "cut"
      ? cutMs
      : kind === "restart-nats"
      ? downMs
      : 0;
    const target = kind === "kill-worker"
      ? pickWorker
      : kind === "sigstop"
      ? pickStop
      : kind === "cut"
      ? pickCut
      : kind === "kill-leader"
      ? await this.#leader()
      : "nats";
    const r: FaultRecord = { n, kind, target: target ?? "none", plannedMs, injectedAt: Date.now() };
    if (target === undefined) {
      r.error = "no scheduler led for 10 s: nothing to kill";
      return r;
    }
    // The kills recover from the injection: ask for the first result after it now.
    const fromInjection = kind === "kill-worker" || kind === "kill-leader";
    const afterInjection = fromInjection
      ? this.checker.firstResultSince(r.injectedAt, this.o.recoveryTimeoutMs)
      : undefined;
    try {
      switch (kind) {
        case "kill-worker":
        case "kill-leader":
          await c.kill9(target);
          await c.restart(target);
          break;
        case "sigstop":
          c.pause(target);
          await sleep(stopMs, signal);
          c.resume(target);
          break;
        case "cut":
          c.cut(target);
          await sleep(cutMs, signal);
          c.heal(target);
          break;
        case "restart-nats":
          await c.restartServer(downMs);
          break;
      }
    } catch (err) {
      r.error = String(err);
      c.healAll();
      // A process that did not start again gets one more try, or the cluster stays a node short.
      if (fromInjection) await c.restart(target).catch((e) => (r.error += `; again: ${e}`));
    }
    r.healedAt = Date.now();
    r.recoveryFrom = fromInjection ? r.injectedAt : r.healedAt;
    r.recoveredAt = await (afterInjection ??
      this.checker.firstResultSince(r.healedAt, this.o.recoveryTimeoutMs));
    r.stallMs = this.checker.longestGap(r.injectedAt, r.recoveredAt ?? Date.now());
    return r;
  }

  /** The node name of the leading scheduler, waiting up to 10 s while nobody holds the lease. */
  async #leader(): Promise<string | undefined> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const leader = await this.cluster.leader();
      if (leader !== undefined || Date.now() > deadline) return leader;
      await sleep(200); // no event says "a lease was taken" to those outside: look again
    }
  }

  #pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.rng() * items.length)];
  }

  #between([min, max]: [number, number]): number {
    return Math.round(min + this.rng() * (max - min));
  }
}

/** One line for a fault. */
export function describe(r: FaultRecord): string {
  const s = (ms: number | undefined) => (ms === undefined ? "-" : `${(ms / 1000).toFixed(2)} s`);
  const recovery = r.recoveredAt !== undefined && r.recoveryFrom !== undefined
    ? s(r.recoveredAt - r.recoveryFrom)
    : "none";
  return `fault ${r.n} ${r.kind} ${r.target}${r.plannedMs ? ` for ${s(r.plannedMs)}` : ""}: ` +
    `healed after ${
      s((r.healedAt ?? r.injectedAt) - r.injectedAt)
    }, results again after ${recovery}, ` +
    `longest stall ${s(r.stallMs)}${r.error ? `; ERROR ${r.error}` : ""}`;
}

/** Wait `ms`, or less if the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}
