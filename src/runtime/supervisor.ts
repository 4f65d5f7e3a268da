/**
 * Supervisors: cells whose children are actors or other supervisors. A
 * child's exit is queued on the supervisor's system lane and handled one at a
 * time: restart (after backoff) the children the strategy names, remove a
 * temporary child, or escalate by stopping every child and failing to the
 * parent. Refs to children stay valid across restarts.
 *
 * @module
 */

import { SchedulerError } from "../errors.ts";
import type { Logger } from "../log.ts";
import {
  ActorCell,
  type ActorRef,
  type Behavior,
  type CellEnv,
  type Child,
  type MailboxOptions,
  type Parent,
} from "./actor.ts";
import { Deque } from "./mailbox.ts";
import {
  decide,
  DEFAULT_POLICY,
  RestartHistory,
  type RestartType,
  type SupervisionPolicy,
  validatePolicy,
} from "./restart_policy.ts";

/** A child actor to start under a supervisor. */
export interface ActorSpec<M = never, S = unknown> {
  kind: "actor";
  id: string;
  // deno-lint-ignore no-explicit-any
  behavior: Behavior<M, S> | Behavior<any, any>;
  mailbox?: MailboxOptions;
  restart?: RestartType;
}

/** A child supervisor with its own children. */
export interface SupervisorSpec {
  kind: "supervisor";
  id: string;
  policy?: Partial<SupervisionPolicy>;
  children: ChildSpec[];
  restart?: RestartType;
}

/** Anything a supervisor can start. */
export type ChildSpec = ActorSpec | SupervisorSpec;

/** A supervision event, for observers (the monitor publishes these). */
export type SupervisionEvent =
  | { type: "child.started"; supervisor: string; child: string; incarnation: number }
  | { type: "child.failed"; supervisor: string; child: string; error: string }
  | {
    type: "child.restarting";
    supervisor: string;
    children: string[];
    delayMs: number;
    restartsInWindow: number;
  }
  | { type: "child.removed"; supervisor: string; child: string }
  | { type: "supervisor.escalated"; supervisor: string; reason: string };

/** Services a supervisor needs besides those of a cell. */
export interface SupervisorEnv extends CellEnv {
  random(): number;
  observe(event: SupervisionEvent): void;
}

type Exit = { child: Child; incarnation: number; error: unknown };

interface Slot {
  spec: ChildSpec;
  child: Child;
}

/** A supervisor cell. */
export class SupervisorCell implements Child, Parent {
  readonly path: string;
  readonly policy: SupervisionPolicy;
  #env: SupervisorEnv;
  #parent: Parent;
  #slots: Slot[] = [];
  #history = new RestartHistory();
  #exits = new Deque<Exit>(4);
  #processing = false;
  #incarnation = 0;
  #status: "idle" | "running" | "halted" | "escalated" | "stopped" = "idle";
  #log: Logger;

  constructor(path: string, spec: SupervisorSpec, env: SupervisorEnv, parent: Parent) {
    this.path = path;
    this.policy = {
      ...DEFAULT_POLICY,
      ...spec.policy,
      backoff: { ...DEFAULT_POLICY.backoff, ...spec.policy?.backoff },
    };
    validatePolicy(this.policy);
    this.#env = env;
    this.#parent = parent;
    this.#log = env.log.with({ actor: path });
    const ids = new Set<string>();
    for (const c of spec.children) {
      if (ids.has(c.id)) {
        throw new Error(`duplicate child id ${JSON.stringify(c.id)} under ${path}`);
      }
      ids.add(c.id);
      this.#slots.push({ spec: c, child: this.#create(c) });
    }
  }

  get incarnation(): number {
    return this.#incarnation;
  }

  /** Ids of the current children, in start order. */
  get children(): string[] {
    return this.#slots.map((s) => s.spec.id);
  }

  /** The ref of a child actor, stable across restarts. */
  ref<M>(id: string): ActorRef<M> {
    const slot = this.#slots.find((s) => s.spec.id === id);
    if (!slot || !(slot.child instanceof ActorCell)) {
      throw new SchedulerError(
        "NOT_FOUND",
        `${this.path} has no child actor ${JSON.stringify(id)}`,
      );
    }
    return slot.child as ActorCell<M, unknown>;
  }

  /** A child supervisor. */
  supervisor(id: string): SupervisorCell {
    const slot = this.#slots.find((s) => s.spec.id === id);
    if (!slot || !(slot.child instanceof SupervisorCell)) {
      throw new SchedulerError(
        "NOT_FOUND",
        `${this.path} has no child supervisor ${JSON.stringify(id)}`,
      );
    }
    return slot.child;
  }

