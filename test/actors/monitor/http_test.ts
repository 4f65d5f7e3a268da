/**
 * The monitor's HTTP face against a real nats-server and node: probes,
 * `/metrics`, sessions, the folded view, server-sent events, actions
 * forwarded with the user's token (a viewer's cancel refused, an admin's
 * done), submissions, and alerts on `monitor.alert` and to a webhook.
 */
import assert from "node:assert/strict";
import {
  type HandlerDefinition,
  mintToken,
  newUser,
  subjects,
  UserStore,
} from "../../../src/internal_mod.ts";
import { SECRET } from "../../_cluster.ts";
import { rig } from "../../e2e/_node.ts";

const dec = new TextDecoder();

const doomed: HandlerDefinition = {
  type: "doomed",
  // deno-lint-ignore require-yield
  handler: async function* () {
    throw new Error("the disk is on fire");
  },
};

async function until<T>(what: string, f: () => Promise<T | null> | T | null, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

async function signIn(base: string, token: string): Promise<string> {
  const res = await post(`${base}/api/login`, { token });
  assert.equal(res.status, 200, await res.clone().text());
  const cookie = res.headers.get("set-cookie") ?? "";
  assert.match(cookie, /ts_session=[0-9a-f]+; Path=\/; HttpOnly; SameSite=Strict/);
  await res.body?.cancel();
  return cookie.split(";")[0];
}

Deno.test("http - probes, metrics, sessions, actions with the user's token, events and alerts", async () => {
  // A webhook that refuses its first delivery: the alert must come again.
  const hooked: Record<string, unknown>[] = [];
  let refusals = 1;
  const hook = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const body = await req.json();
    if (refusals-- > 0) return new Response("busy", { status: 503 });
    hooked.push(body);
    return new Response("ok");
  });
  const hookUrl = `http://127.0.0.1:${(hook.addr as Deno.NetAddr).port}/hook`;
  try {
    await using r = await rig({
      handlers: [doomed],
      config: { alertWebhook: hookUrl, retryBaseMs: 20, retryMaxMs: 40 },
    });
    const base = r.node.httpUrl!;
    assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/);
    const alerts: Record<string, unknown>[] = [];
    const alertSub = r.client.t.subscribe("monitor.alert", (m) => {
      alerts.push(JSON.parse(dec.decode(m.data)));
    });

    // Probes: alive at once, ready once a leader is known.
    assert.equal((await fetch(`${base}/healthz`).then((x) => x.json())).ok, true);
    await until("ready", async () => {
      const res = await fetch(`${base}/readyz`);
      const body = await res.json();
      return res.status === 200 && body.checks.leader && body.checks.jetstream ? body : null;
    });

    // The page and its assets are served by the node itself.
    const page = await fetch(`${base}/`);
    assert.match(page.headers.get("content-type") ?? "", /text\/html/);
    assert.match(await page.text(), /<html/i);
    const uplot = await fetch(`${base}/uplot.js`).then((x) => x.text());
    assert.match(uplot, /uPlot/);

    // Without a session: 401 naming what to do. A bad token: 401 naming the problem.
    const anon = await fetch(`${base}/api/overview`);
    assert.equal(anon.status, 401);
    assert.match((await anon.json()).message, /sign in/);
    const bad = await post(`${base}/api/login`, { token: "not.a.jwt" });
    assert.equal(bad.status, 401);
    assert.equal((await bad.json()).code, "UNAUTHENTICATED");
    const noBody = await post(`${base}/api/login`, { who: "me" });
    assert.equal(noBody.status, 400);
    await noBody.body?.cancel();

    const admin = await signIn(base, r.client.token);
    const viewerToken = await mintToken(SECRET, { sub: "vera", roles: ["viewer"] });
    const viewer = await signIn(base, viewerToken);
    const me = await fetch(`${base}/api/me`, { headers: { cookie: viewer } }).then((x) => x.json());
    assert.deepEqual([me.sub, me.roles], ["vera", ["viewer"]]);

    // Server-sent events: the folded view pushed without asking.
    const es = await fetch(`${base}/events`, { headers: { cookie: viewer } });
    assert.equal(es.status, 200);
    const events: { event: string; data: Record<string, unknown> }[] = [];
    const reader = es.body!.pipeThrough(new TextDecoderStream()).getReader();
    const reading = (async () => {
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += value;
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const chunk = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = /^event: (.*)$/m.exec(chunk)?.[1] ?? "";
          const data = /^data: (.*)$/m.exec(chunk)?.[1] ?? "null";
          events.push({ event: ev, data: JSON.parse(data) });
        }
      }
    })();

    // A slow task: a viewer's cancel is refused by the scheduler, an admin's works.
    const sub = await post(`${base}/api/submit`, {
      type: "sleep",
      id: "web-s1",
      payload: { ms: 20_000 },
    }, { cookie: admin });
    assert.equal(sub.status, 200);
    const subBody = await sub.json();
    assert.equal(subBody.id, "web-s1");
    assert.ok(subBody.streamSeq > 0);
    await until("web-s1 running in the SSE stream", () =>
      events.some((e) =>
        e.event === "tasks" &&
        (e.data.tasks as { id: string; state: string }[]).some((t) =>
          t.id === "web-s1" && t.state === "running"
        )
      ));
    const refused = await post(`${base}/api/request/tasks.cancel`, { id: "web-s1" }, {
      cookie: viewer,
    });
    assert.equal(refused.status, 403);
    assert.match((await refused.json()).error.message, /may not cancel tasks/);
    const status = await post(`${base}/api/request/tasks.status`, { id: "web-s1" }, {
      cookie: viewer,
    });
    assert.equal((await status.json()).state, "running");
    const cancelled = await post(`${base}/api/request/tasks.cancel`, { id: "web-s1" }, {
      cookie: admin,
    });
    assert.equal(cancelled.status, 200, await cancelled.clone().text());
    await cancelled.body?.cancel();
    assert.equal((await r.client.result("web-s1", 15_000)).state, "cancelled");
    // Not a request the page may send; a POST without JSON.
    const other = await post(`${base}/api/request/sched.report`, {}, { cookie: admin });
    assert.equal(other.status, 404);
    await other.body?.cancel();
    const form = await fetch(`${base}/api/request/tasks.status`, {
      method: "POST",
      headers: { cookie: admin, "content-type": "application/x-www-form-urlencoded" },
      body: "id=web-s1",
    });
    assert.equal(form.status, 415);
    await form.body?.cancel();

    // A task that fails for good: counted, alerted once on monitor.alert and at the webhook.
    r.client.submit("doomed", { id: "d1", payload: null, maxAttempts: 2 });
    assert.equal((await r.client.result("d1", 15_000)).state, "failed");
    const alert = await until(
      "the task-failed alert",
      () => alerts.find((a) => a.kind === "task-failed" && a.key === "task-failed:d1") ?? null,
    );
    assert.equal(alert.node, r.config.nodeId);
    assert.match(String(alert.summary), /d1 \(doomed\) failed for good after 2 attempt/);
    const delivered = await until("the webhook delivery", () => hooked[0] ?? null, 20_000);
    assert.equal(delivered.key, "task-failed:d1");

    const overview = await fetch(`${base}/api/overview`, { headers: { cookie: viewer } }).then((
      x,
    ) => x.json());
    assert.equal(overview.leader.epoch >= 1, true);
    assert.equal(overview.queuedByPriority.length, 10);
    assert.equal(overview.nodes.up, 1);
    assert.ok(overview.latency.wait.samples >= 2, JSON.stringify(overview.latency));
    const nodes = await fetch(`${base}/api/nodes`, { headers: { cookie: viewer } }).then((x) =>
      x.json()
    );
    assert.equal(nodes.nodes[0].node, r.config.nodeId);

    const metrics = await fetch(`${base}/metrics`).then((x) => x.text());
    assert.match(metrics, /task_scheduler_tasks_finished_total\{type="doomed",state="failed"\} 1/);
    assert.match(
      metrics,
      /task_scheduler_tasks_finished_total\{type="sleep",state="cancelled"\} 1/,
    );
    assert.match(metrics, /task_scheduler_alerts_total\{kind="task-failed"\} 1/);
    assert.match(metrics, /task_scheduler_alert_webhook_failures_total 1/);
    assert.match(metrics, /task_scheduler_leader 1/);
    assert.match(metrics, /task_scheduler_task_wait_seconds_count\{type="sleep"\} 1/);

    // A body past 1 MiB without a length (chunked) is refused before it is all read.
    const big = new Uint8Array(1_100_000).fill(32);
    const chunked = await fetch(`${base}/api/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: new ReadableStream({
        start(c) {
          for (let i = 0; i < big.length; i += 65_536) c.enqueue(big.slice(i, i + 65_536));
          c.close();
        },
      }),
    });
    assert.equal(chunked.status, 400);
    assert.match((await chunked.json()).message, /over 1048576 bytes/);

    // Signing out ends the session, and the event stream opened with it.
    const out = await post(`${base}/api/logout`, {}, { cookie: viewer });
    await out.body?.cancel();
    const after = await fetch(`${base}/api/me`, { headers: { cookie: viewer } });
    assert.equal(after.status, 401);
    await after.body?.cancel();
    await reading; // ends when the server closes the stream
    alertSub.unsubscribe();
  } finally {
    await hook.shutdown();
  }
});

Deno.test("http - an explicit address that is taken stops the start with a message naming it", async () => {
  const blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (blocker.addr as Deno.NetAddr).port;
  try {
    await using r = await rig({
      config: { http: `127.0.0.1:${port}`, httpExplicit: true },
      startNode: false,
    });
    await assert.rejects(
      r.start(),
      new RegExp(`TASK_SCHEDULER_HTTP 127\\.0\\.0\\.1:${port}`),
    );
  } finally {
    blocker.close();
  }
});

Deno.test("http - sign in with a name and password: auth.login gives the session its token", async () => {
  await using r = await rig();
  const base = r.node.httpUrl!;
  const store = await UserStore.open(r.client.t, subjects());
  await store.create(
    await newUser(
      { name: "olga", password: "correct horse battery", roles: ["viewer"] },
      Date.now(),
    ),
  );
  const wrong = await post(`${base}/api/login`, { name: "olga", password: "not it at all" });
  assert.equal(wrong.status, 401);
  assert.equal((await wrong.json()).code, "UNAUTHENTICATED");
  const ok = await post(`${base}/api/login`, { name: "olga", password: "correct horse battery" });
  assert.equal(ok.status, 200, await ok.clone().text());
  const me = await ok.json();
  assert.deepEqual([me.sub, me.roles], ["olga", ["viewer"]]);
  const cookie = (ok.headers.get("set-cookie") ?? "").split(";")[0];
  const overview = await fetch(`${base}/api/overview`, { headers: { cookie } });
  assert.equal(overview.status, 200);
  assert.ok((await overview.json()).leader);
});
