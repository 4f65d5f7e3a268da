import assert from "node:assert/strict";
import { Intake } from "../../../actors/scheduler/intake.ts";

Deno.test("intake - a dependant parked on an id being checked resumes when that id settles", () => {
  const intake = new Intake<string>();
  intake.begin("parent");
  assert.equal(intake.park("child", ["parent"], "child-item"), null);
  assert.deepEqual(intake.end("parent"), ["child-item"]);
  assert.equal(intake.isPending("parent"), false);
});

Deno.test("intake - an id put back in the stream counts as coming until its time is up", () => {
  const intake = new Intake<string>();
  intake.defer("parent", 1_000);
  assert.equal(intake.isDeferred("parent", 999), true);
  assert.equal(intake.isDeferred("parent", 1_000), false);
  assert.equal(intake.isDeferred("other", 0), false);
  intake.defer("parent", 5_000);
  assert.equal(intake.isDeferred("parent", 4_000), true, "deferred again: the later time holds");
});

Deno.test("intake - the deferred set stays bounded and keeps the newest ids", () => {
  const intake = new Intake<string>();
  for (let i = 0; i < 100_001; i++) intake.defer(`t${i}`, 1_000_000 + i);
  assert.equal(intake.isDeferred("t100000", 0), true);
  assert.equal(intake.isDeferred("t0", 0), false, "the oldest went");
});

Deno.test("intake - waiting on yourself through others is a cycle", () => {
  const intake = new Intake<string>();
  intake.begin("a");
  intake.begin("b");
  assert.equal(intake.park("a", ["b"], "a"), null);
  assert.deepEqual(intake.park("b", ["a"], "b"), ["b", "a", "b"]);
});
