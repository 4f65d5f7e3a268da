import assert from "node:assert/strict";
import fc from "fast-check";
import { Parser } from "@nats-io/nats-core/internal";
import { connectNats } from "../../src/transport/nats.ts";
import { readDeliveries, useFastDeliveries, withDeliveries } from "../../src/transport/nats_in.ts";
import { TestServer } from "../_nats_server.ts";

// nats.js's own parse, taken before anything in this file connects (connecting installs the
// reader ahead of it on the class).
const INSTALLED = Symbol.for("task-scheduler.fastDeliveries");
const proto = Parser.prototype as unknown as Record<symbol, unknown> & {
  parse(this: Parser, buf: Uint8Array): void;
};
assert.equal(proto[INSTALLED], undefined, "the reader was installed before this file took parse");
const natsParse = proto.parse;

const enc = new TextEncoder();
const dec = new TextDecoder();

interface Event {
  kind: number;
  sid?: number;
  hdr?: number;
  size?: number;
  subject?: string;
  reply?: string | undefined;
  data?: number[];
}

/** What a parser hands its protocol handler, copied as it is handed over. */
function recorder(): { events: Event[]; push(event: object): void } {
  const events: Event[] = [];
  return {
    events,
    push(event) {
      const e = event as Record<string, unknown>;
      const ev: Event = { kind: e.kind as number };
      const m = e.msg as Record<string, unknown> | undefined;
      if (m) {
        ev.sid = m.sid as number;
        ev.hdr = m.hdr as number;
        ev.size = m.size as number;
        ev.subject = dec.decode(m.subject as Uint8Array);
        ev.reply = m.reply ? dec.decode(m.reply as Uint8Array) : undefined;
      }
      if (e.data) ev.data = [...(e.data as Uint8Array)];
      events.push(ev);
    },
  };
}

/** Feed `chunks` to a parser whose parse is `parse`: its events, and the error it threw. */
function feed(
  parse: (this: Parser, buf: Uint8Array) => void,
  chunks: Uint8Array[],
): { events: Event[]; error?: string } {
  const rec = recorder();
  const parser = new Parser(rec as never);
  try {
    for (const c of chunks) parse.call(parser, c);
  } catch (err) {
    return { events: rec.events, error: (err as Error).message };
  }
  return { events: rec.events };
}

// Installed here through a stand-in for a connection: from now on the class's parse is the
// reader's, and the tests below compare it with nats.js's own.
assert.equal(
  useFastDeliveries({ protocol: { parser: new Parser(recorder() as never) } } as never),
  true,
);
const installedParse = proto.parse;
assert.notEqual(installedParse, natsParse);

/**
 * The reader gives nats.js's parser a frame at a time: when nats.js refuses
 * one, its error names the bytes to the end of that frame rather than of the
 * read. Everything else must be the same.
 */
function assertSame(
  ours: { events: Event[]; error?: string },
  theirs: { events: Event[]; error?: string },
): void {
  assert.deepEqual(ours.events, theirs.events);
  assert.equal(
    ours.error === undefined,
    theirs.error === undefined,
    `${ours.error} / ${theirs.error}`,
  );
  if (ours.error !== undefined) {
    assert.ok(theirs.error!.startsWith(ours.error), `${ours.error} / ${theirs.error}`);
    assert.ok(ours.error.includes(": "), ours.error);
  }
}

function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const c of at) {
    out.push(bytes.slice(from, c));
    from = c;
  }
  out.push(bytes.slice(from));
  return out.filter((c) => c.length > 0);
}

