/**
 * Actors: a behavior (pure-ish logic over a state) plus a cell that owns the
 * mailbox and runs one message at a time. Refs survive restarts: a restart
 * re-initialises the state behind the same ref and keeps queued messages.
 *
 * @module
 */

import { SchedulerError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Clock, TimerHandle } from "./clock.ts";
import { Mailbox, type OverflowPolicy } from "./mailbox.ts";
import { setImmediate } from "node:timers";

/**
 * Where messages go. Local refs deliver in process without copying; remote
 * refs (in the transport layer) publish on a NATS subject. Senders do not
 * care which.
 */
export interface ActorRef<M> {
  /** A path such as `node-1/workers/w0`, or a subject for a remote ref. */
  readonly path: string;
  /** Deliver a message. False when it was refused (mailbox full, actor stopped). */
  send(msg: M): boolean;
  /** Send a message built around a reply ref and wait for the reply. */
  ask<R>(build: (replyTo: ActorRef<R>) => M, timeoutMs?: number): Promise<R>;
}

/** What an actor can do besides returning its next state. */
export interface ActorContext<M> {
  readonly self: ActorRef<M>;
  readonly path: string;
  readonly clock: Clock;
  readonly log: Logger;
  /** 1 for the first start, +1 for each restart. */
  readonly incarnation: number;
  /** Send `msg` to self after `ms`; cancelled when the actor restarts or stops. */
  schedule(ms: number, msg: M): TimerHandle;
  /** Stop normally after the current message. */
  stop(): void;
  /** Fail from outside `receive` (a callback, a rejected promise). */
  fail(error: unknown): void;
}

/**
 * An actor's logic. `receive` handles one message and returns the next state;
 * throwing (or rejecting) fails the actor and its parent decides what follows.
 */
export interface Behavior<M, S> {
  /** Build the initial state; runs at start and at every restart. */
  init(ctx: ActorContext<M>): S | Promise<S>;
  receive(state: S, msg: M, ctx: ActorContext<M>): S | Promise<S>;
  /** The actor stops for good. */
  postStop?(state: S, ctx: ActorContext<M>): void | Promise<void>;
  /** The actor is about to be restarted; defaults to `postStop`. */
  preRestart?(state: S, reason: unknown, ctx: ActorContext<M>): void | Promise<void>;
}

/** Mailbox settings for one actor. */
export interface MailboxOptions {
  capacity?: number;
  overflow?: OverflowPolicy;
}

/** A supervised thing: an actor or a supervisor. */
export interface Child {
  readonly path: string;
  readonly incarnation: number;
  /** Start (or start again after `halt`): runs `init`. */
  boot(): Promise<void>;
  /** Stop processing and clean up for a restart; keeps the mailbox. */
  halt(reason: unknown): Promise<void>;
  /** Stop for good; queued messages go to dead letters. */
  stop(reason?: unknown): Promise<void>;
}

/** Whoever supervises a child hears of its exits. */
export interface Parent {
  /** `error` undefined means a normal stop. */
  childExited(child: Child, incarnation: number, error: unknown): void;
}

/** Services every cell uses. */
export interface CellEnv {
  readonly clock: Clock;
  readonly log: Logger;
  deadLetter(path: string, msg: unknown, reason: string): void;
}

type Status = "idle" | "starting" | "running" | "failed" | "halted" | "stopped";
type SystemMsg = { type: "sys.stop" };

const BATCH = 512;

/**
 * Actors hand messages to each other in microtasks, which run before any
 * I/O or timer. Two actors that keep each other busy (a burst of reports and
 * the dispatches they free) would so starve the event loop: no socket read,
 * no lease renewal, no timer, for as long as the burst lasts (a second and
 * more was seen with batches of 1,000 tasks). So the microtask stretch has a
 * budget: once runs have gone on for YIELD_MS since the event loop last had
 * a turn, further runs are scheduled with setImmediate (after I/O), and a
 * new stretch begins there. setImmediate, not setTimeout: nested timeouts are
 * clamped to 4 ms.
 */
const YIELD_MS = 4;
let stretchStart = -1;

function endStretch(): void {
  stretchStart = -1;
}

