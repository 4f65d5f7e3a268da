import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { connectNats } from "../../src/transport/nats.ts";
import { ReplyIds } from "../../src/transport/reply_ids.ts";
import { TestServer } from "../_nats_server.ts";

Deno.test("reply ids - 48-bit integers, none repeated, never one still waiting", () => {
  const ids = new ReplyIds();
  const seen = new Set<number>();
  for (let i = 0; i < 100_000; i++) {
    const id = ids.next((x) => seen.has(x));
    assert.ok(Number.isSafeInteger(id) && id >= 0 && id < 2 ** 48, String(id));
    assert.ok(!seen.has(id));
    seen.add(id);
  }
  // Spread over the range, not small numbers counted up.
  assert.ok([...seen].some((x) => x > 2 ** 47));
  // An id that is taken is never given: every draw of this pool is refused once.
  const refused: number[] = [];
  const id = ids.next((x) => refused.length < 3 ? (refused.push(x), true) : false);
  assert.equal(refused.length, 3);
  assert.ok(!refused.includes(id));
});

Deno.test("reply ids - a PubAck's reply subject does not tell the next one", async () => {
  await using server = await TestServer.start();
  const t = await connectNats({ servers: server.url });
  const spy = await connect({ servers: server.url });
  const heard: string[] = [];
  spy.subscribe("_INBOX.>", { callback: (_e, m) => void heard.push(m.subject) });
  await spy.flush();
  try {
    await t.ensureStreams([{ name: "R", subjects: ["r.>"], retention: "limits" }]);
    for (let i = 0; i < 5; i++) assert.ok((await t.publishDurable(`r.${i}`, "x")).ok);
    await spy.flush();
    // The PubAcks (nats.js's own requests, for the stream's creation, end in a token of letters).
    const numbers = heard.filter((s) => /\.\d+$/.test(s)).map((s) =>
      Number(s.slice(s.lastIndexOf(".") + 1))
    );
    assert.equal(numbers.length, 5, heard.join(" "));
    for (let i = 1; i < numbers.length; i++) {
      assert.ok(Math.abs(numbers[i] - numbers[i - 1]) > 1_000, numbers.join(" "));
    }
  } finally {
    await spy.close();
    await t.close();
  }
});
