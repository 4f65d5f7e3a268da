import assert from "node:assert/strict";
import fc from "fast-check";
import { ChurnMap } from "../../src/runtime/churn_map.ts";

type Op =
  | { op: "set"; key: number; value: number }
  | { op: "delete"; key: number }
  | { op: "iterate-delete"; every: number }
  | { op: "clear" };

const ops = fc.array(
  fc.oneof(
    {
      weight: 10,
      arbitrary: fc.record({
        op: fc.constant("set" as const),
        key: fc.nat(300),
        value: fc.integer(),
      }),
    },
    { weight: 10, arbitrary: fc.record({ op: fc.constant("delete" as const), key: fc.nat(300) }) },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant("iterate-delete" as const),
        every: fc.integer({ min: 1, max: 4 }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("clear" as const) }) },
  ) as fc.Arbitrary<Op>,
  { minLength: 200, maxLength: 2_000 },
);

Deno.test("churn map - behaves as a Map, order included, through copies (property)", () => {
  fc.assert(
    fc.property(ops, (list) => {
      const m = new ChurnMap<number, number>();
      const model = new Map<number, number>();
      for (const o of list) {
        if (o.op === "set") {
          m.set(o.key, o.value);
          model.set(o.key, o.value);
        } else if (o.op === "delete") {
          assert.equal(m.delete(o.key), model.delete(o.key));
        } else if (o.op === "iterate-delete") {
          // Deleting while iterating: every entry is visited once, deleted ones are not.
          const seen: number[] = [];
          let i = 0;
          for (const [k] of m) {
            seen.push(k);
            if (i++ % o.every === 0) {
              m.delete(k);
              model.delete(k);
            }
          }
          assert.equal(new Set(seen).size, seen.length);
        } else {
          m.clear();
          model.clear();
        }
        assert.equal(m.size, model.size);
      }
      assert.deepEqual([...m.entries()], [...model.entries()]);
      assert.deepEqual([...m.keys()], [...model.keys()]);
      assert.deepEqual([...m.values()], [...model.values()]);
      assert.equal(m.firstKey(), model.keys().next().value);
      for (const [k, v] of model) {
        assert.equal(m.get(k), v);
        assert.ok(m.has(k));
      }
    }),
    { numRuns: 200 },
  );
});

Deno.test("churn map - an iterator open across deletes sees what a Map's would", () => {
  const m = new ChurnMap<string, number>();
  for (let i = 0; i < 10; i++) m.set(`k${i}`, i);
  const it = m.keys();
  assert.equal(it.next().value, "k0");
  // Enough deletes and inserts to copy, were no iterator open.
  for (let i = 0; i < 200; i++) {
    m.set(`t${i}`, i);
    m.delete(`t${i}`);
  }
  m.delete("k5");
  m.set("k10", 10);
  assert.deepEqual([...it], ["k1", "k2", "k3", "k4", "k6", "k7", "k8", "k9", "k10"]);
});

Deno.test("churn map - clear with an iterator open: the iterator goes on as a Map's does", () => {
  const runs = [new Map<string, number>(), new ChurnMap<string, number>()].map((m) => {
    for (let i = 0; i < 5; i++) m.set(`k${i}`, i);
    const it = m.keys();
    const first = it.next().value;
    m.clear();
    m.set("z", 9);
    return [first, ...it, m.size];
  });
  assert.deepEqual(runs[1], runs[0]);
  assert.deepEqual(runs[0], ["k0", "z", 1]);
});

Deno.test("churn map - a map past 8,192 entries is not copied (a copy is one synchronous step)", () => {
  const m = new ChurnMap<number, number>();
  for (let i = 0; i < 9_000; i++) m.set(i, i);
  for (let i = 0; i < 200; i++) {
    m.set(9_000 + i, i);
    m.delete(i);
  }
  assert.equal(m.copies, 0);
  // Once it is back under the cap, deletes copy it again.
  for (let i = 200; i < 8_000; i++) m.delete(i);
  assert.ok(m.copies >= 1);
  assert.equal(m.size, 1_200);
});

Deno.test("churn map - copies itself under churn, contents and order kept", () => {
  const m = new ChurnMap<string, number>();
  for (let i = 0; i < 20; i++) m.set(`k${i}`, i);
  for (let i = 20; i < 1_000; i++) {
    m.set(`k${i}`, i);
    m.delete(`k${i - 20}`);
  }
  assert.ok(m.copies >= 10, `copies: ${m.copies}`);
  assert.deepEqual([...m.keys()], Array.from({ length: 20 }, (_, k) => `k${980 + k}`));
  assert.equal(m.firstKey(), "k980");
});

/** Bytes promoted by young collections while `_churn_gc.ts` churns a `kind` map. */
async function promoted(kind: "map" | "churn"): Promise<number> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--v8-flags=--expose-gc,--trace-gc-nvp",
      new URL("./_churn_gc.ts", import.meta.url).pathname,
      kind,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.ok(text.includes("done 20"), text.slice(-500));
  let sum = 0;
  for (const line of text.split("\n")) {
    const at = line.indexOf("GC: {");
    if (at < 0) continue;
    try {
      const g = JSON.parse(line.slice(at + 4));
      if (g.gc === "s") sum += g.promoted;
    } catch {
      // a line the trace split: skip it
    }
  }
  return sum;
}

Deno.test("churn map - what it deleted is not promoted by young collections, unlike a Map's", async () => {
  // V8 links a replaced Map table to the next and keeps its entries; an old one dropped keeps
  // every later table alive through young collections (module doc). 200,000 entries of about
  // 600 bytes go through each map here.
  const [map, churn] = [await promoted("map"), await promoted("churn")];
  assert.ok(map > 5_000_000, `a plain Map promoted only ${map} bytes: V8 changed?`);
  assert.ok(churn * 10 < map, `ChurnMap promoted ${churn} bytes, a Map ${map}`);
});
