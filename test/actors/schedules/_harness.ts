/**
 * A world for the schedules actor: an actor system on a {@link ManualClock},
 * the memory transport with the deployment's streams, a local directory that
 * hands out terms as the scheduler would, and recorders of what the actor
 * published (submissions, deltas, cancel requests). No real scheduler runs:
 * tests end a run by publishing its result as the scheduler would.
 *
 * Time only moves when a test moves it. {@link World.advance} steps from timer
 * to timer and lets the actor finish each message before going on, as a real
 * clock would let it.
 *
 * @module
 */

import { LocalDirectory } from "../../../actors/directory.ts";
import { Runner, type Term } from "../../../actors/schedules/runner.ts";
import { schedulesBehavior, type SchedulesMsg } from "../../../actors/schedules/schedules.ts";
import { streamSpecs } from "../../../actors/streams.ts";
import {
  type ActorCell,
  ActorSystem,
  type Behavior,
  ManualClock,
  MemoryBroker,
  type MemoryTransport,
  mintToken,
  RESULT_SIGNATURE,
  ResultSigner,
  ResultVerifier,
  type ScheduleSpec,
  silentLogger,
  type Subjects,
  subjects,
  type TerminalState,
  TokenVerifier,
} from "../../../src/internal_mod.ts";
import type { StoredSchedule } from "../../../actors/schedules/store.ts";

/** The cluster's JWT secret in every test. */
export const SECRET = "schedules-test-secret-0123456789abcdef";

/** Results signed as a scheduler signs them. */
const resultSigner = await ResultSigner.create(SECRET);
const resultVerifier = await ResultVerifier.fromSecret(SECRET);
const signed = (body: Uint8Array) => ({ [RESULT_SIGNATURE]: resultSigner.sign(body) });

export const S = 1_000;
export const MIN = 60 * S;
export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A submission as the TASKS stream stored it. */
export interface Submission {
  seq: number;
  subject: string;
  msgId: string | undefined;
  authorization: string | undefined;
  body: Record<string, unknown>;
}

/** A reply to a `schedules.<op>` request: the fields tests read are left loose. */
export type Reply =
  & { ok: boolean; error?: { code: string; message: string } }
  // deno-lint-ignore no-explicit-any
  & Record<string, any>;

/** A term the test controls: `leading` can be switched off to model a lost lease. */
export interface TestTerm extends Term {
  lost: boolean;
}

/** A term of `epoch` that leads until `lost` is set. */
export function term(epoch: number): TestTerm {
  const t: TestTerm = {
    epoch,
    lost: false,
    leading: () => !t.lost,
  };
  return t;
}

/** Tokens by role, minted on the real clock (the verifier checks them on it). */
export interface Tokens {
  admin: string;
  viewer: string;
  submitter: string;
}

/** Mint one token per role. */
export async function tokens(): Promise<Tokens> {
  return {
    admin: await mintToken(SECRET, { sub: "ops", roles: ["admin"] }),
    viewer: await mintToken(SECRET, { sub: "watcher", roles: ["viewer"] }),
    submitter: await mintToken(SECRET, { sub: "alice", roles: ["submitter"] }),
  };
}

/** Options of {@link World.start}. */
export interface WorldOptions {
  /** Start of the clock (epoch ms). */
  t0: number;
  /** Publish `succeeded` for every submission at once, as if each run took no time. */
  autoFinish?: boolean;
  /** Answer `tasks.cancel` requests (recording them). Default true. */
  answerCancels?: boolean;
  /** The declared plan. */
  declared?: ScheduleSpec[];
}

/** The schedules actor in a memory world. */
export class World {
  readonly broker = new MemoryBroker();
  readonly transport: MemoryTransport;
  readonly subj: Subjects = subjects();
  readonly clock: ManualClock;
  readonly directory = new LocalDirectory();
  readonly verifier = new TokenVerifier(SECRET);
  /** Every delta on `monitor.schedule.>`, in order. */
  readonly deltas: Record<string, unknown>[] = [];
  /** `tasks.cancel` requests: the id and the Authorization header. */
  readonly cancels: { id: string; authorization: string | undefined }[] = [];
  /** Supervision failures of the actor (none expected). */
  readonly failures: string[] = [];
  system!: ActorSystem;
  cell!: ActorCell<SchedulesMsg, unknown>;
  #busy = 0;
  #channel = new MessageChannel();
  #subs: { unsubscribe(): void }[] = [];

  private constructor(o: WorldOptions) {
    this.transport = this.broker.connect("test");
    this.clock = new ManualClock(o.t0);
  }

