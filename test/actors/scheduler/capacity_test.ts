/**
 * The scheduler's storage watch (actors/scheduler/capacity.ts) on the
 * in-memory transport and a manual clock: what it calls full, its hysteresis,
 * one delta and one log line per change, and the three ways it learns of a
 * full storage (a failed result, the TASKS stream's state, a lost lease).
 */

import assert from "node:assert/strict";
import {
  type ActorContext,
  createLogger,
  defaultConfig,
  ManualClock,
  MemoryBroker,
  MemoryTransport,
  subjects,
} from "../../../src/internal_mod.ts";
import { Capacity, POLL_MS, storageProblem } from "../../../actors/scheduler/capacity.ts";
import type { Kit, SchedulerMsg, State } from "../../../actors/scheduler/types.ts";
import { streamSpecs } from "../../../actors/streams.ts";

const enc = new TextEncoder();

async function setup(limits: { tasksMaxMsgs?: number; tasksMaxBytes?: number } = {}) {
  const config = { ...defaultConfig(), tasksMaxMsgs: 0, tasksMaxBytes: 0, ...limits };
  const subj = subjects("");
  const transport = new MemoryTransport(new MemoryBroker(), "test");
  await transport.ensureStreams(streamSpecs(subj, config));
  const deltas: Record<string, unknown>[] = [];
  const lease = { leading: true };
  const kit = {
    subj,
    config,
    transport,
    current: { lease },
    publishScheduler: (state: State, fields: Record<string, unknown>) =>
      deltas.push({ seq: ++state.mseq, ...fields }),
  } as unknown as Kit;
  const lines: { level: string; msg: string }[] = [];
  const log = createLogger({
    level: "debug",
    format: "json",
    sinks: [{ write: (line) => lines.push(JSON.parse(line)) }],
  });
  const clock = new ManualClock(1_000_000);
  const ctx = { log, clock } as unknown as ActorContext<SchedulerMsg>;
  const state = { epoch: 1, mseq: 0 } as State;
  const capacity = new Capacity(kit);
  /** A tick, then time for the stream read to come back, then the tick that reports it. */
  const poll = async () => {
    clock.advance(POLL_MS);
    capacity.tick(ctx, state);
    await new Promise((r) => setTimeout(r, 0));
    capacity.tick(ctx, state);
  };
  const warns = () => lines.filter((l) => l.level === "warn").map((l) => l.msg);
  const infos = () => lines.filter((l) => l.level === "info").map((l) => l.msg);
  return { transport, subj, deltas, ctx, state, capacity, poll, warns, infos, lease };
}

Deno.test("capacity - a store error is classified by its message: a stream's limit, or storage used up", () => {
  assert.equal(storageProblem("maximum messages exceeded"), "STREAM_FULL");
  assert.equal(storageProblem("maximum bytes exceeded"), "STREAM_FULL");
  assert.equal(storageProblem("insufficient resources"), "STORAGE_FULL");
  assert.equal(storageProblem("insufficient storage resources available"), "STORAGE_FULL");
  assert.equal(storageProblem("resource limits exceeded for account"), "STORAGE_FULL");
  assert.equal(
    storageProblem("write /x/msgs/1.blk: no space left on device"),
    "STORAGE_FULL",
  );
  assert.equal(
    storageProblem("lease not renewed for 482 ms: insufficient resources"),
    "STORAGE_FULL",
  );
  assert.equal(storageProblem("maximum messages per subject exceeded"), null);
  assert.equal(storageProblem("wrong last sequence: 4"), null);
  assert.equal(storageProblem("no PubAck in time"), null);
  assert.equal(storageProblem(undefined), null);
});

Deno.test("capacity - a TASKS stream at its message limit is reported once, stays full until it has room for two, then is reported clear once", async () => {
  const c = await setup({ tasksMaxMsgs: 10 });
  const submit = (i: number) => c.transport.publishDurable(`tasks.submit.echo`, enc.encode(`${i}`));
  for (let i = 0; i < 9; i++) assert.ok((await submit(i)).ok);
  await c.poll();
  assert.equal(c.deltas.length, 0, "9 of 10 is not full");
  assert.ok((await submit(9)).ok);
  assert.deepEqual(await submit(10), {
    ok: false,
    code: "STREAM_FULL",
    message: "maximum messages exceeded",
  });
  await c.poll();
  await c.poll();
  assert.deepEqual(c.deltas, [{
    seq: 1,
    storage: "full",
    stream: "TASKS",
    code: "STREAM_FULL",
    reason: "holds 10 of 10 messages",
    messages: 10,
    bytes: 10,
    maxMsgs: 10,
    maxBytes: 0,
    full: ["TASKS"],
  }]);
  // One message taken: room for one, not yet two.
  await c.transport.purgeSubject("TASKS", "tasks.submit.echo");
  for (let i = 0; i < 9; i++) assert.ok((await submit(i)).ok);
  await c.poll();
  assert.equal(c.deltas.length, 1, "9 of 10 after being full: still full (hysteresis)");
  await c.transport.purgeSubject("TASKS", "tasks.submit.echo");
  await c.poll();
  assert.deepEqual(c.deltas.slice(1), [{
    seq: 2,
    storage: "ok",
    stream: "TASKS",
    messages: 0,
    bytes: 0,
    maxMsgs: 10,
    maxBytes: 0,
    full: [],
  }]);
  assert.deepEqual(c.warns(), [
    "storage full: stream TASKS is at its limit; new submissions are refused",
  ]);
  assert.deepEqual(c.infos(), ["storage available again: TASKS"]);
});

