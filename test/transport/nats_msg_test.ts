import assert from "node:assert/strict";
import fc from "fast-check";
import { connectNats } from "../../src/transport/nats.ts";
import {
  ackInfo,
  firstValues,
  headerIn,
  inMsg,
  type JsDurable,
  MS,
  plainPubAck,
  pubAckId,
  receivedHeaders,
  toHeaders,
} from "../../src/transport/nats_msg.ts";
import { type Msg, type MsgHdrs, MsgHdrsImpl } from "@nats-io/transport-node";
import { TestServer } from "../_nats_server.ts";

Deno.test("nats_msg - ackInfo reads both forms of a JetStream reply subject and refuses others", () => {
  const ts = "1764380000123456789";
  assert.deepEqual(ackInfo(`$JS.ACK.TASKS.scheduler.3.1234.99.${ts}.7`), {
    seq: 1234,
    deliveries: 3,
    ms: 1764380000123,
  });
  assert.deepEqual(ackInfo(`$JS.ACK._.ACCHASH.TASKS.scheduler.1.42.5.${ts}.0`), {
    seq: 42,
    deliveries: 1,
    ms: 1764380000123,
  });
  assert.deepEqual(ackInfo(`$JS.ACK.hub.ACCHASH.TASKS.scheduler.2.43.6.${ts}.0.r4nd0m`), {
    seq: 43,
    deliveries: 2,
    ms: 1764380000123,
  });
  for (
    const bad of [
      "",
      "_INBOX.abc.1",
      "$JS.ACK.TASKS.scheduler.3.1234.99.12345.7", // a time of under a millisecond
      "$JS.ACK.TASKS.scheduler.3.1234.99", // too few tokens
      `$JS.ACK.TASKS.scheduler.x.1234.99.${ts}.7`, // not a number
      `$JS.ACK.TASKS.scheduler..1234.99.${ts}.7`, // empty
      `$JS.ACK.a.b.c.d.e.f.g.h.i.j.k.l.m`, // too many
    ]
  ) assert.equal(ackInfo(bad), null, bad);
});

Deno.test("nats_msg - plainPubAck reads what JSON.parse reads of a successful PubAck, and nothing else", () => {
  const enc = new TextEncoder();
  const name = fc.stringMatching(/^[A-Za-z0-9_-]{1,32}$/);
  const ws = fc.stringMatching(/^[ \t\r\n]{0,2}$/);
  fc.assert(
    fc.property(
      name,
      fc.option(name),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      fc.option(fc.boolean()),
      fc.array(ws, { minLength: 8, maxLength: 8 }),
      (stream, domain, seq, duplicate, w) => {
        // As nats-server's template writes it, with any JSON white space where it puts a space.
        let text = `{"stream":${w[0]}"${stream}",${w[1]}`;
        if (domain !== null) text += `"domain":${w[2]}"${domain}",${w[3]}`;
        text += `"seq":${w[4]}${seq}${w[5]}`;
        if (duplicate !== null) text += `,${w[6]}"duplicate":${w[7]}${duplicate}`;
        text += "}";
        const read = plainPubAck(enc.encode(text));
        // Short bodies and white space before the stream's name are left to JSON.parse; what is
        // read must be what JSON reads.
        if (read === null) return text.length < 20 || w[0] !== "";
        const json = JSON.parse(text);
        assert.deepEqual(read, { seq: json.seq, duplicate: json.duplicate ?? false });
        return true;
      },
    ),
    { numRuns: 2_000 },
  );
  for (
    const bad of [
      '{"error":{"code":503,"err_code":10077,"description":"maximum messages per subject exceeded"}}',
      '{"stream":"RESULTS","error":{"code":400,"description":"x"},"seq":5}',
      '{"stream":"RESULTS","seq":}',
      '{"stream":"RESULTS","seq":-5}',
      '{"stream":"RESULTS","seq":12a}',
      '{"stream":"RESULTS","seq":99999999999999999}',
      '{"stream":"RESULTS","sequence":5}',
      '{"stream":"RESULTS","seq":5',
      '{"stream":"RESULTS", "seq":5,"duplicate": maybe}',
      "+ACK",
      "",
    ]
  ) assert.equal(plainPubAck(enc.encode(bad)), null, bad);
  assert.deepEqual(plainPubAck(enc.encode('{"stream":"TASKS", "seq":18,"duplicate": true}')), {
    seq: 18,
    duplicate: true,
  });
});

