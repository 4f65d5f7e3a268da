/**
 * The client for Node.js users: build the bundle (`src/client/build.ts`),
 * install it into a scratch project the way npm would (a folder under
 * `node_modules/@task-scheduler/client`), and run `examples/client/node_echo.mjs`
 * with `node` against a real nats-server with a node running. Also: its
 * declarations type-check a consumer, and a rejection reaches Node.js as a
 * typed error.
 */

import assert from "node:assert/strict";
import { mintToken } from "../../src/internal_mod.ts";
import { buildClient } from "../../src/client/build.ts";
import { SECRET } from "../_cluster.ts";
import { rig } from "../e2e/_node.ts";

const EXAMPLE = new URL("../../examples/client/node_echo.mjs", import.meta.url).pathname;
const dec = new TextDecoder();

async function run(
  cmd: string,
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(cmd, {
    args,
    cwd,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const out = await child.output();
  clearTimeout(timer);
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("client for Node.js - the bundle runs the example under node against a real nats-server", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "client-node-" });
  try {
    const built = await buildClient(`${tmp}/pkg`);
    assert.deepEqual(built.files.sort(), ["mod.d.ts", "mod.js", "package.json"]);
    const pkg = JSON.parse(await Deno.readTextFile(`${tmp}/pkg/package.json`));
    assert.equal(pkg.name, "@task-scheduler/client");
    assert.equal(pkg.type, "module");
    // Self-contained: no import of a package the user would have to install.
    const js = await Deno.readTextFile(`${tmp}/pkg/mod.js`);
    const bare = [...js.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]).filter((s) =>
      !s.startsWith("node:")
    );
    assert.deepEqual(bare, [], "the bundle imports only node: modules");

    const app = `${tmp}/app`;
    await Deno.mkdir(`${app}/node_modules/@task-scheduler`, { recursive: true });
    await Deno.symlink(`${tmp}/pkg`, `${app}/node_modules/@task-scheduler/client`);
    await Deno.copyFile(EXAMPLE, `${app}/node_echo.mjs`);

    // The declarations describe the API (an unused @ts-expect-error would fail the check).
    await Deno.writeTextFile(
      `${app}/consumer.ts`,
      [
        `import { connect, SchedulerClientError, type TaskResult } from "../pkg/mod.js";`,
        `const c = await connect({ servers: "nats://127.0.0.1:1", token: "t" });`,
        `const t = await c.submit("echo", 1, { priority: 5, dependsOn: ["a"] });`,
        `const r: TaskResult = await t.result({ timeoutMs: 1 });`,
        `const state: "succeeded" | "failed" | "expired" | "cancelled" | "rejected" = r.state;`,
        `// @ts-expect-error: a state is a string`,
        `const n: number = r.state;`,
        `// @ts-expect-error: priority is a number`,
        `await c.submit("echo", 1, { priority: "high" });`,
        `const e = new SchedulerClientError("NOT_FOUND", "x");`,
        `console.log(state, n, e.code);`,
        "",
      ].join("\n"),
    );
    const checked = await run(Deno.execPath(), ["check", "--no-config", "consumer.ts"], app);
    assert.equal(checked.code, 0, `deno check: ${checked.stdout}${checked.stderr}`);

    await using r = await rig();
    const token = await mintToken(SECRET, { sub: "node-user", roles: ["submitter"] });
    const ok = await run("node", ["node_echo.mjs"], app, {
      NATS_URL: r.server.url,
      TASK_SCHEDULER_TOKEN: token,
      PATH: Deno.env.get("PATH") ?? "",
    });
    assert.equal(ok.code, 0, `node failed:\n${ok.stdout}${ok.stderr}`);
    const line = JSON.parse(ok.stdout.trim().split("\n").pop()!);
    assert.equal(line.state, "succeeded");
    assert.equal(line.result.hello, "from node");
    assert.match(line.result.at, /^v\d+\./, "the payload came from node");
    assert.match(line.id, /^c-/);
    // The scheduler agrees: the result is stored under that id.
    const stored = await r.client.result(line.id, 5_000);
    assert.deepEqual(stored.result, line.result);

    // A bad token: the rejection reaches Node.js as a typed error with the contract's code.
    const refused = await run("node", ["node_echo.mjs"], app, {
      NATS_URL: r.server.url,
      TASK_SCHEDULER_TOKEN: "not-a-token",
      PATH: Deno.env.get("PATH") ?? "",
    });
    assert.equal(refused.code, 1, `${refused.stdout}${refused.stderr}`);
    assert.match(refused.stderr, /^UNAUTHENTICATED: task c-[\w-]+ rejected: /m);
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
});
