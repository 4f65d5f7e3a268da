/**
 * The scheduler's intake and results: checking submissions (decode,
 * authenticate, authorise, type, the per-user rate, redelivery), admitting
 * them into the task table once their dependencies are known (and the user is
 * under its in-flight cap, see limits.ts), and publishing results and
 * rejections exactly once. Every refused submission goes on the audit trail
 * (actors/audit.ts).
 *
 * @module
 */

import {
  type ActorContext,
  type AttemptRecord,
  authorize,
  decodeBatch,
  type Decoded,
  decodeSubmission,
  type DurableMsg,
  type ErrorInfo,
  isBatchBody,
  type Principal,
  type PubAck,
  RESULT_SIGNATURE,
  type ResultSigner,
  type StoredMsg,
  type TaskResult,
  toErrorInfo,
} from "../../src/internal_mod.ts";
import { outcomeOf } from "../audit.ts";
import { BatchDelivery, streamSeqOf } from "./batch.ts";
import type { TaskEntry } from "./core.ts";
import { UserLimits } from "./limits.ts";
import {
  type Checked,
  decoder,
  encoder,
  type Kit,
  type Retried,
  type SchedulerMsg,
  type State,
} from "./types.ts";

type Ctx = ActorContext<SchedulerMsg>;

/** The intake and result functions of one scheduler. */
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
  publishResult(
    ctx: Ctx,
    epoch: number,
    entry: TaskEntry,
    result: TaskResult,
    attempt: number,
  ): void;
  publishRejection(
    ctx: Ctx,
    epoch: number,
    msg: DurableMsg,
    result: TaskResult,
    attempt: number,
  ): void;
}

