/**
 * Alert delivery: published at once, POSTed to the webhook in order, retried
 * with backoff, given up after its time, bounded queue, never blocking.
 */
import assert from "node:assert/strict";
import { AlertSender } from "../../../actors/monitor/alerts.ts";
import type { Alert } from "../../../actors/monitor/view.ts";
import { silentLogger } from "../../../src/internal_mod.ts";

const alert = (key: string): Alert => ({
  kind: "task-failed",
  key,
  severity: "warning",
  at: "2026-11-28T00:00:00.000Z",
  summary: key,
  detail: {},
});

function webhook(answers: number[]) {
  const got: { key: string; at: number }[] = [];
  const all = Promise.withResolvers<void>();
  let want = Infinity;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const body = await req.json();
    const status = answers.shift() ?? 200;
    if (status === 200) {
      got.push({ key: body.key, at: Date.now() });
      if (got.length >= want) all.resolve();
    }
    return new Response(null, { status });
  });
  return {
    url: `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}/`,
    got,
    until(n: number) {
      want = n;
      if (got.length >= n) all.resolve();
      return all.promise;
    },
    close: () => server.shutdown(),
  };
}

Deno.test("alerts - published at once, delivered in order, a refused delivery retried with backoff", async () => {
  const hook = webhook([500, 503]);
  const published: Record<string, unknown>[] = [];
  const s = new AlertSender({
    node: "n1",
    url: hook.url,
    log: silentLogger,
    baseDelayMs: 50,
    publish: (d) => published.push(JSON.parse(new TextDecoder().decode(d))),
  });
  try {
    const t0 = Date.now();
    s.send(alert("a"));
    s.send(alert("b"));
    assert.equal(Date.now() - t0 < 50, true, "send does not wait on the network");
    assert.deepEqual(published.map((p) => [p.key, p.node, p.seq]), [["a", "n1", 1], [
      "b",
      "n1",
      2,
    ]]);
    await hook.until(2);
    assert.deepEqual(hook.got.map((g) => g.key), ["a", "b"]);
    // The server has the second alert; the sender counts it once the answer is back.
    while (s.delivered < 2) await new Promise((r) => setTimeout(r, 5));
    assert.equal(s.failures, 2);
    assert.equal(s.queued, 0);
    // Two failures: waits of 50 then 100 ms before the third try.
    assert.ok(hook.got[0].at - t0 >= 140, `delivered after ${hook.got[0].at - t0} ms`);
  } finally {
    s.stop();
    await hook.close();
  }
});

Deno.test("alerts - an alert that cannot be delivered in time is given up; the queue is bounded", async () => {
  const published: unknown[] = [];
  let calls = 0;
  const s = new AlertSender({
    node: "n1",
    url: "http://127.0.0.1:9/",
    log: silentLogger,
    publish: (d) => published.push(d),
    baseDelayMs: 5,
    maxDelayMs: 5,
    giveUpMs: 60,
    maxQueue: 3,
    fetch: () => {
      calls++;
      return Promise.reject(new Error("connection refused"));
    },
  });
  try {
    for (const k of ["a", "b", "c", "d", "e"]) s.send(alert(k));
    assert.equal(published.length, 5, "every alert is published whatever the webhook does");
    assert.equal(s.dropped, 2, "two pushed out of the queue of three");
    const deadline = Date.now() + 5_000;
    while (s.queued > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(s.queued, 0);
    assert.equal(s.dropped, 5);
    assert.ok(calls >= 3 && s.failures === calls);
  } finally {
    s.stop();
  }
});

Deno.test("alerts - without a webhook only monitor.alert is used", () => {
  const published: unknown[] = [];
  const s = new AlertSender({ node: "n1", log: silentLogger, publish: (d) => published.push(d) });
  s.send(alert("a"));
  assert.equal(published.length, 1);
  assert.equal(s.queued, 0);
  s.stop();
});
