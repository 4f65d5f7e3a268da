/**
 * The scheduler's results: storing a task's result, signed, exactly once on
 * `tasks.outcome.<id>` (the RESULTS stream keeps one message per subject and
 * republishes it on `tasks.result.<id>`), rejections the same way, a stored
 * result sent again to a submitter who asks for a finished id, a failed task's
 * dead letter (`tasks.dead.<id>`), and the marks a `tasks.retry` resubmission
 * carries to replace the result it names. The
 * intake (`submissions.ts`) uses these when it checks a submission; the
 * scheduler actor when a task ends. `retryLater` is the backoff of a store (or
 * another write) that failed.
 *
 * @module
 */

import type {
  ActorContext,
  AttemptRecord,
  DurableMsg,
  PubAck,
  ResultSigner,
  StoredMsg,
  TaskResult,
} from "../../src/internal_mod.ts";
import { RESULT_SIGNATURE } from "../../src/internal_mod.ts";
import type { TaskEntry } from "./core.ts";
import { decoder, encoder, type Kit, type Retried, type SchedulerMsg } from "./types.ts";

type Ctx = ActorContext<SchedulerMsg>;

/** The result functions of one scheduler. */
export interface Results {
  /** Store `entry`'s result; `result.published` says how it went. */
  publishResult(
    ctx: Ctx,
    epoch: number,
    entry: TaskEntry,
    result: TaskResult,
    attempt: number,
  ): void;
  /** Store a rejection of `msg`; `rejection.published` says how it went. */
  publishRejection(
    ctx: Ctx,
    epoch: number,
    msg: DurableMsg,
    result: TaskResult,
    attempt: number,
  ): void;
  /** Store a failed task on `tasks.dead.<id>`, with what `tasks.retry` needs to submit it again. */
  deadLetter(ctx: Ctx, entry: TaskEntry, result: TaskResult): void;
  /** Send a stored result to `tasks.result.<id>` again, as the stream first did. */
  republish(stored: StoredMsg): void;
  /** Republish the stored result of a task this leader finished, then settle the submission. */
  republishStored(ctx: Ctx, epoch: number, msg: DurableMsg, id: string): void;
  /** The retry mark of a submission: the RESULTS sequence it may replace, or 0. */
  retryMarkOf(msg: DurableMsg, id: string): number;
  /** What a retried task starts with: its history so far, and a record of the retry. */
  retriedFrom(stored: StoredMsg, by: string, ctx: Ctx): Retried;
}

/** Build the result functions of one scheduler. */
export function results(kit: Kit): Results {
  const { deps, transport, subj } = kit;
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

  function deadLetter(ctx: Ctx, entry: TaskEntry, result: TaskResult): void {
    const body = {
      ...result,
      payload: entry.payload,
      requires: entry.needs.filter((n) => !n.startsWith("type:")),
      priority: entry.priority,
      timeoutMs: entry.timeoutMs,
      maxAttempts: entry.maxAttempts,
    };
    void transport.publishDurable(
      subj.deadLetter(entry.id),
      encoder.encode(JSON.stringify(body)),
      {
        msgId: `dead-${entry.id}-${entry.seq}`,
      },
    ).then((ack) => {
      if (!ack.ok) {
        ctx.log.error("dead letter not stored", { task: entry.id, error: ack.message });
      }
    });
  }

  return {
    publishResult,
    publishRejection,
    deadLetter,
    republish,
    republishStored,
    retryMarkOf,
    retriedFrom,
  };
}

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
export function isRejection(data: Uint8Array): boolean {
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
