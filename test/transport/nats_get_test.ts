import assert from "node:assert/strict";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { connectNats, type NatsTransport } from "../../src/transport/nats.ts";
import { DirectGets, directGetUsable } from "../../src/transport/nats_get.ts";
import { TestServer } from "../_nats_server.ts";
import { rawPublish } from "../_raw_publish.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * A server, a transport and a plain connection on it, with stream R (`r.>`)
 * made; all closed at the end of the test (`await using`).
 */
async function rig() {
  const server = await TestServer.start();
  const t = await connectNats({ servers: server.url });
  const nc = await connect({ servers: server.url });
  const done = async () => {
    await nc.close();
    await t.close();
    await server[Symbol.asyncDispose]();
  };
  try {
    await t.ensureStreams([{ name: "R", subjects: ["r.>"], retention: "limits" }]);
  } catch (err) {
    await done();
    throw err;
  }
  return { server, t, nc, [Symbol.asyncDispose]: done };
}

/**
 * Count the requests sent on `subject` (a plain subscriber on `nc` hears them
 * too); the count is read once what `t` sent before has reached `nc`.
 */
async function counter(nc: NatsConnection, t: NatsTransport, subject: string) {
  let n = 0;
  nc.subscribe(subject, {
    callback: () => {
      n++;
    },
  });
  await nc.flush();
  return async () => {
    await t.flush();
    await nc.flush();
    return n;
  };
}

Deno.test("direct get - a stream with one replica is read by direct get, as nats.js reads it", async () => {
  await using r = await rig();
  const { t, nc } = r;
  const direct = await counter(nc, t, "$JS.API.DIRECT.GET.>");
  const msgGet = await counter(nc, t, "$JS.API.STREAM.MSG.GET.>");
  const before = Date.now();
  await t.publishDurable("r.a", "first", { headers: { "Result-Signature": "one" } });
  const stored = await t.publishDurable("r.a", "second é", {
    headers: { "Result-Signature": "two", "Other": "x: y" },
  });
  assert.ok(stored.ok);
  const last = await t.lastMessage("R", "r.a");
  assert.ok(last);
  assert.equal(last.subject, "r.a");
  assert.equal(last.seq, stored.ok && stored.seq);
  assert.equal(dec.decode(last.data), "second é");
  assert.equal(last.header("Result-Signature"), "two");
  assert.equal(last.header("other"), "x: y");
  assert.ok(last.time >= before - 1_000 && last.time <= Date.now() + 1_000, String(last.time));
  // What nats.js's own reading of the stream gives.
  const theirs = await (await jetstreamManager(nc)).streams.getMessage("R", {
    last_by_subj: "r.a",
  });
  assert.ok(theirs);
  assert.equal(last.seq, theirs.seq);
  assert.equal(dec.decode(last.data), dec.decode(theirs.data));
  assert.equal(last.time, theirs.time.getTime());
  assert.equal(last.header("Result-Signature"), theirs.header.get("Result-Signature"));
  assert.equal(await t.lastMessage("R", "r.none"), null);
  assert.equal(await direct(), 2);
  assert.equal(await msgGet(), 1); // nats.js's own, above
});

Deno.test("direct get - many look-ups at once each get their own answer", async () => {
  await using r = await rig();
  const { t } = r;
  await Promise.all(
    Array.from({ length: 500 }, (_, i) => t.publishDurable(`r.${i}`, enc.encode(`v${i}`))),
  );
  const got = await Promise.all(
    Array.from({ length: 1_000 }, (_, i) => t.lastMessage("R", `r.${i}`)),
  );
  for (let i = 0; i < 1_000; i++) {
    if (i < 500) assert.equal(got[i] && dec.decode(got[i]!.data), `v${i}`);
    else assert.equal(got[i], null);
  }
});

Deno.test("direct get - a stream that does not allow it is read as before", async () => {
  await using r = await rig();
  const { t, nc } = r;
  const msgGet = await counter(nc, t, "$JS.API.STREAM.MSG.GET.>");
  await (await jetstreamManager(nc)).streams.add({
    name: "OLD",
    subjects: ["old.>"],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    allow_direct: false,
  });
  await t.publishDurable("old.a", enc.encode("kept"));
  const last = await t.lastMessage("OLD", "old.a");
  assert.equal(last && dec.decode(last.data), "kept");
  assert.equal(await t.lastMessage("OLD", "old.b"), null);
  assert.equal(await msgGet(), 2);
});

