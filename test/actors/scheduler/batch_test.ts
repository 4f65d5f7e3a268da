/**
 * A batch message seen as one message per task (actors/scheduler/batch.ts):
 * acked once, with its last task; put back once; parts ordered like the
 * batch, between the messages before and after it.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import type { DurableMsg } from "../../../src/internal_mod.ts";
import { runsBefore } from "../../../src/sched/task_order.ts";
import { BatchDelivery, streamSeqOf } from "../../../actors/scheduler/batch.ts";

function fakeMsg(seq: number) {
  const calls: string[] = [];
  const msg: DurableMsg = {
    subject: "tasks.submit.echo",
    data: new Uint8Array(),
    seq,
    deliveries: 1,
    storedAt: 0,
    header: (n) => (n === "Authorization" ? "Bearer x" : undefined),
    ack: () => calls.push("ack"),
    nak: (d) => calls.push(`nak ${d}`),
    working: () => calls.push("working"),
    term: () => calls.push("term"),
  };
  return { msg, calls };
}

Deno.test("batch delivery - the message is acked once, when its last part settles, in any order, with repeats", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 50 }).chain((n) =>
        fc.tuple(fc.constant(n), fc.array(fc.nat({ max: n - 1 }), { maxLength: 200 }))
      ),
      ([n, extra]) => {
        const { msg, calls } = fakeMsg(7);
        const d = new BatchDelivery(msg, n);
        const parts = Array.from({ length: n }, (_, i) => d.part(i));
        for (const i of extra) parts[i].ack(); // repeats and a partial set
        const settled = new Set(extra).size;
        assert.deepEqual(calls, settled === n ? ["ack"] : []);
        for (const p of parts) p.ack();
        assert.deepEqual(calls, ["ack"]);
        assert.equal(d.left, 0);
      },
    ),
  );
});

Deno.test("batch delivery - a part put back puts the message back once; nothing is acked after", () => {
  const { msg, calls } = fakeMsg(3);
  const d = new BatchDelivery(msg, 3);
  const [a, b, c] = [d.part(0), d.part(1), d.part(2)];
  a.ack();
  b.nak(1_000);
  c.nak(200);
  c.ack();
  b.working();
  assert.deepEqual(calls, ["nak 1000", "working"]);
  // term settles the part alone (it is never delivered again as far as the batch goes).
  const t = fakeMsg(4);
  const e = new BatchDelivery(t.msg, 2);
  e.part(0).term();
  assert.deepEqual(t.calls, []);
  e.part(1).ack();
  assert.deepEqual(t.calls, ["ack"]);
});

Deno.test("batch delivery - parts keep the message's stream sequence and order like the batch", () => {
  const before = fakeMsg(41).msg;
  const { msg } = fakeMsg(42);
  const after = fakeMsg(43).msg;
  const d = new BatchDelivery(msg, 1_000);
  const parts = Array.from({ length: 1_000 }, (_, i) => d.part(i));
  const key = (m: DurableMsg) => ({ priority: 5, deadline: Infinity, seq: m.seq });
  for (const [i, p] of parts.entries()) {
    assert.equal(streamSeqOf(p), 42);
    assert.equal(p.subject, msg.subject);
    assert.equal(p.header("Authorization"), "Bearer x");
    assert.ok(runsBefore(key(before), key(p)));
    assert.ok(runsBefore(key(p), key(after)));
    if (i > 0) assert.ok(runsBefore(key(parts[i - 1]), key(p)));
  }
  assert.equal(streamSeqOf(msg), 42);
});
