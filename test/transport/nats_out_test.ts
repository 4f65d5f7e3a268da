import assert from "node:assert/strict";
import fc from "fast-check";
import { connectNats } from "../../src/transport/nats.ts";
import { utf8Length } from "../../src/transport/nats_out.ts";
import type { InMsg } from "../../src/transport/types.ts";
import { TestServer } from "../_nats_server.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("nats_out - utf8Length is the length of TextEncoder's bytes, lone surrogates included", () => {
  const unit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
  fc.assert(
    fc.property(
      fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), fc.string({ unit })),
      (s) => utf8Length(s) === enc.encode(s).length,
    ),
    { numRuns: 2_000 },
  );
  assert.equal(utf8Length("\ud83d\ude00"), 4); // a pair
  assert.equal(utf8Length("\ud83d"), 3); // alone: U+FFFD
  assert.equal(utf8Length("\ude00\ud83d"), 6); // the wrong way round: two lone ones
});

Deno.test("nats_out - text and bytes, with and without headers, arrive in the order sent and byte for byte", async () => {
  await using server = await TestServer.start();
  const t = await connectNats({ servers: server.url });
  try {
    const got: InMsg[] = [];
    const all = Promise.withResolvers<void>();
    const sent: { data: string; header?: string }[] = [];
    const sub = t.subscribe("o.>", (m) => {
      got.push(m);
      if (got.length === sent.length) all.resolve();
    });
    await t.flush();
    // The text goes past nats.js's publish: count what does go through it.
    const protocol = (t.nc as unknown as { protocol: { publish: (...a: unknown[]) => void } })
      .protocol;
    const natsPublish = protocol.publish;
    let throughNats = 0;
    protocol.publish = (...a: unknown[]) => {
      throughNats++;
      natsPublish.apply(protocol, a);
    };
    const outBefore = t.nc.stats().outMsgs;
    const texts = ["plain", "", "café", "😀 emoji", "lone \ud83d surrogate", "x".repeat(70_000)];
    for (let i = 0; i < 300; i++) {
      const data = `${i}:${texts[i % texts.length]}`;
      if (i % 5 === 0) {
        t.publish(`o.${i}`, enc.encode(data)); // bytes between text: order is kept
        sent.push({ data });
      } else if (i % 3 === 0) {
        const header = i % 2 ? "värde" : "v";
        t.publish(`o.${i}`, data, { headers: { "X-I": header } });
        sent.push({ data, header });
      } else {
        t.publish(`o.${i}`, data);
        sent.push({ data });
      }
      if (i % 50 === 49) await Promise.resolve(); // some across microtasks, some within one
    }
    await all.promise;
    sub.unsubscribe();
    protocol.publish = natsPublish;
    assert.equal(throughNats, 60, "only the bytes went through nats.js's publish");
    assert.equal(t.nc.stats().outMsgs - outBefore, 300, "every message is counted");
    assert.deepEqual(
      got.map((m) => ({ subject: m.subject, header: m.header("X-I") })),
      sent.map((s, i) => ({ subject: `o.${i}`, header: s.header })),
    );
    for (let i = 0; i < got.length; i++) {
      assert.deepEqual(new Uint8Array(got[i].data), enc.encode(sent[i].data), `message ${i}`);
    }
  } finally {
    await t.close();
  }
});

