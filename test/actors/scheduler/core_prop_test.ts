import assert from "node:assert/strict";
import fc from "fast-check";
import { runsBefore } from "../../../src/sched/task_order.ts";
import { type Sent, T0, World } from "./_harness.ts";
import { CAPS, type FinishOutcome, Sim, type SubmitSpec } from "./_model.ts";

// ---------------------------------------------------------------- the model run

/** One command: an action on the simulation, then dispatch and every check. */
class Step implements fc.Command<Sim, Sim> {
  constructor(readonly label: string, readonly act: (s: Sim) => void) {}
  check(): boolean {
    return true;
  }
  run(_model: Sim, sim: Sim): void {
    this.act(sim);
    sim.settle();
  }
  toString(): string {
    return this.label;
  }
}

function step<T>(name: string, arb: fc.Arbitrary<T>, act: (s: Sim, v: T) => void) {
  return arb.map((v) => new Step(`${name} ${JSON.stringify(v)}`, (s) => act(s, v)));
}

const pick = fc.nat({ max: 1_000 });
const outcomes: FinishOutcome[] = ["succeeded", "failed", "timeout", "unrecoverable", "cancelled"];

const submitArb: fc.Arbitrary<SubmitSpec> = fc.record({
  priority: fc.integer({ min: 0, max: 9 }),
  deadlineIn: fc.oneof(fc.constant(null), fc.integer({ min: -200, max: 8_000 })),
  requires: fc.subarray([...CAPS]),
  maxAttempts: fc.integer({ min: 1, max: 3 }),
  dep: fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: pick }),
});

const workersArb = fc.array(
  fc.record({ concurrency: fc.integer({ min: 1, max: 3 }), caps: fc.subarray([...CAPS]) }),
  { minLength: 1, maxLength: 2 },
);

const submit = step("submit", submitArb, (s, v) => s.submit(v));
const finish = step(
  "finish",
  fc.record({
    pick,
    outcome: fc.constantFrom(...outcomes),
    retryAfterMs: fc.oneof(fc.constant(null), fc.integer({ min: 0, max: 3_000 })),
  }),
  (s, v) => s.finish(v.pick, v.outcome, v.retryAfterMs),
);
const commandArbs = [
  submit,
  submit,
  submit,
  finish,
  finish,
  finish,
  step("start", pick, (s, v) => s.start(v)),
  step("refuse", pick, (s, v) => s.refuse(v)),
  step("advance", fc.integer({ min: 0, max: 3_000 }), (s, v) => s.advance(v)),
  step("advance", fc.integer({ min: 0, max: 3_000 }), (s, v) => s.advance(v)),
  step("cancel", pick, (s, v) => s.cancel(v)),
  step("addNode", workersArb, (s, v) => s.addNode(v)),
  step("loseNode", pick, (s, v) => s.loseNode(v)),
  step(
    "setAvailable",
    fc.tuple(pick, fc.boolean()),
    (s, [p, available]) => s.setAvailable(p, available),
  ),
  step("rehello", pick, (s, v) => s.rehello(v)),
  step("revive", pick, (s, v) => s.revive(v)),
  step("store", fc.tuple(pick, fc.boolean()), (s, [p, all]) => s.store(p, all)),
  step("resubmit", fc.tuple(pick, fc.boolean()), (s, [p, again]) => s.resubmit(p, again)),
  step("zombie", fc.tuple(pick, fc.constantFrom(...outcomes)), (s, [p, o]) => s.zombie(p, o)),
];

/** A fresh simulation with one plain node, run through `cmds`, then drained and checked. */
function runModel(cmds: Iterable<fc.Command<Sim, Sim>>): void {
  const sim = new Sim();
  sim.addNode([{ concurrency: 2, caps: [] }]);
  sim.settle();
  fc.modelRun(() => ({ model: sim, real: sim }), cmds);
  sim.drain();
}

Deno.test("scheduler core - property: against a model, no task is lost, run twice, over-assigned or misrouted, and each ends once as its history allows", () => {
  fc.assert(fc.property(fc.commands(commandArbs, { maxCommands: 100, size: "medium" }), runModel), {
    numRuns: 300,
  });
});

// Counterexamples the model run found in earlier versions of the core, pinned.

/** A submit of task t<n> due 1 ms from now, with no requirements. */
function soon(maxAttempts: number): SubmitSpec {
  return { priority: 0, deadlineIn: 1, requires: [], maxAttempts, dep: null };
}

function replay(...steps: [string, (s: Sim) => void][]): void {
  runModel(steps.map(([label, act]) => new Step(label, act)));
}

Deno.test("scheduler core - regression: a retry whose deadline passes during the backoff leaves stats.retrying at 0, not -1", () => {
  replay(
    ["submit", (s) => s.submit(soon(2))],
    ["finish failed, retry after 1 ms", (s) => s.finish(0, "failed", 1)],
    ["advance 0", (s) => s.advance(0)],
  );
});

Deno.test("scheduler core - regression: a task cancelled while dispatched and then refused is not dispatched again", () => {
  replay(
    ["submit", (s) => s.submit(soon(1))],
    ["cancel", (s) => s.cancel(0)],
    ["refuse", (s) => s.refuse(0)],
  );
});

Deno.test("scheduler core - regression: a task re-queued from a lost node after its deadline is not dispatched", () => {
  replay(
    ["submit", (s) => s.submit(soon(1))],
    ["advance 1", (s) => s.advance(1)],
    ["lose the node", (s) => s.loseNode(0)],
  );
});

