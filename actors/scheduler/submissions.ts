/**
 * The scheduler's intake: checking submissions (decode, authenticate,
 * authorise, type, the per-user rate, redelivery) and admitting them into the
 * task table once their dependencies are known (and the user is under its
 * in-flight cap, see limits.ts). Results and rejections are stored by
 * `results.ts`. Every refused submission goes on the audit trail
 * (actors/audit.ts).
 *
 * @module
 */

import {
  type ActorContext,
  authorize,
  decodeBatch,
  type Decoded,
  decodeSubmission,
  type DurableMsg,
  type ErrorInfo,
  isBatchBody,
  type Principal,
  type TaskResult,
  toErrorInfo,
} from "../../src/internal_mod.ts";
import { outcomeOf } from "../audit.ts";
import { BatchDelivery, streamSeqOf } from "./batch.ts";
import { UserLimits } from "./limits.ts";
import { isRejection, type Results } from "./results.ts";
import { type Checked, decoder, type Kit, type SchedulerMsg, type State } from "./types.ts";

type Ctx = ActorContext<SchedulerMsg>;

/** The intake functions of one scheduler. */
export interface Submissions {
  /** Decode, authenticate and authorise a submission; what follows arrives as messages. */
  check(ctx: Ctx, state: State, msg: DurableMsg): void;
  /** Check parked batches that fit now (`tick`: and keep the others from redelivery). */
  unpark(ctx: Ctx, state: State, tick?: boolean): void;
  /** Put a checked submission into the task table once its dependencies are known. */
  admit(ctx: Ctx, state: State, m: Checked): void;
  /** Publish a rejection and settle the submission. */
  rejectNow(
    ctx: Ctx,
    state: State,
    id: string,
    taskType: string,
    msg: DurableMsg,
    error: ErrorInfo,
    counted?: boolean,
  ): void;
}