/** Build the intake and result functions of one scheduler. */
export function submissions(kit: Kit): Submissions {
  const { deps, transport, subj } = kit;
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
  /**
   * Store a task's result, signed, on `tasks.outcome.<id>` only if it has none
   * yet: the RESULTS stream refuses a second message on a subject (discard new
   * per subject), and the stream republishes what it stored to subscribers.
   * What is already there is the result, exactly once, if a scheduler signed
   * it, with two exceptions that are replaced: one nobody signed (published by
   * someone on an open NATS), and a rejection (a rejected submission never
   * ran, so its id may be used again: what came of the new one replaces it).
   */
  async function store(
    result: TaskResult,
    onForged: (id: string) => void,
    replaces = 0,
  ): Promise<{ ok: boolean; error?: string }> {
    const subject = subj.outcome(result.id);
    // Known to have a result before it is stored: no later submission of the id slips by.
    kit.storedIds.add(result.id);
    // Text, not bytes: the transport encodes it together with the messages around it.
    const body = JSON.stringify(result);
    const opts = {
      timeoutMs: 5_000,
      headers: { [RESULT_SIGNATURE]: deps.results.signer.signText(body) },
    };
    let ack = await transport.publishDurable(subject, body, opts);
    if (occupied(ack)) {
      const stored = await transport.lastMessage(subj.resultsStream, subject).catch(() => null);
      const believed = stored &&
        deps.results.verifier.verify(stored.data, stored.header(RESULT_SIGNATURE), result.id).ok;
      if (stored && !believed) onForged(result.id);
      const replace = stored &&
        (!believed || isRejection(stored.data) || (replaces > 0 && stored.seq === replaces));
      if (replace) {
        await transport.purgeSubject(subj.resultsStream, subject).catch(() => {});
        ack = await transport.publishDurable(subject, body, opts);
      }
    }
    return { ok: ack.ok || occupied(ack), error: ack.ok ? undefined : ack.message };
  }

  /** The retry mark of a submission: the RESULTS sequence it may replace, or 0. */
  function retryMarkOf(msg: DurableMsg, id: string): number {
    const mark = msg.header(RETRY_HEADER);
    if (!mark) return 0;
    const dot = mark.indexOf(".");
    const seq = Number(mark.slice(0, dot));
    if (!Number.isSafeInteger(seq) || seq <= 0) return 0;
    return mark.slice(dot + 1) === retrySignature(deps.results.signer, id, seq) ? seq : 0;
  }

  /** What a retried task starts with: its history so far, and a record of the retry. */
  function retriedFrom(stored: StoredMsg, by: string, ctx: Ctx): Retried {
    let history: AttemptRecord[] = [];
    try {
      history = (JSON.parse(decoder.decode(stored.data)) as TaskResult).history ?? [];
    } catch {
      // an unreadable history is not carried over
    }
    const now = ctx.clock.now();
    const mark: AttemptRecord = {
      attempt: 0,
      worker: "",
      startedAt: now,
      endedAt: now,
      outcome: "retried",
      by,
    };
    return { replaces: stored.seq, history: [...history, mark] };
  }

  /** Send a stored result to `tasks.result.<id>` again, as the stream first did. */
  function republish(stored: StoredMsg): void {
    const id = stored.subject.slice(subj.outcome("").length);
    const signature = stored.header(RESULT_SIGNATURE);
    transport.publish(subj.result(id), stored.data, {
      headers: signature ? { [RESULT_SIGNATURE]: signature } : undefined,
    });
    kit.emit("republished", { task: id, streamSeq: stored.seq });
  }

  /** Republish the stored result of a task this leader finished, then settle the submission. */
  function republishStored(ctx: Ctx, epoch: number, msg: DurableMsg, id: string): void {
    kit.storedResult(id).then(ranBefore).then(
      (stored) => {
        // An outcome stored after this submission is its answer already (a redelivery after an
        // ack lost with a connection): no second copy. One stored before is published again.
        if (stored && stored.time < msg.storedAt) republish(stored);
        ctx.self.send({ type: "submission.done", epoch, msg, id });
      },
      () => ctx.self.send({ type: "submission.retry", epoch, msg, id }),
    );
  }

  /** A result nobody signed was in the store: counted and reported like a forged message. */
  const forged = (ctx: ActorContext<SchedulerMsg>) => (id: string) =>
    ctx.self.send({ type: "message.refused", subject: subj.outcome(id), reason: "forged" });

  function publishResult(
    ctx: ActorContext<SchedulerMsg>,
    epoch: number,
    entry: TaskEntry,
    result: TaskResult,
    attempt: number,
  ) {
    void store(result, forged(ctx), entry.replaces).then(({ ok, error }) =>
      ctx.self.send({ type: "result.published", epoch, id: entry.id, ok, attempt, error })
    );
  }

  function publishRejection(
    ctx: ActorContext<SchedulerMsg>,
    epoch: number,
    msg: DurableMsg,
    result: TaskResult,
    attempt: number,
  ) {
    void store(result, forged(ctx)).then(({ ok }) =>
      ctx.self.send({ type: "rejection.published", epoch, msg, ok, result, attempt })
    );
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

  return { check, unpark, admit, rejectNow, publishResult, publishRejection };
}

/**
 * How long after a reconnect or a takeover a dependency nobody knows is waited
 * for rather than refused: longer than the consumer's ack wait (30 s), after
 * which a delivery lost in flight comes again.
 */
export const DISRUPTION_GRACE_MS = 45_000;

/** The header a `tasks.retry` resubmission carries: `<RESULTS seq>.<signature>`. */
export const RETRY_HEADER = "Ts-Retry";

/** The signature of a retry mark: only a scheduler (holder of the result key) makes one. */
export function retrySignature(signer: ResultSigner, id: string, seq: number): string {
  return signer.sign(encoder.encode(`retry\u0000${id}\u0000${seq}`));
}

/** The stream refused a result because the subject holds one already. */
function occupied(ack: PubAck): boolean {
  return !ack.ok && (ack.code === "SUBJECT_FULL" || ack.code === "WRONG_LAST_SEQUENCE");
}

/** A stored result of a run, or null for none or a rejection (a submission that never ran). */
function ranBefore(stored: StoredMsg | null): StoredMsg | null {
  return stored && !isRejection(stored.data) ? stored : null;
}

/** Is this stored result a rejection (a submission that never ran)? */
function isRejection(data: Uint8Array): boolean {
  try {
    return (JSON.parse(decoder.decode(data)) as TaskResult).state === "rejected";
  } catch {
    return false;
  }
}

/** Run `fn` again after a backoff that grows with `attempt`. */
export function retryLater(ctx: ActorContext<SchedulerMsg>, attempt: number, fn: () => void): void {
  const delay = Math.min(5_000, 100 * 2 ** Math.min(attempt, 6));
  ctx.clock.setTimer(delay, fn);
}
