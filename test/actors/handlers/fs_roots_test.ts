/**
 * The file jobs (backup, cleanup, rotate-logs) against TASK_SCHEDULER_FS_ROOTS:
 * with none they refuse everything; with some, only paths that resolve inside
 * them pass, and a refused task touched nothing.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { definition as backup } from "../../../actors/handlers/backup.ts";
import { definition as cleanup } from "../../../actors/handlers/cleanup.ts";
import { definition as rotateLogs } from "../../../actors/handlers/rotate_logs.ts";
import { Unrecoverable } from "../../../src/handler.ts";
import { type Run, runHandler, tempDir } from "./_run.ts";

const NO_ROOTS =
  "no TASK_SCHEDULER_FS_ROOTS configured: file jobs are refused until it names the folders they may touch";

/** The run failed for good with PERMISSION_DENIED and exactly `message` (or matching it). */
function assertDenied(run: Run<unknown>, message: string | RegExp): void {
  assert.ok(
    run.error instanceof Unrecoverable,
    `expected Unrecoverable, got ${String(run.error ?? JSON.stringify(run.result))}`,
  );
  assert.equal(run.error.code, "PERMISSION_DENIED", run.error.message);
  if (typeof message === "string") assert.equal(run.error.message, message);
  else assert.match(run.error.message, message);
}

const DAY = 86_400_000;

/**
 * `<tmp>/root/{data/a.txt, old/stale.log (old), app.log (2 KiB), out -> <tmp>/outside}`
 * and `<tmp>/outside/{stale.log (old), app.log (2 KiB)}`.
 */
async function layout(tmp: string): Promise<{ root: string; outside: string }> {
  const root = join(tmp, "root");
  const outside = join(tmp, "outside");
  await Deno.mkdir(join(root, "data"), { recursive: true });
  await Deno.mkdir(join(root, "old"));
  await Deno.mkdir(outside);
  await Deno.writeTextFile(join(root, "data", "a.txt"), "alpha");
  const longAgo = new Date(Date.now() - 30 * DAY);
  for (const dir of [join(root, "old"), outside]) {
    await Deno.writeTextFile(join(dir, "stale.log"), "old");
    await Deno.utime(join(dir, "stale.log"), longAgo, longAgo);
  }
  await Deno.writeTextFile(join(root, "app.log"), "x".repeat(2048));
  await Deno.writeTextFile(join(outside, "app.log"), "x".repeat(2048));
  await Deno.symlink(outside, join(root, "out"));
  return { root, outside };
}

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("fs roots - with no roots, backup, cleanup and rotate-logs each refuse with PERMISSION_DENIED", async () => {
  await using tmp = await tempDir();
  const { root } = await layout(tmp.path);
  const data = join(root, "data");
  const target = join(root, "backups");
  assertDenied(
    await runHandler(backup, { source: data, target }),
    `backup: source ${JSON.stringify(data)}: ${NO_ROOTS}`,
  );
  assertDenied(
    await runHandler(cleanup, { dir: join(root, "old"), maxAgeDays: 7 }),
    `cleanup: dir ${JSON.stringify(join(root, "old"))}: ${NO_ROOTS}`,
  );
  assertDenied(
    await runHandler(rotateLogs, { file: join(root, "app.log"), maxSizeKb: 1 }),
    `rotate-logs: file ${JSON.stringify(join(root, "app.log"))}: ${NO_ROOTS}`,
  );
  // Nothing was touched.
  assert.deepEqual(await names(root), ["app.log", "data", "old", "out"]);
  assert.deepEqual(await names(join(root, "old")), ["stale.log"]);
});