/** Cuts where a stream is most fragile: one byte a read, or before and after every CR and LF. */
function cutsOf(bytes: Uint8Array, how: "random" | "bytes" | "lines", random: number[]): number[] {
  if (how === "random") return random;
  const cuts: number[] = [];
  for (let i = 1; i < bytes.length; i++) {
    if (how === "bytes" || [0x0d, 0x0a].includes(bytes[i]) || [0x0d, 0x0a].includes(bytes[i - 1])) {
      cuts.push(i);
    }
  }
  return cuts;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const token = fc.stringMatching(/^[A-Za-z0-9_$*>-]{1,12}$/);
const subject = fc.array(token, { minLength: 1, maxLength: 4 }).map((t) => t.join("."));
const bytes = fc.uint8Array({ maxLength: 64 });

/** A delivery as nats-server writes it. */
const delivery = fc.record({
  headers: fc.option(bytes, { nil: undefined }),
  subject,
  sid: fc.oneof(fc.nat({ max: 1_000 }), fc.constant(999_999_999_999_999)),
  reply: fc.option(subject, { nil: undefined }),
  payload: bytes,
  // nats-server writes an empty reply as an empty field: two spaces.
  emptyReply: fc.boolean(),
}).map(({ headers, subject, sid, reply, payload, emptyReply }) => {
  const r = reply ? ` ${reply}` : emptyReply ? " " : "";
  if (headers === undefined) {
    return concat([enc.encode(`MSG ${subject} ${sid}${r} ${payload.length}\r\n`), payload, CRLF]);
  }
  const size = headers.length + payload.length;
  return concat([
    enc.encode(`HMSG ${subject} ${sid}${r} ${headers.length} ${size}\r\n`),
    headers,
    payload,
    CRLF,
  ]);
});
const CRLF = enc.encode("\r\n");

/** Every other operation the server sends, and deliveries spelled as it does not write them. */
const other = fc.constantFrom(
  "PING\r\n",
  "PONG\r\n",
  "+OK\r\n",
  "-ERR 'Permissions Violation for Subscription to \"x\"'\r\n",
  'INFO {"server_id":"x","max_payload":1048576}\r\n',
  "msg a.b 1 2\r\nhi\r\n",
  "MSG  a.b  1  2\r\nhi\r\n",
  "MSG a.b  1 2\r\nhi\r\n",
  "HMSG a 1  _INBOX.r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
  "MSG a.b 1 2 \r\nhi\r\n",
  "MSG\ta.b\t1\t2\r\nhi\r\n",
  "MSG a.b 1 2\nhi\r\n",
  "HMSG a 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
  "MSG a.b 1 2\r\nhi  \r\n",
  "MSG a.b 1 2\r\nhi\n",
  "MSG a 999999999999999 2\r\nhi\r\n",
  "MSG a 1 000000000000002\r\nhi\r\n",
  "HMSG a 1 2 2\r\nhi\r\n",
  "HMSG a 1 0 2\r\nhi\r\n",
  "MSG a.b 1 2\rX\r\nhi\r\n",
  "MSG a 1 67108864\r\n",
  // An LF right after the operation's space starts the argument, to nats.js: not a line end.
  "MSG \na\r1 2\r\nhi\r\n",
  "MSG \na 1 2\rH\nhi\r\n",
  "-ERR \n'yM\r-\n",
  'INFO \n{"x":1}\r\n',
  "MSG a \n1 2\r\nhi\r\n",
).map((s) => enc.encode(s));
/** What nats.js refuses: the reader must leave it to nats.js, which throws as before. */
const refused = fc.constantFrom(
  "MSG a.b x 2\r\nhi\r\n",
  "MSG a.b 1 -2\r\nhi\r\n",
  "MSG a.b 1\r\n",
  "MSG a 1 b c d\r\n",
  "HMSG a 1 5 2\r\nNATS/\r\n",
  "HMSG a 1 x 2\r\nhi\r\n",
  "MSG a 1 99999999999999999\r\n",
  "MSG a 1 0000000000000002\r\nhi\r\n",
  "MSG a 1 67108865\r\n",
  "HMSG a 1 3 2\r\nhi\r\n",
  "MSG a +1 2\r\nhi\r\n",
  "XYZ\r\n",
).map((s) => enc.encode(s));

/** A byte-level change to a stream: a byte replaced, inserted or removed. */
const mutation = fc.record({
  at: fc.nat(),
  how: fc.constantFrom("replace", "insert", "remove"),
  byte: fc.constantFrom(0x20, 0x09, 0x0d, 0x0a, 0x00, 0x0b, 0x30, 0x39, 0x4d, 0x6d, 0x48, 0x2d),
});

function mutate(stream: Uint8Array, changes: { at: number; how: string; byte: number }[]) {
  let out = stream;
  for (const c of changes) {
    if (out.length === 0) break;
    const at = c.at % out.length;
    if (c.how === "replace") {
      out = out.slice();
      out[at] = c.byte;
    } else if (c.how === "insert") {
      out = concat([out.subarray(0, at), Uint8Array.of(c.byte), out.subarray(at)]);
    } else {
      out = concat([out.subarray(0, at), out.subarray(at + 1)]);
    }
  }
  return out;
}

Deno.test("nats_in - the reader hands on what nats.js's parser does, however the reads split", () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof({ weight: 4, arbitrary: delivery }, { weight: 1, arbitrary: other }), {
        maxLength: 12,
      }),
      fc.option(refused, { nil: undefined }),
      fc.array(fc.nat(), { maxLength: 8 }),
      fc.constantFrom("random" as const, "bytes" as const, "lines" as const),
      fc.array(mutation, { maxLength: 3 }),
      (frames, bad, cuts, how, changes) => {
        const stream = mutate(concat(bad ? [...frames, bad, ...frames] : frames), changes);
        const chunks = split(stream, cutsOf(stream, how, cuts));
        assertSame(feed(installedParse, chunks), feed(natsParse, chunks));
      },
    ),
    { numRuns: 1_000 },
  );
});

