import assert from "node:assert/strict";
import fc from "fast-check";
import { type Queueable, ReadyQueue } from "../../src/sched/ready_queue.ts";
import { runsBefore } from "../../src/sched/task_order.ts";

interface Rec extends Queueable {
  id: number;
}

function rec(id: number, priority: number, deadline: number, seq: number): Rec {
  return { id, priority, deadline, seq, queueSlot: null };
}

/** The model: the first of `live` by runsBefore (seqs are distinct, so the order is total). */
function first(live: readonly Rec[]): Rec | undefined {
  let best: Rec | undefined;
  for (const r of live) if (best === undefined || runsBefore(r, best)) best = r;
  return best;
}

type Op =
  | { kind: "push"; priority: number; deadline: number }
  | { kind: "requeue"; pick: number }
  | { kind: "pop" }
  | { kind: "remove"; pick: number }
  | { kind: "removeGone"; pick: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("push" as const),
      // Mostly 0..9; a few a run cannot take (fractional, negative, above 31).
      priority: fc.oneof(
        { weight: 9, arbitrary: fc.integer({ min: 0, max: 9 }) },
        { weight: 1, arbitrary: fc.constantFrom(2.5, -1, 40) },
      ),
      deadline: fc.oneof(
        { weight: 3, arbitrary: fc.constant(Infinity) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 30 }) },
      ),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("requeue" as const), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("pop" as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("remove" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("removeGone" as const), pick: fc.nat() }) },
);

/**
 * Runs `ops` against a queue and the model, checking after every step that
 * the queue's first record, size and membership are the model's.
 */
function check(ops: readonly Op[]): void {
  const q = new ReadyQueue<Rec>();
  const live: Rec[] = [];
  /** Records taken out (popped or removed): a requeue brings one back with its old seq. */
  const out: Rec[] = [];
  let seq = 0;
  const take = (r: Rec) => {
    live.splice(live.indexOf(r), 1);
    out.push(r);
  };
  for (const op of ops) {
    switch (op.kind) {
      case "push": {
        seq++;
        const r = rec(seq, op.priority, op.deadline, seq);
        q.push(r);
        live.push(r);
        break;
      }
      case "requeue": {
        if (out.length === 0) break;
        const [r] = out.splice(op.pick % out.length, 1);
        q.push(r);
        live.push(r);
        break;
      }
      case "pop": {
        const want = first(live);
        const got = q.pop();
        assert.equal(got?.id, want?.id, "pop takes the first by runsBefore");
        if (got) {
          assert.equal(got.queueSlot, null, "a popped record's slot is cleared");
          take(got);
        }
        break;
      }
      case "remove": {
        if (live.length === 0) break;
        const r = live[op.pick % live.length];
        assert.equal(q.remove(r), true);
        assert.equal(r.queueSlot, null);
        take(r);
        break;
      }
      case "removeGone": {
        if (out.length === 0) break;
        const r = out[op.pick % out.length];
        assert.equal(q.remove(r), false, "a record not queued is not removed");
        break;
      }
    }
    assert.equal(q.size, live.length, "size counts live records only");
    assert.equal(q.peek()?.id, first(live)?.id, "peek shows the first by runsBefore");
    for (const r of live) assert.equal(q.contains(r), true);
    for (const r of out) assert.equal(q.contains(r), false);
  }
  const rest = [...q.drain()].map((r) => r.id);
  const model = [...live].sort((a, b) => (runsBefore(a, b) ? -1 : 1)).map((r) => r.id);
  assert.deepEqual(rest, model, "drain pops the rest in runsBefore order");
  assert.equal(q.size, 0);
}

Deno.test("ready queue - property: pops in exactly runsBefore order under any push, requeue, pop and remove", () => {
  fc.assert(fc.property(fc.array(opArb, { maxLength: 200 }), check), { numRuns: 500 });
});

Deno.test("ready queue - property: long runs with many removals (compaction) keep the order", () => {
  const bulkArb = fc.array(
    fc.oneof(
      { weight: 6, arbitrary: fc.constant<Op>({ kind: "push", priority: 3, deadline: Infinity }) },
      { weight: 1, arbitrary: fc.constant<Op>({ kind: "push", priority: 4, deadline: Infinity }) },
      { weight: 4, arbitrary: fc.nat().map((pick): Op => ({ kind: "remove", pick })) },
      { weight: 1, arbitrary: fc.nat().map((pick): Op => ({ kind: "requeue", pick })) },
      { weight: 1, arbitrary: fc.constant<Op>({ kind: "pop" }) },
    ),
    { minLength: 300, maxLength: 1_500 },
  );
  fc.assert(fc.property(bulkArb, check), { numRuns: 30 });
});

Deno.test("ready queue - records with no deadline in seq order go through runs; the order is runsBefore's", () => {
  const q = new ReadyQueue<Rec>();
  const recs = [
    rec(1, 5, Infinity, 1),
    rec(2, 9, Infinity, 2),
    rec(3, 5, 100, 3), // a deadline: heap, and first of priority 5
    rec(4, 5, Infinity, 4),
    rec(5, 9, Infinity, 0), // an old seq: heap, and first of priority 9
  ];
  for (const r of recs) q.push(r);
  assert.deepEqual([...q.drain()].map((r) => r.id), [5, 2, 3, 1, 4]);
});

Deno.test("ready queue - push rejects a record that is already queued", () => {
  const q = new ReadyQueue<Rec>();
  const r = rec(1, 5, Infinity, 1);
  q.push(r);
  assert.throws(() => q.push(r), /INVALID_ARGUMENT|in no queue/);
  assert.throws(() => new ReadyQueue<Rec>().push(r), /in no queue/);
  assert.equal(q.size, 1);
});

Deno.test("ready queue - a record is in one queue: another queue neither removes nor claims it", () => {
  const a = new ReadyQueue<Rec>();
  const b = new ReadyQueue<Rec>();
  const inRun = rec(1, 5, Infinity, 1);
  const inHeap = rec(2, 5, 10, 2);
  a.push(inRun);
  a.push(inHeap);
  for (const r of [inRun, inHeap]) {
    assert.equal(b.contains(r), false);
    assert.equal(b.remove(r), false);
    assert.equal(a.contains(r), true);
  }
  assert.equal(a.size, 2);
  assert.equal(b.size, 0);
});

Deno.test("ready queue - removing all but every hundredth record of a long run keeps those in order", () => {
  const q = new ReadyQueue<Rec>();
  const recs = Array.from({ length: 100_000 }, (_, i) => rec(i, 1, Infinity, i));
  for (const r of recs) q.push(r);
  for (const r of recs) if (r.id % 100 !== 0) assert.equal(q.remove(r), true);
  assert.equal(q.size, 1_000);
  assert.deepEqual(
    [...q.drain()].map((r) => r.id),
    recs.filter((r) => r.id % 100 === 0).map((r) => r.id),
  );
  q.push(rec(-1, 1, Infinity, -1)); // empty again: any seq goes to the run
  assert.equal(q.pop()?.id, -1);
});
