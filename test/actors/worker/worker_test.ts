import assert from "node:assert/strict";
import {
  type HandlerDefinition,
  type Progress,
  type Report,
  RetryAfter,
  type TaskContext,
  Unrecoverable,
} from "../../../src/internal_mod.ts";
import type { SupervisorCell } from "../../../src/runtime/supervisor.ts";
import {
  type HandlerEntry,
  workerBehavior,
  type WorkerMsg,
} from "../../../actors/worker/worker.ts";
import { Harness } from "../../runtime/_harness.ts";
import { assignment, Gates, Recorder, settle, untilAborted } from "./_harness.ts";

type Done = Extract<Report, { kind: "done" }>;
type Refused = Extract<Report, { kind: "refused" }>;

const WORKER = "n1/w0";
const GRACE_MS = 500;
const PROGRESS_MS = 100;

/** What the test handlers share with the test. */
interface Probe {
  gates: Gates;
  signals: Map<string, AbortSignal>;
  /** Resolved per task id when a handler reaches a point the test waits for. */
  reached: Recorder<string>;
}

function handlers(probe: Probe): HandlerDefinition[] {
  const seen = (ctx: TaskContext) => probe.signals.set(ctx.id, ctx.signal);
  return [
    {
      type: "ok",
      handler: async function* (payload) {
        yield { progress: 0.5 };
        return { echoed: payload };
      },
    },
    {
      type: "throws",
      // deno-lint-ignore require-yield
      handler: async function* () {
        throw new Error("disk on fire");
      },
    },
    {
      type: "unrecoverable",
      // deno-lint-ignore require-yield
      handler: async function* () {
        throw new Unrecoverable('payload.x must be a number: got "a"');
      },
    },
    {
      type: "retry",
      // deno-lint-ignore require-yield
      handler: async function* () {
        throw new RetryAfter(1_500, "upstream busy");
      },
    },
    {
      // Honours its signal: ends only when aborted, or when its gate opens.
      type: "hold",
      // deno-lint-ignore require-yield
      handler: async function* (_p, ctx) {
        seen(ctx);
        probe.reached.push(ctx.id);
        await Promise.race([probe.gates.wait(ctx.id), untilAborted(ctx.signal)]);
        return "released";
      },
    },
    {
      // Ignores its signal: ends only when its gate opens.
      type: "stubborn",
      // deno-lint-ignore require-yield
      handler: async function* (_p, ctx) {
        seen(ctx);
        probe.reached.push(ctx.id);
        await probe.gates.wait(ctx.id);
        return "too late";
      },
    },
    {
      type: "chatty",
      handler: async function* (payload, ctx) {
        for (let i = 1; i <= 1000; i++) yield { progress: i / 1000, message: `step ${i}` };
        probe.reached.push(ctx.id);
        if ((payload as { wait?: boolean } | null)?.wait) await probe.gates.wait(ctx.id);
        return "chatted";
      },
    },
    {
      type: "bigint",
      // deno-lint-ignore require-yield
      handler: async function* () {
        return { count: 10n };
      },
    },
    {
      type: "big",
      // deno-lint-ignore require-yield
      handler: async function* (payload) {
        return payload;
      },
    },
  ];
}

interface WorkerRig extends AsyncDisposable {
  h: Harness;
  root: SupervisorCell;
  ref: { send(m: WorkerMsg): boolean };
  probe: Probe;
  reports: Recorder<Report>;
  progress: Recorder<{ id: string; attempt: number; p: Progress }>;
  /** The done report of task `id`. */
  done(id: string): Promise<Done>;
  refused(id: string): Promise<Refused>;
}

async function startWorker(
  opts: { concurrency?: number; maxResultBytes?: number } = {},
): Promise<WorkerRig> {
  const h = new Harness();
  const probe: Probe = { gates: new Gates(), signals: new Map(), reached: new Recorder("reached") };
  const reports = new Recorder<Report>("reports");
  const progress = new Recorder<{ id: string; attempt: number; p: Progress }>("progress");
  const map = new Map<string, HandlerEntry>(handlers(probe).map((def) => [def.type, { def }]));
  const root = await h.start({
    kind: "supervisor",
    id: "root",
    children: [{
      kind: "actor",
      id: "w0",
      behavior: workerBehavior({
        id: WORKER,
        concurrency: opts.concurrency ?? 4,
        handlers: map,
        pool: null,
        report: (r) => reports.push(r),
        progress: (id, attempt, p) => progress.push({ id, attempt, p }),
        abortGraceMs: GRACE_MS,
        progressIntervalMs: PROGRESS_MS,
        maxResultBytes: opts.maxResultBytes ?? 64 * 1024,
      }),
    }],
  });
  const ref = root.ref<WorkerMsg>("w0");
  return {
    h,
    root,
    ref,
    probe,
    reports,
    progress,
    done: (id) =>
      reports.wait((r) => r.kind === "done" && r.id === id, `done report for ${id}`) as Promise<
        Done
      >,
    refused: (id) =>
      reports.wait(
        (r) => r.kind === "refused" && r.id === id,
        `refused report for ${id}`,
      ) as Promise<
        Refused
      >,
    async [Symbol.asyncDispose]() {
      probe.gates.openAll();
      await h.system.stop();
      await settle();
    },
  };
}

