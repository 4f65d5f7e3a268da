import assert from "node:assert/strict";
import { definition } from "../../../actors/handlers/http_check.ts";
import type { Unrecoverable } from "../../../src/handler.ts";
import { assertAborted, assertProgressMonotonic, assertThrew, runHandler } from "./_run.ts";

const BODY = "all good";

/** A local server: /ok answers 200, /fail 500, /slow not until the server closes. */
function serve(): AsyncDisposable & { base: string } {
  const closing = new AbortController();
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/ok") return new Response(BODY);
    if (path === "/fail") return new Response("broken", { status: 500 });
    if (path === "/slow") {
      return new Promise<Response>((resolve) => {
        closing.signal.addEventListener("abort", () => resolve(new Response("late")));
      });
    }
    return new Response("not found", { status: 404 });
  });
  return {
    base: `http://127.0.0.1:${server.addr.port}`,
    async [Symbol.asyncDispose]() {
      closing.abort();
      await server.shutdown();
    },
  };
}

Deno.test("http check - reports status, time and body size of a 200", async () => {
  await using server = serve();
  const run = await runHandler(definition, { url: `${server.base}/ok` });
  assert.equal(run.error, undefined);
  const r = run.result!;
  assert.equal(r.url, `${server.base}/ok`);
  assert.equal(r.status, 200);
  assert.equal(r.ok, true);
  assert.equal(r.up, true);
  assert.equal(r.bytes, BODY.length);
  assert.ok(r.responseTimeMs >= 0 && r.responseTimeMs < 5_000, `${r.responseTimeMs} ms`);
  assertProgressMonotonic(run.progress);
});

Deno.test("http check - HEAD reads no body", async () => {
  await using server = serve();
  const run = await runHandler(definition, { url: `${server.base}/ok`, method: "HEAD" });
  assert.equal(run.result?.status, 200);
  assert.equal(run.result?.bytes, 0);
});

Deno.test("http check - a 500 fails the attempt with a retryable error naming the url", async () => {
  await using server = serve();
  const url = `${server.base}/fail`;
  assertThrew(await runHandler(definition, { url }), "Error", url, "status 500", "2xx");
});

Deno.test("http check - expectStatus decides what counts as up", async () => {
  await using server = serve();
  const run = await runHandler(definition, { url: `${server.base}/fail`, expectStatus: 500 });
  assert.equal(run.error, undefined);
  assert.equal(run.result?.status, 500);
  assert.equal(run.result?.ok, false);
  assert.equal(run.result?.up, true);
  assertThrew(
    await runHandler(definition, { url: `${server.base}/ok`, expectStatus: 204 }),
    "Error",
    "status 200",
    "expected status 204",
  );
});

Deno.test("http check - a slow server times out with a retryable error", async () => {
  await using server = serve();
  const url = `${server.base}/slow`;
  const run = await runHandler(definition, { url, timeoutMs: 100 });
  assertThrew(run, "Error", url, "within 100 ms");
  assert.ok(run.elapsedMs < 1_000, `took ${run.elapsedMs} ms`);
});

Deno.test("http check - stops promptly when the task is aborted", async () => {
  await using server = serve();
  const run = await runHandler(definition, { url: `${server.base}/slow` }, { abortAfterMs: 50 });
  assertAborted(run);
  assert.ok(run.elapsedMs < 1_000, `took ${run.elapsedMs} ms`);
});

Deno.test("http check - a closed port fails with a retryable error naming the url", async () => {
  const listener = Deno.listen({ port: 0, hostname: "127.0.0.1" });
  const url = `http://127.0.0.1:${listener.addr.port}/`;
  listener.close();
  const run = await runHandler(definition, { url, timeoutMs: 2_000 });
  assertThrew(run, "Error", url);
});

