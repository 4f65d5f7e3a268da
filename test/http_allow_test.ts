import assert from "node:assert/strict";
import { loadConfig } from "../src/config/config.ts";
import { SchedulerError } from "../src/errors.ts";
import { Unrecoverable } from "../src/handler.ts";
import { checkUrl, HTTP_ALLOW_VAR, isHostAllowed } from "../src/http_allow.ts";

const allowed = (url: string, allow: string[]) => isHostAllowed(new URL(url), allow);

Deno.test("http allow - an empty list allows any host", () => {
  assert.equal(allowed("https://example.com/", []), true);
  assert.equal(allowed("http://10.0.0.1:8080/x", []), true);
});

Deno.test("http allow - a host without a port allows every port of that host, no other host", () => {
  const allow = ["127.0.0.1", "status.example.com"];
  assert.equal(allowed("http://127.0.0.1/", allow), true);
  assert.equal(allowed("http://127.0.0.1:9999/health", allow), true);
  assert.equal(allowed("https://status.example.com/", allow), true);
  assert.equal(allowed("https://STATUS.Example.com/", allow), true);
  assert.equal(allowed("https://example.com/", allow), false);
  assert.equal(allowed("https://evil.status.example.com/", allow), false);
  assert.equal(allowed("https://status.example.com.evil.net/", allow), false);
  assert.equal(allowed("http://127.0.0.2/", allow), false);
  assert.equal(allowed("http://localhost/", allow), false, "names are matched as written");
});

Deno.test("http allow - a host:port allows that port only, a URL without a port having its scheme's", () => {
  const allow = ["example.com:443", "127.0.0.1:8080", "[::1]:9000"];
  assert.equal(allowed("https://example.com/", allow), true);
  assert.equal(allowed("https://example.com:443/", allow), true);
  assert.equal(allowed("http://example.com/", allow), false);
  assert.equal(allowed("https://example.com:8443/", allow), false);
  assert.equal(allowed("http://127.0.0.1:8080/", allow), true);
  assert.equal(allowed("http://127.0.0.1:8081/", allow), false);
  assert.equal(allowed("http://[::1]:9000/", allow), true);
  assert.equal(allowed("http://[::1]:9001/", allow), false);
  assert.equal(allowed("http://[0:0:0:0:0:0:0:1]:9000/", allow), true, "IPv6 compared canonically");
});

Deno.test("http allow - checkUrl throws PERMISSION_DENIED naming the host and the list", () => {
  checkUrl(new URL("http://127.0.0.1:8080/"), ["127.0.0.1"], "http-check");
  assert.throws(
    () => checkUrl(new URL("https://example.com:8443/x"), ["127.0.0.1", "a.b:80"], "http-check"),
    (err: unknown) => {
      assert.ok(err instanceof Unrecoverable);
      assert.equal(err.code, "PERMISSION_DENIED");
      assert.equal(
        err.message,
        `http-check: host "example.com:8443" is not in ${HTTP_ALLOW_VAR} (127.0.0.1, a.b:80): refused`,
      );
      return true;
    },
  );
});

Deno.test("http allow - config: TASK_SCHEDULER_HTTP_ALLOW and --http-allow, default any, bad rules refused", () => {
  const load = (args: string[], env: Record<string, string> = {}) =>
    loadConfig({ args, env, readFile: () => "{}" });
  assert.deepEqual(load([]).config.httpAllow, []);
  assert.deepEqual(
    load([], { TASK_SCHEDULER_HTTP_ALLOW: "example.com, 127.0.0.1:8080,[::1]:9000" }).config
      .httpAllow,
    ["example.com", "127.0.0.1:8080", "[::1]:9000"],
  );
  assert.deepEqual(load(["--http-allow", "a.example"]).config.httpAllow, ["a.example"]);
  for (const bad of ["http://example.com", "example.com/path", "*.example.com", "host:port"]) {
    assert.throws(() => load([], { TASK_SCHEDULER_HTTP_ALLOW: bad }), (err: unknown) => {
      assert.ok(err instanceof SchedulerError);
      assert.equal(err.code, "CONFIG");
      assert.equal(
        err.message,
        `TASK_SCHEDULER_HTTP_ALLOW must be a comma-separated list of host names or host:port: got ${
          JSON.stringify(bad)
        }`,
      );
      return true;
    });
  }
});