function kinds(reports: Report[], id: string): string[] {
  return reports.filter((r) => r.id === id).map((r) => r.kind);
}

Deno.test("worker - a successful run reports started, then done/succeeded with the result", async () => {
  await using w = await startWorker();
  w.ref.send({ type: "task.assign", task: assignment("t1", "ok", 11, { payload: { n: 7 } }) });
  const done = await w.done("t1");
  assert.deepEqual(kinds(w.reports.items, "t1"), ["started", "done"]);
  const started = w.reports.items[0] as Extract<Report, { kind: "started" }>;
  assert.equal(started.dispatch, 11);
  assert.equal(started.worker, WORKER);
  assert.equal(started.attempt, 1);
  assert.equal(started.at, w.h.clock.now());
  assert.equal(done.outcome, "succeeded");
  assert.deepEqual(done.result, { echoed: { n: 7 } });
  assert.equal(done.error, undefined);
  assert.equal(done.dispatch, 11);
  assert.equal(done.startedAt, started.at);
  assert.ok(done.endedAt >= done.startedAt);
});

Deno.test("worker - a throwing handler fails its attempt with HANDLER_ERROR and the worker keeps running", async () => {
  await using w = await startWorker();
  w.ref.send({ type: "task.assign", task: assignment("t1", "throws", 1) });
  const done = await w.done("t1");
  assert.equal(done.outcome, "failed");
  assert.deepEqual(done.error, { code: "HANDLER_ERROR", message: "disk on fire" });
  assert.equal(done.retryAfterMs, undefined);
  // The actor did not fail: no supervision event, and the next task runs.
  w.ref.send({ type: "task.assign", task: assignment("t2", "ok", 2) });
  assert.equal((await w.done("t2")).outcome, "succeeded");
  assert.deepEqual(w.h.events.filter((e) => e.type !== "child.started"), []);
});

Deno.test("worker - Unrecoverable ends the attempt as unrecoverable", async () => {
  await using w = await startWorker();
  w.ref.send({ type: "task.assign", task: assignment("t1", "unrecoverable", 1) });
  const done = await w.done("t1");
  assert.equal(done.outcome, "unrecoverable");
  assert.equal(done.error?.code, "UNRECOVERABLE");
  assert.match(done.error!.message, /payload\.x must be a number/);
});

Deno.test("worker - RetryAfter fails the attempt with retryAfterMs", async () => {
  await using w = await startWorker();
  w.ref.send({ type: "task.assign", task: assignment("t1", "retry", 1) });
  const done = await w.done("t1");
  assert.equal(done.outcome, "failed");
  assert.equal(done.retryAfterMs, 1_500);
  assert.deepEqual(done.error, { code: "HANDLER_ERROR", message: "upstream busy" });
});

Deno.test("worker - a handler still running at timeoutMs is aborted and reported timeout", async () => {
  await using w = await startWorker();
  w.ref.send({ type: "task.assign", task: assignment("t1", "hold", 1, { timeoutMs: 300 }) });
  await w.probe.reached.wait((id) => id === "t1", "hold to start");
  w.h.clock.advance(299);
  await settle();
  assert.equal(w.probe.signals.get("t1")!.aborted, false);
  assert.deepEqual(kinds(w.reports.items, "t1"), ["started"]);
  w.h.clock.advance(1);
  const done = await w.done("t1");
  assert.equal(done.outcome, "timeout");
  assert.equal(done.error?.code, "TIMEOUT");
  assert.match(done.error!.message, /timeout of 300 ms/);
});

Deno.test("worker - task.cancel aborts the handler and reports cancelled", async () => {
  await using w = await startWorker();
  w.ref.send({ type: "task.assign", task: assignment("t1", "hold", 7) });
  await w.probe.reached.wait((id) => id === "t1", "hold to start");
  // A cancel for another dispatch of the task (an older attempt) changes nothing.
  w.ref.send({ type: "task.cancel", id: "t1", dispatch: 6, reason: "stale" });
  await settle();
  assert.equal(w.probe.signals.get("t1")!.aborted, false);
  w.ref.send({ type: "task.cancel", id: "t1", dispatch: 7, reason: "cancelled by alice" });
  const done = await w.done("t1");
  assert.equal(done.outcome, "cancelled");
  assert.deepEqual(done.error, { code: "CANCELLED", message: "cancelled by alice" });
});

