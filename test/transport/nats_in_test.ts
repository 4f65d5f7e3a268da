import assert from "node:assert/strict";
import fc from "fast-check";
import { Parser } from "@nats-io/nats-core/internal";
import { connectNats } from "../../src/transport/nats.ts";
import { readDeliveries, useFastDeliveries } from "../../src/transport/nats_in.ts";
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

/** The parse the reader installs: the reader first, nats.js's parse for what it leaves. */
function withReader(this: Parser, buf: Uint8Array): void {
  const p = this as unknown as { state: number; dispatcher: { push(e: unknown): void } };
  if (p.state !== 0) return natsParse.call(this, buf);
  const done = readDeliveries(buf, p.dispatcher as never);
  if (done < buf.length) natsParse.call(this, done === 0 ? buf : buf.subarray(done));
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
  sid: fc.nat({ max: 1_000_000_000 }),
  reply: fc.option(subject, { nil: undefined }),
  payload: bytes,
}).map(({ headers, subject, sid, reply, payload }) => {
  const r = reply ? ` ${reply}` : "";
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
  "XYZ\r\n",
).map((s) => enc.encode(s));

Deno.test("nats_in - the reader hands on what nats.js's parser does, however the reads split", () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof({ weight: 4, arbitrary: delivery }, { weight: 1, arbitrary: other }), {
        maxLength: 12,
      }),
      fc.option(refused, { nil: undefined }),
      fc.array(fc.nat(), { maxLength: 8 }),
      (frames, bad, cuts) => {
        const stream = concat(bad ? [...frames, bad, ...frames] : frames);
        const chunks = split(stream, cuts);
        assert.deepEqual(feed(withReader, chunks), feed(natsParse, chunks));
      },
    ),
    { numRuns: 500 },
  );
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
    assert.equal(proto[INSTALLED], true);
    assert.notEqual(proto.parse, natsParse);
    // Installing again changes nothing.
    const installed = proto.parse;
    assert.equal(useFastDeliveries(t.nc), true);
    assert.equal(proto.parse, installed);

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