Deno.test("fs roots - backup refuses a source or target outside the roots, by path, .. or link", async () => {
  await using tmp = await tempDir();
  const { root, outside } = await layout(tmp.path);
  const roots = { fsRoots: [root] };
  const target = join(root, "backups");
  assertDenied(
    await runHandler(backup, { source: outside, target }, roots),
    `backup: source ${
      JSON.stringify(outside)
    } is outside TASK_SCHEDULER_FS_ROOTS (${root}): refused`,
  );
  assertDenied(
    await runHandler(backup, { source: `${root}/data/../../outside`, target }, roots),
    `backup: source ${JSON.stringify(`${root}/data/../../outside`)} (resolves to ${
      JSON.stringify(outside)
    }) is outside TASK_SCHEDULER_FS_ROOTS (${root}): refused`,
  );
  assertDenied(
    await runHandler(backup, { source: join(root, "out"), target }, roots),
    /^backup: source ".*\/root\/out" \(resolves to ".*\/outside"\) is outside/,
  );
  // A target outside, existing or still to be made (through a link that leads out).
  assertDenied(
    await runHandler(backup, { source: join(root, "data"), target: "/etc" }, roots),
    `backup: target "/etc" is outside TASK_SCHEDULER_FS_ROOTS (${root}): refused`,
  );
  assertDenied(
    await runHandler(
      backup,
      { source: join(root, "data"), target: join(root, "out", "bk") },
      roots,
    ),
    /^backup: target ".*\/root\/out\/bk" \(resolves to ".*\/outside\/bk"\) is outside/,
  );
  assert.deepEqual(await names(outside), ["app.log", "stale.log"], "nothing was made outside");
  assert.deepEqual(await names(root), ["app.log", "data", "old", "out"]);
});

Deno.test("fs roots - backup into a target not made yet under a root works", async () => {
  await using tmp = await tempDir();
  const { root } = await layout(tmp.path);
  const target = join(root, "new", "backups");
  const run = await runHandler(backup, { source: join(root, "data"), target }, { fsRoots: [root] });
  assert.equal(run.error, undefined);
  assert.equal(await Deno.readTextFile(join(run.result!.path, "a.txt")), "alpha");
  assert.ok(run.result!.path.startsWith(`${target}/backup_`));
});

Deno.test("fs roots - cleanup refuses a folder outside, reached by path, .. or link; inside works", async () => {
  await using tmp = await tempDir();
  const { root, outside } = await layout(tmp.path);
  const roots = { fsRoots: [root] };
  for (const dir of [outside, `${root}/old/../../outside`, join(root, "out"), "/"]) {
    assertDenied(
      await runHandler(cleanup, { dir, maxAgeDays: 0 }, roots),
      /^cleanup: dir ".*" .*is outside TASK_SCHEDULER_FS_ROOTS \(.*\/root\): refused$/,
    );
  }
  assert.deepEqual(await names(outside), ["app.log", "stale.log"], "nothing went outside");
  const run = await runHandler(cleanup, { dir: join(root, "old"), maxAgeDays: 7 }, roots);
  assert.equal(run.error, undefined);
  assert.deepEqual(run.result!.removed, ["stale.log"]);
});

Deno.test("fs roots - rotate-logs refuses a file outside, reached by path, .. or link; inside works", async () => {
  await using tmp = await tempDir();
  const { root, outside } = await layout(tmp.path);
  const roots = { fsRoots: [root] };
  await Deno.symlink(join(outside, "app.log"), join(root, "link.log"));
  for (
    const file of [
      join(outside, "app.log"),
      `${root}/../outside/app.log`,
      join(root, "out", "app.log"),
      join(root, "link.log"),
    ]
  ) {
    assertDenied(
      await runHandler(rotateLogs, { file, maxSizeKb: 1 }, roots),
      /^rotate-logs: file ".*" .*is outside TASK_SCHEDULER_FS_ROOTS \(.*\/root\): refused$/,
    );
  }
  assert.deepEqual(await names(outside), ["app.log", "stale.log"], "nothing was rotated outside");
  const run = await runHandler(rotateLogs, { file: join(root, "app.log"), maxSizeKb: 1 }, roots);
  assert.equal(run.error, undefined);
  assert.equal(run.result!.rotated, true);
  // A missing file under a root is checked through its folder, and is not an error.
  const missing = await runHandler(rotateLogs, { file: join(root, "none.log") }, roots);
  assert.equal(missing.result?.rotated, false);
});

Deno.test("fs roots - a link inside a root to a file inside it is still not rotated (links never are)", async () => {
  await using tmp = await tempDir();
  const { root } = await layout(tmp.path);
  await Deno.symlink(join(root, "app.log"), join(root, "alias.log"));
  const run = await runHandler(rotateLogs, { file: join(root, "alias.log"), maxSizeKb: 1 }, {
    fsRoots: [root],
  });
  assert.ok(run.error instanceof Unrecoverable);
  assert.equal(run.error.code, "UNRECOVERABLE");
  assert.match(run.error.message, /payload.file must be a regular file \(not a folder or link\)/);
});
