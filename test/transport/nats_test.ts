import assert from "node:assert/strict";
import { connectNats } from "../../src/transport/nats.ts";
import { TestServer } from "../_nats_server.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("nats transport - durable publish acks, de-duplicates and enforces the expected last subject sequence", async () => {
  await using server = await TestServer.start();
  const t = await connectNats({ servers: server.url });
  try {
    await t.ensureStreams([{ name: "R", subjects: ["r.>"], retention: "limits" }]);
    await t.ensureStreams([{ name: "R", subjects: ["r.>"], retention: "limits" }]); // idempotent
    const first = await t.publishDurable("r.a", enc.encode("1"), {
      expectLastSubjectSeq: 0,
      msgId: "a",
    });
    assert.deepEqual(first, { ok: true, seq: 1, duplicate: false });
    const dup = await t.publishDurable("r.a", enc.encode("1"), { msgId: "a" });
    assert.deepEqual(dup, { ok: true, seq: 1, duplicate: true });
    const second = await t.publishDurable("r.a", enc.encode("2"), { expectLastSubjectSeq: 0 });
    assert.equal(second.ok, false);
    assert.equal(!second.ok && second.code, "WRONG_LAST_SEQUENCE");
    const none = await t.publishDurable("nowhere.x", enc.encode("x"));
    assert.equal(!none.ok && none.code, "NO_STREAM");
    const last = await t.lastMessage("R", "r.a");
    assert.equal(last && dec.decode(last.data), "1");
    assert.equal(await t.lastMessage("R", "r.zzz"), null);
    // Many in flight at once, all acked in order of sequence.
    const acks = await Promise.all(
      Array.from({ length: 2_000 }, (_, i) => t.publishDurable(`r.m${i}`, enc.encode(String(i)))),
    );
    assert.ok(acks.every((a) => a.ok));
    assert.equal(new Set(acks.map((a) => a.ok && a.seq)).size, 2_000);
  } finally {
    await t.close();
  }
});