Deno.test("worker - a handler that ignores its abort is abandoned after abortGraceMs and frees its slot", async () => {
  await using w = await startWorker({ concurrency: 1 });
  w.ref.send({ type: "task.assign", task: assignment("t1", "stubborn", 1) });
  await w.probe.reached.wait((id) => id === "t1", "stubborn to start");
  w.ref.send({ type: "task.cancel", id: "t1", dispatch: 1, reason: "cancelled by alice" });
  await settle();
  assert.equal(w.probe.signals.get("t1")!.aborted, true);
  w.h.clock.advance(GRACE_MS - 1);
  await settle();
  assert.deepEqual(kinds(w.reports.items, "t1"), ["started"], "still inside the grace period");
  // The slot is still taken meanwhile.
  w.ref.send({ type: "task.assign", task: assignment("t2", "ok", 2) });
  assert.match((await w.refused("t2")).reason, /is full/);

  w.h.clock.advance(1);
  const done = await w.done("t1");
  assert.equal(done.outcome, "cancelled");
  assert.equal(done.error?.code, "ABANDONED");
  assert.match(done.error!.message, /cancelled by alice/);
  w.ref.send({ type: "task.assign", task: assignment("t3", "ok", 3) });
  assert.equal((await w.done("t3")).outcome, "succeeded");

  // When the abandoned handler ends after all, nothing more is reported for it.
  w.probe.gates.open("t1");
  await settle();
  await settle();
  assert.deepEqual(kinds(w.reports.items, "t1"), ["started", "done"]);
});

Deno.test("worker - a handler that ignores its timeout is abandoned and reported as timed out", async () => {
  await using w = await startWorker();
  w.ref.send({ type: "task.assign", task: assignment("t1", "stubborn", 1, { timeoutMs: 100 }) });
  await w.probe.reached.wait((id) => id === "t1", "stubborn to start");
  w.h.clock.advance(100);
  await settle();
  assert.deepEqual(kinds(w.reports.items, "t1"), ["started"]);
  w.h.clock.advance(GRACE_MS);
  const done = await w.done("t1");
  assert.equal(done.outcome, "timeout");
  assert.equal(done.error?.code, "ABANDONED");
});

Deno.test("worker - the assignment beyond its concurrency is refused, as is an unknown type", async () => {
  await using w = await startWorker({ concurrency: 2 });
  w.ref.send({ type: "task.assign", task: assignment("t1", "hold", 1) });
  w.ref.send({ type: "task.assign", task: assignment("t2", "hold", 2) });
  w.ref.send({ type: "task.assign", task: assignment("t3", "hold", 3) });
  const refused = await w.refused("t3");
  assert.equal(refused.dispatch, 3);
  assert.equal(refused.worker, WORKER);
  assert.match(refused.reason, /worker n1\/w0 is full/);
  assert.deepEqual(kinds(w.reports.items, "t1"), ["started"]);
  assert.deepEqual(kinds(w.reports.items, "t2"), ["started"]);

  w.ref.send({ type: "task.assign", task: assignment("t4", "no-such-type", 4) });
  assert.match((await w.refused("t4")).reason, /has no handler for no-such-type/);

  // A repeated assignment of a dispatch already running is not run twice.
  w.ref.send({ type: "task.assign", task: assignment("t1", "hold", 1) });
  w.probe.gates.open("t1");
  await w.done("t1");
  assert.deepEqual(kinds(w.reports.items, "t1"), ["started", "done"]);
  // The freed slot takes the next task.
  w.ref.send({ type: "task.assign", task: assignment("t5", "ok", 5) });
  assert.equal((await w.done("t5")).outcome, "succeeded");
});

Deno.test("worker - progress is rate-limited and the last value still arrives", async () => {
  await using w = await startWorker();
  w.ref.send({
    type: "task.assign",
    task: assignment("t1", "chatty", 1, { payload: { wait: true } }),
  });
  await w.probe.reached.wait((id) => id === "t1", "1000 progress events");
  await settle();
  // The first event goes out at once; the other 999 fall inside one interval.
  assert.deepEqual(w.progress.items.map((x) => x.p.progress), [0.001]);
  w.h.clock.advance(PROGRESS_MS);
  await w.progress.wait((x) => x.p.progress === 1, "the last progress value");
  assert.equal(w.progress.items.length, 2);
  assert.deepEqual(w.progress.items[1], {
    id: "t1",
    attempt: 1,
    p: { progress: 1, message: "step 1000" },
  });
  w.probe.gates.open("t1");
  assert.equal((await w.done("t1")).outcome, "succeeded");
  assert.equal(w.progress.items.length, 2);
});

