import assert from "node:assert/strict";
import fc from "fast-check";
import { type WorkerEntry, WorkerIndex } from "../../src/sched/worker_index.ts";

const CAPS = ["gpu", "ssd", "arm", "net"] as const;
const IDS = ["w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7"] as const;
const NODES = ["n0", "n1", "n2"] as const;

interface ModelWorker {
  node: string;
  caps: Set<string>;
  concurrency: number;
  inFlight: number;
  available: boolean;
}

/** The obvious index: scans every worker on every question. */
class Model {
  readonly workers = new Map<string, ModelWorker>();

  matching(requires: readonly string[]): [string, ModelWorker][] {
    return [...this.workers].filter(([, w]) => w.available && requires.every((r) => w.caps.has(r)));
  }

  bestFree(requires: readonly string[]): number {
    return Math.max(0, ...this.matching(requires).map(([, w]) => w.concurrency - w.inFlight));
  }

  freeSlots(requires: readonly string[]): number {
    let total = 0;
    for (const [, w] of this.matching(requires)) total += Math.max(0, w.concurrency - w.inFlight);
    return total;
  }
}

type Op =
  | { op: "upsert"; id: string; node: string; caps: string[]; concurrency: number }
  | { op: "remove"; id: string }
  | { op: "acquire"; id: string }
  | { op: "release"; id: string }
  | { op: "setAvailable"; id: string; available: boolean }
  | { op: "choose"; requires: string[] };

const idArb = fc.constantFrom(...IDS);
// Duplicates, any order, and a capability no worker has ("tpu").
const requiresArb = fc.array(fc.constantFrom(...CAPS, "tpu"), { maxLength: 3 });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("upsert" as const),
      id: idArb,
      node: fc.constantFrom(...NODES),
      caps: fc.subarray([...CAPS]),
      concurrency: fc.integer({ min: 0, max: 4 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("remove" as const), id: idArb }) },
  { weight: 5, arbitrary: fc.record({ op: fc.constant("acquire" as const), id: idArb }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant("release" as const), id: idArb }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("setAvailable" as const),
      id: idArb,
      available: fc.boolean(),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({ op: fc.constant("choose" as const), requires: requiresArb }),
  },
);

function assertChoice(index: WorkerIndex, model: Model, requires: readonly string[]): void {
  const chosen = index.choose(requires);
  const best = model.bestFree(requires);
  if (best === 0) {
    assert.equal(chosen, undefined, `nothing fits ${JSON.stringify(requires)}`);
    return;
  }
  assert.ok(chosen !== undefined, `a worker fits ${JSON.stringify(requires)}`);
  const w = model.workers.get(chosen.id);
  assert.ok(w !== undefined, "the chosen worker is registered");
  assert.ok(w.available, "the chosen worker is available");
  for (const r of requires) assert.ok(w.caps.has(r), `the chosen worker has ${r}`);
  assert.equal(w.concurrency - w.inFlight, best, "the chosen worker has the most free slots");
}

function assertSameAsModel(index: WorkerIndex, model: Model): void {
  assert.equal(index.size, model.workers.size);
  for (const [id, w] of model.workers) {
    const e = index.get(id)!;
    assert.deepEqual(
      [e.node, [...e.capabilities].sort(), e.concurrency, e.inFlight, e.available],
      [w.node, [...w.caps].sort(), w.concurrency, w.inFlight, w.available],
    );
  }
  const modelNodes = new Set([...model.workers.values()].map((w) => w.node));
  assert.deepEqual(new Set(index.nodes()), modelNodes);
  for (const node of NODES) {
    const ids = index.workersOf(node).map((e) => e.id).sort();
    assert.deepEqual(
      ids,
      [...model.workers].filter(([, w]) => w.node === node).map(([id]) => id).sort(),
    );
  }
  assert.deepEqual([...index.entries()].map((e) => e.id).sort(), [...model.workers.keys()].sort());
  // Every subset of the capabilities, so every class and memo entry is asked.
  for (let mask = 0; mask < 1 << CAPS.length; mask++) {
    const requires = CAPS.filter((_, i) => mask & (1 << i));
    assertChoice(index, model, requires);
    assert.equal(index.freeSlots(requires), model.freeSlots(requires), JSON.stringify(requires));
  }
}

function apply(index: WorkerIndex, model: Model, step: Op): void {
  const known = "id" in step ? model.workers.get(step.id) : undefined;
  switch (step.op) {
    case "upsert": {
      const e: WorkerEntry = index.upsert(step.id, step.node, step.caps, step.concurrency);
      if (known !== undefined) assert.equal(e.inFlight, known.inFlight, "upsert keeps inFlight");
      model.workers.set(step.id, {
        node: step.node,
        caps: new Set(step.caps),
        concurrency: step.concurrency,
        inFlight: known?.inFlight ?? 0,
        available: known?.available ?? true,
      });
      break;
    }
    case "remove":
      assert.equal(index.remove(step.id)?.id, known === undefined ? undefined : step.id);
      model.workers.delete(step.id);
      break;
    case "acquire":
    case "release":
    case "setAvailable":
      if (known === undefined) {
        assert.throws(
          () =>
            step.op === "setAvailable"
              ? index.setAvailable(step.id, step.available)
              : index[step.op](step.id),
          { code: "NOT_FOUND" },
        );
        break;
      }
      if (step.op === "acquire") {
        index.acquire(step.id);
        known.inFlight++;
      } else if (step.op === "release") {
        index.release(step.id);
        known.inFlight = Math.max(0, known.inFlight - 1);
      } else {
        index.setAvailable(step.id, step.available);
        known.available = step.available;
      }
      break;
    case "choose":
      assertChoice(index, model, step.requires);
      assert.equal(index.freeSlots(step.requires), model.freeSlots(step.requires));
      break;
    default: {
      const unknown: never = step;
      throw new Error(`unknown op: ${JSON.stringify(unknown)}`);
    }
  }
}

