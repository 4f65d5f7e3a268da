/**
 * The scheduler actor: contends for leadership, and while it leads takes
 * submissions from the TASKS stream, checks and authorises them, runs the
 * {@link SchedulerCore}, talks to worker nodes, publishes results exactly once
 * (compare-and-set on the result subject) and answers `tasks.cancel` and
 * `tasks.status`.
 *
 * @module
 */

import {
  type ActorContext,
  authorize,
  type Behavior,
  type Config,
  type ConsumerHandle,
  type ConsumerSpec,
  decodeMessage,
  decodeSubmission,
  type DurableMsg,
  encodeMessage,
  type ErrorInfo,
  type InMsg,
  isTaskId,
  type Principal,
  SchedulerError,
  type Subjects,
  type SubmissionDraft,
  type SubmissionLimits,
  type Subscription,
  type TaskResult,
  type TerminalState,
  toErrorInfo,
  type TokenVerifier,
  type ToNode,
  type ToScheduler,
  type Transport,
} from "../../src/mod.ts";
import type { LocalDirectory } from "../directory.ts";
import { streamSpecs } from "../streams.ts";
import { SchedulerCore, type SchedulerEffects, type TaskEntry } from "./core.ts";
import { Intake } from "./intake.ts";
import { Lease, type LeaseValue } from "./lease.ts";

/** Messages of the scheduler actor. */
export type SchedulerMsg =
  | ToScheduler
  | { type: "lease.acquired"; epoch: number; previous: LeaseValue | null }
  | { type: "lease.lost"; reason: string }
  | { type: "lease.fatal"; error: string }
  | {
    type: "leader.ready";
    epoch: number;
    consumer: ConsumerHandle;
    subs: Subscription[];
    lastSeq: number;
  }
  | { type: "leader.failed"; epoch: number; error: string }
  | { type: "sync.done"; epoch: number }
  | { type: "submission"; msg: DurableMsg }
  | {
    type: "submission.checked";
    epoch: number;
    draft: SubmissionDraft;
    principal: Principal;
    msg: DurableMsg;
    deps: Map<string, TerminalState | "unknown">;
  }
  | {
    type: "submission.rejected";
    epoch: number;
    id: string;
    taskType: string;
    error: ErrorInfo;
    msg: DurableMsg;
    /** The id was counted in the intake (it decoded). */
    counted?: boolean;
  }
  | { type: "submission.done"; epoch: number; msg: DurableMsg; id?: string }
  | { type: "submission.retry"; epoch: number; msg: DurableMsg; id: string }
  | {
    type: "result.published";
    epoch: number;
    id: string;
    ok: boolean;
    attempt: number;
    error?: string;
  }
  | {
    type: "rejection.published";
    epoch: number;
    msg: DurableMsg;
    ok: boolean;
    result: TaskResult;
    attempt: number;
  }
  | { type: "node.heartbeat"; node: string; incarnation: number; state?: string }
  | { type: "request.cancel"; msg: InMsg }
  | { type: "request.status"; msg: InMsg }
  | { type: "request.cancel.checked"; msg: InMsg; id: string; by: string }
  | { type: "tick" };

/** A submission that passed its checks, on its way into the task table. */
type Checked = Extract<SchedulerMsg, { type: "submission.checked" }>;

/** What the scheduler needs from its process. */
export interface SchedulerDeps {
  id: string;
  config: Config;
  transport: Transport;
  subjects: Subjects;
  verifier: TokenVerifier;
  directory: LocalDirectory;
  limits: SubmissionLimits;
  /** Task types known without any worker registered (the built-ins). */
  knownTypes: ReadonlySet<string>;
  /** Called with scheduler events for the monitor. */
  onEvent?: (kind: string, detail: Record<string, unknown>) => void;
}

interface NodeInfo {
  incarnation: number;
  lastSeen: number;
  draining: boolean;
}

