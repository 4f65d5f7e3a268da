import assert from "node:assert/strict";
import { loadHandlers } from "../../actors/node.ts";
import { silentLogger } from "../../src/internal_mod.ts";
import { rig } from "./_node.ts";

const dec = new TextDecoder();
const DAY = 86_400_000;

Deno.test("builtins - a task of each built-in type runs to succeeded through plain NATS, doing its real job", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ts-builtins-" });
  // The file jobs may touch this folder only, as TASK_SCHEDULER_FS_ROOTS=<dir> would allow.
  await using r = await rig({ config: { workers: 2, concurrency: 4, fsRoots: [dir] } });
  const http = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("ok"),
  );
  try {
    // Real files for backup, cleanup and log rotation.
    await Deno.mkdir(`${dir}/src/nested`, { recursive: true });
    await Deno.writeTextFile(`${dir}/src/a.txt`, "alpha");
    await Deno.writeTextFile(`${dir}/src/nested/b.txt`, "beta");
    await Deno.mkdir(`${dir}/old`);
    await Deno.writeTextFile(`${dir}/old/stale.log`, "x");
    await Deno.writeTextFile(`${dir}/old/fresh.log`, "y");
    const longAgo = new Date(Date.now() - 10 * DAY);
    await Deno.utime(`${dir}/old/stale.log`, longAgo, longAgo);
    await Deno.writeTextFile(`${dir}/app.log`, "z".repeat(4_096));
    const port = (http.addr as Deno.NetAddr).port;

    const tasks: [string, string, unknown][] = [
      ["b-echo", "echo", { hello: "world" }],
      ["b-sleep", "sleep", { ms: 300 }],
      ["b-compute", "compute", { complexity: 3, input: 42 }],
      ["b-system", "system-check", { path: dir }],
      ["b-backup", "backup", { source: `${dir}/src`, target: `${dir}/backups` }],
      ["b-cleanup", "cleanup", { dir: `${dir}/old`, maxAgeDays: 7 }],
      ["b-http", "http-check", { url: `http://127.0.0.1:${port}/`, timeoutMs: 2_000 }],
      ["b-rotate", "rotate-logs", { file: `${dir}/app.log`, maxSizeKb: 1, keep: 2 }],
    ];
    const progress: number[] = [];
    r.client.t.subscribe(
      "tasks.progress.b-sleep",
      (m) => progress.push(JSON.parse(dec.decode(m.data)).progress),
    );
    await r.client.t.flush();
    for (const [id, type, payload] of tasks) r.client.submit(type, { id, payload });
    const results = Object.fromEntries(
      await Promise.all(tasks.map(async ([id]) => [id, await r.client.result(id)])),
    );
    for (const [id] of tasks) {
      assert.equal(results[id].state, "succeeded", `${id}: ${JSON.stringify(results[id].error)}`);
    }

    assert.deepEqual(results["b-echo"].result, { hello: "world" });
    assert.deepEqual(results["b-sleep"].result, { sleptMs: 300 });
    assert.ok(progress.length >= 2 && progress.at(-1)! <= 1, `sleep progress ${progress}`);
    const compute = results["b-compute"].result as { output: number; iterations: number };
    assert.ok(Number.isInteger(compute.output) && compute.iterations > 0);
    const sys = results["b-system"].result as {
      cpuPercent: number;
      memory: { percent: number };
      disk: { percent: number };
      status: string;
    };
    assert.ok(
      sys.memory.percent > 0 && sys.memory.percent <= 100 && typeof sys.status === "string",
    );
    const backup = results["b-backup"].result as { path: string; files: number };
    assert.equal(backup.files, 2);
    assert.equal(await Deno.readTextFile(`${backup.path}/nested/b.txt`), "beta");
    const cleanup = results["b-cleanup"].result as { removedFiles: number };
    assert.equal(cleanup.removedFiles, 1);
    await assert.rejects(Deno.stat(`${dir}/old/stale.log`));
    assert.equal(await Deno.readTextFile(`${dir}/old/fresh.log`), "y");
    const check = results["b-http"].result as {
      status: number;
      up: boolean;
      responseTimeMs: number;
    };
    assert.equal(check.status, 200);
    assert.ok(check.responseTimeMs >= 0);
    const rotate = results["b-rotate"].result as { rotated: boolean };
    assert.equal(rotate.rotated, true);
    assert.equal((await Deno.readTextFile(`${dir}/app.log.1`)).length, 4_096);
  } finally {
    await http.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("builtins - a user handler loads from a module path and runs like a built-in", async () => {
  const handlers = await loadHandlers([
    new URL("./fixtures/greet_handler.ts", import.meta.url).pathname,
  ], silentLogger);
  assert.ok(handlers.has("greet"));
  await using r = await rig({ handlers: [handlers.get("greet")!.def] });
  r.client.submit("greet", { id: "g1", payload: { name: "Ada" } });
  const res = await r.client.result("g1");
  assert.equal(res.state, "succeeded");
  assert.deepEqual(res.result, { greeting: "hello, Ada", attempt: 1 });
  await assert.rejects(
    loadHandlers(["./no/such/module.ts"], silentLogger),
    /cannot load handler module/,
  );
});

Deno.test("builtins - a file job outside TASK_SCHEDULER_FS_ROOTS and an http-check to a host off TASK_SCHEDULER_HTTP_ALLOW fail for good: PERMISSION_DENIED, one attempt", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "ts-roots-" }));
  const http = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("ok"),
  );
  const port = (http.addr as Deno.NetAddr).port;
  try {
    await Deno.mkdir(`${dir}/root/data`, { recursive: true });
    await Deno.mkdir(`${dir}/elsewhere`);
    await using r = await rig({
      config: { fsRoots: [`${dir}/root`], httpAllow: ["allowed.invalid"] },
    });
    const tasks: [string, string, unknown][] = [
      ["p-backup", "backup", { source: `${dir}/elsewhere`, target: `${dir}/root/backups` }],
      ["p-cleanup", "cleanup", { dir: `${dir}/root/../elsewhere`, maxAgeDays: 0 }],
      ["p-http", "http-check", { url: `http://127.0.0.1:${port}/`, timeoutMs: 2_000 }],
    ];
    for (const [id, type, payload] of tasks) {
      r.client.submit(type, { id, payload, maxAttempts: 3 });
    }
    const results = Object.fromEntries(
      await Promise.all(tasks.map(async ([id]) => [id, await r.client.result(id)])),
    );
    for (const [id] of tasks) {
      const res = results[id];
      assert.equal(res.state, "failed", `${id}: ${JSON.stringify(res)}`);
      assert.equal(res.error?.code, "PERMISSION_DENIED", `${id}: ${JSON.stringify(res.error)}`);
      assert.equal(res.attempts, 1, `${id} was retried`);
    }
    assert.equal(
      results["p-backup"].error.message,
      `backup: source "${dir}/elsewhere" is outside TASK_SCHEDULER_FS_ROOTS (${dir}/root): refused`,
    );
    assert.equal(
      results["p-cleanup"].error.message,
      `cleanup: dir "${dir}/root/../elsewhere" (resolves to "${dir}/elsewhere") is outside TASK_SCHEDULER_FS_ROOTS (${dir}/root): refused`,
    );
    assert.equal(
      results["p-http"].error.message,
      `http-check: host "127.0.0.1:${port}" is not in TASK_SCHEDULER_HTTP_ALLOW (allowed.invalid): refused`,
    );
    assert.deepEqual([...Deno.readDirSync(`${dir}/root`)].map((e) => e.name), ["data"]);
  } finally {
    await http.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("builtins - with no TASK_SCHEDULER_FS_ROOTS (the default), rotate-logs is refused at once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ts-noroots-" });
  try {
    await Deno.writeTextFile(`${dir}/app.log`, "z".repeat(4_096));
    await using r = await rig();
    r.client.submit("rotate-logs", {
      id: "p-rotate",
      payload: { file: `${dir}/app.log`, maxSizeKb: 1 },
      maxAttempts: 3,
    });
    const res = await r.client.result("p-rotate");
    assert.equal(res.state, "failed");
    assert.equal(res.attempts, 1);
    assert.deepEqual(res.error, {
      code: "PERMISSION_DENIED",
      message:
        `rotate-logs: file "${dir}/app.log": no TASK_SCHEDULER_FS_ROOTS configured: file jobs are refused until it names the folders they may touch`,
    });
    assert.equal((await Deno.readTextFile(`${dir}/app.log`)).length, 4_096, "not rotated");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
