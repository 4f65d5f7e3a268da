/**
 * Becoming and stopping being the leader: stream and consumer set-up with
 * retries while the term lasts, stepping down, and fencing nodes that were
 * declared lost.
 *
 * @module
 */

import {
  type ActorContext,
  decodeMessage,
  encodeMessage,
  SEAL_HEADER,
  type SealProblem,
  type Subscription,
  type ToNode,
  type ToScheduler,
} from "../../src/internal_mod.ts";
import { streamSpecs } from "../streams.ts";
import { retryLater } from "./results.ts";
import { decoder, type Kit, type SchedulerMsg, type State, tasksConsumer } from "./types.ts";

/** The leadership functions of one scheduler. */
export interface Leadership {
  /** Retry a JetStream operation while this term lasts (up to a minute). */
  persist<T>(
    ctx: ActorContext<SchedulerMsg>,
    epoch: number,
    what: string,
    fn: () => Promise<T>,
  ): Promise<T>;
  /** Set up a term: streams, a reset consumer, subscriptions; reports `leader.ready` or `leader.failed`. */
  becomeLeader(ctx: ActorContext<SchedulerMsg>, epoch: number): Promise<void>;
  stepDown(state: State, reason: string, ctx: ActorContext<SchedulerMsg>): State;
  /** The lease was not renewed in time: stop dispatching and losing nodes, keep the term. */
  pause(state: State, reason: string): State;
  /** The lease is ours again, same epoch: ask the nodes what runs, then dispatch again. */
  resume(state: State, pausedMs: number, ctx: ActorContext<SchedulerMsg>): State;
  /** Fence a node declared lost that speaks under the same incarnation; true when it was. */
  fenceIfLost(state: State, node: string, incarnation: number, reports: number): boolean;
  /** The term dispatches: list the ids with a stored result, once a term (stored_ids.ts). */
  listStoredIdsOnce(ctx: ActorContext<SchedulerMsg>, epoch: number): void;
}

