import assert from "node:assert/strict";
import fc from "fast-check";
import { isoTime } from "../../../actors/scheduler/iso_time.ts";

Deno.test("isoTime - the same text as toISOString, in any order of times", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: -1e13, max: 3e14 }), { minLength: 1, maxLength: 50 }),
      (times) => {
        for (const ms of times) assert.equal(isoTime(ms), new Date(ms).toISOString());
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("isoTime - milliseconds at the edges of a second, and a second that changes back", () => {
  const base = Date.UTC(2026, 10, 28, 23, 59, 59);
  for (
    const ms of [
      base,
      base + 1,
      base + 9,
      base + 10,
      base + 99,
      base + 100,
      base + 999,
      base + 1_000,
      base,
    ]
  ) {
    assert.equal(isoTime(ms), new Date(ms).toISOString());
  }
});
