import assert from "node:assert/strict";
import fc from "fast-check";
import { IdFilter } from "../../src/sched/id_filter.ts";

Deno.test("id filter - every id added is found (no false negatives), whatever the ids", () => {
  fc.assert(
    fc.property(
      fc.array(fc.string({ unit: "grapheme", maxLength: 40 }), { maxLength: 3_000 }),
      (ids) => {
        const f = new IdFilter(16); // tiny on purpose: layers are added as it fills
        for (const id of ids) f.add(id);
        for (const id of ids) assert.ok(f.mightHave(id), JSON.stringify(id));
      },
    ),
    { numRuns: 50 },
  );
});

Deno.test("id filter - false positives stay near 1%, also past the first layer's capacity", () => {
  const f = new IdFilter(50_000);
  for (let i = 0; i < 200_000; i++) f.add(`task-${i}`);
  assert.equal(f.size, 200_000);
  for (let i = 0; i < 200_000; i += 997) assert.ok(f.mightHave(`task-${i}`));
  let hits = 0;
  const probes = 100_000;
  for (let i = 0; i < probes; i++) if (f.mightHave(`other-${i}`)) hits++;
  // Three layers (50k, 100k, 200k ids of room): each ~1% or less, so well under 4% together.
  assert.ok(hits / probes < 0.04, `false positive rate ${hits / probes}`);
  // About 10 bits an id, rounded up to powers of two.
  assert.ok(f.bytes < 200_000 * 4, `${f.bytes} bytes`);
});

Deno.test("id filter - an empty filter has nothing", () => {
  const f = new IdFilter();
  let hits = 0;
  for (let i = 0; i < 10_000; i++) if (f.mightHave(`t-${i}`)) hits++;
  assert.equal(hits, 0);
});
