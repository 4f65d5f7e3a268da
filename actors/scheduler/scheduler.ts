/**
 * The scheduler actor: contends for leadership, and while it leads takes
 * submissions from the TASKS stream, checks and authorises them, runs the
 * {@link SchedulerCore}, talks to worker nodes, stores results exactly once
 * (the results stream keeps one message a subject) and answers the `tasks.*`
 * requests.
 * Its parts: `types.ts` (messages, state), `submissions.ts` (intake),
 * `results.ts` (results stored once), `leadership.ts` (terms and fencing),
 * `node_links.ts` (what worker nodes say, lost nodes), `answers.ts` with
 * `requests.ts` and `operator.ts` (the requests), `capacity.ts` (full storage).
 *
 * @module
 */

import {
  type ActorContext,
  type Behavior,
  encodeMessage,
  type Logger,
  SchedulerError,
  type ToNode,
} from "../../src/internal_mod.ts";
import { answers } from "./answers.ts";
import { Capacity } from "./capacity.ts";
import { SchedulerCore, type SchedulerEffects } from "./core.ts";
import { Intake } from "./intake.ts";
import { Lease } from "./lease.ts";
import { leadership } from "./leadership.ts";
import { nodeLinks } from "./node_links.ts";
import { results, retryLater } from "./results.ts";
import { submissions } from "./submissions.ts";
import {
  type Checked,
  makeKit,
  type SchedulerDeps,
  type SchedulerMsg,
  type State,
} from "./types.ts";

export { tasksConsumer } from "./types.ts";

/** A dispatch with no start reported this long after it is taken for lost (see core.ts). */
export const UNSTARTED_MS = 10_000;
/** The leader's counts go out at least this often, changed or not, with its role and epoch. */
export const STATUS_EVERY_MS = 5_000;

/**
 * The scheduler's events (stale or fenced reports, duplicates, refusals,
 * republished results) in the process log as well as on `monitor.scheduler.*`:
 * late words from fenced runs are warnings, the rest information.
 */
export function schedulerEventLog(
  log: Logger,
): (kind: string, detail: Record<string, unknown>) => void {
  return (kind, detail) => {
    if (kind === "stale" || kind === "fenced") log.warn(`scheduler: ${kind}`, detail);
    else log.info(`scheduler: ${kind}`, detail);
  };
}
export type { SchedulerDeps, SchedulerMsg } from "./types.ts";

