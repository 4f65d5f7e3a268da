/**
 * The audit trail's format and its flood control, on a manual clock.
 */

import assert from "node:assert/strict";
import { Audit, type AuditEvent, outcomeOf } from "../../actors/audit.ts";
import { subjects } from "../../src/protocol/subjects.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import type { LogFields, Logger } from "../../src/log.ts";

const T0 = Date.UTC(2026, 0, 1);
const dec = new TextDecoder();

function world(perSecond = 3) {
  const clock = new ManualClock(T0);
  const raw: string[] = [];
  const lines: LogFields[] = [];
  const log: Logger = {
    debug() {},
    info(msg, fields) {
      assert.equal(msg, "audit");
      lines.push(fields ?? {});
    },
    warn() {},
    error() {},
    with: () => log,
  };
  const audit = new Audit({
    node: "n1",
    clock,
    log,
    publish: (data) => raw.push(dec.decode(data)),
    perSecond,
  });
  const events = () => raw.map((r) => JSON.parse(r) as AuditEvent);
  return { clock, raw, lines, audit, events };
}

Deno.test("audit - an event has seq, at, who, action, target, outcome, code, message and node, and is logged too", () => {
  const w = world();
  w.audit.record({
    who: "alice",
    action: "tasks.submit",
    target: "t1",
    outcome: "rejected",
    code: "RESOURCE_EXHAUSTED",
    message: 'user "alice" is over its in-flight limit of 2 tasks: try again when some end',
  });
  w.clock.advance(5);
  w.audit.record({ who: "ops", action: "tasks.cancel", target: "t2", outcome: "ok" });
  assert.deepEqual(w.events(), [
    {
      seq: 1,
      at: "2026-01-01T00:00:00.000Z",
      who: "alice",
      action: "tasks.submit",
      target: "t1",
      outcome: "rejected",
      code: "RESOURCE_EXHAUSTED",
      message: 'user "alice" is over its in-flight limit of 2 tasks: try again when some end',
      node: "n1",
    },
    {
      seq: 2,
      at: "2026-01-01T00:00:00.005Z",
      who: "ops",
      action: "tasks.cancel",
      target: "t2",
      outcome: "ok",
      node: "n1",
    },
  ]);
  assert.deepEqual(w.lines, w.events(), "the log line carries the same fields");
  // The documented key order.
  assert.deepEqual(Object.keys(w.events()[0]), [
    "seq",
    "at",
    "who",
    "action",
    "target",
    "outcome",
    "code",
    "message",
    "node",
  ]);
});

Deno.test("audit - anything shaped like a JWT is blanked and long messages are cut", () => {
  const w = world();
  const jwt =
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLW9mLWEtdG9rZW4tdGhhdC1pcy1sb25n";
  w.audit.record({
    who: null,
    action: "tasks.submit",
    target: "t1",
    outcome: "rejected",
    code: "INVALID_ARGUMENT",
    message: `id must be …: got "${jwt}"`,
  });
  w.audit.record({
    who: null,
    action: "tasks.submit",
    target: "t2",
    outcome: "rejected",
    code: "INVALID_ARGUMENT",
    message: "x".repeat(5_000),
  });
  assert.ok(!w.raw.join("\n").includes(jwt));
  assert.ok(!w.raw.join("\n").includes("eyJzdWIiOiJhbGljZSJ9"));
  assert.equal(w.events()[0].message, 'id must be …: got "<jwt>"');
  assert.equal(w.events()[1].message!.length, 300);
});

Deno.test("audit - beyond the budget of a second, events are coalesced per who, action, outcome and code, and published when the second ends", () => {
  const w = world(3);
  const garbage = (i: number) =>
    w.audit.record({
      who: null,
      action: "tasks.submit",
      target: `g${i}`,
      outcome: "denied",
      code: "UNAUTHENTICATED",
      message: `token rejected: bad ${i}`,
    });
  for (let i = 0; i < 1_000; i++) garbage(i);
  w.audit.record({
    who: "alice",
    action: "tasks.submit",
    target: "a1",
    outcome: "rejected",
    code: "RESOURCE_EXHAUSTED",
    message: "over",
  });
  assert.equal(w.raw.length, 3, "three one by one, the rest held back");
  assert.equal(w.clock.pending, 1, "one timer for the whole audit, none per event or user");
  w.clock.advance(1_000);
  const held = w.events().slice(3);
  assert.deepEqual(held, [
    {
      seq: 4,
      at: "2026-01-01T00:00:01.000Z",
      who: null,
      action: "tasks.submit",
      target: null,
      outcome: "denied",
      code: "UNAUTHENTICATED",
      message: "token rejected: bad 3",
      repeated: 997,
      node: "n1",
    },
    {
      seq: 5,
      at: "2026-01-01T00:00:01.000Z",
      who: "alice",
      action: "tasks.submit",
      target: null,
      outcome: "rejected",
      code: "RESOURCE_EXHAUSTED",
      message: "over",
      repeated: 1,
      node: "n1",
    },
  ]);
  // A new second has a new budget.
  garbage(2_000);
  assert.equal(w.events().at(-1)!.target, "g2000");
  assert.equal(w.clock.pending, 0);
});

Deno.test("audit - many users over the budget fold into one group without who", () => {
  const w = world(0);
  for (let i = 0; i < 5_000; i++) {
    w.audit.record({
      who: `u${i}`,
      action: "tasks.submit",
      target: `t${i}`,
      outcome: "rejected",
      code: "RESOURCE_EXHAUSTED",
      message: "over",
    });
  }
  w.audit.flush();
  const events = w.events();
  assert.equal(events.length, 101);
  assert.equal(events.filter((e) => e.who !== null).length, 100);
  const folded = events.find((e) => e.who === null)!;
  assert.equal(folded.repeated, 4_900);
  assert.equal(events.reduce((n, e) => n + e.repeated!, 0), 5_000, "every event is counted");
  assert.equal(w.clock.pending, 0, "flush leaves no timer behind");
});

Deno.test("audit - auth failures are denied, every other refusal rejected", () => {
  assert.equal(outcomeOf("UNAUTHENTICATED"), "denied");
  assert.equal(outcomeOf("PERMISSION_DENIED"), "denied");
  assert.equal(outcomeOf("RESOURCE_EXHAUSTED"), "rejected");
  assert.equal(outcomeOf("INVALID_ARGUMENT"), "rejected");
});

Deno.test("audit - monitor.audit follows the subject prefix", () => {
  assert.equal(subjects().monitorAudit, "monitor.audit");
  assert.equal(subjects("prod").monitorAudit, "prod.monitor.audit");
});