Deno.test("direct get - used only where every answer is the leader's", () => {
  assert.equal(directGetUsable({ allow_direct: true, num_replicas: 1 }), true);
  assert.equal(directGetUsable({ allow_direct: true }), true);
  assert.equal(directGetUsable({ allow_direct: true, num_replicas: 3 }), false);
  assert.equal(directGetUsable({ allow_direct: false, num_replicas: 1 }), false);
  assert.equal(directGetUsable({}), false);
});

Deno.test("direct get - no answer in time is told apart from a missing message", async () => {
  await using r = await rig();
  const { nc } = r;
  // Something listens on the stream's direct-get subject and never answers.
  nc.subscribe("$JS.API.DIRECT.GET.SILENT", { callback: () => {} });
  await nc.flush();
  const gets = new DirectGets(nc, (subject, data, reply) => nc.publish(subject, data, { reply }));
  try {
    const t0 = Date.now();
    assert.equal(await gets.last("SILENT", "s.a", 300), "unavailable");
    assert.ok(Date.now() - t0 >= 250);
  } finally {
    gets.close();
  }
});

Deno.test("direct get - a stream that stops allowing it is read from its leader", async () => {
  await using r = await rig();
  const { t, nc } = r;
  const msgGet = await counter(nc, t, "$JS.API.STREAM.MSG.GET.>");
  await t.publishDurable("r.a", enc.encode("kept"));
  assert.equal(dec.decode((await t.lastMessage("R", "r.a"))!.data), "kept");
  // An operator turns direct gets off behind the transport's back.
  const jsm = await jetstreamManager(nc);
  const { config } = await jsm.streams.info("R");
  await jsm.streams.update("R", { ...config, allow_direct: false });
  const last = await t.lastMessage("R", "r.a");
  assert.equal(last && dec.decode(last.data), "kept");
  assert.equal(await t.lastMessage("R", "r.b"), null);
  assert.equal(await msgGet(), 2); // both asked of the leader
});

Deno.test("direct get - a stored message's own headers do not stand for the server's, and names nats.js refuses are kept", async () => {
  await using r = await rig();
  const { t, server } = r;
  await t.publishDurable("r.x", enc.encode("padding"));
  // Headers a publisher may set that the server's answer also carries.
  const forged = await t.publishDurable("r.f", enc.encode("f"), {
    headers: { "Nats-Sequence": "999", "Nats-Stream": "OTHER", "Nats-Subject": "r.x" },
  });
  const f = await t.lastMessage("R", "r.f");
  assert.equal(f?.seq, forged.ok && forged.seq);
  assert.equal(f?.subject, "r.f");
  assert.equal(f?.header("Nats-Stream"), "R");
  // A name with a space, written by a client that checks nothing: nats.js's reading throws on it.
  await rawPublish(
    server.port,
    "r.odd",
    "NATS/1.0\r\nBad Name: v\r\nResult-Signature: sig\r\n\r\n",
    "odd",
  );
  const odd = await t.lastMessage("R", "r.odd");
  assert.equal(odd && dec.decode(odd.data), "odd");
  assert.equal(odd?.header("Result-Signature"), "sig");
  assert.equal(odd?.header("Bad Name"), "v");
});

Deno.test("direct get - another status, or an answer for another message, is an error naming the get", async () => {
  await using r = await rig();
  const { nc } = r;
  nc.subscribe("$JS.API.DIRECT.GET.FAKE", {
    callback: (_err, m) => {
      const { last_by_subj } = m.json<{ last_by_subj: string }>();
      if (last_by_subj === "f.busy") m.respond(new Uint8Array(), { headers: headers(408, "Busy") });
      else {
        const h = headers();
        h.set("Nats-Stream", "FAKE");
        h.set("Nats-Subject", "f.other");
        h.set("Nats-Sequence", "7");
        m.respond(enc.encode("x"), { headers: h });
      }
    },
  });
  await nc.flush();
  const gets = new DirectGets(nc, (subject, data, reply) => nc.publish(subject, data, { reply }));
  try {
    await assert.rejects(
      gets.last("FAKE", "f.busy"),
      /direct get of f\.busy from FAKE: answered 408 Busy/,
    );
    await assert.rejects(
      gets.last("FAKE", "f.a"),
      /direct get of f\.a from FAKE: answered with f\.other from FAKE/,
    );
    // Waiting gets end without an answer when the connection goes.
    nc.subscribe("$JS.API.DIRECT.GET.SILENT", { callback: () => {} });
    await nc.flush();
    const waiting = gets.last("SILENT", "s.a", 60_000);
    await nc.flush();
    gets.abandon();
    assert.equal(await waiting, "unavailable");
  } finally {
    gets.close();
  }
});