interface State {
  lease: Lease | null;
  epoch: number;
  leading: boolean;
  core: SchedulerCore | null;
  intake: Intake<Checked> | null;
  consumer: ConsumerHandle | null;
  subs: Subscription[];
  nodes: Map<string, NodeInfo>;
  /** Nodes declared lost, with the incarnation that was lost: whatever that incarnation still says is fenced. */
  lost: Map<string, number>;
  /** Submissions up to this stream sequence were there at the takeover: check them against stored results. */
  rebuildUntilSeq: number;
  mseq: number;
  ticker: { cancel(): void } | null;
  lastStats: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The consumer the leader pulls submissions through. */
export function tasksConsumer(subjects: Subjects, config: Config): ConsumerSpec {
  return {
    stream: subjects.tasksStream,
    durable: "scheduler",
    maxAckPending: config.maxQueue,
    // Redelivery is driven by takeovers (a consumer reset), not by this timer;
    // it is a last resort for a leader that lost its lease and could not say so.
    ackWaitMs: 3_600_000,
    batch: Math.min(1_000, config.maxQueue),
  };
}

/** Build the scheduler behavior. */
export function schedulerBehavior(deps: SchedulerDeps): Behavior<SchedulerMsg, State> {
  const { transport, subjects: subj, config } = deps;
  /** This incarnation's lease, for async set-up to check it still leads. */
  const current: { lease: Lease | null } = { lease: null };
  const emit = (kind: string, detail: Record<string, unknown>) => deps.onEvent?.(kind, detail);

  function sendToNode(node: string, msg: ToNode): void {
    const local = deps.directory.nodes.get(node);
    if (local) local.send(msg);
    else transport.publish(subj.node(node), encodeMessage(msg));
  }

  function publishScheduler(state: State, fields: Record<string, unknown>): void {
    const delta = { id: deps.id, seq: ++state.mseq, ...fields };
    transport.publish(subj.monitorScheduler(deps.id), encoder.encode(JSON.stringify(delta)));
  }

  function effects(ctx: ActorContext<SchedulerMsg>, state: State): SchedulerEffects {
    const epoch = state.epoch;
    return {
      assign(node, tasks) {
        sendToNode(node, { type: "task.assign", epoch, leader: deps.id, tasks });
      },
      cancelOnNode(node, id, dispatch, reason) {
        sendToNode(node, { type: "task.cancel", epoch, id, dispatch, reason });
      },
      publishResult(entry, result) {
        publishResult(ctx, epoch, entry, result, 1);
      },
      deadLetter(entry, result) {
        const body = {
          ...result,
          payload: entry.payload,
          requires: entry.needs.filter((n) => !n.startsWith("type:")),
        };
        void transport.publishDurable(
          subj.deadLetter(entry.id),
          encoder.encode(JSON.stringify(body)),
          {
            msgId: `dead-${entry.id}`,
          },
        ).then((ack) => {
          if (!ack.ok) {
            ctx.log.error("dead letter not stored", { task: entry.id, error: ack.message });
          }
        });
      },
      taskDelta(id, delta) {
        transport.publish(subj.monitorTask(id), encoder.encode(JSON.stringify(delta)));
      },
      event(kind, detail) {
        emit(kind, detail);
        publishScheduler(state, { event: kind, ...detail });
      },
    };
  }

  function publishResult(
    ctx: ActorContext<SchedulerMsg>,
    epoch: number,
    entry: TaskEntry,
    result: TaskResult,
    attempt: number,
  ) {
    void transport.publishDurable(subj.outcome(entry.id), encoder.encode(JSON.stringify(result)), {
      expectLastSubjectSeq: 0,
      timeoutMs: 5_000,
    }).then((ack) => {
      // A result already there (wrong last sequence, or a duplicate id) is the result: exactly once.
      const ok = ack.ok || ack.code === "WRONG_LAST_SEQUENCE";
      ctx.self.send({
        type: "result.published",
        epoch,
        id: entry.id,
        ok,
        attempt,
        error: ack.ok ? undefined : ack.message,
      });
    });
  }

  function publishRejection(
    ctx: ActorContext<SchedulerMsg>,
    epoch: number,
    msg: DurableMsg,
    result: TaskResult,
    attempt: number,
  ) {
    void transport.publishDurable(subj.outcome(result.id), encoder.encode(JSON.stringify(result)), {
      expectLastSubjectSeq: 0,
    }).then((ack) => {
      const ok = ack.ok || ack.code === "WRONG_LAST_SEQUENCE";
      ctx.self.send({ type: "rejection.published", epoch, msg, ok, result, attempt });
    });
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
    const reject = (error: ErrorInfo) =>
      ctx.self.send({
        type: "submission.rejected",
        epoch,
        id,
        taskType: type,
        error,
        msg,
        counted: decoded.ok,
      });
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
      if (!decoded.ok) return reject(decoded.error);
      const draft = decoded.draft;
      try {
        authorize(principal, "submit", { type: draft.type });
      } catch (err) {
        return reject(toErrorInfo(err));
      }
      if (!deps.knownTypes.has(draft.type) && !core.hasType(draft.type)) {
        return reject({
          code: "UNKNOWN_TYPE",
          message: `no worker runs task type ${JSON.stringify(draft.type)} (known: ${
            [...deps.knownTypes].sort().join(", ")
          })`,
        });
      }
      const checked: Checked = {
        type: "submission.checked",
        epoch,
        draft,
        principal,
        msg,
        deps: new Map(),
      };
      const redelivered = msg.deliveries > 1 || msg.seq <= state.rebuildUntilSeq;
      if (!redelivered) return ctx.self.send(checked);
      // Delivered before: its result may already be stored (by this leader's predecessor).
      transport.lastMessage(subj.resultsStream, subj.outcome(draft.id)).then(
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
      (err) => reject(toErrorInfo(err, "UNAUTHENTICATED")),
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
      Promise.all(unresolved.map((d) => transport.lastMessage(subj.resultsStream, subj.outcome(d))))
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
              ctx.self.send({
                type: "submission.rejected",
                epoch,
                id,
                taskType: m.draft.type,
                msg: m.msg,
                counted: true,
                error: {
                  code: "INVALID_ARGUMENT",
                  message: `dependsOn names unknown task${s} ${unknown.join(", ")}`,
                },
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
        rejectNow(ctx, state, id, m.draft.type, m.msg, {
          code: "INVALID_ARGUMENT",
          message: `dependsOn forms a cycle: ${cycle.join(" → ")}`,
        });
      }
      return;
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

  /**
   * Retry JetStream set-up while this term lasts: in a cluster that lost a
   * server, stream and consumer operations time out until new stream leaders
   * are elected, which can take tens of seconds. Gives up after a minute.
   */
  async function persist<T>(
    ctx: ActorContext<SchedulerMsg>,
    epoch: number,
    what: string,
    fn: () => Promise<T>,
  ): Promise<T> {
    const started = ctx.clock.now();
    for (let attempt = 1;; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const lease = current.lease;
        const stillOurs = lease?.leading && lease.epoch === epoch;
        if (!stillOurs || ctx.clock.now() - started > 60_000) throw err;
        ctx.log.warn(`${what} failed; retrying`, { attempt, error: (err as Error).message });
        await new Promise((r) =>
          ctx.clock.setTimer(Math.min(2_000, 100 * 2 ** attempt), () => r(undefined))
        );
      }
    }
  }

  async function becomeLeader(ctx: ActorContext<SchedulerMsg>, epoch: number): Promise<void> {
    const spec = tasksConsumer(subj, config);
    const subs: Subscription[] = [];
    try {
      // The streams may have been deleted (or JetStream restarted empty): make sure they exist.
      await persist(
        ctx,
        epoch,
        "creating streams",
        () => transport.ensureStreams(streamSpecs(subj, config.replicas)),
      );
      // Everything the last leader held and had not settled is delivered again now.
      await persist(
        ctx,
        epoch,
        "resetting the submissions consumer",
        () => transport.resetConsumer(spec),
      );
      const { lastSeq } = await persist(
        ctx,
        epoch,
        "reading the stream",
        () => transport.streamInfo(subj.tasksStream),
      );
      subs.push(transport.subscribe(subj.report, (m) => {
        try {
          ctx.self.send(decodeMessage<ToScheduler>(m.data, transport));
        } catch {
          ctx.log.warn("unreadable report", { subject: m.subject });
        }
      }));
      subs.push(
        transport.subscribe(subj.cancel, (msg) => ctx.self.send({ type: "request.cancel", msg })),
      );
      subs.push(
        transport.subscribe(subj.status, (msg) => ctx.self.send({ type: "request.status", msg })),
      );
      subs.push(transport.subscribe(`${subj.monitorWorker("*")}`, (m) => {
        try {
          const d = JSON.parse(decoder.decode(m.data)) as {
            node?: string;
            incarnation?: number;
            state?: string;
          };
          if (typeof d.node === "string" && typeof d.incarnation === "number") {
            ctx.self.send({
              type: "node.heartbeat",
              node: d.node,
              incarnation: d.incarnation,
              state: d.state,
            });
          }
        } catch {
          // not a status delta
        }
      }));
      const consumer = await persist(
        ctx,
        epoch,
        "starting the submissions consumer",
        () =>
          transport.consume(
            spec,
            (m) => {
              if (!ctx.self.send({ type: "submission", msg: m })) m.nak(500);
            },
            (reason) =>
              ctx.self.send({
                type: "leader.failed",
                epoch,
                error: `the submissions consumer stopped: ${reason}`,
              }),
          ),
      );
      ctx.self.send({ type: "leader.ready", epoch, consumer, subs, lastSeq });
    } catch (err) {
      for (const s of subs) s.unsubscribe();
      ctx.self.send({ type: "leader.failed", epoch, error: (err as Error).message });
    }
  }

  function stepDown(state: State, reason: string, ctx: ActorContext<SchedulerMsg>): State {
    if (deps.directory.leader === ctx.self) deps.directory.leader = null;
    void state.consumer?.stop().catch(() => {});
    for (const s of state.subs) s.unsubscribe();
    state.ticker?.cancel();
    if (state.leading) publishScheduler(state, { role: "follower", epoch: state.epoch, reason });
    return {
      ...state,
      leading: false,
      core: null,
      intake: null,
      consumer: null,
      subs: [],
      ticker: null,
      rebuildUntilSeq: 0,
    };
  }

  /**
   * A node declared lost that speaks again under the same incarnation is told
   * it was fenced: it abandons what it ran and rejoins under a new one. What
   * it reports meanwhile is stale.
   */
  function fenceIfLost(state: State, node: string, incarnation: number, reports: number): boolean {
    if (state.lost.get(node) !== incarnation) return false;
    sendToNode(node, {
      type: "node.fenced",
      epoch: state.epoch,
      incarnation,
      reason: "declared lost",
    });
    if (reports > 0) {
      emit("fenced", { node, incarnation, reports });
      publishScheduler(state, {
        event: "stale",
        node,
        incarnation,
        reports,
        why: "node was declared lost",
      });
    }
    return true;
  }

  function replyJson(msg: InMsg, body: unknown) {
    transport.respond(msg, encoder.encode(JSON.stringify(body)));
  }

  async function authRequest(msg: InMsg): Promise<{ principal: Principal; id: string }> {
    const principal = await deps.verifier.verifyHeader(msg.header("Authorization"));
    let body: unknown;
    try {
      body = JSON.parse(decoder.decode(msg.data));
    } catch (err) {
      throw new SchedulerError(
        "INVALID_ARGUMENT",
        `body is not valid JSON: ${(err as Error).message}`,
      );
    }
    const id = (body as { id?: unknown } | null)?.id;
    if (!isTaskId(id)) {
      throw new SchedulerError(
        "INVALID_ARGUMENT",
        `body must be {"id": "<task id>"}: got ${JSON.stringify(body)?.slice(0, 80)}`,
      );
    }
    return { principal, id };
  }

  return {
    init(ctx) {
      const state: State = {
        lease: null,
        epoch: 0,
        leading: false,
        core: null,
        intake: null,
        consumer: null,
        subs: [],
        nodes: new Map(),
        lost: new Map(),
        rebuildUntilSeq: 0,
        mseq: 0,
        ticker: null,
        lastStats: "",
      };
      return (async () => {
        const kv = await transport.kv(subj.leaseBucket, {
          replicas: config.replicas,
          timeoutMs: Math.max(200, Math.floor(config.leaseMs / 2)),
        });
        state.lease = new Lease({
          kv,
          holder: deps.id,
          node: config.nodeId,
          leaseMs: config.leaseMs,
          clock: ctx.clock,
          log: ctx.log,
          onAcquired: (epoch, previous) =>
            ctx.self.send({ type: "lease.acquired", epoch, previous }),
          onLost: (reason) => ctx.self.send({ type: "lease.lost", reason }),
          onFatal: (error) => ctx.self.send({ type: "lease.fatal", error: error.message }),
        });
        current.lease = state.lease;
        state.lease.start();
        publishScheduler(state, { role: "follower", node: config.nodeId });
        return state;
      })();
    },

    receive(state, msg, ctx) {
      switch (msg.type) {
        case "lease.acquired": {
          state.epoch = msg.epoch;
          state.leading = true;
          void becomeLeader(ctx, msg.epoch);
          publishScheduler(state, {
            role: "leader",
            epoch: msg.epoch,
            previous: msg.previous?.holder || null,
          });
          return state;
        }
        case "leader.failed":
          if (msg.epoch !== state.epoch) return state;
          throw new SchedulerError("TRANSPORT", `could not start leading: ${msg.error}`);
        case "leader.ready": {
          if (!state.leading || msg.epoch !== state.epoch) {
            void msg.consumer.stop();
            for (const s of msg.subs) s.unsubscribe();
            return state;
          }
          const next: State = {
            ...state,
            consumer: msg.consumer,
            subs: msg.subs,
            rebuildUntilSeq: msg.lastSeq,
            nodes: new Map(),
          };
          const core = new SchedulerCore({
            clock: ctx.clock,
            effects: effects(ctx, next),
            epoch: msg.epoch,
            retryBaseMs: config.retryBaseMs,
            retryMaxMs: config.retryMaxMs,
          });
          next.core = core;
          next.intake = new Intake<Checked>();
          core.pause();
          core.tookOver(60_000);
          deps.directory.leader = ctx.self as unknown as typeof deps.directory.leader;
          // Ask every node what it has and runs; dispatch after they had time to answer.
          const sync: ToNode = { type: "node.sync", epoch: msg.epoch, leader: deps.id };
          transport.publish(subj.nodes, encodeMessage(sync));
          for (const local of deps.directory.nodes.values()) local.send(sync);
          ctx.schedule(Math.min(500, config.heartbeatMs), { type: "sync.done", epoch: msg.epoch });
          next.ticker = ctx.schedule(Math.max(50, Math.floor(config.heartbeatMs / 2)), {
            type: "tick",
          });
          return next;
        }
        case "sync.done":
          if (state.core && msg.epoch === state.epoch) {
            state.core.resume();
            publishScheduler(state, {
              role: "leader",
              epoch: state.epoch,
              ready: true,
              nodes: state.nodes.size,
            });
          }
          return state;
        case "lease.lost":
          return stepDown(state, msg.reason, ctx);
        case "lease.fatal":
          // Fail: the supervisor restarts this actor, and gives up if it keeps failing.
          throw new SchedulerError("TRANSPORT", `leadership impossible: ${msg.error}`);

        case "submission":
          if (!state.core) {
            msg.msg.nak(200);
            return state;
          }
          check(ctx, state, msg.msg);
          return state;
        case "submission.checked":
          if (!state.core || msg.epoch !== state.epoch) return state;
          admit(ctx, state, msg);
          return state;
        case "submission.done":
          if (msg.epoch !== state.epoch) return state;
          msg.msg.ack();
          if (msg.id && state.intake) {
            for (const next of state.intake.end(msg.id)) admit(ctx, state, next);
          }
          return state;
        case "submission.retry":
          if (msg.epoch !== state.epoch) return state;
          msg.msg.nak(1_000);
          if (state.intake) {
            for (const next of state.intake.end(msg.id)) {
              admit(ctx, state, next);
            }
          }
          return state;
        case "submission.rejected":
          if (!state.core || msg.epoch !== state.epoch) return state;
          rejectNow(ctx, state, msg.id, msg.taskType, msg.msg, msg.error, msg.counted ?? false);
          return state;
        case "rejection.published":
          if (msg.epoch !== state.epoch) return state;
          if (msg.ok) msg.msg.ack();
          else {retryLater(ctx, msg.attempt, () =>
              publishRejection(ctx, state.epoch, msg.msg, msg.result, msg.attempt + 1));}
          return state;
        case "result.published": {
          if (!state.core || msg.epoch !== state.epoch) return state;
          if (msg.ok) {
            state.core.resultStored(msg.id);
            return state;
          }
          ctx.log.warn("result not stored yet; retrying", {
            task: msg.id,
            error: msg.error,
            attempt: msg.attempt,
          });
          const entry = state.core.tasks.get(msg.id);
          if (entry?.result) {
            retryLater(
              ctx,
              msg.attempt,
              () => publishResult(ctx, state.epoch, entry, entry.result!, msg.attempt + 1),
            );
          }
          return state;
        }

        case "node.hello": {
          if (!state.core) return state;
          if (fenceIfLost(state, msg.node, msg.incarnation, 0)) return state;
          const known = state.nodes.get(msg.node);
          if (known && known.incarnation !== msg.incarnation) {
            state.core.nodeGone(msg.node, "node restarted");
          }
          state.nodes.set(msg.node, {
            incarnation: msg.incarnation,
            lastSeen: ctx.clock.now(),
            draining: msg.draining,
          });
          state.core.registerWorkers(msg.node, msg.workers, msg.draining);
          if (msg.running.length) state.core.adoptRunning(msg.node, msg.running);
          return state;
        }
        case "node.reports": {
          if (!state.core) return state;
          const node = state.nodes.get(msg.node);
          if (fenceIfLost(state, msg.node, msg.incarnation, msg.reports.length)) return state;
          if (!node) {
            // Not met yet (a new leader): the node keeps its outcomes until acknowledged; ask it to say hello.
            sendToNode(msg.node, { type: "node.sync", epoch: state.epoch, leader: deps.id });
            return state;
          }
          if (node.incarnation !== msg.incarnation) {
            // An earlier incarnation of a node that restarted: its reports are stale.
            sendToNode(msg.node, {
              type: "report.ack",
              epoch: state.epoch,
              dispatches: msg.reports.map((r) => r.dispatch),
            });
            publishScheduler(state, {
              event: "stale",
              node: msg.node,
              incarnation: msg.incarnation,
              reports: msg.reports.length,
              why: "old incarnation",
            });
            return state;
          }
          node.lastSeen = ctx.clock.now();
          const acked: number[] = [];
          for (const r of msg.reports) {
            state.core.report(msg.node, r);
            if (r.kind === "done" || r.kind === "refused") acked.push(r.dispatch);
          }
          if (acked.length) {
            sendToNode(msg.node, { type: "report.ack", epoch: state.epoch, dispatches: acked });
          }
          return state;
        }
        case "node.leaving": {
          if (!state.core) return state;
          const requeued = state.core.nodeGone(msg.node, "node left");
          state.nodes.delete(msg.node);
          publishScheduler(state, {
            event: "node-left",
            node: msg.node,
            requeued: requeued.length,
          });
          return state;
        }
        case "node.heartbeat": {
          if (!state.core) return state;
          if (fenceIfLost(state, msg.node, msg.incarnation, 0)) return state;
          const node = state.nodes.get(msg.node);
          if (!node) {
            // A node this leader has not met: ask it to introduce itself.
            sendToNode(msg.node, { type: "node.sync", epoch: state.epoch, leader: deps.id });
            return state;
          }
          if (node.incarnation !== msg.incarnation) return state;
          node.lastSeen = ctx.clock.now();
          const draining = msg.state === "draining";
          if (draining !== node.draining) {
            node.draining = draining;
            state.core.setNodeAvailable(msg.node, !draining);
          }
          return state;
        }
        case "tick": {
          if (!state.core) return state;
          const now = ctx.clock.now();
          for (const [node, info] of state.nodes) {
            if (now - info.lastSeen <= config.nodeLostMs) continue;
            state.nodes.delete(node);
            state.lost.set(node, info.incarnation);
            if (state.lost.size > 10_000) state.lost.delete(state.lost.keys().next().value!);
            const requeued = state.core.nodeGone(
              node,
              `no heartbeat for ${now - info.lastSeen} ms`,
            );
            ctx.log.warn("worker node lost", {
              node,
              silentMs: now - info.lastSeen,
              requeued: requeued.length,
            });
            transport.publish(
              subj.monitorWorker(node),
              encoder.encode(
                JSON.stringify({ node, incarnation: info.incarnation, state: "lost", seq: 0 }),
              ),
            );
            publishScheduler(state, { event: "node-lost", node, requeued: requeued.length });
            emit("node-lost", { node, requeued });
            sendToNode(node, {
              type: "node.fenced",
              epoch: state.epoch,
              incarnation: info.incarnation,
              reason: "declared lost",
            });
          }
          const s = state.core.stats;
          const stats = JSON.stringify([
            s.held,
            s.queued,
            s.waiting,
            s.retrying,
            s.running,
            state.nodes.size,
          ]);
          if (stats !== state.lastStats) {
            state.lastStats = stats;
            publishScheduler(state, {
              held: s.held,
              queued: s.queued,
              waiting: s.waiting,
              retrying: s.retrying,
              running: s.running,
              accepted: s.accepted,
              finished: s.finished,
              nodes: state.nodes.size,
              workers: state.core.workers.size,
            });
          }
          state.ticker = ctx.schedule(Math.max(50, Math.floor(config.heartbeatMs / 2)), {
            type: "tick",
          });
          return state;
        }

        case "request.status": {
          const core = state.core;
          const m = msg.msg;
          authRequest(m).then(async ({ principal, id }) => {
            authorize(principal, "status");
            const view = core?.status(id);
            if (view && "type" in view) return replyJson(m, view);
            const stored = await transport.lastMessage(subj.resultsStream, subj.outcome(id));
            if (stored) return replyJson(m, JSON.parse(decoder.decode(stored.data)));
            replyJson(m, { id, error: { code: "NOT_FOUND", message: `no task ${id}` } });
          }).catch((err) => replyJson(m, { error: toErrorInfo(err, "INVALID_ARGUMENT") }));
          return state;
        }
        case "request.cancel": {
          const core = state.core;
          const m = msg.msg;
          authRequest(m).then(({ principal, id }) => {
            authorize(principal, "cancel", { owner: core?.ownerOf(id) });
            if (!core) throw new SchedulerError("INTERNAL", "this scheduler is not leading");
            ctx.self.send({ type: "request.cancel.checked", msg: m, id, by: principal.sub });
          }).catch((err) => replyJson(m, { error: toErrorInfo(err, "INVALID_ARGUMENT") }));
          return state;
        }
        case "request.cancel.checked":
          if (state.core) replyJson(msg.msg, state.core.cancel(msg.id, `cancelled by ${msg.by}`));
          else {replyJson(msg.msg, {
              error: { code: "INTERNAL", message: "this scheduler is no longer leading" },
            });}
          return state;
        default: {
          const never: never = msg;
          throw new Error(`unknown scheduler message ${JSON.stringify(never)}`);
        }
      }
    },

    async postStop(state) {
      await state.lease?.stop();
      void state.consumer?.stop().catch(() => {});
      for (const s of state.subs) s.unsubscribe();
      state.ticker?.cancel();
    },
    async preRestart(state) {
      await state.lease?.stop();
      void state.consumer?.stop().catch(() => {});
      for (const s of state.subs) s.unsubscribe();
      state.ticker?.cancel();
    },
  };
}

function retryLater(ctx: ActorContext<SchedulerMsg>, attempt: number, fn: () => void): void {
  const delay = Math.min(5_000, 100 * 2 ** Math.min(attempt, 6));
  ctx.clock.setTimer(delay, fn);
}