/** Build the intake functions of one scheduler; `results` stores what it refuses or finds done. */
export function submissions(kit: Kit, results: Results): Submissions {
  const { deps, subj } = kit;
  const { publishRejection, republish, republishStored, retryMarkOf, retriedFrom } = results;
  const limits = new UserLimits(kit.config);
  /** A refused submission goes on the audit trail; rejectNow publishes the rejection. */
  function refused(who: string | null, id: string, error: ErrorInfo): void {
    deps.audit?.record({
      who,
      action: "tasks.submit",
      target: id,
      outcome: outcomeOf(error.code),
      code: error.code,
      message: error.message,
    });
  }
  /** A submission's task type (from its subject) and its token check, to run when wanted. */
  const typeOf = (msg: DurableMsg) => msg.subject.slice(subj.submitAll.length - 1);
  const authOf = (msg: DurableMsg) => () => deps.verifier.verifyHeader(msg.header("Authorization"));

  /** Decode, authenticate, authorise; then resolve what needs the streams. */
  function check(ctx: ActorContext<SchedulerMsg>, state: State, msg: DurableMsg): void {
    const type = typeOf(msg);
    const auth = authOf(msg);
    const decode = isBatchBody(msg.data) ? decodeBatch : decodeSubmission;
    const decoded = decode(type, msg.data, msg.header("Nats-Msg-Id"), deps.limits, ctx.clock.now());
    // One task, or a batch refused as a whole (not JSON, too large, too many): as for one task.
    if (!("parts" in decoded)) return checkOne(ctx, state, msg, type, decoded, auth);
    // Held tasks are bounded by maxQueue: a batch that does not fit waits, unacked and decoded,
    // until tasks end (a nak would bring it back as a redelivery, looked up task by task).
    if (!fits(state, decoded.parts.length)) {
      const again = state.parked.findIndex((p) => streamSeqOf(p.msg) === msg.seq);
      if (again >= 0) state.parked[again].msg = msg; // redelivered while parked: settle the newest
      else state.parked.push({ msg, parts: decoded.parts });
      return;
    }
    checkBatch(ctx, state, msg, type, decoded.parts, auth);
  }

  /** One token check for the batch; each task is then checked, held and settled alone. */
  function checkBatch(
    ctx: ActorContext<SchedulerMsg>,
    state: State,
    msg: DurableMsg,
    type: string,
    parts: Decoded[],
    auth: () => Promise<Principal>,
  ): void {
    const principal = auth();
    principal.catch(() => {});
    const delivery = new BatchDelivery(msg, parts.length);
    parts.forEach((decoded, i) =>
      checkOne(ctx, state, delivery.part(i), type, decoded, () => principal)
    );
  }

  /**
   * Is there room under maxQueue for `tasks` more (always, when nothing is held)? Tasks still
   * being checked count: their checks are partly asynchronous (the token, a look-up in RESULTS),
   * and a batch admitted behind one still in checking would otherwise pass this test, overrun
   * maxQueue and could run before it.
   */
  function fits(state: State, tasks: number): boolean {
    const held = state.core!.tasks.size + (state.intake?.size ?? 0);
    return held === 0 || held + tasks <= kit.config.maxQueue;
  }

  /**
   * Check the parked batches that now fit, oldest first (nothing when none is parked: callers
   * need not ask first); with `tick`, tell the stream the others are still being worked on (no
   * redelivery meanwhile).
   */
  function unpark(ctx: Ctx, state: State, tick = false): void {
    while (state.parked.length && state.core && !state.paused) {
      if (!fits(state, state.parked[0].parts.length)) break;
      const { msg, parts } = state.parked.shift()!;
      checkBatch(ctx, state, msg, typeOf(msg), parts, authOf(msg));
    }
    if (tick) { for (const p of state.parked) p.msg.working(); }
  }

  /** Check one task (a submission, or a task of a batch). */
  function checkOne(
    ctx: ActorContext<SchedulerMsg>,
    state: State,
    msg: DurableMsg,
    type: string,
    decoded: Decoded,
    auth: () => Promise<Principal>,
  ): void {
    const core = state.core!;
    const epoch = state.epoch;
    const streamSeq = streamSeqOf(msg);
    const id = decoded.ok ? decoded.draft.id : decoded.id;
    const reject = (error: ErrorInfo, who: string | null) => {
      refused(who, id, error);
      ctx.self.send({
        type: "submission.rejected",
        epoch,
        id,
        taskType: type,
        error,
        msg,
        counted: decoded.ok,
      });
    };
    // A submission already held (a redelivery, or the same id again while it runs) needs no checks.
    const known = core.knows(id);
    // A `tasks.retry` of a finished task: runs again, replacing the result it names.
    // Held: not finished, or this very message again (its result is being stored). A finished
    // task held only until its result is stored is "finished" to any other submission of its id.
    const live = core.tasks.get(id);
    const held = live !== undefined && (!live.result || live.seq === msg.seq);
    const retryOf = decoded.ok && !held ? retryMarkOf(msg, id) : 0;
    if (known !== undefined && (held || !decoded.ok)) {
      if (decoded.ok) {
        state.intake!.begin(id);
        ctx.self.send({
          type: "submission.checked",
          epoch,
          draft: decoded.draft,
          principal: { sub: "", roles: [] },
          msg,
          deps: new Map(),
        });
      } else {
        ctx.self.send({ type: "submission.done", epoch, msg });
      }
      return;
    }
    // A rejected submission never ran: its id may be used again.
    if (known === "rejected" || (retryOf > 0 && known !== undefined)) core.forget(id);
    else if (known !== undefined) {
      // Finished here before: the submitter hears the stored result again.
      state.intake!.begin(id);
      republishStored(ctx, epoch, msg, id);
      return;
    }
    if (decoded.ok) state.intake!.begin(id);
    // Finished under an earlier leader? Looked up while the token is checked; not for a first
    // delivery after the takeover whose id certainly has no result (stored_ids.ts).
    const fresh = msg.deliveries === 1 && streamSeq > state.rebuildUntilSeq;
    const earlier = decoded.ok && (!fresh || retryOf > 0 || kit.storedIds.mayHave(id))
      ? kit.storedResult(id)
      : null;
    earlier?.catch(() => {});
    const afterAuth = (principal: Principal) => {
      if (!decoded.ok) return reject(decoded.error, principal.sub);
      const draft = decoded.draft;
      try {
        authorize(principal, "submit", { type: draft.type });
      } catch (err) {
        return reject(toErrorInfo(err), principal.sub);
      }
      if (!deps.knownTypes.has(draft.type) && !core.hasType(draft.type)) {
        return reject({
          code: "UNKNOWN_TYPE",
          message: `no worker runs task type ${JSON.stringify(draft.type)} (known: ${
            [...deps.knownTypes].sort().join(", ")
          })`,
        }, principal.sub);
      }
      // A redelivery was charged when first delivered, or was in the stream at a takeover
      // (the last leader may have accepted it, even be running it): not charged again.
      const redelivered = msg.deliveries > 1 || streamSeq <= state.rebuildUntilSeq;
      if (!redelivered) {
        const over = limits.rate(principal.sub, ctx.clock.now());
        if (over) return reject(over, principal.sub);
      }
      const checked: Checked = {
        type: "submission.checked",
        epoch,
        draft,
        principal,
        msg,
        deps: new Map(),
      };
      // No task runs twice, nor without a place for its result: one stored already ends it here.
      if (!earlier) return ctx.self.send(checked);
      earlier.then(
        (stored) => {
          if (!stored) return ctx.self.send(checked);
          if (retryOf > 0 && stored.seq === retryOf) {
            return ctx.self.send({ ...checked, retry: retriedFrom(stored, principal.sub, ctx) });
          }
          // An outcome stored after this submission was is its answer (a redelivery: settled
          // without a second word). One stored before belongs to an earlier submission of the
          // id: a rejection lets this one run, a real result is published again for it.
          const answered = stored.time >= msg.storedAt;
          if (!answered && isRejection(stored.data)) return ctx.self.send(checked);
          if (!answered) republish(stored);
          ctx.self.send({ type: "submission.done", epoch, msg, id: draft.id });
        },
        (err) => {
          ctx.log.debug("result look-up failed; the submission will be delivered again", {
            task: draft.id,
            error: String(err),
          });
          ctx.self.send({ type: "submission.retry", epoch, msg, id: draft.id });
        },
      );
    };
    auth().then(
      afterAuth,
      (err) => reject(toErrorInfo(err, "UNAUTHENTICATED"), null),
    );
  }

  /**
   * Put a checked submission into the task table once every dependency is
   * known: held, finished (in memory or in the results stream), or still being
   * checked (then it waits, parked, unless that closes a cycle).
   */
  function admit(ctx: ActorContext<SchedulerMsg>, state: State, m: Checked): void {
    const core = state.core!;
    const intake = state.intake!;
    const id = m.draft.id;
    const unresolved: string[] = [];
    const pending: string[] = [];
    if (core.knows(id) === undefined) {
      for (const d of m.draft.dependsOn) {
        if (core.knows(d) !== undefined || m.deps.has(d)) continue;
        if (intake.isPending(d)) pending.push(d);
        else unresolved.push(d);
      }
    }
    if (unresolved.length) {
      const epoch = state.epoch;
      Promise.all(unresolved.map((d) => kit.storedIds.mayHave(d) ? kit.storedResult(d) : null))
        .then(
          (stored) => {
            const found = new Map(m.deps);
            const unknown: string[] = [];
            stored.forEach((st, i) => {
              if (st) {
                found.set(unresolved[i], (JSON.parse(decoder.decode(st.data)) as TaskResult).state);
              } else if (!intake.isPending(unresolved[i])) unknown.push(unresolved[i]);
            });
            // A dependency put back in the stream (its look-up failed) comes again: so does this.
            // So may one whose delivery was lost with a connection (redelivered after the ack
            // wait) or reordered by a takeover: for a while after either, wait for it too.
            const now = ctx.clock.now();
            const disrupted = state.paused || now - state.disruptedAt < DISRUPTION_GRACE_MS;
            if (unknown.length && (disrupted || unknown.every((d) => intake.isDeferred(d, now)))) {
              ctx.self.send({ type: "submission.retry", epoch, msg: m.msg, id });
              return;
            }
            if (unknown.length) {
              const s = unknown.length > 1 ? "s" : "";
              const error: ErrorInfo = {
                code: "INVALID_ARGUMENT",
                message: `dependsOn names unknown task${s} ${unknown.join(", ")}`,
              };
              refused(m.principal.sub || null, id, error);
              ctx.self.send({
                type: "submission.rejected",
                epoch,
                id,
                taskType: m.draft.type,
                msg: m.msg,
                counted: true,
                error,
              });
            } else {
              ctx.self.send({ ...m, deps: found });
            }
          },
          (err) => {
            ctx.log.debug("dependency look-up failed; the submission will be delivered again", {
              task: id,
              error: String(err),
            });
            ctx.self.send({ type: "submission.retry", epoch, msg: m.msg, id });
          },
        );
      return;
    }
    if (pending.length) {
      const cycle = intake.park(id, pending, m);
      if (cycle) {
        const error: ErrorInfo = {
          code: "INVALID_ARGUMENT",
          message: `dependsOn forms a cycle: ${cycle.join(" → ")}`,
        };
        refused(m.principal.sub || null, id, error);
        rejectNow(ctx, state, id, m.draft.type, m.msg, error);
      }
      return;
    }
    // The in-flight cap, for a submission that becomes a new task (not a redelivery of a held one).
    const sub = m.principal.sub;
    if (sub !== "" && core.knows(id) === undefined) {
      const over = limits.inFlight(sub, core.inFlight(sub));
      if (over) {
        refused(sub, id, over);
        rejectNow(ctx, state, id, m.draft.type, m.msg, over);
        return;
      }
    }
    core.submit(
      m.draft,
      m.principal,
      m.msg.seq,
      // Held until the task ends, possibly behind thousands of others: only what acks it.
      m.msg.settler?.() ?? m.msg,
      m.deps,
      m.msg.storedAt,
      m.retry,
      m.msg.deliveries > 1,
    );
    for (const next of intake.end(id)) admit(ctx, state, next);
  }

  function rejectNow(
    ctx: ActorContext<SchedulerMsg>,
    state: State,
    id: string,
    taskType: string,
    msg: DurableMsg,
    error: ErrorInfo,
    counted = true,
  ): void {
    const result = state.core!.rejected(id, taskType, error, msg);
    if (result) publishRejection(ctx, state.epoch, msg, result, 1);
    if (counted) { for (const next of state.intake!.end(id)) admit(ctx, state, next); }
  }

  return { check, unpark, admit, rejectNow };
}

/**
 * How long after a reconnect or a takeover a dependency nobody knows is waited
 * for rather than refused: longer than the consumer's ack wait (30 s), after
 * which a delivery lost in flight comes again.
 */
export const DISRUPTION_GRACE_MS = 45_000;