Deno.test("nats_out - durable text publishes are stored with their headers and acked; a reply subject carries", async () => {
  await using server = await TestServer.start();
  const t = await connectNats({ servers: server.url });
  try {
    await t.ensureStreams([{ name: "R", subjects: ["r.>"], retention: "limits" }]);
    const acks = await Promise.all(
      Array.from(
        { length: 500 },
        (_, i) => t.publishDurable(`r.${i}`, `{"i":${i},"s":"ü"}`, { headers: { "X-N": `${i}` } }),
      ),
    );
    assert.ok(acks.every((a) => a.ok));
    const last = await t.lastMessage("R", "r.499");
    assert.equal(last && dec.decode(last.data), `{"i":499,"s":"ü"}`);
    assert.equal(last?.header("X-N"), "499");
    const dup = await t.publishDurable("r.x", "once", { msgId: "m1" });
    const again = await t.publishDurable("r.x", "once", { msgId: "m1" });
    assert.ok(dup.ok && again.ok && again.duplicate && again.seq === dup.seq);
    const refused = await t.publishDurable("r.x", "second", { expectLastSubjectSeq: 0 });
    assert.equal(!refused.ok && refused.code, "WRONG_LAST_SEQUENCE");

    const replied = Promise.withResolvers<string | undefined>();
    const sub = t.subscribe("q.a", (m) => replied.resolve(m.reply));
    await t.flush();
    t.publish("q.a", "ask", { reply: "answers.here" });
    assert.equal(await replied.promise, "answers.here");
    sub.unsubscribe();
  } finally {
    await t.close();
  }
});

Deno.test("nats_out - acks written as text settle work-queue messages, once each", async () => {
  await using server = await TestServer.start();
  const t = await connectNats({ servers: server.url });
  const observer = await connectNats({ servers: server.url });
  try {
    await t.ensureStreams([{ name: "W", subjects: ["w.>"], retention: "workqueue" }]);
    // What the consumer's side sends back, as another connection hears it.
    const answers: string[] = [];
    observer.subscribe("$JS.ACK.W.>", (m) => answers.push(dec.decode(m.data)));
    await observer.flush();
    for (let i = 0; i < 200; i++) t.publish(`w.${i}`, `${i}`);
    await t.flush();
    const spec = { stream: "W", durable: "c", maxAckPending: 1_000, ackWaitMs: 60_000, batch: 50 };
    let seen = 0;
    const all = Promise.withResolvers<void>();
    const held: { ack(): void }[] = [];
    const h = await t.consume(spec, (m) => {
      if (seen % 2) {
        m.ack();
        m.ack(); // a second ack sends nothing more
        m.nak(); // nor does a nak after the ack
      } else {
        // What a holder keeps instead of the message: it acks, once, and holds no body.
        const s = m.settler!();
        assert.notEqual(s, m);
        const kept: unknown[] = Object.values(s);
        assert.ok(
          !kept.includes(m) && !kept.includes(m.data) &&
            !kept.includes((m as unknown as { m: unknown }).m),
        );
        held.push(s);
      }
      if (++seen === 200) all.resolve();
    });
    await all.promise;
    for (const s of held) {
      s.ack();
      s.ack();
    }
    await t.flush();
    // A work-queue stream drops what was acked; the server applies acks as they come.
    const deadline = Date.now() + 10_000;
    let left = -1;
    while (Date.now() < deadline) {
      left = (await t.streamInfo("W")).messages;
      if (left === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(left, 0);
    await h.stop();
    await observer.flush(); // every ack sent before is heard by now
    assert.equal(answers.length, 200, `answers: ${answers.length}`);
    assert.ok(answers.every((a) => a === "+ACK"));
  } finally {
    await observer.close();
    await t.close();
  }
});

Deno.test("nats_out - what nats.js refuses is still refused: bad subjects, headers, sizes, a closed connection", async () => {
  await using server = await TestServer.start();
  const t = await connectNats({ servers: server.url });
  assert.throws(() => t.publish("has space", "x"), /subject/i);
  assert.throws(() => t.publish("o.x", "x", { headers: { "Bad:Name": "v" } }), /header/);
  assert.throws(() => t.publish("o.x", "x", { headers: { "X-A": "a\r\nb" } }), /\\r/);
  // The test server's max_payload is 8 MB: 4.5 million é are 9 MB.
  assert.throws(() => t.publish("o.x", "é".repeat(4_500_000)), /max_payload/);
  const big = await t.publishDurable("o.x", "y".repeat(9_000_000));
  assert.equal(!big.ok && big.code, "ERROR");
  assert.match(!big.ok ? big.message : "", /max_payload/);
  await t.close();
  assert.throws(() => t.publish("o.x", "after"), /closed/i);
});