Deno.test("http check - rejects bad payloads, naming the field", async () => {
  const url = "http://127.0.0.1:1/";
  const bad: [unknown, string, string][] = [
    [{ url: "ftp://127.0.0.1/x" }, "payload.url", '"ftp://127.0.0.1/x"'],
    [{ url: "not a url" }, "payload.url", '"not a url"'],
    [{}, "payload.url", "undefined"],
    [{ url, timeoutMs: 0 }, "payload.timeoutMs", "0"],
    [{ url, timeoutMs: 120_001 }, "payload.timeoutMs", "120001"],
    [{ url, expectStatus: 99 }, "payload.expectStatus", "99"],
    [{ url, method: "POST" }, "payload.method", '"POST"'],
    [{ url, headers: {} }, "payload.headers", "not an http-check field"],
  ];
  for (const [payload, field, value] of bad) {
    assertThrew(await runHandler(definition, payload), "Unrecoverable", field, value);
  }
});

/** Two local servers: `a` answers /ok and redirects /to-b (and /to-a-ok) ; `b` answers /ok. */
function twoServers(): AsyncDisposable & {
  a: string;
  b: string;
  aHost: string;
  bHost: string;
  /** Requests `b` has had. */
  bHits(): number;
} {
  let bHits = 0;
  const b = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, () => {
    bHits++;
    return new Response("b");
  });
  const bBase = `http://127.0.0.1:${b.addr.port}`;
  const a = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/to-b") return Response.redirect(`${bBase}/ok`, 302);
    if (path === "/to-a-ok") {
      return new Response(null, { status: 307, headers: { location: "/ok" } });
    }
    return new Response("a");
  });
  return {
    a: `http://127.0.0.1:${a.addr.port}`,
    b: bBase,
    aHost: `127.0.0.1:${a.addr.port}`,
    bHost: `127.0.0.1:${b.addr.port}`,
    bHits: () => bHits,
    async [Symbol.asyncDispose]() {
      await a.shutdown();
      await b.shutdown();
    },
  };
}

Deno.test("http check - with TASK_SCHEDULER_HTTP_ALLOW, an allowed host is checked, another refused for good", async () => {
  await using s = twoServers();
  const ok = await runHandler(definition, { url: `${s.a}/ok` }, { httpAllow: [s.aHost] });
  assert.equal(ok.error, undefined);
  assert.equal(ok.result?.status, 200);
  // A host rule without a port allows every port of the host.
  const anyPort = await runHandler(definition, { url: `${s.b}/ok` }, { httpAllow: ["127.0.0.1"] });
  assert.equal(anyPort.result?.status, 200);

  const refused = await runHandler(definition, { url: `${s.b}/ok` }, { httpAllow: [s.aHost] });
  assertThrew(refused, "Unrecoverable");
  assert.equal((refused.error as Unrecoverable).code, "PERMISSION_DENIED");
  assert.equal(
    (refused.error as Error).message,
    `http-check: host "${s.bHost}" is not in TASK_SCHEDULER_HTTP_ALLOW (${s.aHost}): refused`,
  );
  assert.equal(s.bHits(), 1, "only the allowed check reached b");
});

Deno.test("http check - a redirect from an allowed host to a refused one fails for good, without asking it", async () => {
  await using s = twoServers();
  const run = await runHandler(definition, { url: `${s.a}/to-b` }, { httpAllow: [s.aHost] });
  assertThrew(run, "Unrecoverable");
  assert.equal((run.error as Unrecoverable).code, "PERMISSION_DENIED");
  assert.equal(
    (run.error as Error).message,
    `http-check: redirect from ${s.a}/to-b to ${s.b}/ok: host "${s.bHost}" is not in TASK_SCHEDULER_HTTP_ALLOW (${s.aHost}): refused`,
  );
  assert.equal(s.bHits(), 0, "the refused host was never asked");
  // Redirects that stay on allowed hosts are followed, as are all of them with no list.
  const within = await runHandler(definition, { url: `${s.a}/to-a-ok` }, { httpAllow: [s.aHost] });
  assert.equal(within.error, undefined);
  assert.equal(within.result?.bytes, 1);
  const both = await runHandler(definition, { url: `${s.a}/to-b` }, {
    httpAllow: [s.aHost, s.bHost],
  });
  assert.equal(both.result?.status, 200);
  const open = await runHandler(definition, { url: `${s.a}/to-b` });
  assert.equal(open.result?.status, 200);
  assert.equal(open.result?.url, `${s.a}/to-b`);
});