Deno.test("nats transport - a work-queue consumer bounds unacked messages and redelivers after a reset", async () => {
  await using server = await TestServer.start();
  const t = await connectNats({ servers: server.url });
  try {
    await t.ensureStreams([{ name: "W", subjects: ["w.>"], retention: "workqueue" }]);
    for (let i = 0; i < 10; i++) t.publish(`w.${i}`, enc.encode(String(i)));
    await t.flush();
    const spec = { stream: "W", durable: "c", maxAckPending: 4, ackWaitMs: 60_000, batch: 10 };
    const got: number[] = [];
    const four = Promise.withResolvers<void>();
    const h = await t.consume(spec, (m) => {
      got.push(Number(dec.decode(m.data)));
      if (got.length === 4) four.resolve();
    });
    await four.promise;
    await t.request("$JS.API.INFO", new Uint8Array()); // a round trip: nothing more may arrive while 4 are pending
    assert.deepEqual(got, [0, 1, 2, 3]);
    await h.stop();
    // Nothing was acked: a reset hands all ten out again at once.
    await t.resetConsumer(spec);
    const again: number[] = [];
    const all = Promise.withResolvers<void>();
    const h2 = await t.consume({ ...spec, maxAckPending: 100 }, (m) => {
      again.push(Number(dec.decode(m.data)));
      m.ack();
      if (again.length === 10) all.resolve();
    });
    await all.promise;
    await h2.stop();
    assert.deepEqual(again, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  } finally {
    await t.close();
  }
});

Deno.test("nats transport - KV compare-and-set lets exactly one writer win a revision", async () => {
  await using server = await TestServer.start();
  const a = await connectNats({ servers: server.url });
  const b = await connectNats({ servers: server.url });
  try {
    const ka = await a.kv("lease_test");
    const kb = await b.kv("lease_test");
    const rev = await ka.create("leader", enc.encode("a"));
    assert.ok(rev);
    assert.equal(await kb.create("leader", enc.encode("b")), null);
    const [x, y] = await Promise.all([
      ka.update("leader", enc.encode("a2"), rev!),
      kb.update("leader", enc.encode("b2"), rev!),
    ]);
    assert.equal([x, y].filter((r) => r !== null).length, 1);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("nats transport - survives a server restart and reports disconnect and reconnect", async () => {
  await using server = await TestServer.start();
  const t = await connectNats({ servers: server.url });
  try {
    const events: string[] = [];
    const reconnected = Promise.withResolvers<void>();
    t.onConnection((e) => {
      events.push(e.type);
      if (e.type === "reconnected") reconnected.resolve();
    });
    await server.restart();
    await reconnected.promise;
    const reply = Promise.withResolvers<string>();
    t.subscribe("echo", (m) => t.respond(m, m.data));
    await t.flush();
    t.request("echo", enc.encode("hi")).then((m) => reply.resolve(dec.decode(m.data)));
    assert.equal(await reply.promise, "hi");
    assert.deepEqual(events.slice(0, 2), ["disconnected", "reconnected"]);
  } finally {
    await t.close();
  }
});

Deno.test("nats transport - readStream filters by subject on nats-server 2.9", async () => {
  await using server = await TestServer.start();
  const t = await connectNats({ servers: server.url });
  try {
    await t.ensureStreams([{ name: "F", subjects: ["f.>"], retention: "limits" }]);
    for (const s of ["f.a.1", "f.b.1", "f.a.2", "f.b.2", "f.a.3"]) {
      await t.publishDurable(s, enc.encode(s));
    }
    const a = await t.readStream("F", { filterSubject: "f.a.*" });
    assert.deepEqual(a.map((m) => dec.decode(m.data)), ["f.a.1", "f.a.2", "f.a.3"]);
    const all = await t.readStream("F");
    assert.equal(all.length, 5);
  } finally {
    await t.close();
  }
});

Deno.test("nats transport - forEachSubject lists every subject of a stream a page at a time", async () => {
  await using server = await TestServer.start();
  const t = await connectNats({ servers: server.url });
  try {
    await t.ensureStreams([{ name: "S", subjects: ["s.>"], retention: "limits" }]);
    assert.equal(await t.forEachSubject("S", "s.>", () => assert.fail("empty stream")), 0);
    // More than one page: the server sends at most 100,000 subjects per page.
    const n = 120_500;
    for (let i = 0; i < n; i += 5_000) {
      await Promise.all(
        Array.from(
          { length: Math.min(5_000, n - i) },
          (_, k) => t.publishDurable(`s.id-${i + k}`, enc.encode("x")),
        ),
      );
    }
    await t.publishDurable("s.id-7", enc.encode("again")); // one subject, two messages
    const seen = new Set<string>();
    const listed = await t.forEachSubject("S", "s.>", (s) => seen.add(s));
    assert.equal(listed, n);
    assert.equal(seen.size, n);
    for (const i of [0, 7, 99_999, 100_000, n - 1]) assert.ok(seen.has(`s.id-${i}`), `s.id-${i}`);
    await assert.rejects(
      t.forEachSubject("NOPE", ">", () => {}),
      /cannot list the subjects of NOPE/,
    );
  } finally {
    await t.close();
  }
});

Deno.test("nats transport - headers go out as given and are read by name in any spelling; bad names and values are refused", async () => {
  await using server = await TestServer.start();
  const t = await connectNats({ servers: server.url });
  try {
    const got = Promise.withResolvers<{ [k: string]: string | undefined }>();
    const sub = t.subscribe("h.x", (m) =>
      got.resolve({
        exact: m.header("X-Trace"),
        lower: m.header("x-trace"),
        upper: m.header("X-TRACE"),
        second: m.header("Nats-Msg-Id"),
        empty: m.header("X-Empty"),
        absent: m.header("X-Absent"),
        longer: m.header("X-Trace-Id"),
      }));
    await t.flush();
    t.publish("h.x", enc.encode("x"), {
      headers: { "X-Trace": "abc 123", "Nats-Msg-Id": " padded ", "X-Empty": "" },
    });
    assert.deepEqual(await got.promise, {
      exact: "abc 123",
      lower: "abc 123",
      upper: "abc 123",
      second: "padded", // values are trimmed, as nats.js trims them
      empty: "",
      absent: undefined,
      longer: undefined,
    });
    sub.unsubscribe();
    assert.throws(
      () => t.publish("h.x", enc.encode("x"), { headers: { "Bad:Name": "v" } }),
      /header/,
    );
    assert.throws(() => t.publish("h.x", enc.encode("x"), { headers: { "X-A": "a\r\nb" } }), /\\r/);
  } finally {
    await t.close();
  }
});