Deno.test("nats_msg - plainPubAck reads the PubAcks a real nats-server sends, duplicates too", async () => {
  await using server = await TestServer.start();
  const t = await connectNats({ servers: server.url });
  try {
    await t.ensureStreams([{ name: "P", subjects: ["p.>"], retention: "limits" }]);
    const send = (id: string) =>
      t.nc.request("p.x", new TextEncoder().encode("x"), {
        timeout: 5_000,
        headers: toHeaders({ "Nats-Msg-Id": id }),
      });
    const first = await send("a");
    const again = await send("a");
    const next = await send("b");
    assert.deepEqual(plainPubAck(first.data), { seq: 1, duplicate: false }, first.string());
    assert.deepEqual(plainPubAck(again.data), { seq: 1, duplicate: true }, again.string());
    assert.deepEqual(plainPubAck(next.data), { seq: 2, duplicate: false }, next.string());
  } finally {
    await t.close();
  }
});

Deno.test("nats_msg - a delivery's sequence, count and time agree with nats.js's own reading", async () => {
  await using server = await TestServer.start();
  const t = await connectNats({ servers: server.url });
  try {
    await t.ensureStreams([{ name: "W", subjects: ["w.>"], retention: "workqueue" }]);
    for (let i = 0; i < 5; i++) t.publish(`w.${i}`, `${i}`);
    await t.flush();
    const spec = { stream: "W", durable: "c", maxAckPending: 100, ackWaitMs: 60_000, batch: 10 };
    const seen: JsDurable[] = [];
    const all = Promise.withResolvers<void>();
    const h = await t.consume(spec, (m) => {
      const d = m as JsDurable;
      seen.push(d);
      // The first delivery of the first message is put back once: a second delivery to compare.
      if (d.seq === 1 && d.deliveries === 1) d.nak();
      else d.ack();
      if (seen.length === 6) all.resolve();
    });
    await all.promise;
    await h.stop();
    for (const d of seen) {
      const info = d.m.info;
      assert.equal(d.seq, info.streamSequence);
      assert.equal(d.deliveries, info.deliveryCount);
      // nats.js reads the nanoseconds into a float: its milliseconds may be one off.
      assert.ok(Math.abs(d.storedAt - Math.floor(info.timestampNanos / MS)) <= 1);
      assert.ok(Math.abs(d.storedAt - Date.now()) < 60_000);
    }
    assert.deepEqual(seen.map((d) => [d.seq, d.deliveries]).sort(), [
      [1, 1],
      [1, 2],
      [2, 1],
      [3, 1],
      [4, 1],
      [5, 1],
    ]);
  } finally {
    await t.close();
  }
});

