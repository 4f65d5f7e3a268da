/**
 * The actors of one process that others in the same process reach without
 * NATS: the local scheduler while it leads, and the local worker node. A
 * sender looks here first and falls back to the NATS subject, so an
 * all-in-one node moves its tasks as objects, zero-copy, while a split
 * deployment uses the same messages over the wire.
 *
 * @module
 */

import type { ActorRef, ToNode, ToScheduler } from "../src/internal_mod.ts";
import type { Term } from "./schedules/runner.ts";
import type { SchedulesMsg } from "./schedules/schedules.ts";

/** Process-local routing for scheduler and worker-node messages. */
export class LocalDirectory {
  /** The in-process scheduler, set only while it leads. */
  leader: ActorRef<ToScheduler> | null = null;
  /** In-process worker nodes by node id. */
  readonly nodes = new Map<string, ActorRef<ToNode>>();
  /** The in-process schedules actor, which acts while the local scheduler leads. */
  schedules: ActorRef<SchedulesMsg> | null = null;
  /** The local scheduler's current term, while it leads. */
  term: Term | null = null;

  /** The local scheduler leads in `term` (null: it stopped leading): tell the schedules actor. */
  setTerm(term: Term | null): void {
    this.term = term;
    this.schedules?.send(term ? { type: "schedules.lead", term } : { type: "schedules.follow" });
  }
}