Deno.test("scheduler core - regression: a failure reported after the deadline does not leave the task retrying", () => {
  replay(
    ["submit", (s) => s.submit(soon(2))],
    ["advance 1", (s) => s.advance(1)],
    ["finish failed", (s) => s.finish(0, "failed", 0)],
  );
});

// ---------------------------------------------------------------- order

interface OrderSpec {
  priority: number;
  /** Seconds after T0, or null for no deadline. */
  deadlineIn: number | null;
  requires: string[];
}

const orderArb: fc.Arbitrary<OrderSpec> = fc.record({
  priority: fc.integer({ min: 0, max: 9 }),
  deadlineIn: fc.oneof(fc.constant(null), fc.integer({ min: 1, max: 8 })),
  requires: fc.subarray([...CAPS]),
});

interface Queued {
  id: string;
  priority: number;
  deadline: number;
  seq: number;
}

function submitOrdered(w: World, spec: OrderSpec, seq: number): Queued {
  const q: Queued = {
    id: `t${seq}`,
    priority: spec.priority,
    deadline: spec.deadlineIn === null ? Infinity : T0 + spec.deadlineIn * 1_000,
    seq,
  };
  w.submit(q.id, { priority: q.priority, deadline: q.deadline, requires: spec.requires }, { seq });
  return q;
}

function byRunsBefore(a: Queued, b: Queued): number {
  return runsBefore(a, b) ? -1 : runsBefore(b, a) ? 1 : 0;
}

Deno.test("scheduler core - property: one worker of concurrency 1 runs a batch in runsBefore order of (priority, deadline, seq)", () => {
  fc.assert(
    fc.property(fc.array(orderArb, { minLength: 1, maxLength: 40 }), (specs) => {
      const w = new World();
      const batch = specs.map((s, i) => submitOrdered(w, s, i + 1));
      w.node("n1", ["n1/0", 1, [...CAPS]]);
      const order: string[] = [];
      for (let round = w.pump(); round.length; round = w.pump()) {
        assert.equal(round.length, 1, "one slot: one task at a time");
        order.push(round[0].id);
        w.done(round[0], "succeeded");
      }
      assert.deepEqual(order, batch.sort(byRunsBefore).map((q) => q.id));
    }),
    { numRuns: 300 },
  );
});

Deno.test("scheduler core - property: with submissions between runs, each dispatch takes the first queued task in runsBefore order", () => {
  const opArb = fc.oneof(
    { weight: 2, arbitrary: orderArb },
    { weight: 1, arbitrary: fc.constant("finish" as const) },
  );
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
      const w = new World();
      w.node("n1", ["n1/0", 1, [...CAPS]]);
      const queued: Queued[] = [];
      let running: Sent | undefined;
      let seq = 0;
      const dispatch = () => {
        const round = w.pump();
        if (running || queued.length === 0) {
          assert.equal(round.length, 0);
          return;
        }
        assert.equal(round.length, 1);
        queued.sort(byRunsBefore);
        assert.equal(round[0].id, queued.shift()!.id);
        running = round[0];
      };
      for (const op of [...ops, ...Array(60).fill("finish")]) {
        if (op === "finish") {
          if (running) w.done(running, "succeeded");
          running = undefined;
        } else {
          queued.push(submitOrdered(w, op, ++seq));
        }
        dispatch();
      }
      assert.equal(queued.length, 0);
    }),
    { numRuns: 200 },
  );
});

Deno.test("scheduler core - property: with refusals (requeued with their old seq), cancels and late old seqs, each dispatch takes the first queued task in runsBefore order", () => {
  type Op =
    | { kind: "submit"; spec: OrderSpec; old: boolean }
    | { kind: "finish" }
    | { kind: "refuse" }
    | { kind: "cancel"; pick: number };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant("submit" as const),
        spec: orderArb,
        // A submission older than every other (a redelivery after a takeover, say).
        old: fc.boolean(),
      }),
    },
    { weight: 2, arbitrary: fc.constant<Op>({ kind: "finish" }) },
    { weight: 2, arbitrary: fc.constant<Op>({ kind: "refuse" }) },
    { weight: 1, arbitrary: fc.nat().map((pick): Op => ({ kind: "cancel", pick })) },
  );
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 80 }), (ops) => {
      const w = new World();
      w.node("n1", ["n1/0", 1, [...CAPS]]);
      const queued: Queued[] = [];
      let running: { sent: Sent; task: Queued } | undefined;
      let newSeq = 1_000_000;
      let oldSeq = 1_000_000;
      const dispatch = () => {
        const round = w.pump();
        if (running || queued.length === 0) {
          assert.equal(round.length, 0);
          return;
        }
        assert.equal(round.length, 1);
        queued.sort(byRunsBefore);
        const task = queued.shift()!;
        assert.equal(round[0].id, task.id);
        running = { sent: round[0], task };
      };
      for (const op of [...ops, ...Array(80).fill({ kind: "finish" })]) {
        if (op.kind === "submit") {
          queued.push(submitOrdered(w, op.spec, op.old ? --oldSeq : ++newSeq));
        } else if (op.kind === "finish") {
          if (running) w.done(running.sent, "succeeded");
          running = undefined;
        } else if (op.kind === "refuse") {
          if (running) {
            w.refuse(running.sent);
            queued.push(running.task);
          }
          running = undefined;
        } else if (queued.length > 0) {
          const [t] = queued.splice(op.pick % queued.length, 1);
          assert.equal(w.core.cancel(t.id, "test").ok, true);
        }
        assert.equal(w.core.stats.queued, queued.length);
        dispatch();
      }
      assert.equal(queued.length, 0);
    }),
    { numRuns: 200 },
  );
});
