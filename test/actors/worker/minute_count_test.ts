import assert from "node:assert/strict";
import fc from "fast-check";
import { MinuteCount } from "../../../actors/worker/minute_count.ts";

Deno.test("minute count - counts the last 60 whole seconds and forgets older ones", () => {
  const c = new MinuteCount();
  const t0 = 1_700_000_000_000;
  c.add(t0);
  c.add(t0 + 999);
  c.add(t0 + 30_500);
  assert.equal(c.total(t0 + 30_500), 3);
  // t0's second is 59 whole seconds before t0 + 59,999's: still counted.
  assert.equal(c.total(t0 + 59_999), 3);
  // One second later it is 60 seconds back: gone, and the later event stays.
  assert.equal(c.total(t0 + 60_000), 1);
  assert.equal(c.total(t0 + 91_000), 0);
  // A slot used again a minute later starts from zero.
  c.add(t0 + 120_000);
  assert.equal(c.total(t0 + 120_000), 1);
});

Deno.test("minute count - equals a list of timestamps counted per whole second (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 5_000 }), { maxLength: 300 }),
      (steps) => {
        const c = new MinuteCount();
        const seen: number[] = [];
        let now = 1_700_000_000_000;
        for (const step of steps) {
          now += step * 97; // up to about 8 minutes apart, many within one second
          c.add(now);
          seen.push(now);
          const second = Math.floor(now / 1_000);
          const expected = seen.filter((t) => Math.floor(t / 1_000) > second - 60).length;
          assert.equal(c.total(now), expected);
        }
      },
    ),
  );
});