/** Build the scheduler behavior. */
export function schedulerBehavior(deps: SchedulerDeps): Behavior<SchedulerMsg, State> {
  const kit = makeKit(deps);
  const { transport, subj, config, current, emit, sendToNode, publishScheduler } = kit;
  const stored = results(kit); // results, rejections and dead letters, each stored once
  const { publishResult, publishRejection } = stored;
  const { check, unpark, admit, rejectNow } = submissions(kit, stored);
  const { becomeLeader, stepDown, pause, resume, fenceIfLost, listStoredIdsOnce } = leadership(
    kit,
  );
  const answer = answers(kit);
  const links = nodeLinks(kit, fenceIfLost);
  const capacity = new Capacity(kit); // full streams and storage, reported on monitor.scheduler

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
        stored.deadLetter(ctx, entry, result);
      },
      taskDelta(_id, delta) {
        kit.taskDeltas.add(delta);
      },
      event(kind, detail) {
        emit(kind, detail);
        publishScheduler(state, { event: kind, ...detail });
      },
    };
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
        refused: new Map(),
        nodeRefused: new Map(),
        ticker: null,
        lastStats: "",
        lastStatsAt: 0,
        putBack: 0,
        disruptedAt: -Infinity,
        paused: false,
        parked: [],
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
          onPaused: (reason) => ctx.self.send({ type: "lease.paused", reason }),
          onResumed: (pausedMs) => ctx.self.send({ type: "lease.resumed", pausedMs }),
          onFatal: (error) => ctx.self.send({ type: "lease.fatal", error: error.message }),
        });
        current.lease = state.lease;
        state.lease.start();
        transport.onConnection((e) => {
          if (e.type !== "closed") ctx.self.send({ type: "transport.changed" });
        });
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
            // A takeover redelivers what was in the stream: order is not guaranteed then.
            disruptedAt: msg.lastSeq > 0 ? ctx.clock.now() : state.disruptedAt,
            nodes: new Map(),
            parked: [],
          };
          // The monitor here takes this term's task deltas in process from its first one.
          deps.localTasks?.setLeading(true);
          // This term's filter of stored ids: listed once it dispatches, with what it stores.
          kit.storedIds.reset();
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
          const lease = state.lease;
          deps.directory.setTerm({
            epoch: msg.epoch,
            leading: () => lease?.leading === true && lease.epoch === msg.epoch,
          });
          // Ask every node what it has and runs; dispatch after they had time to answer.
          const sync: ToNode = { type: "node.sync", epoch: msg.epoch, leader: deps.id };
          kit.publishSealed(subj.nodes, encodeMessage(sync));
          for (const local of deps.directory.nodes.values()) local.send(sync);
          ctx.schedule(Math.min(500, config.heartbeatMs), { type: "sync.done", epoch: msg.epoch });
          next.ticker = ctx.schedule(Math.max(50, Math.floor(config.heartbeatMs / 2)), {
            type: "tick",
          });
          return next;
        }
        case "sync.done":
          if (state.core && msg.epoch === state.epoch && !state.paused) {
            state.core.resume();
            listStoredIdsOnce(ctx, state.epoch);
            publishScheduler(state, {
              role: "leader",
              epoch: state.epoch,
              ready: true,
              nodes: state.nodes.size,
            });
          }
          return state;
        case "lease.lost":
          capacity.leaseLost(ctx, state, msg.reason);
          return stepDown(state, msg.reason, ctx);
        case "lease.paused":
          capacity.leaseLost(ctx, state, msg.reason);
          return pause(state, msg.reason);
        case "lease.resumed":
          return resume(state, msg.pausedMs, ctx);
        case "lease.fatal":
          // Fail: the supervisor restarts this actor, and gives up if it keeps failing.
          throw new SchedulerError("TRANSPORT", `leadership impossible: ${msg.error}`);

        case "submission":
          // Paused, this may no longer be the leader: it decides nothing about a submission
          // (a dependency may have gone to the one that took over); whoever leads gets it again.
          if (!state.core || state.paused) {
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
          unpark(ctx, state);
          return state;
        case "submission.retry":
          if (msg.epoch !== state.epoch) return state;
          msg.msg.nak(1_000);
          state.putBack++;
          if (state.intake) {
            state.intake.defer(msg.id, ctx.clock.now() + 60_000);
            for (const next of state.intake.end(msg.id)) {
              admit(ctx, state, next);
            }
          }
          unpark(ctx, state);
          return state;
        case "submission.rejected":
          if (!state.core || msg.epoch !== state.epoch) return state;
          rejectNow(ctx, state, msg.id, msg.taskType, msg.msg, msg.error, msg.counted ?? false);
          unpark(ctx, state);
          return state;
        case "rejection.published":
          if (msg.epoch !== state.epoch) return state;
          if (msg.ok) msg.msg.ack();
          else {retryLater(ctx, msg.attempt, () =>
              publishRejection(ctx, state.epoch, msg.msg, msg.result, msg.attempt + 1));}
          return state;
        case "result.published": {
          if (!state.core || msg.epoch !== state.epoch) return state;
          const full = capacity.stored(ctx, state, msg.ok, msg.error); // reported once if so
          if (msg.ok) {
            state.core.resultStored(msg.id);
            unpark(ctx, state);
            return state;
          }
          if (!full) {
            ctx.log.warn("result not stored yet; retrying", {
              task: msg.id,
              error: msg.error,
              attempt: msg.attempt,
            });
          }
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

        case "node.hello":
          links.hello(ctx, state, msg);
          return state;
        case "node.reports":
          links.reports(ctx, state, msg);
          return state;
        case "node.leaving":
          links.leaving(state, msg);
          return state;
        case "message.refused":
          state.refused.set(msg.reason, (state.refused.get(msg.reason) ?? 0) + 1);
          return state;
        case "node.heartbeat":
          links.heartbeat(ctx, state, msg);
          return state;
        case "tick": {
          if (!state.core) return state;
          capacity.tick(ctx, state);
          unpark(ctx, state, true);
          const now = ctx.clock.now();
          links.sweepLost(ctx, state, now);
          if (!state.paused) {
            const stuck = state.core.requeueUnstarted(UNSTARTED_MS);
            if (stuck.length) {
              ctx.log.warn("dispatched tasks never reported started; queued again", {
                tasks: stuck.length,
              });
              publishScheduler(state, { event: "unstarted", requeued: stuck.length });
            }
          }
          if (state.putBack) {
            // Look-ups that failed (a connection lost): said once a tick, not once a submission.
            ctx.log.warn("look-ups in RESULTS failed; submissions put back to be delivered again", {
              submissions: state.putBack,
            });
            state.putBack = 0;
          }
          if (state.refused.size) {
            const counts = Object.fromEntries(state.refused);
            state.refused.clear();
            ctx.log.warn("messages refused: bad or missing seal", counts);
            publishScheduler(state, { event: "messages-refused", counts });
          }
          const s = state.core.stats;
          const stats = JSON.stringify([
            s.held,
            s.queued,
            s.waiting,
            s.retrying,
            s.running,
            state.nodes.size,
            s.queuedByPriority,
          ]);
          // Also unchanged every 5 s, marked leading: a monitor that starts late learns the leader.
          if (stats !== state.lastStats || now - state.lastStatsAt >= STATUS_EVERY_MS) {
            state.lastStats = stats;
            state.lastStatsAt = now;
            publishScheduler(state, {
              // Not `role`: that marks a change of role. This says whose counts these are.
              leading: true,
              epoch: state.epoch,
              held: s.held,
              queued: s.queued,
              waiting: s.waiting,
              retrying: s.retrying,
              running: s.running,
              accepted: s.accepted,
              finished: s.finished,
              nodes: state.nodes.size,
              workers: state.core.workers.size,
              queuedByPriority: s.queuedByPriority,
            });
          }
          state.ticker = ctx.schedule(Math.max(50, Math.floor(config.heartbeatMs / 2)), {
            type: "tick",
          });
          return state;
        }

        case "request.status":
          answer.status(state.core, msg.msg);
          return state;
        case "transport.changed":
          state.disruptedAt = ctx.clock.now();
          return state;
        case "request.list":
          answer.list(state.core, msg.msg);
          return state;
        case "request.retry":
          answer.retry(state.core, msg.msg);
          return state;
        case "request.purge":
          answer.purge(msg.msg);
          return state;
        case "request.cancel":
          answer.cancel(ctx, state.core, msg.msg);
          return state;
        case "request.cancel.checked":
          answer.cancelChecked(state.core, msg.msg, msg.id, msg.by);
          return state;
        default: {
          const never: never = msg;
          throw new Error(`unknown scheduler message ${JSON.stringify(never)}`);
        }
      }
    },

    postStop: release,
    preRestart: release,
  };

  /** Stopped or about to restart: what this incarnation said goes out, and it lets go of all. */
  async function release(state: State): Promise<void> {
    kit.taskDeltas.flush();
    deps.localTasks?.setLeading(false);
    kit.storedIds.reset(); // the kit outlives a restart: no term's filter is trusted after it
    if (deps.directory.term) deps.directory.setTerm(null);
    await state.lease?.stop();
    void state.consumer?.stop().catch(() => {});
    for (const s of state.subs) s.unsubscribe();
    state.ticker?.cancel();
  }
}
