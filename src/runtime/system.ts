/**
 * An actor system: the root supervisor of one process, the services every
 * cell shares (clock, logger, dead letters) and what happens when the root
 * itself gives up: `onEscalate`, which a process answers by exiting non-zero
 * so systemd or Kubernetes restarts it.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { silentLogger } from "../log.ts";
import type { Child, Parent } from "./actor.ts";
import { type Clock, SystemClock } from "./clock.ts";
import {
  type SupervisionEvent,
  SupervisorCell,
  type SupervisorEnv,
  type SupervisorSpec,
} from "./supervisor.ts";

/** Options for {@link ActorSystem}. */
export interface SystemOptions {
  name: string;
  clock?: Clock;
  log?: Logger;
  random?: () => number;
  /** The root supervisor escalated: the process should exit non-zero. */
  onEscalate?: (error: unknown) => void;
  /** Every supervision event, for the monitor. */
  observe?: (event: SupervisionEvent) => void;
}

/** Counts of undeliverable messages, by reason. */
export interface DeadLetterStats {
  total: number;
  byReason: Record<string, number>;
}

/**
 * One process's actor system.
 *
 * @example
 * ```ts
 * const system = new ActorSystem({ name: "node-1", onEscalate: () => Deno.exit(1) });
 * const root = await system.start({ kind: "supervisor", id: "root", children: [...] });
 * root.ref<Msg>("scheduler").send({ type: "task.submit", ... });
 * ```
 */
export class ActorSystem implements Parent {
  readonly name: string;
  readonly clock: Clock;
  readonly log: Logger;
  readonly deadLetters: DeadLetterStats = { total: 0, byReason: {} };
  #root: SupervisorCell | null = null;
  #env: SupervisorEnv;
  #onEscalate: (error: unknown) => void;
  #observers: ((event: SupervisionEvent) => void)[] = [];
  #escalated = Promise.withResolvers<unknown>();

  constructor(options: SystemOptions) {
    this.name = options.name;
    this.clock = options.clock ?? new SystemClock();
    this.log = options.log ?? silentLogger;
    this.#onEscalate = options.onEscalate ?? (() => {});
    if (options.observe) this.#observers.push(options.observe);
    const random = options.random ?? Math.random;
    this.#env = {
      clock: this.clock,
      log: this.log,
      random,
      deadLetter: (path, _msg, reason) => {
        this.deadLetters.total++;
        this.deadLetters.byReason[reason] = (this.deadLetters.byReason[reason] ?? 0) + 1;
        this.log.debug("dead letter", { actor: path, reason });
      },
      observe: (event) => {
        for (const o of this.#observers) o(event);
      },
    };
  }

  /** Add an observer of supervision events. */
  observe(fn: (event: SupervisionEvent) => void): void {
    this.#observers.push(fn);
  }

  /** Resolves with the error when the root supervisor escalates. */
  get escalated(): Promise<unknown> {
    return this.#escalated.promise;
  }

  /** The root supervisor, once started. */
  get root(): SupervisorCell {
    if (!this.#root) throw new Error(`actor system ${this.name} has not started`);
    return this.#root;
  }

  /** Build and boot the root supervisor. */
  async start(spec: SupervisorSpec): Promise<SupervisorCell> {
    if (this.#root) throw new Error(`actor system ${this.name} already started`);
    this.#root = new SupervisorCell(`${this.name}/${spec.id}`, spec, this.#env, this);
    await this.#root.boot();
    return this.#root;
  }

  /** Stop every actor, last started first. */
  async stop(): Promise<void> {
    await this.#root?.stop("system stop");
  }

  childExited(_child: Child, _incarnation: number, error: unknown): void {
    this.log.error("root supervisor escalated: the process must restart", {
      error: error instanceof Error ? error.message : String(error),
    });
    this.#escalated.resolve(error);
    this.#onEscalate(error);
  }
}
