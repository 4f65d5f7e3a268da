/** Test helpers for the runtime: a system on a manual clock that records supervision events. */

import { ManualClock } from "../../src/runtime/clock.ts";
import type { Behavior } from "../../src/runtime/actor.ts";
import type {
  SupervisionEvent,
  SupervisorCell,
  SupervisorSpec,
} from "../../src/runtime/supervisor.ts";
import { ActorSystem } from "../../src/runtime/system.ts";

/** Messages of the test actor. */
export type ProbeMsg =
  | { type: "boom"; error?: string }
  | { type: "ping"; n: number }
  | { type: "get"; replyTo: { send(v: number[]): boolean } }
  | { type: "stop" };

/** Counts, per child id, how often init, postStop and preRestart ran. */
export interface Counters {
  boots: Map<string, number>;
  stops: Map<string, number>;
  restarts: Map<string, number>;
  log: string[];
}

/** A behavior that records its lifecycle and fails on `boom`. */
export function probe(id: string, counters: Counters): Behavior<ProbeMsg, number[]> {
  const bump = (m: Map<string, number>) => m.set(id, (m.get(id) ?? 0) + 1);
  return {
    init() {
      bump(counters.boots);
      counters.log.push(`init ${id}`);
      return [];
    },
    receive(state, msg, ctx) {
      switch (msg.type) {
        case "boom":
          throw new Error(msg.error ?? `${id} boom`);
        case "ping":
          return [...state, msg.n];
        case "get":
          msg.replyTo.send(state);
          return state;
        case "stop":
          ctx.stop();
          return state;
        default: {
          const never: never = msg;
          throw new Error(`unexpected ${JSON.stringify(never)}`);
        }
      }
    },
    postStop() {
      bump(counters.stops);
      counters.log.push(`postStop ${id}`);
    },
    preRestart() {
      bump(counters.restarts);
      counters.log.push(`preRestart ${id}`);
    },
  };
}

/** A fresh counters record. */
export function counters(): Counters {
  return { boots: new Map(), stops: new Map(), restarts: new Map(), log: [] };
}

/** A system on a manual clock with an event log and a way to wait for events. */
export class Harness {
  readonly clock = new ManualClock(1_000_000);
  readonly events: SupervisionEvent[] = [];
  escalations: unknown[] = [];
  #waiters: { pred: (e: SupervisionEvent) => boolean; resolve: (e: SupervisionEvent) => void }[] =
    [];
  readonly system: ActorSystem;

  constructor(random: () => number = () => 0.5) {
    this.system = new ActorSystem({
      name: "t",
      clock: this.clock,
      random,
      onEscalate: (e) => this.escalations.push(e),
      observe: (e) => {
        this.events.push(e);
        this.#waiters = this.#waiters.filter((w) => {
          if (!w.pred(e)) return true;
          w.resolve(e);
          return false;
        });
      },
    });
  }

  start(spec: SupervisorSpec): Promise<SupervisorCell> {
    return this.system.start(spec);
  }

  /** Wait for the next event (after now) that matches. */
  next(pred: (e: SupervisionEvent) => boolean): Promise<SupervisionEvent> {
    return new Promise((resolve) => this.#waiters.push({ pred, resolve }));
  }
}