Deno.test("nats_in - the reader takes over again right after a frame it left to nats.js", () => {
  // Reads that begin inside a delivery, or hold a PING between deliveries: nats.js's parse is
  // given only what it must finish, and the reader takes the rest.
  const one = "MSG a.b 1 5\r\nhe\nlo\r\n"; // a payload may hold a line break
  const stream = enc.encode(one + one + "PING\r\n" + one + one);
  const given: string[] = [];
  const counted = withDeliveries(function (this: never, buf: Uint8Array) {
    given.push(dec.decode(buf));
    natsParse.call(this as unknown as Parser, buf);
  });
  const chunks = [stream.subarray(0, 7), stream.subarray(7, 30), stream.subarray(30)];
  const ours = feed(counted as (this: Parser, buf: Uint8Array) => void, chunks);
  assertSame(ours, feed(natsParse, chunks));
  assert.equal(ours.events.filter((e) => e.kind === 2).length, 4);
  // The first delivery, split in three reads; the second, split between two; the PING.
  assert.deepEqual(given, [
    "MSG a.b",
    " 1 5\r\n",
    "he\nlo\r\n",
    "MSG a.b 1 ",
    "5\r\n",
    "he\nlo\r\n",
    "PING\r\n",
  ]);
});

Deno.test("nats_in - readDeliveries takes whole deliveries and stops at anything else", () => {
  const frames = enc.encode(
    "MSG a.b 7 5\r\nhello\r\nHMSG c 8 _INBOX.x.9 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\nMSG d 1 0\r\n\r\n",
  );
  const rec = recorder();
  const done = readDeliveries(frames, rec);
  assert.equal(dec.decode(frames.subarray(done)), "PING\r\nMSG d 1 0\r\n\r\n");
  assert.deepEqual(rec.events, [
    {
      kind: 2,
      sid: 7,
      hdr: -1,
      size: 5,
      subject: "a.b",
      reply: undefined,
      data: [...enc.encode("hello")],
    },
    {
      kind: 2,
      sid: 8,
      hdr: 12,
      size: 14,
      subject: "c",
      reply: "_INBOX.x.9",
      data: [...enc.encode("NATS/1.0\r\n\r\nhi")],
    },
  ]);
  // A PubAck as nats-server 2.9 writes it: no reply, and two spaces where it would be.
  const puback = recorder();
  const ack = enc.encode('MSG _INBOX.x.7 1  31\r\n{"stream":"RESULTS", "seq":232}\r\n');
  assert.equal(readDeliveries(ack, puback), ack.length);
  assert.deepEqual(puback.events.map((e) => [e.subject, e.sid, e.reply, e.size]), [
    ["_INBOX.x.7", 1, undefined, 31],
  ]);
  // A delivery whose payload is not all in this read is left whole, for nats.js to carry over.
  const partial = enc.encode("MSG a 1 10\r\nhello");
  assert.equal(readDeliveries(partial, recorder()), 0);
  assert.equal(readDeliveries(enc.encode("MSG a 1 5\r\nhello\r"), recorder()), 0);
  // An empty payload, and no bytes at all.
  const empty = recorder();
  assert.equal(readDeliveries(enc.encode("MSG a 1 0\r\n\r\n"), empty), 13);
  assert.deepEqual(empty.events[0].data, []);
  assert.equal(readDeliveries(new Uint8Array(0), recorder()), 0);
});