Deno.test("worker index - random operations agree with a model that scans every worker", () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 200 }), (ops) => {
      const index = new WorkerIndex();
      const model = new Model();
      for (const step of ops) apply(index, model, step);
      assertSameAsModel(index, model);
    }),
    { numRuns: 300 },
  );
});

Deno.test("worker index - every state along random operations agrees with the model", () => {
  fc.assert(fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
    const index = new WorkerIndex();
    const model = new Model();
    for (const step of ops) {
      apply(index, model, step);
      assertSameAsModel(index, model);
    }
  }));
});

Deno.test("worker index - choose prefers the worker with the most free slots", () => {
  const index = new WorkerIndex();
  index.upsert("small", "n", ["gpu"], 2);
  index.upsert("big", "n", ["gpu", "ssd"], 8);
  index.upsert("plain", "n", [], 16);
  assert.equal(index.choose(["gpu"])?.id, "big");
  assert.equal(index.choose([])?.id, "plain");
  for (let i = 0; i < 7; i++) index.acquire("big");
  assert.equal(index.choose(["gpu"])?.id, "small");
  assert.equal(index.freeSlots(["gpu"]), 3);
  assert.equal(index.choose(["ssd", "gpu"])?.id, "big");
  index.acquire("big");
  assert.equal(index.choose(["gpu", "ssd"]), undefined);
});

Deno.test("worker index - an unavailable worker is never chosen and adds no free slots", () => {
  const index = new WorkerIndex();
  index.upsert("w", "n", ["gpu"], 4);
  index.setAvailable("w", false);
  assert.equal(index.choose(["gpu"]), undefined);
  assert.equal(index.freeSlots(["gpu"]), 0);
  index.setAvailable("w", true);
  assert.equal(index.choose(["gpu"])?.id, "w");
});

Deno.test("worker index - equally free workers are chosen in turn", () => {
  const index = new WorkerIndex();
  for (const id of ["a", "b", "c"]) index.upsert(id, "n", [], 2);
  const picks: string[] = [];
  for (let i = 0; i < 6; i++) {
    const w = index.choose([])!;
    picks.push(w.id);
    index.acquire(w.id);
  }
  assert.deepEqual(picks, ["a", "b", "c", "a", "b", "c"]);
  assert.equal(index.choose([]), undefined);
});

Deno.test("worker index - upsert keeps inFlight and availability when capabilities or node change", () => {
  const index = new WorkerIndex();
  const first = index.upsert("w", "n1", ["gpu"], 4);
  index.acquire("w");
  index.setAvailable("w", false);
  const again = index.upsert("w", "n2", ["ssd"], 2);
  assert.equal(again, first, "the entry keeps its identity");
  assert.deepEqual([again.inFlight, again.available, again.node], [1, false, "n2"]);
  assert.deepEqual([...index.nodes()], ["n2"]);
  index.setAvailable("w", true);
  assert.equal(index.choose(["gpu"]), undefined);
  assert.equal(index.choose(["ssd"])?.id, "w");
  assert.equal(index.freeSlots(["ssd"]), 1);
});

Deno.test("worker index - a worker removed right after it was chosen is no longer known", () => {
  const index = new WorkerIndex();
  index.upsert("w", "n", [], 2);
  const chosen = index.choose([])!;
  index.remove(chosen.id);
  assert.throws(() => index.acquire(chosen.id), { code: "NOT_FOUND" });
  const again = index.upsert("w", "n", [], 2);
  assert.notEqual(again, chosen, "a new registration is a new entry");
  index.acquire("w");
  assert.equal(again.inFlight, 1);
  assert.equal(chosen.inFlight, 0);
});

Deno.test("worker index - release never takes inFlight below zero", () => {
  const index = new WorkerIndex();
  index.upsert("w", "n", [], 1);
  index.release("w");
  assert.equal(index.get("w")?.inFlight, 0);
  assert.equal(index.freeSlots([]), 1);
});

Deno.test("worker index - rejects a concurrency that is not an integer from 0 to 65536", () => {
  const index = new WorkerIndex();
  for (const bad of [-1, 1.5, Number.NaN, 65_537]) {
    assert.throws(() => index.upsert("w", "n", [], bad), {
      code: "INVALID_ARGUMENT",
      message: `concurrency must be an integer from 0 to 65536: got ${bad}`,
    });
  }
  assert.equal(index.size, 0);
});

Deno.test("worker index - acquire, release and setAvailable name an unknown worker", () => {
  const index = new WorkerIndex();
  assert.throws(() => index.acquire("ghost"), {
    code: "NOT_FOUND",
    message: 'worker not found: "ghost"',
  });
  assert.throws(() => index.release("ghost"), { code: "NOT_FOUND" });
  assert.throws(() => index.setAvailable("ghost", true), { code: "NOT_FOUND" });
  assert.equal(index.remove("ghost"), undefined);
});
