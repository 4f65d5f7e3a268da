/**
 * The scheduler actor's messages, state and the kit its parts share.
 *
 * @module
 */

import {
  type AttemptRecord,
  type Config,
  type ConsumerHandle,
  type ConsumerSpec,
  type Decoded,
  type DurableMsg,
  encodeMessage,
  type ErrorInfo,
  type InMsg,
  type Opener,
  type Principal,
  RESULT_SIGNATURE,
  type ResultSigner,
  type ResultVerifier,
  type Sealer,
  type SealProblem,
  type StoredMsg,
  type Subjects,
  type SubmissionDraft,
  type SubmissionLimits,
  type Subscription,
  type TaskResult,
  type TerminalState,
  type TokenVerifier,
  type ToNode,
  type ToScheduler,
  type Transport,
} from "../../src/internal_mod.ts";
import type { Audit } from "../audit.ts";
import type { LocalDirectory } from "../directory.ts";
import type { SchedulerCore } from "./core.ts";
import type { Intake } from "./intake.ts";
import type { Lease, LeaseValue } from "./lease.ts";
import { StoredIds } from "./stored_ids.ts";
import { DELTA_WINDOW_MS, TaskDeltas } from "./task_deltas.ts";
import type { LocalTaskFeed } from "../monitor/local_feed.ts";

/** Messages of the scheduler actor. */
export type SchedulerMsg =
  | ToScheduler
  | { type: "lease.acquired"; epoch: number; previous: LeaseValue | null }
  | { type: "lease.lost"; reason: string }
  /** The lease was not renewed in time: stop acting, keep the term (see lease.ts). */
  | { type: "lease.paused"; reason: string }
  | { type: "lease.resumed"; pausedMs: number }
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
    /** A `tasks.retry`: the stored result it replaces and the history before it. */
    retry?: Retried;
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
  | {
    type: "node.heartbeat";
    node: string;
    incarnation: number;
    state?: string;
    /** Messages the node refused for a bad seal, since it started. */
    rejected?: number;
  }
  /** A message to the leader failed its seal and was dropped. */
  | { type: "message.refused"; subject: string; reason: SealProblem }
  | { type: "request.cancel"; msg: InMsg }
  | { type: "request.status"; msg: InMsg }
  /** The connection to NATS dropped or came back: deliveries in flight may be lost. */
  | { type: "transport.changed" }
  | { type: "request.list"; msg: InMsg }
  | { type: "request.retry"; msg: InMsg }
  | { type: "request.purge"; msg: InMsg }
  | { type: "request.cancel.checked"; msg: InMsg; id: string; by: string }
  | { type: "tick" };

/** What a retried task carries over: the result it replaces, and its history up to the retry. */
export interface Retried {
  /** RESULTS sequence of the stored result the new outcome replaces. */
  replaces: number;
  history: AttemptRecord[];
}

/** A submission that passed its checks, on its way into the task table. */
export type Checked = Extract<SchedulerMsg, { type: "submission.checked" }>;

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
  /** The process's audit trail (actors/audit.ts): rejections and cancels go there. */
  audit?: Audit;
  /** Called with scheduler events for the monitor. */
  onEvent?: (kind: string, detail: Record<string, unknown>) => void;
  /** Seals what goes to worker nodes and checks what comes from them (see src/auth/seal.ts). */
  seals: { sealer: Sealer; opener: Opener };
  /** Signs the results it stores; checks a result it finds already stored. */
  results: { signer: ResultSigner; verifier: ResultVerifier };
  /** The monitor in this process, if one runs: it takes this leader's task deltas in process. */
  localTasks?: LocalTaskFeed;
}

export interface NodeInfo {
  incarnation: number;
  lastSeen: number;
  draining: boolean;
}

