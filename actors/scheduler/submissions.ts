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
  authorize,
  decodeSubmission,
  type DurableMsg,
  type ErrorInfo,
  type Principal,
  RESULT_SIGNATURE,
  type TaskResult,
  toErrorInfo,
} from "../../src/mod.ts";
import { outcomeOf } from "../audit.ts";
import type { TaskEntry } from "./core.ts";
import { UserLimits } from "./limits.ts";
import {
  type Checked,
  decoder,
  encoder,
  type Kit,
  type SchedulerMsg,
  type State,
} from "./types.ts";

type Ctx = ActorContext<SchedulerMsg>;

/** The intake and result functions of one scheduler. */
export interface Submissions {
  /** Decode, authenticate and authorise a submission; what follows arrives as messages. */
  check(ctx: Ctx, state: State, msg: DurableMsg): void;
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
   * yet. A result already there (wrong last sequence) is the result, exactly
   * once, if a scheduler signed it; one that nobody signed (published by
   * someone on an open NATS) is purged and replaced by the real one.
   */
  async function store(
    result: TaskResult,
    onForged: (id: string) => void,
  ): Promise<{ ok: boolean; error?: string }> {
    const subject = subj.outcome(result.id);
    const body = encoder.encode(JSON.stringify(result));
    const opts = {
      expectLastSubjectSeq: 0,
      timeoutMs: 5_000,
      headers: { [RESULT_SIGNATURE]: deps.results.signer.sign(body) },
    };
    let ack = await transport.publishDurable(subject, body, opts);
    if (!ack.ok && ack.code === "WRONG_LAST_SEQUENCE") {
      const stored = await transport.lastMessage(subj.resultsStream, subject).catch(() => null);
      const believed = stored &&
        deps.results.verifier.verify(stored.data, stored.header(RESULT_SIGNATURE), result.id).ok;
      if (stored && !believed) {
        onForged(result.id);
        await transport.purgeSubject(subj.resultsStream, subject).catch(() => {});
        ack = await transport.publishDurable(subject, body, opts);
      }
    }
    return {
      ok: ack.ok || ack.code === "WRONG_LAST_SEQUENCE",
      error: ack.ok ? undefined : ack.message,
    };
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
    void store(result, forged(ctx)).then(({ ok, error }) =>
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

  /** Decode, authenticate, authorise; then resolve what needs the streams. */
  function check(ctx: ActorContext<SchedulerMsg>, state: State, msg: DurableMsg): void {
    const core = state.core!;
    const epoch = state.epoch;
    const prefixLen = subj.submitAll.length - 1;
    const type = msg.subject.slice(prefixLen);
    const decoded = decodeSubmission(
      type,
      msg.data,
      msg.header("Nats-Msg-Id"),
      deps.limits,
      ctx.clock.now(),
    );
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
    // A submission already held (a redelivery) or finished needs no checks.
    if (core.knows(id) !== undefined) {
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
    if (decoded.ok) state.intake!.begin(id);
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
      const redelivered = msg.deliveries > 1 || msg.seq <= state.rebuildUntilSeq;
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
      if (!redelivered) return ctx.self.send(checked);
      // Delivered before: its result may already be stored (by this leader's predecessor).
      kit.storedResult(draft.id).then(
        (stored) =>
          ctx.self.send(stored ? { type: "submission.done", epoch, msg, id: draft.id } : checked),
        (err) => {
          ctx.log.warn("result look-up failed; the submission will be delivered again", {
            task: draft.id,
            error: String(err),
          });
          ctx.self.send({ type: "submission.retry", epoch, msg, id: draft.id });
        },
      );
    };
    const header = msg.header("Authorization");
    deps.verifier.verifyHeader(header).then(
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
      Promise.all(unresolved.map((d) => kit.storedResult(d)))
        .then(
          (stored) => {
            const found = new Map(m.deps);
            const unknown: string[] = [];
            stored.forEach((st, i) => {
              if (st) {
                found.set(unresolved[i], (JSON.parse(decoder.decode(st.data)) as TaskResult).state);
              } else if (!intake.isPending(unresolved[i])) unknown.push(unresolved[i]);
            });
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
            ctx.log.warn("dependency look-up failed; the submission will be delivered again", {
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
    core.submit(m.draft, m.principal, m.msg.seq, m.msg, m.deps);
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

  return { check, admit, rejectNow, publishResult, publishRejection };
}

/** Run `fn` again after a backoff that grows with `attempt`. */
export function retryLater(ctx: ActorContext<SchedulerMsg>, attempt: number, fn: () => void): void {
  const delay = Math.min(5_000, 100 * 2 ** Math.min(attempt, 6));
  ctx.clock.setTimer(delay, fn);
}
