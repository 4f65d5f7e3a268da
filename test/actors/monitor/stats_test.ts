/**
 * `Series` (actors/monitor/stats.ts) as a count of the last minute: what a
 * worker node's health score reads (actors/worker/node.ts).
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { Series } from "../../../actors/monitor/stats.ts";

const sum = (s: Series, now: number) => s.last(now, 60).values.n.reduce((a, b) => a + b, 0);

Deno.test("series - the last 60 seconds count the current whole second and the 59 before it", () => {
  const s = new Series(60, ["n"]);
  const t0 = 1_700_000_000_000;
  s.add(t0, "n");
  s.add(t0 + 999, "n");
  s.add(t0 + 30_500, "n");
  assert.equal(sum(s, t0 + 30_500), 3);
  // t0's second is 59 whole seconds before t0 + 59,999's: still counted.
  assert.equal(sum(s, t0 + 59_999), 3);
  // One second later it is 60 seconds back: gone, and the later event stays.
  assert.equal(sum(s, t0 + 60_000), 1);
  assert.equal(sum(s, t0 + 91_000), 0);
  // A slot used again a minute later starts from zero.
  s.add(t0 + 120_000, "n");
  assert.equal(sum(s, t0 + 120_000), 1);
});

Deno.test("series - the last 60 seconds equal a list of timestamps counted per whole second (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 5_000 }), { maxLength: 300 }),
      (steps) => {
        const s = new Series(60, ["n"]);
        const seen: number[] = [];
        let now = 1_700_000_000_000;
        for (const step of steps) {
          now += step * 97; // up to about 8 minutes apart, many within one second
          s.add(now, "n");
          seen.push(now);
          const second = Math.floor(now / 1_000);
          const expected = seen.filter((t) => Math.floor(t / 1_000) > second - 60).length;
          assert.equal(sum(s, now), expected);
        }
      },
    ),
  );
});