  /** Streams, recorders and the actor, started with no term (a follower). */
  static async start(o: WorldOptions): Promise<World> {
    const w = new World(o);
    await w.transport.ensureStreams(streamSpecs(w.subj, 1));
    w.#subs.push(w.transport.subscribe(`monitor.schedule.>`, (m) => {
      w.deltas.push(JSON.parse(decoder.decode(m.data)));
    }));
    if (o.answerCancels ?? true) {
      w.#subs.push(w.transport.subscribe(w.subj.cancel, (m) => {
        const { id } = JSON.parse(decoder.decode(m.data)) as { id: string };
        w.cancels.push({ id, authorization: m.header("Authorization") });
        w.transport.respond(m, encoder.encode(JSON.stringify({ ok: true })));
      }));
    }
    if (o.autoFinish) {
      w.#subs.push(w.transport.subscribe(w.subj.submitAll, (m) => {
        const { id } = JSON.parse(decoder.decode(m.data)) as { id: string };
        w.finish(id);
      }));
    }
    const inner = schedulesBehavior({
      transport: w.transport,
      subjects: w.subj,
      config: { replicas: 1 },
      verifier: w.verifier,
      jwtSecret: SECRET,
      results: resultVerifier,
      directory: w.directory,
      declared: o.declared,
    });
    // Count messages in flight so that the test knows when the actor is idle.
    const counted: Behavior<SchedulesMsg, unknown> = {
      init: (ctx) => inner.init(ctx),
      receive: async (state, msg, ctx) => {
        w.#busy++;
        try {
          // deno-lint-ignore no-explicit-any
          return await inner.receive(state as any, msg, ctx);
        } finally {
          w.#busy--;
        }
      },
      // deno-lint-ignore no-explicit-any
      postStop: (state, ctx) => inner.postStop?.(state as any, ctx),
    };
    w.system = new ActorSystem({
      name: "t",
      clock: w.clock,
      log: silentLogger,
      observe: (e) => {
        if (e.type === "child.failed") w.failures.push(e.error);
      },
    });
    const root = await w.system.start({
      kind: "supervisor",
      id: "root",
      children: [{ kind: "actor", id: "schedules", behavior: counted }],
    });
    w.cell = root.ref<SchedulesMsg>("schedules") as ActorCell<SchedulesMsg, unknown>;
    await w.idle();
    return w;
  }

  /** One turn of the event loop (a message port, not a clamped timer). */
  #turn(): Promise<void> {
    return new Promise((resolve) => {
      this.#channel.port1.onmessage = () => resolve();
      this.#channel.port2.postMessage(0);
    });
  }

  /** Wait until the actor has no message queued or in progress, and nothing is on its way. */
  async idle(): Promise<void> {
    // Real time only bounds the wait: a request nobody answers holds the actor for its timeout.
    const deadline = performance.now() + 15_000;
    for (let round = 0; performance.now() < deadline; round++) {
      for (let i = 0; i < 50; i++) await Promise.resolve();
      if (this.#busy === 0 && this.cell.queued === 0) {
        // Deliveries and replies move on microtasks: give them a full turn, then look again.
        await this.#turn();
        if (this.#busy === 0 && this.cell.queued === 0) return;
      } else if (round < 1_000) await this.#turn();
      else await new Promise((resolve) => setTimeout(resolve, 5));
    }
    throw new Error("the schedules actor never became idle");
  }

  /** Move the clock forward `ms`, timer by timer, letting the actor act at each. */
  async advance(ms: number): Promise<void> {
    const target = this.clock.now() + ms;
    await this.idle();
    while (this.clock.nextAt <= target) {
      this.clock.advance(this.clock.nextAt - this.clock.now());
      await this.idle();
    }
    this.clock.advance(target - this.clock.now());
    await this.idle();
  }

  /** Move the clock to `at` (epoch ms). */
  advanceTo(at: number): Promise<void> {
    return this.advance(at - this.clock.now());
  }

  /** The local scheduler starts leading in `t`. */
  async lead(t: Term): Promise<void> {
    this.directory.setTerm(t);
    await this.idle();
  }

  /** The local scheduler stops leading. */
  async follow(): Promise<void> {
    this.directory.setTerm(null);
    await this.idle();
  }

  /** Every submission in the TASKS stream, in order. */
  async submissions(): Promise<Submission[]> {
    const msgs = await this.transport.readStream(this.subj.tasksStream);
    // The memory stream keeps the Nats-Msg-Id in its de-duplication table, not in the headers.
    const bySeq = new Map<number, string>();
    for (const [id, seq] of this.broker.streams.get(this.subj.tasksStream)!.msgIds) {
      bySeq.set(seq, id);
    }
    return msgs.map((m) => ({
      seq: m.seq,
      subject: m.subject,
      msgId: m.header("Nats-Msg-Id") ?? bySeq.get(m.seq),
      authorization: m.header("Authorization"),
      body: JSON.parse(decoder.decode(m.data)),
    }));
  }

  /** Ids of every submission in the TASKS stream, in order. */
  async ids(): Promise<string[]> {
    return (await this.submissions()).map((s) => s.body.id as string);
  }

  /** The scheduler's result of run `id`, on `tasks.result.<id>`. */
  finish(id: string, state: TerminalState = "succeeded", at = this.clock.now()): void {
    const body = encoder.encode(
      JSON.stringify({ id, state, finishedAt: new Date(at).toISOString() }),
    );
    this.transport.publish(this.subj.result(id), body, { headers: signed(body) });
  }

  /** A result nobody signed, as an outsider on an open NATS would publish it. */
  forgeResult(id: string, state: TerminalState = "succeeded"): void {
    const body = { id, state, finishedAt: new Date(this.clock.now()).toISOString() };
    this.transport.publish(this.subj.result(id), encoder.encode(JSON.stringify(body)));
  }

  /** A result stored in RESULTS (republished on `tasks.result.<id>`), as the scheduler stores it. */
  async storeResult(id: string, state: TerminalState = "succeeded"): Promise<void> {
    const body = { id, state, finishedAt: new Date(this.clock.now()).toISOString() };
    const data = encoder.encode(JSON.stringify(body));
    const ack = await this.transport.publishDurable(this.subj.outcome(id), data, {
      msgId: `result:${id}`,
      headers: signed(data),
    });
    if (!ack.ok) throw new Error(`result not stored: ${ack.message}`);
  }

  /** Request `schedules.<op>` over the transport, as a client would. */
  async request(op: string, body: unknown, token?: string): Promise<Reply> {
    const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
    const m = await this.transport.request(
      this.subj.schedules(op),
      encoder.encode(JSON.stringify(body)),
      { headers, timeoutMs: 5_000 },
    );
    await this.idle();
    return JSON.parse(decoder.decode(m.data)) as Reply;
  }

  /** Send a `schedules.request` message straight to the actor (no subscription needed). */
  async ask(op: string, body: unknown, token?: string): Promise<Reply> {
    const replied = Promise.withResolvers<unknown>();
    this.cell.send({
      type: "schedules.request",
      op,
      header: token ? `Bearer ${token}` : undefined,
      data: encoder.encode(JSON.stringify(body)),
      reply: (b) => replied.resolve(b),
    });
    const reply = await replied.promise;
    await this.idle();
    return reply as Reply;
  }

  /** The stored entry of schedule `name`. */
  async stored(name: string): Promise<{ value: StoredSchedule; revision: number } | null> {
    const kv = await this.transport.kv(this.subj.schedulesBucket);
    const e = await kv.get(name);
    return e ? { value: JSON.parse(decoder.decode(e.value)), revision: e.revision } : null;
  }

  /** Overwrite the stored entry of `name` (a blind put, as an operator or a crash would leave it). */
  async restore(name: string, value: StoredSchedule): Promise<void> {
    const kv = await this.transport.kv(this.subj.schedulesBucket);
    await kv.put(name, encoder.encode(JSON.stringify(value)));
  }

  /** Deltas of one event kind. */
  deltasOf(event: string): Record<string, unknown>[] {
    return this.deltas.filter((d) => d.event === event);
  }

  /** A runner of this world driven by hand (no actor): wakes go nowhere, results are recorded. */
  runner(
    t: Term,
    clock: ManualClock = this.clock,
  ): { runner: Runner; results: { id: string; state: TerminalState }[] } {
    const results: { id: string; state: TerminalState }[] = [];
    const runner = new Runner({
      transport: this.transport,
      subjects: this.subj,
      config: { replicas: 1 },
      jwtSecret: SECRET,
      results: resultVerifier,
      clock,
      log: silentLogger,
      onResult: (id, state) => results.push({ id, state }),
      wakeIn: () => ({ cancel() {} }),
    }, t);
    return { runner, results };
  }

  /** Stop the actor and every subscription. */
  async stop(): Promise<void> {
    await this.idle();
    await this.system.stop();
    for (const s of this.#subs) s.unsubscribe();
    this.#channel.port1.close();
    this.#channel.port2.close();
    await this.transport.close();
  }
}

/** Epoch ms of an ISO date-time. */
export function at(iso: string): number {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) throw new Error(`bad date ${iso}`);
  return ms;
}