/** Build the leadership functions of one scheduler. */
export function leadership(kit: Kit): Leadership {
  const { deps, transport, subj, config, current, emit, sendToNode, publishScheduler } = kit;
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
        const out = await fn();
        const ms = ctx.clock.now() - started;
        // A slow step is where a takeover's time went (a degraded cluster electing leaders).
        if (ms >= 1_000) ctx.log.info(`${what} took ${ms} ms`, { attempts: attempt, epoch });
        return out;
      } catch (err) {
        const lease = current.lease;
        const stillOurs = (lease?.leading || lease?.paused) && lease.epoch === epoch;
        if (!stillOurs || ctx.clock.now() - started > 60_000) throw err;
        ctx.log.warn(`${what} failed; retrying`, { attempt, error: (err as Error).message });
        await new Promise((r) =>
          ctx.clock.setTimer(Math.min(2_000, 100 * 2 ** attempt), () => r(undefined))
        );
      }
    }
  }

  /** A message that failed its seal: dropped, and counted for the next stats delta. */
  function refused(ctx: ActorContext<SchedulerMsg>, subject: string, reason: SealProblem): void {
    ctx.self.send({ type: "message.refused", subject, reason });
  }

  /** The term whose stored results were listed, or are being listed. */
  let listedFor = 0;

  /**
   * List the ids with a stored result, once a term, in the background;
   * until that completes, every submission is looked up. Called when the
   * term dispatches (sync.done), not when it starts: parsing the pages of a
   * large `RESULTS` (150,000 subjects: about 0.5 s) while the term was set
   * up held back its first dispatch by as long.
   */
  function listStoredIdsOnce(ctx: ActorContext<SchedulerMsg>, epoch: number): void {
    if (listedFor === epoch) return;
    listedFor = epoch;
    listStoredIds(ctx, epoch);
  }

  function listStoredIds(ctx: ActorContext<SchedulerMsg>, epoch: number, attempt = 0): void {
    const t0 = ctx.clock.now();
    kit.storedIds.rebuild(transport, subj.resultsStream, subj.outcome("")).then(
      (listed) => {
        if (current.lease?.epoch !== epoch) return;
        ctx.log.info("stored results listed", { epoch, listed, ms: ctx.clock.now() - t0 });
      },
      (err) => {
        // Given up: a later dispatch of this term (after a pause) lists again.
        const giveUp = () => {
          if (listedFor === epoch) listedFor = 0;
        };
        if (current.lease?.epoch !== epoch || !current.lease.leading) return giveUp();
        ctx.log.warn("listing stored results failed; every submission is looked up meanwhile", {
          epoch,
          error: String(err),
        });
        retryLater(ctx, attempt, () => {
          if (current.lease?.epoch === epoch && current.lease.leading) {
            listStoredIds(ctx, epoch, attempt + 1);
          } else giveUp();
        });
      },
    );
  }

  async function becomeLeader(ctx: ActorContext<SchedulerMsg>, epoch: number): Promise<void> {
    const spec = tasksConsumer(subj, config);
    const subs: Subscription[] = [];
    try {
      // The streams may have been deleted (or JetStream restarted empty): make sure they exist,
      // with this leader's limits.
      const notes = await persist(
        ctx,
        epoch,
        "creating streams",
        () => transport.ensureStreams(streamSpecs(subj, config)),
      );
      for (const note of notes) ctx.log.warn(note);
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
        const opened = deps.seals.opener.open(m.subject, m.data, m.header(SEAL_HEADER));
        if (!opened.ok) return refused(ctx, m.subject, opened.reason);
        let msg: ToScheduler;
        try {
          msg = decodeMessage<ToScheduler>(m.data, transport);
        } catch {
          return refused(ctx, m.subject, "malformed");
        }
        // A node speaks for itself only.
        if (msg.node !== opened.sender) return refused(ctx, m.subject, "forged");
        ctx.self.send(msg);
      }));
      subs.push(
        transport.subscribe(subj.cancel, (msg) => ctx.self.send({ type: "request.cancel", msg })),
      );
      subs.push(
        transport.subscribe(subj.status, (msg) => ctx.self.send({ type: "request.status", msg })),
        transport.subscribe(subj.list, (msg) => ctx.self.send({ type: "request.list", msg })),
        transport.subscribe(subj.retry, (msg) => ctx.self.send({ type: "request.retry", msg })),
        transport.subscribe(subj.purge, (msg) => ctx.self.send({ type: "request.purge", msg })),
      );
      subs.push(transport.subscribe(`${subj.monitorWorker("*")}`, (m) => {
        const opened = deps.seals.opener.open(m.subject, m.data, m.header(SEAL_HEADER));
        if (!opened.ok) return refused(ctx, m.subject, opened.reason);
        let d: { node?: string; incarnation?: number; state?: string; rejectedMessages?: number };
        try {
          d = JSON.parse(decoder.decode(m.data));
        } catch {
          return refused(ctx, m.subject, "malformed");
        }
        // Only a node's own status is its heartbeat (the leader seals its "lost" notices too).
        if (d.node !== opened.sender || typeof d.incarnation !== "number") return;
        ctx.self.send({
          type: "node.heartbeat",
          node: d.node,
          incarnation: d.incarnation,
          state: d.state,
          rejected: typeof d.rejectedMessages === "number" ? d.rejectedMessages : undefined,
        });
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
            (event) => ctx.log.info("submissions consumer", { event, epoch }),
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
    if (deps.directory.term) deps.directory.setTerm(null);
    kit.storedIds.reset();
    kit.taskDeltas.flush(); // what this term said goes out before it ends
    deps.localTasks?.setLeading(false);
    void state.consumer?.stop().catch(() => {});
    for (const s of state.subs) s.unsubscribe();
    state.ticker?.cancel();
    if (state.leading) publishScheduler(state, { role: "follower", epoch: state.epoch, reason });
    return {
      ...state,
      leading: false,
      paused: false,
      parked: [],
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

  /**
   * A paused leader keeps its task table, its consumer and its subscriptions:
   * results of tasks that ran are still stored (exactly once, whoever leads),
   * but nothing new is dispatched and no silent node is declared lost, since a
   * new leader may be taking over. Paused, it costs a takeover nothing; if the
   * lease turns out to be its own still, it goes on without a new term (no
   * consumer reset, no redelivery of everything it held).
   */
  function pause(state: State, reason: string): State {
    kit.taskDeltas.flush();
    state.paused = true;
    state.core?.pause();
    if (state.leading) publishScheduler(state, { event: "paused", epoch: state.epoch, reason });
    return state;
  }

  function resume(state: State, pausedMs: number, ctx: ActorContext<SchedulerMsg>): State {
    state.paused = false;
    // Deliveries may have gone elsewhere meanwhile: dependencies get the reordering grace.
    state.disruptedAt = ctx.clock.now();
    if (!state.leading) return state;
    publishScheduler(state, { event: "resumed", epoch: state.epoch, pausedMs });
    if (!state.core) return state; // still setting the term up: leader.ready finishes it
    // Nodes silent meanwhile may have spoken to nobody: they get a fresh heartbeat window.
    const now = ctx.clock.now();
    for (const info of state.nodes.values()) info.lastSeen = Math.max(info.lastSeen, now);
    const sync: ToNode = { type: "node.sync", epoch: state.epoch, leader: deps.id };
    kit.publishSealed(subj.nodes, encodeMessage(sync));
    for (const local of deps.directory.nodes.values()) local.send(sync);
    ctx.schedule(Math.min(500, config.heartbeatMs), { type: "sync.done", epoch: state.epoch });
    // The schedules actor stopped at its first check of the paused lease: hand it the term again.
    if (deps.directory.term) deps.directory.setTerm(deps.directory.term);
    return state;
  }

  return { persist, becomeLeader, stepDown, pause, resume, fenceIfLost, listStoredIdsOnce };
}