Deno.test("nats_msg - headers read from a delivery's bytes agree with nats.js's own reading, core and JetStream", async () => {
  await using server = await TestServer.start();
  const t = await connectNats({ servers: server.url });
  try {
    await t.ensureStreams([{ name: "H", subjects: ["h.>"], retention: "workqueue" }]);
    // Names and values nats.js sends: tokens of printable ASCII, values without line breaks.
    const name = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}$/);
    const value = fc.stringMatching(/^[ -~]{0,40}$/);
    const samples = fc.sample(
      fc.dictionary(name, value, { minKeys: 0, maxKeys: 5 }),
      { numRuns: 60, seed: 7 },
    );
    // Compared after the messages are in: a callback that threw would only stop its subscription.
    type Seen = { asked: string; ours: string | undefined; theirs: string | undefined };
    const core: Seen[] = [];
    const js: Seen[] = [];
    const compare = (
      into: Seen[],
      i: number,
      ours: (n: string) => unknown,
      theirs: MsgHdrs | undefined,
    ) => {
      for (const k of [...Object.keys(samples[i]), "Missing"]) {
        for (const asked of [k, k.toLowerCase(), k.toUpperCase()]) {
          let o: unknown;
          try {
            o = ours(asked);
          } catch (err) {
            o = `threw ${err}`;
          }
          into.push({
            asked: `${i}: ${asked}`,
            ours: o as string,
            theirs: headerIn(firstValues(theirs), asked),
          });
        }
      }
    };
    let heard = 0;
    const got = Promise.withResolvers<void>();
    t.nc.subscribe("c.>", {
      callback: (_err, m) => {
        const ours = inMsg(m);
        compare(core, Number(m.subject.slice(2)), (n) => ours.header(n), m.headers);
        if (++heard === samples.length) got.resolve();
      },
    });
    samples.forEach((h, i) => {
      const headers = Object.keys(h).length ? h : undefined;
      t.publish(`c.${i}`, "x", { headers });
      t.publish(`h.${i}`, "x", { headers });
    });
    await t.flush();
    await got.promise;

    const spec = { stream: "H", durable: "c", maxAckPending: 100, ackWaitMs: 60_000, batch: 20 };
    let n = 0;
    const all = Promise.withResolvers<void>();
    const h = await t.consume(spec, (m) => {
      const d = m as JsDurable;
      compare(js, Number(d.subject.slice(2)), (n) => d.header(n), d.m.headers);
      d.ack();
      if (++n === samples.length) all.resolve();
    });
    await all.promise;
    await h.stop();
    for (const c of [...core, ...js]) assert.equal(c.ours, c.theirs, c.asked);
    assert.equal(js.length, core.length);
    assert.ok(core.some((c) => c.ours !== undefined && c.ours !== ""), "some headers were read");
  } finally {
    await t.close();
  }
});

/** A received message as nats.js holds it: its bytes and the length of the header block. */
const received = (header: string, body = "x") => {
  const h = new TextEncoder().encode(header);
  const b = new TextEncoder().encode(body);
  return {
    _rdata: new Uint8Array([...h, ...b]),
    _msg: { hdr: h.length },
    get headers(): MsgHdrs {
      return MsgHdrsImpl.decode(h);
    },
  } as unknown as Msg;
};