export interface State {
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
  /** Messages refused for a bad seal, by reason, not yet reported; and what nodes reported. */
  refused: Map<string, number>;
  nodeRefused: Map<string, number>;
  ticker: { cancel(): void } | null;
  /** Submissions put back in the stream since the last tick (their look-ups failed). */
  putBack: number;
  /**
   * When deliveries last may have been lost or reordered (a reconnect, a
   * takeover): for a while after, a dependency nobody knows yet may still come.
   */
  disruptedAt: number;
  lastStats: string;
  /** When the counts were last published (they go out at least every 5 s while leading). */
  lastStatsAt: number;
  /** Leading, but the lease was not renewed in time: nothing is dispatched, no node is lost. */
  paused: boolean;
  /**
   * Batch messages that did not fit under maxQueue: held here, unacked, in
   * arrival order, and checked when tasks end (submissions.ts).
   */
  parked: { msg: DurableMsg; parts: Decoded[] }[];
}

export const encoder: TextEncoder = new TextEncoder();
export const decoder: TextDecoder = new TextDecoder();

/** The consumer the leader pulls submissions through. */
export function tasksConsumer(subjects: Subjects, config: Config): ConsumerSpec {
  return {
    stream: subjects.tasksStream,
    durable: "scheduler",
    maxAckPending: config.maxQueue,
    // Takeovers redeliver at once (a consumer reset). This timer brings back
    // deliveries lost in flight when the leader's connection broke (its server
    // died): the consumer counts them delivered, the leader never saw them. A
    // redelivery of a task the leader holds only replaces its message (nothing
    // runs twice); one whose result is stored is acked.
    ackWaitMs: 30_000,
    batch: Math.min(1_000, config.maxQueue),
  };
}

/** What the scheduler's parts share: its dependencies and a few helpers. */
export interface Kit {
  deps: SchedulerDeps;
  transport: Transport;
  subj: Subjects;
  config: Config;
  /** This incarnation's lease, for async set-up to check it still leads. */
  current: { lease: Lease | null };
  emit(kind: string, detail: Record<string, unknown>): void;
  /** Send to a worker node: in process when it is here, else sealed on its subject. */
  sendToNode(node: string, msg: ToNode): void;
  /** Publish a sealed message (to nodes, or a node's status). */
  publishSealed(subject: string, body: Uint8Array): void;
  /** A task's stored result, if a scheduler signed it (one nobody signed is not believed). */
  storedResult(id: string): Promise<StoredMsg | null>;
  /** Which ids have a stored result, approximately (rebuilt at each takeover). */
  storedIds: StoredIds;
  /** Task deltas, coalesced per window before they go out on `monitor.task.<id>`. */
  taskDeltas: TaskDeltas;
  /** A delta on `monitor.scheduler.<id>`. */
  publishScheduler(state: State, fields: Record<string, unknown>): void;
}

/** Build the kit for one scheduler. */
export function makeKit(deps: SchedulerDeps): Kit {
  const { transport, subjects: subj, config } = deps;
  // Parts take these out of the kit one by one: no `this` in here.
  const publishSealed = (subject: string, body: Uint8Array) =>
    transport.publish(subject, body, { headers: deps.seals.sealer.seal(subject, body) });
  // Task deltas wait up to a window; what the leader then says on monitor.scheduler (a node
  // lost, the tasks it requeued) must not overtake the task transitions that came before it.
  // The monitor in this process takes them as they are (local_feed.ts), not back through NATS.
  const taskDeltas = new TaskDeltas(
    (id, body) => transport.publish(subj.monitorTask(id), JSON.stringify(body)),
    DELTA_WINDOW_MS,
    deps.localTasks && ((batch) => deps.localTasks!.deliver(batch)),
  );
  return {
    deps,
    transport,
    subj,
    config,
    current: { lease: null },
    emit: (kind, detail) => deps.onEvent?.(kind, detail),
    sendToNode(node, msg) {
      const local = deps.directory.nodes.get(node);
      if (local) local.send(msg);
      else publishSealed(subj.node(node), encodeMessage(msg));
    },
    publishSealed,
    storedIds: new StoredIds(),
    taskDeltas,
    async storedResult(id) {
      const m = await transport.lastMessage(subj.resultsStream, subj.outcome(id));
      if (!m) return null;
      return deps.results.verifier.verify(m.data, m.header(RESULT_SIGNATURE), id).ok ? m : null;
    },
    publishScheduler(state, fields) {
      taskDeltas.flush();
      const delta = { id: deps.id, seq: ++state.mseq, ...fields };
      transport.publish(subj.monitorScheduler(deps.id), encoder.encode(JSON.stringify(delta)));
    },
  };
}
