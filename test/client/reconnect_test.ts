/**
 * The client's no-miss guarantee across reconnects: a result published while
 * the client's connection is down is read from RESULTS once it is back, so
 * `result()` resolves; and a nats-server restart between submit and result
 * changes nothing for the caller.
 */

import assert from "node:assert/strict";
import { mintToken } from "../../src/internal_mod.ts";
import { connect } from "../../src/client/mod.ts";
import { SECRET } from "../_cluster.ts";
import { rig } from "../e2e/_node.ts";
import { TcpProxy } from "../fault/_proxy.ts";

Deno.test("client reconnect - a result published while the client is cut off is read from RESULTS after the reconnect", async () => {
  await using r = await rig();
  await using proxy = TcpProxy.start({ port: r.server.port });
  await using c = await connect({
    servers: proxy.url,
    token: await mintToken(SECRET, { sub: "cut", roles: ["submitter"] }),
    pingIntervalMs: 250,
    connectTimeoutMs: 1_000,
    resultPollMs: 0, // only the reconnect may bring it
  });
  const t = await c.submit("sleep", { ms: 1_200 }, { id: "cut-1" });
  // Waiting from before the cut: only a read of RESULTS after the reconnect can settle it.
  const waiting = t.result({ timeoutMs: 30_000 });
  proxy.blackhole();
  const direct = await r.client.result("cut-1", 20_000); // published while the client hears nothing
  assert.equal(direct.state, "succeeded");
  assert.equal(t.settled, undefined, "the client cannot have heard it");
  await new Promise((res) => setTimeout(res, 300));
  proxy.heal();
  const got = await waiting;
  assert.equal(got.state, "succeeded");
  assert.equal(got.finishedAt, direct.finishedAt);
  assert.ok(c.reconnects >= 1, `reconnects: ${c.reconnects}`);
  assert.ok(proxy.dropped > 0, "bytes were dropped while cut");
  assert.ok(proxy.accepted >= 2, "the client connected again");
});

Deno.test("client reconnect - the nats-server restarts between submit and result: result() still resolves", async () => {
  await using r = await rig();
  await using c = await connect({
    servers: r.server.url,
    token: await mintToken(SECRET, { sub: "restart", roles: ["submitter"] }),
    resultPollMs: 0,
  });
  const t = await c.submit("sleep", { ms: 1_500 }, { id: "restart-1" });
  const waiting = t.result({ timeoutMs: 45_000 });
  const it = t.progress();
  await it.next(); // it runs
  await r.server.restart(500);
  const got = await waiting;
  assert.equal(got.id, "restart-1");
  assert.equal(got.state, "succeeded");
  assert.ok(c.reconnects >= 1, `reconnects: ${c.reconnects}`);
  // A late handle on another connection agrees.
  await using late = await connect({ servers: r.server.url });
  assert.equal(
    (await late.task("restart-1").result({ timeoutMs: 5_000 })).finishedAt,
    got.finishedAt,
  );
});
