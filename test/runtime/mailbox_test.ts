import assert from "node:assert/strict";
import fc from "fast-check";
import { Deque, Mailbox } from "../../src/runtime/mailbox.ts";

Deno.test("mailbox - reject policy refuses beyond capacity, system lane is unbounded", () => {
  const m = new Mailbox<number, string>(2, "reject");
  assert.equal(m.offer(1).accepted, true);
  assert.equal(m.offer(2).accepted, true);
  assert.equal(m.offer(3).accepted, false);
  m.offerSystem("stop");
  m.offerSystem("stop2");
  assert.equal(m.size, 4);
});

Deno.test("mailbox - drop-oldest keeps the newest and hands back the dropped", () => {
  const m = new Mailbox<number, string>(2, "drop-oldest");
  m.offer(1);
  m.offer(2);
  const o = m.offer(3);
  assert.deepEqual(o, { accepted: true, dropped: 1 });
  assert.deepEqual(m.user.clear(), [2, 3]);
});

Deno.test("mailbox - capacity must be a positive integer", () => {
  assert.throws(() => new Mailbox(0), /capacity must be a positive integer: got 0/);
});

Deno.test("deque - behaves as a FIFO across growth", () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.integer(), fc.constant(null))), (ops) => {
      const d = new Deque<number>(2);
      const model: number[] = [];
      for (const op of ops) {
        if (op === null) assert.equal(d.shift(), model.shift());
        else {
          d.push(op);
          model.push(op);
        }
        assert.equal(d.size, model.length);
      }
    }),
  );
});