/** Schedule an actor's run: a microtask within the stretch's budget, else after I/O. */
function scheduleRun(run: () => void): void {
  const now = performance.now();
  if (stretchStart < 0) {
    stretchStart = now;
    setImmediate(endStretch);
  }
  if (now - stretchStart < YIELD_MS) queueMicrotask(run);
  else setImmediate(run);
}

function isThenable<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown })?.then === "function";
}

/** Create a ref that calls `fn` for every message: for replies and bridges. */
export function functionRef<M>(path: string, fn: (msg: M) => void, clock?: Clock): ActorRef<M> {
  const ref: ActorRef<M> = {
    path,
    send(msg) {
      fn(msg);
      return true;
    },
    ask: (build, timeoutMs) => {
      if (!clock) return Promise.reject(new SchedulerError("INTERNAL", `${path} cannot be asked`));
      return askVia(ref, clock, build, timeoutMs);
    },
  };
  return ref;
}

/** Ask `ref` through a one-shot reply ref, failing with TIMEOUT after `timeoutMs`. */
export function askVia<M, R>(
  ref: ActorRef<M>,
  clock: Clock,
  build: (replyTo: ActorRef<R>) => M,
  timeoutMs = 5_000,
): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    let done = false;
    const timer = clock.setTimer(timeoutMs, () => {
      if (done) return;
      done = true;
      reject(new SchedulerError("TIMEOUT", `no reply from ${ref.path} within ${timeoutMs} ms`));
    });
    const reply = functionRef<R>(`${ref.path}/$reply`, (r) => {
      if (done) return;
      done = true;
      timer.cancel();
      resolve(r);
    });
    let msg: M;
    try {
      msg = build(reply);
    } catch (err) {
      done = true;
      timer.cancel();
      reject(err);
      return;
    }
    if (!ref.send(msg) && !done) {
      done = true;
      timer.cancel();
      reject(new SchedulerError("MAILBOX_FULL", `${ref.path} refused the message`));
    }
  });
}

/** The runner behind a local actor ref. */
export class ActorCell<M, S> implements ActorRef<M>, Child {
  readonly path: string;
  #behavior: Behavior<M, S>;
  #env: CellEnv;
  #parent: Parent;
  #mailbox: Mailbox<M, SystemMsg>;
  #status: Status = "idle";
  #state: S | undefined;
  #incarnation = 0;
  #scheduled = false;
  #busy: Promise<void> | null = null;
  #timers = new Set<TimerHandle>();
  #ctx: ActorContext<M>;

