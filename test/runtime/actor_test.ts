import assert from "node:assert/strict";
import type { ActorRef, Behavior } from "../../src/runtime/actor.ts";
import { Harness } from "./_harness.ts";

type Msg =
  | { type: "work"; n: number; gate?: Promise<void> }
  | { type: "later"; n: number; ms: number }
  | { type: "read"; replyTo: ActorRef<number[]> }
  | { type: "ignore" };

const worker: Behavior<Msg, number[]> = {
  init: () => [],
  async receive(state, msg, ctx) {
    switch (msg.type) {
      case "work":
        if (msg.gate) await msg.gate;
        return [...state, msg.n];
      case "later":
        ctx.schedule(msg.ms, { type: "work", n: msg.n });
        return state;
      case "read":
        msg.replyTo.send(state);
        return state;
      case "ignore":
        return state;
    }
  },
};

async function start(capacity = 100) {
  const h = new Harness();
  const root = await h.start({
    kind: "supervisor",
    id: "root",
    children: [{ kind: "actor", id: "w", behavior: worker, mailbox: { capacity } }],
  });
  return { h, ref: root.ref<Msg>("w") };
}

Deno.test("actor - handles one message at a time even when receive awaits", async () => {
  const { ref } = await start();
  const gate = Promise.withResolvers<void>();
  ref.send({ type: "work", n: 1, gate: gate.promise });
  ref.send({ type: "work", n: 2 });
  const reading = ref.ask<number[]>((replyTo) => ({ type: "read", replyTo }));
  await Promise.resolve();
  gate.resolve();
  assert.deepEqual(await reading, [1, 2]);
});

Deno.test("actor - ask times out on the injected clock", async () => {
  const { h, ref } = await start();
  const asking = ref.ask<number[]>(() => ({ type: "ignore" }), 250);
  h.clock.advance(249);
  let settled = false;
  asking.catch(() => (settled = true));
  await Promise.resolve();
  assert.equal(settled, false);
  h.clock.advance(1);
  await assert.rejects(asking, /no reply from t\/root\/w within 250 ms/);
});

Deno.test("actor - a full mailbox refuses and counts a dead letter", async () => {
  const { h, ref } = await start(3);
  const gate = Promise.withResolvers<void>();
  assert.equal(ref.send({ type: "work", n: 1, gate: gate.promise }), true);
  await Promise.resolve();
  assert.equal(ref.send({ type: "work", n: 2 }), true);
  assert.equal(ref.send({ type: "work", n: 3 }), true);
  const reading = ref.ask<number[]>((replyTo) => ({ type: "read", replyTo }));
  assert.equal(ref.send({ type: "work", n: 4 }), false);
  assert.equal(h.system.deadLetters.byReason["mailbox full"], 1);
  gate.resolve();
  assert.deepEqual(await reading, [1, 2, 3]);
});

Deno.test("actor - scheduled messages arrive on the clock and stop with the actor", async () => {
  const { h, ref } = await start();
  ref.send({ type: "later", n: 7, ms: 1_000 });
  await ref.ask<number[]>((replyTo) => ({ type: "read", replyTo }));
  assert.equal(h.clock.pending, 1);
  h.clock.advance(1_000);
  assert.deepEqual(await ref.ask<number[]>((replyTo) => ({ type: "read", replyTo })), [7]);
  ref.send({ type: "later", n: 8, ms: 1_000 });
  await ref.ask<number[]>((replyTo) => ({ type: "read", replyTo }));
  await h.system.stop();
  assert.equal(h.clock.pending, 0);
  assert.equal(ref.send({ type: "ignore" }), false);
});

Deno.test("actor - two actors that keep each other busy do not starve I/O and timers", async () => {
  type Ping = { type: "ping"; n: number } | { type: "peer"; ref: ActorRef<Ping> } | {
    type: "stop";
  };
  let exchanged = 0;
  let stopped = false;
  const pinger: Behavior<Ping, ActorRef<Ping> | null> = {
    init: () => null,
    receive(peer, msg) {
      if (msg.type === "peer") return msg.ref;
      if (msg.type === "stop") {
        stopped = true;
        return peer;
      }
      exchanged++;
      // One message a run: each run empties the mailbox, so no actor ever reaches its batch limit.
      if (!stopped) peer?.send({ type: "ping", n: msg.n + 1 });
      return peer;
    },
  };
  const h = new Harness();
  const root = await h.start({
    kind: "supervisor",
    id: "root",
    children: [
      { kind: "actor", id: "a", behavior: pinger },
      { kind: "actor", id: "b", behavior: pinger },
    ],
  });
  const a = root.ref<Ping>("a");
  const b = root.ref<Ping>("b");
  a.send({ type: "peer", ref: b });
  b.send({ type: "peer", ref: a });
  a.send({ type: "ping", n: 0 });
  // A real timer (the event loop's, not the harness clock) must fire while they play.
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, 10));
  const waited = performance.now() - t0;
  a.send({ type: "stop" });
  b.send({ type: "stop" });
  assert.ok(exchanged > 100, `they did play: ${exchanged} messages`);
  assert.ok(waited < 500, `a 10 ms timer fired after ${waited.toFixed(0)} ms`);
  await h.system.stop();
});