Deno.test("nats_msg - header blocks nats.js reads are read the same from their bytes; ones it throws on are read too", () => {
  const blocks = [
    "NATS/1.0\r\nA: 1\r\nA: 2\r\nb: 3\r\n\r\n",
    "NATS/1.0\r\nEmpty:\r\nempty: later\r\nX-Y:  spaced  \r\n\r\n",
    "NATS/1.0 503 No Responders\r\n\r\n",
    "NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 7\r\n\r\n",
    "NATS/1.0\r\nNoColon\r\nK: v: w\r\nK2:v\r\n\r\n",
    "NATS/1.0\r\nLast: no final line break",
  ];
  const names = [
    "A",
    "a",
    "b",
    "B",
    "Empty",
    "EMPTY",
    "X-Y",
    "x-y",
    "Nats-Pending-Messages",
    "K",
    "K2",
  ];
  for (const block of blocks) {
    const m = received(block);
    const ours = receivedHeaders(m);
    for (const n of [...names, "Last", "Missing"]) {
      assert.equal(
        headerIn(ours, n),
        headerIn(firstValues(m.headers), n),
        `${JSON.stringify(block)}: ${n}`,
      );
    }
  }
  // The look-up itself: the first value of the name as given, else of the first other spelling.
  const look = (block: string, name: string) => headerIn(receivedHeaders(received(block)), name);
  assert.equal(look(blocks[0], "A"), "1");
  assert.equal(look(blocks[0], "a"), "1");
  assert.equal(look(blocks[0], "B"), "3");
  assert.equal(look(blocks[1], "EMPTY"), "");
  assert.equal(look(blocks[1], "x-y"), "spaced");
  assert.equal(look(blocks[4], "K"), "v: w");
  assert.equal(look(blocks[0], "Missing"), undefined);
  // Names nats.js throws on: read from the bytes, the valid ones next to them still answer.
  for (const bad of ["Bad Name", "Grüße", "Tab\tName"]) {
    const m = received(`NATS/1.0\r\n${bad}: x\r\nAuthorization: Bearer t\r\n\r\n`);
    assert.throws(() => m.headers, `nats.js reads ${bad}`);
    const ours = receivedHeaders(m);
    assert.equal(headerIn(ours, "Authorization"), "Bearer t");
    assert.equal(headerIn(ours, bad), "x");
  }
  // No headers, and a message object that is not what this was written against: nats.js reads it.
  assert.equal(receivedHeaders({ _rdata: new Uint8Array(1), _msg: { hdr: -1 } } as never).size, 0);
  const other = {
    headers: MsgHdrsImpl.decode(new TextEncoder().encode("NATS/1.0\r\nZ: 9\r\n\r\n")),
  };
  assert.equal(headerIn(receivedHeaders(other as never), "Z"), "9");
  const moved = { ...received("NATS/1.0\r\nZ: 1\r\n\r\n"), _msg: { hdr: 2 } } as never;
  // A header length that cannot be one ("NA" is no header block): nats.js's own reading answers.
  assert.equal(headerIn(receivedHeaders(moved), "Z"), "1");
});

Deno.test("nats_msg - pubAckId reads the number a PubAck's subject ends with, from its bytes or its text", () => {
  const inbox = "_INBOX.ABCDEFGHIJKLMNOPQRSTUV";
  const bytes = (subject: string) =>
    ({ _msg: { subject: new TextEncoder().encode(subject) }, subject }) as unknown as Msg;
  const text = (subject: string) => ({ subject }) as unknown as Msg;
  for (const m of [bytes, text]) {
    assert.equal(pubAckId(m(`${inbox}.0`), inbox.length + 1), 0);
    assert.equal(pubAckId(m(`${inbox}.9007199254740`), inbox.length + 1), 9007199254740);
    assert.equal(pubAckId(m(`${inbox}.12x`), inbox.length + 1), -1);
    assert.equal(pubAckId(m(`${inbox}.`), inbox.length + 1), -1);
    assert.equal(pubAckId(m(`${inbox}`), inbox.length + 1), -1);
  }
  // The bytes are what is read when they are there; other bytes there, the text.
  const both = (b: string, t: string) =>
    ({ _msg: { subject: new TextEncoder().encode(b) }, subject: t }) as unknown as Msg;
  assert.equal(pubAckId(both(`${inbox}.7`, `${inbox}.8`), inbox.length + 1), 7);
  assert.equal(pubAckId(both(`${inbox}X7`, `${inbox}.8`), inbox.length + 1), 8);
});

Deno.test("nats_msg - a message nats.js delivers carries its subject's bytes where pubAckId reads them", async () => {
  await using server = await TestServer.start({ jetstream: false });
  const t = await connectNats({ servers: server.url });
  try {
    const inbox = "_INBOX.PUBACKTEST";
    const got = Promise.withResolvers<Msg>();
    t.nc.subscribe(`${inbox}.*`, { callback: (_err, m) => got.resolve(m) });
    t.nc.publish(`${inbox}.4711`, "x");
    const m = await got.promise;
    const raw = (m as unknown as { _msg?: { subject?: unknown } })._msg?.subject;
    assert.ok(raw instanceof Uint8Array, "nats.js keeps the subject's bytes in _msg.subject");
    assert.equal(new TextDecoder().decode(raw), m.subject);
    assert.equal(pubAckId(m, inbox.length + 1), 4711);
  } finally {
    await t.close();
  }
});
