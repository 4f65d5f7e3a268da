import assert from "node:assert/strict";
import { definition } from "../../../actors/handlers/http_check.ts";
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