  constructor(
    path: string,
    behavior: Behavior<M, S>,
    env: CellEnv,
    parent: Parent,
    mailbox: MailboxOptions = {},
  ) {
    this.path = path;
    this.#behavior = behavior;
    this.#env = env;
    this.#parent = parent;
    this.#mailbox = new Mailbox(mailbox.capacity ?? 10_000, mailbox.overflow ?? "reject");
    const log = env.log.with({ actor: path });
    // deno-lint-ignore no-this-alias
    const cell = this;
    this.#ctx = {
      self: this,
      path,
      clock: env.clock,
      log,
      get incarnation() {
        return cell.#incarnation;
      },
      schedule: (ms, msg) => this.#schedule(ms, msg),
      stop: () => {
        this.#mailbox.offerSystem({ type: "sys.stop" });
        this.#kick();
      },
      fail: (error) => this.#fail(error),
    };
  }

  /** Current lifecycle status. */
  get status(): Status {
    return this.#status;
  }

  get incarnation(): number {
    return this.#incarnation;
  }

  /** Messages waiting. */
  get queued(): number {
    return this.#mailbox.size;
  }

  send(msg: M): boolean {
    if (this.#status === "stopped") {
      this.#env.deadLetter(this.path, msg, "actor stopped");
      return false;
    }
    const offer = this.#mailbox.offer(msg);
    if (!offer.accepted) {
      this.#env.deadLetter(this.path, msg, "mailbox full");
      return false;
    }
    if (offer.dropped !== undefined) {
      this.#env.deadLetter(this.path, offer.dropped, "dropped (mailbox full)");
    }
    this.#kick();
    return true;
  }

  ask<R>(build: (replyTo: ActorRef<R>) => M, timeoutMs?: number): Promise<R> {
    return askVia(this, this.#env.clock, build, timeoutMs);
  }

  async boot(): Promise<void> {
    if (this.#status === "stopped") return;
    this.#incarnation++;
    const incarnation = this.#incarnation;
    this.#status = "starting";
    try {
      const s = this.#behavior.init(this.#ctx);
      this.#state = isThenable(s) ? await s : s;
    } catch (err) {
      if (this.#incarnation === incarnation && this.#status === "starting") this.#fail(err);
      return;
    }
    if (this.#incarnation !== incarnation || this.#status !== "starting") return;
    this.#status = "running";
    this.#kick();
  }

  async halt(reason: unknown): Promise<void> {
    if (this.#status === "stopped" || this.#status === "idle" || this.#status === "halted") return;
    await this.#quiesce("halted");
    const hook = this.#behavior.preRestart ??
      ((s: S, _r: unknown, c: ActorContext<M>) => this.#behavior.postStop?.(s, c));
    await this.#runHook(() => hook(this.#state as S, reason, this.#ctx), "preRestart");
  }

  async stop(_reason?: unknown): Promise<void> {
    if (this.#status === "stopped") return;
    const wasIdle = this.#status === "idle";
    const wasHalted = this.#status === "halted";
    await this.#quiesce("stopped");
    if (!wasIdle && !wasHalted) {
      await this.#runHook(() => this.#behavior.postStop?.(this.#state as S, this.#ctx), "postStop");
    }
    for (const m of this.#mailbox.user.clear()) this.#env.deadLetter(this.path, m, "actor stopped");
    this.#mailbox.system.clear();
    this.#state = undefined;
  }

  async #quiesce(next: "halted" | "stopped"): Promise<void> {
    this.#status = next;
    for (const t of this.#timers) t.cancel();
    this.#timers.clear();
    // Let a receive that is awaiting finish before hooks run.
    while (this.#busy) await this.#busy.catch(() => {});
  }

  async #runHook(fn: () => void | Promise<void>, name: string): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.#ctx.log.error(`${name} hook failed`, { error: err });
    }
  }

  #schedule(ms: number, msg: M): TimerHandle {
    const handle = this.#env.clock.setTimer(ms, () => {
      this.#timers.delete(handle);
      this.send(msg);
    });
    this.#timers.add(handle);
    return {
      cancel: () => {
        this.#timers.delete(handle);
        handle.cancel();
      },
    };
  }

  #fail(error: unknown): void {
    if (this.#status !== "running" && this.#status !== "starting") return;
    this.#status = "failed";
    for (const t of this.#timers) t.cancel();
    this.#timers.clear();
    this.#parent.childExited(this, this.#incarnation, error ?? new Error("failed"));
  }

  #kick(): void {
    if (this.#scheduled || this.#busy || this.#status !== "running") return;
    if (this.#mailbox.size === 0) return;
    this.#scheduled = true;
    scheduleRun(this.#run);
  }

  #run = (): void => {
    this.#scheduled = false;
    let n = 0;
    while (this.#status === "running" && this.#busy === null) {
      if (this.#mailbox.system.size > 0) {
        this.#mailbox.system.shift();
        this.#stopNormally();
        return;
      }
      const msg = this.#mailbox.user.shift();
      if (msg === undefined) return;
      let next: S | Promise<S>;
      try {
        next = this.#behavior.receive(this.#state as S, msg, this.#ctx);
      } catch (err) {
        this.#fail(err);
        return;
      }
      if (isThenable(next)) {
        const incarnation = this.#incarnation;
        this.#busy = next.then(
          (s) => {
            this.#busy = null;
            if (this.#incarnation === incarnation && this.#status === "running") this.#state = s;
            this.#kick();
          },
          (err) => {
            this.#busy = null;
            if (this.#incarnation === incarnation) this.#fail(err);
          },
        );
        return;
      }
      this.#state = next;
      if (++n >= BATCH) {
        // Give I/O a turn before the next batch.
        this.#scheduled = true;
        setImmediate(this.#run);
        return;
      }
    }
  };

  #stopNormally(): void {
    const incarnation = this.#incarnation;
    this.#status = "failed"; // stops the loop; the parent decides (transient: removed)
    for (const t of this.#timers) t.cancel();
    this.#timers.clear();
    this.#parent.childExited(this, incarnation, undefined);
  }
}
