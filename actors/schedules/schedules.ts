/**
 * The schedules actor: recurring jobs. It runs beside every scheduler and acts
 * only while that scheduler leads: the scheduler tells it when a term starts
 * (`schedules.lead`, with the epoch and a way to check the lease still holds)
 * and ends (`schedules.follow`). In a term it loads every schedule from KV,
 * upserts the declared plan (`--schedules`, `--demo`), answers
 * `schedules.<op>` requests and fires due ticks (see `runner.ts`).
 *
 * @module
 */

import {
  type Behavior,
  type Config,
  type ErrorInfo,
  type ResultVerifier,
  SchedulerError,
  type ScheduleSpec,
  type Subjects,
  type Subscription,
  type TerminalState,
  toErrorInfo,
  type TokenVerifier,
  type Transport,
} from "../../src/internal_mod.ts";
import type { Audit } from "../audit.ts";
import type { LocalDirectory } from "../directory.ts";
import { handle, upsert } from "./requests.ts";
import { Runner, type Term } from "./runner.ts";

/** Messages of the schedules actor. */
export type SchedulesMsg =
  | { type: "schedules.lead"; term: Term }
  | { type: "schedules.follow" }
  | { type: "schedules.wake"; epoch: number }
  | {
    type: "schedules.request";
    op: string;
    header?: string;
    data: Uint8Array;
    reply: (body: unknown) => void;
  }
  | {
    type: "schedules.ended";
    epoch: number;
    id: string;
    state: TerminalState;
    finishedAt: number;
    error?: unknown;
  };

/** What the schedules actor needs from its process. */
export interface SchedulesDeps {
  transport: Transport;
  subjects: Subjects;
  config: Pick<Config, "replicas">;
  verifier: TokenVerifier;
  jwtSecret: string;
  /** Checks the results of its runs (see src/auth/result_sig.ts). */
  results: ResultVerifier;
  directory: LocalDirectory;
  /** Schedules to upsert at the start of every term (the declared plan). */
  declared?: readonly ScheduleSpec[];
  /** The process's audit trail (actors/audit.ts): schedule writes and refusals go there. */
  audit?: Audit;
}

interface State {
  runner: Runner | null;
  requests: Subscription | null;
}

/** How long to wait before loading again when JetStream is not answering. */
const RETRY_MS = 1_000;

/** Build the schedules behavior. */
export function schedulesBehavior(deps: SchedulesDeps): Behavior<SchedulesMsg, State> {
  const { transport, subjects } = deps;

  function end(state: State): State {
    state.runner?.close();
    state.requests?.unsubscribe();
    return { runner: null, requests: null };
  }

  return {
    init(ctx) {
      deps.directory.schedules = ctx.self;
      // Restarted while the local scheduler leads: pick the term up again.
      const term = deps.directory.term;
      if (term) ctx.self.send({ type: "schedules.lead", term });
      return { runner: null, requests: null };
    },

    async receive(state, msg, ctx) {
      switch (msg.type) {
        case "schedules.lead": {
          // The previous term's runner must not stay in the state: it would answer requests.
          const ended = end(state);
          const { term } = msg;
          if (!term.leading()) return ended;
          const runner = new Runner({
            transport,
            subjects,
            config: deps.config,
            jwtSecret: deps.jwtSecret,
            results: deps.results,
            clock: ctx.clock,
            log: ctx.log,
            onResult: (id, s, finishedAt, error) =>
              ctx.self.send({
                type: "schedules.ended",
                epoch: term.epoch,
                id,
                state: s,
                finishedAt,
                error,
              }),
            wakeIn: (ms) => ctx.schedule(ms, { type: "schedules.wake", epoch: term.epoch }),
          }, term);
          try {
            await runner.load();
            for (const spec of deps.declared ?? []) await upsert(runner, spec, ctx.clock.now());
          } catch (err) {
            runner.close();
            ctx.log.warn("could not load the schedules; retrying", {
              error: (err as Error).message,
            });
            ctx.schedule(RETRY_MS, { type: "schedules.lead", term });
            return ended;
          }
          const requests = transport.subscribe(subjects.schedulesAll, (m) => {
            const op = m.subject.slice(m.subject.lastIndexOf(".") + 1);
            ctx.self.send({
              type: "schedules.request",
              op,
              header: m.header("Authorization"),
              data: m.data,
              reply: (body) => transport.respond(m, new TextEncoder().encode(JSON.stringify(body))),
            });
          });
          ctx.log.info("schedules loaded", { schedules: runner.items.size, epoch: term.epoch });
          ctx.self.send({ type: "schedules.wake", epoch: term.epoch });
          return { runner, requests };
        }
        case "schedules.follow":
          return end(state);
        case "schedules.wake":
          if (state.runner?.epoch !== msg.epoch) return state;
          await state.runner.wake().catch((err) => {
            ctx.log.warn("firing schedules failed; trying again", {
              error: (err as Error).message,
            });
            ctx.schedule(RETRY_MS, { type: "schedules.wake", epoch: msg.epoch });
          });
          return state.runner.deposed ? end(state) : state;
        case "schedules.ended":
          if (state.runner?.epoch !== msg.epoch) return state;
          await state.runner.ended(msg.id, msg.state, msg.finishedAt, msg.error).catch((err) =>
            ctx.log.warn("recording a scheduled run's end failed", {
              task: msg.id,
              error: String(err),
            })
          );
          return state;
        case "schedules.request": {
          const runner = state.runner;
          if (!runner) {
            msg.reply({
              ok: false,
              error: { code: "INTERNAL", message: "this scheduler is not leading" },
            });
            return state;
          }
          try {
            msg.reply(
              await handle(
                runner,
                deps.verifier,
                msg.op,
                msg.header,
                msg.data,
                ctx.clock.now(),
                deps.audit,
              ),
            );
            if (msg.op !== "get" && msg.op !== "list") {
              ctx.self.send({ type: "schedules.wake", epoch: runner.epoch });
            }
          } catch (err) {
            const error: ErrorInfo = err instanceof SchedulerError
              ? err.toInfo()
              : toErrorInfo(err, "INTERNAL");
            msg.reply({ ok: false, error });
          }
          return state;
        }
        default: {
          const never: never = msg;
          throw new Error(`unknown schedules message ${JSON.stringify(never)}`);
        }
      }
    },

    postStop(state) {
      end(state);
      if (deps.directory.schedules) deps.directory.schedules = null;
    },
  };
}
