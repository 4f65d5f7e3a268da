import assert from "node:assert/strict";
import { pathExists as exists } from "../../../src/fs_roots.ts";
import { isAbsolute, join, relative, sep } from "node:path";
import { builtinHandlers } from "../../../actors/handlers/mod.ts";
import { LOG_APPEND_MS, OLD_FILE_AGE_DAYS, startDemo } from "../../../actors/schedules/demo.ts";
import { decodeSchedule } from "../../../src/schedule/spec.ts";
import { runHandler } from "../handlers/_run.ts";

const DAY_MS = 86_400_000;
const PATH_FIELDS = ["source", "target", "dir", "file", "path"];

function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === "" || (!isAbsolute(rel) && rel.split(sep)[0] !== "..");
}

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.isFile) out.push(e.name);
  return out.sort();
}

Deno.test("demo - lays out data, backups, old and logs in a new temporary folder", async () => {
  const demo = await startDemo();
  try {
    assert.equal(demo.roots.length, 1);
    const [root] = demo.roots;
    assert.ok(isAbsolute(root));
    assert.ok(root.split(sep).at(-1)!.startsWith("task-scheduler-demo-"), root);
    for (const sub of ["data", "backups", "old", "logs"]) {
      assert.ok((await Deno.stat(join(root, sub))).isDirectory, `${sub}/ is missing`);
    }
    assert.ok((await files(join(root, "data"))).length >= 2, "data/ should hold a few files");
    assert.deepEqual(await files(join(root, "backups")), []);
    assert.ok((await Deno.stat(join(root, "logs", "tasks.log"))).size > 1024);

    const old = await files(join(root, "old"));
    assert.ok(old.length >= 2, "old/ should hold a few files");
    for (const name of [...old.map((n) => join("old", n)), join("old", "reports", "weekly.txt")]) {
      const { mtime } = await Deno.stat(join(root, name));
      const ageDays = (Date.now() - mtime!.getTime()) / DAY_MS;
      assert.ok(ageDays > 7, `${name} is ${ageDays} days old`);
      assert.ok(ageDays < OLD_FILE_AGE_DAYS + 1, `${name} is ${ageDays} days old`);
    }
  } finally {
    await demo.close();
  }
});

Deno.test("demo - the local server answers 200 ok on / and 404 elsewhere", async () => {
  const demo = await startDemo();
  try {
    const url = new URL(demo.url);
    assert.equal(url.hostname, "127.0.0.1");
    assert.notEqual(url.port, "");
    assert.equal(url.pathname, "/");
    const res = await fetch(demo.url);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "ok");
    const missing = await fetch(new URL("/nowhere", demo.url));
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  } finally {
    await demo.close();
  }
});

Deno.test("demo - six schedules that decode, every 10 to 60 s, paths inside the folder", async () => {
  const demo = await startDemo();
  try {
    const [root] = demo.roots;
    const specs = demo.schedules.map((s) => decodeSchedule(s));
    assert.deepEqual(specs.map((s) => s.name).sort(), [
      "demo-backup",
      "demo-cleanup",
      "demo-heartbeat",
      "demo-http-check",
      "demo-rotate-logs",
      "demo-system-check",
    ]);
    const builtin = new Set(builtinHandlers.map((d) => d.type));
    const every: Record<string, number> = {};
    for (const s of specs) {
      assert.equal(s.timing.kind, "every", s.name);
      if (s.timing.kind !== "every") continue;
      every[s.name] = s.timing.everyMs;
      assert.ok(
        s.timing.everyMs >= 10_000 && s.timing.everyMs <= 60_000,
        `${s.name} every ${s.timing.everyMs} ms`,
      );
      assert.equal(s.overlap, "skip", s.name);
      assert.equal(s.catchup, "skip", s.name);
      assert.ok(builtin.has(s.task.type), `${s.name}: ${s.task.type} is not built in`);
      const p = s.task.payload as Record<string, unknown>;
      for (const key of PATH_FIELDS) {
        if (p[key] === undefined) continue;
        assert.ok(isInside(p[key] as string, root), `${s.name}: payload.${key} ${p[key]}`);
      }
    }
    assert.deepEqual(every, {
      "demo-system-check": 20_000,
      "demo-backup": 30_000,
      "demo-cleanup": 60_000,
      "demo-http-check": 15_000,
      "demo-rotate-logs": 45_000,
      "demo-heartbeat": 10_000,
    });
    const http = specs.find((s) => s.task.type === "http-check")!;
    assert.equal((http.task.payload as { url: string }).url, demo.url);
  } finally {
    await demo.close();
  }
});

Deno.test("demo - each job's handler does its work on the demo folder", async () => {
  const demo = await startDemo();
  try {
    const [root] = demo.roots;
    const byType = new Map(builtinHandlers.map((d) => [d.type, d]));
    const results: Record<string, unknown> = {};
    for (const s of demo.schedules) {
      if (s.task.type === "system-check") continue; // slow-ish and machine dependent
      // The demo's folder is a root, as `--demo` makes it one for its process.
      const run = await runHandler(byType.get(s.task.type)!, s.task.payload, {
        fsRoots: demo.roots,
      });
      assert.equal(run.error, undefined, `${s.name}: ${run.error}`);
      results[s.name] = run.result;
    }
    assert.equal((results["demo-http-check"] as { status: number }).status, 200);
    assert.equal((results["demo-cleanup"] as { removedFiles: number }).removedFiles, 3);
    assert.deepEqual(await files(join(root, "old")), []);
    assert.equal((results["demo-rotate-logs"] as { rotated: boolean }).rotated, true);
    assert.ok(await exists(join(root, "logs", "tasks.log.1")));
    const [backup] = [...Deno.readDirSync(join(root, "backups"))];
    assert.ok(backup?.name.startsWith("backup_"));
    assert.ok(await exists(join(root, "backups", backup.name, "reports", "summary.txt")));
  } finally {
    await demo.close();
  }
});

Deno.test("demo - keeps appending to logs/tasks.log, even after a rotation", async () => {
  const demo = await startDemo();
  try {
    const log = join(demo.roots[0], "logs", "tasks.log");
    await Deno.rename(log, `${log}.1`); // as rotate-logs does
    await new Promise((r) => setTimeout(r, LOG_APPEND_MS * 2 + 200));
    const text = await Deno.readTextFile(log);
    assert.match(text, /demo: still running, line \d+ since start/);
  } finally {
    await demo.close();
  }
});

Deno.test("demo - close() removes the folder, stops the server, and may be called twice", async () => {
  const demo = await startDemo();
  const [root] = demo.roots;
  assert.ok(await exists(root));
  await demo.close();
  assert.equal(await exists(root), false);
  await assert.rejects(fetch(demo.url), TypeError);
  await demo.close();
});

Deno.test("demo - uses a given folder when empty or missing, and refuses one with content", async () => {
  const parent = await Deno.makeTempDir({ prefix: "demo_test_" });
  try {
    const dir = join(parent, "demo");
    const demo = await startDemo(dir);
    assert.deepEqual(demo.roots, [await Deno.realPath(dir)]);
    assert.ok(await exists(join(dir, "data")));
    await demo.close();
    assert.equal(await exists(dir), false);

    await Deno.writeTextFile(join(parent, "precious.txt"), "keep me");
    await assert.rejects(startDemo(parent), /must be empty or not exist/);
    assert.equal(await Deno.readTextFile(join(parent, "precious.txt")), "keep me");
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});