Deno.test("worker - progress held back by the rate limit is delivered before the outcome", async () => {
  await using w = await startWorker();
  w.ref.send({ type: "task.assign", task: assignment("t1", "chatty", 1) });
  await w.done("t1");
  const values = w.progress.items.map((x) => x.p.progress);
  assert.ok(values.length <= 3, `${values.length} progress calls for 1000 events`);
  assert.equal(values.at(-1), 1, `last delivered progress: ${values.at(-1)}`);
});

Deno.test("worker - a result that is not JSON (BigInt) fails the attempt", async () => {
  await using w = await startWorker();
  w.ref.send({ type: "task.assign", task: assignment("t1", "bigint", 1) });
  const done = await w.done("t1");
  assert.equal(done.outcome, "failed");
  assert.equal(done.error?.code, "HANDLER_ERROR");
  assert.match(done.error!.message, /result is not JSON/);
  assert.equal(done.result, undefined);
});

Deno.test("worker - a result over maxResultBytes is unrecoverable with PAYLOAD_TOO_LARGE", async () => {
  await using w = await startWorker({ maxResultBytes: 1_000 });
  w.ref.send({
    type: "task.assign",
    task: assignment("t1", "big", 1, { payload: "x".repeat(997) }),
  });
  w.ref.send({
    type: "task.assign",
    task: assignment("t2", "big", 2, { payload: "x".repeat(999) }),
  });
  assert.equal((await w.done("t1")).outcome, "succeeded", "999 bytes with the quotes");
  const done = await w.done("t2");
  assert.equal(done.outcome, "unrecoverable");
  assert.equal(done.error?.code, "PAYLOAD_TOO_LARGE");
  assert.match(done.error!.message, /1001 bytes: the limit is 1000/);
});

Deno.test("worker - the result limit counts UTF-8 bytes, not characters", async () => {
  await using w = await startWorker({ maxResultBytes: 1_000 });
  // 600 characters, 1200 bytes.
  w.ref.send({
    type: "task.assign",
    task: assignment("t1", "big", 1, { payload: "é".repeat(600) }),
  });
  const done = await w.done("t1");
  assert.equal(done.outcome, "unrecoverable");
  assert.equal(done.error?.code, "PAYLOAD_TOO_LARGE");
  assert.match(done.error!.message, /1202 bytes/);
});

Deno.test("worker - when the worker actor crashes, its running tasks are handed back (refused)", async () => {
  await using w = await startWorker();
  w.ref.send({ type: "task.assign", task: assignment("t1", "hold", 1) });
  w.ref.send({ type: "task.assign", task: assignment("t2", "hold", 2) });
  await w.probe.reached.wait((id) => id === "t2", "both tasks to start");
  const restarting = w.h.next((e) => e.type === "child.restarting");
  // A message no worker understands fails the actor: its supervisor restarts it.
  w.ref.send({ type: "no.such.message" } as unknown as WorkerMsg);
  await restarting;
  for (const id of ["t1", "t2"]) {
    const r = await w.refused(id);
    assert.match(r.reason, /worker n1\/w0 restarted/);
    const reason = w.probe.signals.get(id)!.reason as { kind?: string };
    assert.equal(reason.kind, "shutdown");
  }
  const started = w.h.next((e) => e.type === "child.started");
  w.h.clock.advance(1_000); // the restart backoff
  await started;
  // The handlers' late ends belong to the old incarnation and are dropped.
  await settle();
  assert.deepEqual(kinds(w.reports.items, "t1"), ["started", "refused"]);
  w.ref.send({ type: "task.assign", task: assignment("t3", "ok", 3) });
  assert.equal((await w.done("t3")).outcome, "succeeded");
});

Deno.test("worker - stopping the system hands running tasks back (refused)", async () => {
  await using w = await startWorker();
  w.ref.send({ type: "task.assign", task: assignment("t1", "hold", 1) });
  await w.probe.reached.wait((id) => id === "t1", "hold to start");
  await w.h.system.stop();
  const r = await w.refused("t1");
  assert.match(r.reason, /worker n1\/w0 stopped/);
  assert.equal(w.probe.signals.get("t1")!.aborted, true);
  await settle();
  assert.deepEqual(kinds(w.reports.items, "t1"), ["started", "refused"]);
});