Deno.test("nats_in - installed on a real connection: deliveries of every shape arrive whole", async () => {
  await using server = await TestServer.start();
  const t = await connectNats({ servers: server.url, name: "nats-in" });
  try {
    // The connection's parser is made from the class the reader is installed on (one nats.js).
    const parser = (t.nc as unknown as { protocol: { parser: object } }).protocol.parser;
    assert.equal(Object.getPrototypeOf(parser), Parser.prototype);
    assert.equal(proto[INSTALLED], true);
    assert.equal(proto.parse, installedParse);

    const got: { subject: string; data: string; h?: string }[] = [];
    const all = Promise.withResolvers<void>();
    const big = "x".repeat(700_000); // larger than one socket read: split between reads
    const sent = [
      { subject: "in.a", data: "plain" },
      { subject: "in.b", data: "", h: "v1" },
      { subject: "in.c", data: big },
      { subject: "in.d", data: "with\r\nline breaks\r\n", h: "v2" },
      { subject: "in.e", data: big, h: "v3" },
    ];
    const sub = t.subscribe("in.>", (m) => {
      got.push({ subject: m.subject, data: dec.decode(m.data), h: m.header("X-Test") });
      if (got.length === sent.length) all.resolve();
    });
    await t.flush();
    for (const s of sent) {
      t.publish(s.subject, enc.encode(s.data), {
        headers: s.h ? { "X-Test": s.h } : undefined,
      });
    }
    await all.promise;
    sub.unsubscribe();
    assert.deepEqual(got, sent.map((s) => ({ ...s, h: s.h })));
  } finally {
    await t.close();
  }
});

Deno.test("nats_in - on a real server, the reader takes its deliveries and PubAcks itself", async () => {
  await using server = await TestServer.start();
  const t = await connectNats({ servers: server.url, name: "nats-in-count" });
  // What nats.js's own parse is given, and what is read, while this test runs.
  let read = 0;
  let toNats = 0;
  const counted = withDeliveries(function (this: never, buf: Uint8Array) {
    toNats += buf.length;
    natsParse.call(this as unknown as Parser, buf);
  });
  proto.parse = function (this: Parser, buf: Uint8Array) {
    read += buf.length;
    counted.call(this, buf);
  };
  try {
    await t.ensureStreams([{ name: "INCOUNT", subjects: ["count.>"], retention: "limits" }]);
    await t.flush();
    // One publish at a time: each PubAck (which nats-server 2.9 writes with an empty reply
    // field, two spaces) arrives in a read of its own, whole.
    read = toNats = 0;
    for (let i = 0; i < 20; i++) {
      const ack = await t.publishDurable(`count.${i}`, enc.encode(`m${i}`));
      assert.equal(ack.ok, true);
    }
    assert.ok(read > 0);
    assert.equal(toNats, 0, `nats.js's parse was given ${toNats} of ${read} bytes`);
    // A burst of deliveries: only frames split between two reads go to nats.js's parse.
    let got = 0;
    const all = Promise.withResolvers<void>();
    const sub = t.subscribe("burst.>", () => {
      if (++got === 2_000) all.resolve();
    });
    await t.flush();
    read = toNats = 0;
    for (let i = 0; i < 2_000; i++) t.publish(`burst.${i}`, enc.encode(`payload ${i}`));
    await all.promise;
    sub.unsubscribe();
    assert.ok(toNats < read / 10, `nats.js's parse was given ${toNats} of ${read} bytes`);
  } finally {
    proto.parse = installedParse;
    await t.close();
  }
});