  async boot(): Promise<void> {
    if (this.#status === "stopped") return;
    this.#incarnation++;
    this.#status = "running";
    this.#history.reset();
    for (const slot of [...this.#slots]) await this.#start(slot);
  }

  async halt(reason: unknown): Promise<void> {
    if (this.#status === "stopped") return;
    this.#status = "halted";
    for (const slot of [...this.#slots].reverse()) await slot.child.halt(reason);
    this.#exits.clear();
  }

  async stop(reason?: unknown): Promise<void> {
    if (this.#status === "stopped") return;
    this.#status = "stopped";
    for (const slot of [...this.#slots].reverse()) await slot.child.stop(reason);
    this.#exits.clear();
  }

  childExited(child: Child, incarnation: number, error: unknown): void {
    this.#exits.push({ child, incarnation, error });
    if (!this.#processing) void this.#drain();
  }

  async #drain(): Promise<void> {
    this.#processing = true;
    try {
      for (let exit = this.#exits.shift(); exit; exit = this.#exits.shift()) {
        if (this.#status !== "running") continue;
        await this.#handle(exit);
      }
    } catch (err) {
      // A bug in supervision itself: escalate rather than limp on.
      this.#log.error("supervisor failed while handling an exit", { error: err });
      await this.#escalate(
        `supervisor error: ${err instanceof Error ? err.message : String(err)}`,
        err,
      );
    } finally {
      this.#processing = false;
    }
  }

  async #handle(exit: Exit): Promise<void> {
    const index = this.#slots.findIndex((s) => s.child === exit.child);
    // Exits of removed children, or of an incarnation already restarted, are stale.
    if (index < 0 || exit.child.incarnation !== exit.incarnation) return;
    const abnormal = exit.error !== undefined;
    const name = this.#slots[index].spec.id;
    if (abnormal) {
      this.#log.warn("child failed", { child: name, error: errorText(exit.error) });
      this.#env.observe({
        type: "child.failed",
        supervisor: this.path,
        child: name,
        error: errorText(exit.error),
      });
    }
    const now = this.#env.clock.now();
    const views = this.#slots.map((s) => ({ restart: s.spec.restart ?? "permanent" }));
    const decision = decide(
      this.policy,
      this.#history,
      views,
      index,
      abnormal,
      now,
      () => this.#env.random(),
    );
    switch (decision.kind) {
      case "remove": {
        const slot = this.#slots[index];
        this.#slots.splice(index, 1);
        await slot.child.stop(exit.error);
        this.#env.observe({ type: "child.removed", supervisor: this.path, child: slot.spec.id });
        return;
      }
      case "escalate":
        this.#log.error("escalating", { reason: decision.reason, child: name });
        await this.#escalate(decision.reason, exit.error);
        return;
      case "restart": {
        const restart = decision.restart.map((i) => this.#slots[i]);
        const remove = decision.remove.map((i) => this.#slots[i]);
        for (
          const slot of [...restart, ...remove].sort((a, b) =>
            this.#slots.indexOf(b) - this.#slots.indexOf(a)
          )
        ) {
          if (remove.includes(slot)) await slot.child.stop(exit.error);
          else await slot.child.halt(exit.error);
        }
        this.#slots = this.#slots.filter((s) => !remove.includes(s));
        // Observers hear of it just before the backoff timer is set.
        this.#env.observe({
          type: "child.restarting",
          supervisor: this.path,
          children: restart.map((s) => s.spec.id),
          delayMs: decision.delayMs,
          restartsInWindow: this.#history.count(now, this.policy.periodMs),
        });
        if (decision.delayMs > 0) await this.#sleep(decision.delayMs);
        if (this.#status !== "running") return;
        // Exits queued by the children we just halted are stale now.
        for (const slot of restart) await this.#start(slot);
        return;
      }
      default: {
        const never: never = decision;
        throw new Error(`unhandled decision ${JSON.stringify(never)}`);
      }
    }
  }

  async #start(slot: Slot): Promise<void> {
    await slot.child.boot();
    this.#env.observe({
      type: "child.started",
      supervisor: this.path,
      child: slot.spec.id,
      incarnation: slot.child.incarnation,
    });
  }

  async #escalate(reason: string, cause: unknown): Promise<void> {
    this.#status = "escalated";
    this.#env.observe({ type: "supervisor.escalated", supervisor: this.path, reason });
    for (const slot of [...this.#slots].reverse()) await slot.child.halt(cause);
    this.#exits.clear();
    // Back to running so that a restart by the parent (boot) works; the parent decides.
    this.#status = "halted";
    this.#parent.childExited(
      this,
      this.#incarnation,
      new SchedulerError("ESCALATED", `${this.path}: ${reason}`, { cause }),
    );
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#env.clock.setTimer(ms, resolve));
  }

  #create(spec: ChildSpec): Child {
    const path = `${this.path}/${spec.id}`;
    if (spec.kind === "actor") {
      return new ActorCell(
        path,
        spec.behavior as Behavior<unknown, unknown>,
        this.#env,
        this,
        spec.mailbox,
      );
    }
    return new SupervisorCell(path, spec, this.#env, this);
  }
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