Deno.test("capacity - the byte limit counts as full with less room than two average submissions", async () => {
  const c = await setup({ tasksMaxBytes: 1_000 });
  const body = new Uint8Array(100);
  for (let i = 0; i < 8; i++) {
    assert.ok((await c.transport.publishDurable("tasks.submit.x", body)).ok);
  }
  await c.poll();
  assert.equal(c.deltas.length, 0, "200 bytes left: room for two");
  assert.ok((await c.transport.publishDurable("tasks.submit.x", body)).ok);
  await c.poll();
  assert.deepEqual(c.deltas.map((d) => [d.storage, d.reason]), [
    ["full", "holds 900 of 1000 bytes"],
  ]);
});

Deno.test("capacity - without limits on TASKS the stream is never read", async () => {
  const c = await setup();
  let reads = 0;
  const info = c.transport.streamInfo.bind(c.transport);
  c.transport.streamInfo = (s) => (reads++, info(s));
  for (let i = 0; i < 5; i++) await c.poll();
  assert.equal(reads, 0);
});

Deno.test("capacity - a result that cannot be stored for lack of room is reported once, and cleared by the next stored one", async () => {
  const c = await setup();
  assert.equal(c.capacity.stored(c.ctx, c.state, true), false);
  assert.equal(c.capacity.stored(c.ctx, c.state, false, "no PubAck in time"), false);
  assert.equal(c.deltas.length, 0);
  for (let i = 0; i < 50; i++) {
    assert.equal(c.capacity.stored(c.ctx, c.state, false, "maximum bytes exceeded"), true);
  }
  assert.deepEqual(c.deltas, [{
    seq: 1,
    storage: "full",
    stream: "RESULTS",
    code: "STREAM_FULL",
    reason: "maximum bytes exceeded",
    full: ["RESULTS"],
  }]);
  // The storage as a whole filling up too is a new condition.
  c.capacity.stored(c.ctx, c.state, false, "insufficient resources");
  assert.equal(c.deltas.length, 2);
  assert.equal(c.deltas[1].code, "STORAGE_FULL");
  c.capacity.stored(c.ctx, c.state, true);
  c.capacity.stored(c.ctx, c.state, true);
  assert.deepEqual(c.deltas.slice(2), [{ seq: 3, storage: "ok", stream: "RESULTS", full: [] }]);
  assert.equal(c.warns().length, 2);
  assert.deepEqual(c.infos(), ["storage available again: RESULTS"]);
});

Deno.test("capacity - a lease that cannot be written for full storage is reported once, and cleared when the scheduler leads again", async () => {
  const c = await setup();
  c.lease.leading = false;
  c.capacity.leaseLost(c.ctx, c.state, "another scheduler holds the lease");
  assert.equal(c.deltas.length, 0);
  c.capacity.leaseLost(c.ctx, c.state, "lease not renewed for 482 ms: insufficient resources");
  c.capacity.leaseLost(c.ctx, c.state, "lease not renewed for 1482 ms: insufficient resources");
  assert.deepEqual(c.deltas, [{
    seq: 1,
    storage: "full",
    stream: "KV_sched_lease",
    code: "STORAGE_FULL",
    reason: "lease not renewed for 482 ms: insufficient resources",
    full: ["KV_sched_lease"],
  }]);
  c.capacity.tick(c.ctx, c.state);
  assert.equal(c.deltas.length, 1, "not leading (paused): still full");
  c.lease.leading = true; // renewed: it leads on
  c.capacity.tick(c.ctx, c.state);
  assert.deepEqual(c.deltas.slice(1), [{
    seq: 2,
    storage: "ok",
    stream: "KV_sched_lease",
    full: [],
  }]);
});

Deno.test("capacity - a new term clears full storage seen in the last one", async () => {
  const c = await setup();
  c.capacity.tick(c.ctx, c.state);
  c.capacity.stored(c.ctx, c.state, false, "insufficient resources");
  c.capacity.tick(c.ctx, c.state);
  assert.equal(c.deltas.length, 1, "the same term does not clear it");
  c.state.epoch = 2;
  c.capacity.tick(c.ctx, c.state);
  assert.deepEqual(c.deltas.slice(1), [{ seq: 2, storage: "ok", stream: "RESULTS", full: [] }]);
});
