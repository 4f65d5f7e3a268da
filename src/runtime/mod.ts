/**
 * The actor runtime: actors, mailboxes, supervisors, the system and the clock.
 * No I/O here; time comes only from the injected {@link Clock}.
 *
 * @module
 */

export { ActorCell, askVia, functionRef } from "./actor.ts";
export { ManualClock, SystemClock, TimerQueue } from "./clock.ts";
export { Deque, Mailbox } from "./mailbox.ts";
export {
  backoffDelay,
  decide,
  DEFAULT_POLICY,
  RestartHistory,
  validatePolicy,
} from "./restart_policy.ts";
export { SupervisorCell } from "./supervisor.ts";
export { ActorSystem } from "./system.ts";

export type { ActorContext, ActorRef, Behavior, Child, MailboxOptions, Parent } from "./actor.ts";
export type { Clock, TimerHandle } from "./clock.ts";
export type { Offer, OverflowPolicy } from "./mailbox.ts";
export type {
  Backoff,
  ChildView,
  Decision,
  RestartType,
  Strategy,
  SupervisionPolicy,
} from "./restart_policy.ts";
export type { ActorSpec, ChildSpec, SupervisionEvent, SupervisorSpec } from "./supervisor.ts";
export type { DeadLetterStats, SystemOptions } from "./system.ts";
