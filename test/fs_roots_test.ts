import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { loadConfig } from "../src/config/config.ts";
import { SchedulerError } from "../src/errors.ts";
import {
  checkPath,
  FS_ROOTS_VAR,
  isWithin,
  isWithinRoots,
  realPathOf,
  resolveRoots,
} from "../src/fs_roots.ts";
import { Unrecoverable } from "../src/handler.ts";

/** A fresh folder (its real path), removed at the end of the scope. */
async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.realPath(await Deno.makeTempDir({ prefix: "fs_roots_test_" }));
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/**
 * A layout with a root and things around it:
 *
 * ```text
 * <tmp>/root/data/file.txt
 * <tmp>/root/in-link      -> <tmp>/root/data       (stays inside)
 * <tmp>/root/out-link     -> <tmp>/outside         (leads out)
 * <tmp>/root/rel-out      -> ../outside            (leads out, relative)
 * <tmp>/root/dangling     -> <tmp>/outside/new     (does not exist yet, outside)
 * <tmp>/root/loop         -> <tmp>/root/loop
 * <tmp>/outside/secret.txt
 * ```
 */
async function layout(tmp: string): Promise<{ root: string; outside: string }> {
  const root = join(tmp, "root");
  const outside = join(tmp, "outside");
  await Deno.mkdir(join(root, "data"), { recursive: true });
  await Deno.mkdir(outside);
  await Deno.writeTextFile(join(root, "data", "file.txt"), "in");
  await Deno.writeTextFile(join(outside, "secret.txt"), "out");
  await Deno.symlink(join(root, "data"), join(root, "in-link"));
  await Deno.symlink(outside, join(root, "out-link"));
  await Deno.symlink("../outside", join(root, "rel-out"));
  await Deno.symlink(join(outside, "new"), join(root, "dangling"));
  await Deno.symlink(join(root, "loop"), join(root, "loop"));
  return { root, outside };
}

/** `fn` rejects with Unrecoverable, code PERMISSION_DENIED and exactly `message`. */
async function denied(fn: Promise<unknown>, message: string | RegExp): Promise<void> {
  await assert.rejects(fn, (err: unknown) => {
    assert.ok(err instanceof Unrecoverable, `expected Unrecoverable, got ${err}`);
    assert.equal(err.code, "PERMISSION_DENIED");
    if (typeof message === "string") assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

Deno.test("fs roots - isWithin: the root itself and below pass, siblings and parents do not", () => {
  assert.equal(isWithin("/srv/data", "/srv/data"), true);
  assert.equal(isWithin("/srv/data/a/b", "/srv/data"), true);
  assert.equal(isWithin("/srv/data/..hidden", "/srv/data"), true);
  assert.equal(isWithin("/srv/database", "/srv/data"), false);
  assert.equal(isWithin("/srv", "/srv/data"), false);
  assert.equal(isWithin("/etc/passwd", "/srv/data"), false);
  assert.equal(isWithin("/anything", "/"), true);
  assert.equal(isWithinRoots("/b/x", ["/a", "/b"]), true);
  assert.equal(isWithinRoots("/c/x", ["/a", "/b"]), false);
  assert.equal(isWithinRoots("/a", []), false);
});

Deno.test("fs roots - realPathOf: absolute, .. normalised, links followed, missing parts kept", async () => {
  await using tmp = await tempDir();
  const { root, outside } = await layout(tmp.path);
  assert.equal(
    await realPathOf(`${root}/data/../data/file.txt`),
    join(root, "data", "file.txt"),
  );
  assert.equal(await realPathOf(join(root, "in-link", "file.txt")), join(root, "data", "file.txt"));
  assert.equal(await realPathOf(join(root, "out-link", "secret.txt")), join(outside, "secret.txt"));
  assert.equal(await realPathOf(join(root, "rel-out")), outside);
  // Not there yet: its existing ancestor's real path, then the rest.
  assert.equal(await realPathOf(join(root, "new", "deeper")), join(root, "new", "deeper"));
  assert.equal(await realPathOf(join(root, "in-link", "new")), join(root, "data", "new"));
  assert.equal(await realPathOf(join(root, "out-link", "new")), join(outside, "new"));
  // A dangling link is followed to where it points.
  assert.equal(await realPathOf(join(root, "dangling")), join(outside, "new"));
  assert.equal(await realPathOf(join(root, "dangling", "x")), join(outside, "new", "x"));
  // The same answer as the system's realpath wherever the path exists.
  for (const p of ["in-link", "out-link", "rel-out", "data/file.txt"]) {
    assert.equal(await realPathOf(join(root, p)), await Deno.realPath(join(root, p)), p);
  }
  // Relative: against the working folder.
  assert.equal(await realPathOf(relative(Deno.cwd(), join(root, "data"))), join(root, "data"));
  await assert.rejects(realPathOf(join(root, "loop", "x")), Deno.errors.FilesystemLoop);
});

Deno.test("fs roots - checkPath accepts the root, paths below it and paths not made yet", async () => {
  await using tmp = await tempDir();
  const { root } = await layout(tmp.path);
  const roots = await resolveRoots([root]);
  assert.equal(await checkPath(root, roots, "t: f"), root);
  assert.equal(
    await checkPath(join(root, "data", "file.txt"), roots, "t: f"),
    join(root, "data", "file.txt"),
  );
  assert.equal(await checkPath(join(root, "in-link"), roots, "t: f"), join(root, "data"));
  assert.equal(
    await checkPath(join(root, "backups", "new"), roots, "t: f"),
    join(root, "backups", "new"),
  );
  assert.equal(await checkPath(`${root}/data/../x`, roots, "t: f"), join(root, "x"));
});

Deno.test("fs roots - checkPath refuses .. escapes, links out, dangling links out and paths elsewhere", async () => {
  await using tmp = await tempDir();
  const { root, outside } = await layout(tmp.path);
  const roots = await resolveRoots([root]);
  const escape = `${root}/data/../../outside`; // join() would normalise it
  await denied(
    checkPath(escape, roots, "backup: source"),
    `backup: source ${JSON.stringify(escape)} (resolves to ${
      JSON.stringify(outside)
    }) is outside TASK_SCHEDULER_FS_ROOTS (${root}): refused`,
  );
  await denied(
    checkPath("/etc", roots, "backup: source"),
    `backup: source "/etc" is outside TASK_SCHEDULER_FS_ROOTS (${root}): refused`,
  );
  for (const p of ["out-link", "out-link/secret.txt", "rel-out", "dangling", "dangling/x"]) {
    await denied(checkPath(join(root, p), roots, "t: f"), /is outside TASK_SCHEDULER_FS_ROOTS/);
  }
  await denied(
    checkPath(join(root, "loop", "x"), roots, "t: f"),
    `t: f ${JSON.stringify(join(root, "loop", "x"))}: too many symbolic links: refused`,
  );
  // A sibling whose name starts like the root is not inside it.
  await Deno.mkdir(`${root}2`);
  await denied(checkPath(`${root}2`, roots, "t: f"), /is outside/);
  // Two roots: either will do, and both are named when neither does.
  const both = await resolveRoots([root, outside]);
  assert.equal(await checkPath(join(root, "out-link"), both, "t: f"), outside);
  await denied(
    checkPath("/etc", both, "t: f"),
    `t: f "/etc" is outside ${FS_ROOTS_VAR} (${root}, ${outside}): refused`,
  );
});

Deno.test("fs roots - with no roots every path is refused, naming the path, the variable and the fix", async () => {
  for (const p of ["/etc", "/tmp", "relative/path"]) {
    await denied(
      checkPath(p, [], "cleanup: dir"),
      `cleanup: dir ${
        JSON.stringify(p)
      }: no TASK_SCHEDULER_FS_ROOTS configured: file jobs are refused until it names the folders they may touch`,
    );
  }
});

Deno.test("fs roots - resolveRoots follows links once, drops duplicates, refuses a relative root", async () => {
  await using tmp = await tempDir();
  const { root } = await layout(tmp.path);
  assert.deepEqual(
    await resolveRoots([join(root, "in-link"), join(root, "data"), join(root, "later")]),
    [join(root, "data"), join(root, "later")],
  );
  await assert.rejects(resolveRoots(["data"]), (err: unknown) => {
    assert.ok(err instanceof SchedulerError);
    assert.equal(err.code, "CONFIG");
    assert.match(
      err.message,
      /TASK_SCHEDULER_FS_ROOTS must be .*absolute folder paths: got "data"/,
    );
    return true;
  });
});

Deno.test("fs roots - config: TASK_SCHEDULER_FS_ROOTS and --fs-roots, default none, relative refused naming the key", () => {
  const load = (args: string[], env: Record<string, string> = {}, file?: unknown) =>
    loadConfig({ args, env, readFile: () => JSON.stringify(file) });
  assert.deepEqual(load([]).config.fsRoots, []);
  assert.deepEqual(
    load([], { TASK_SCHEDULER_FS_ROOTS: "/srv/data, /srv/backups" }).config.fsRoots,
    ["/srv/data", "/srv/backups"],
  );
  assert.deepEqual(load(["--fs-roots", "/a,/b"]).config.fsRoots, ["/a", "/b"]);
  assert.deepEqual(load(["--config", "c.json"], {}, { fsRoots: ["/x"] }).config.fsRoots, ["/x"]);
  const refused = (fn: () => unknown, message: string) =>
    assert.throws(fn, (err: unknown) => {
      assert.ok(err instanceof SchedulerError);
      assert.equal(err.code, "CONFIG");
      assert.equal(err.message, message);
      return true;
    });
  refused(
    () => load([], { TASK_SCHEDULER_FS_ROOTS: "/srv/data,data" }),
    'TASK_SCHEDULER_FS_ROOTS must be a comma-separated list of absolute folder paths: got "/srv/data,data"',
  );
  refused(
    () => load(["--fs-roots", "./data"]),
    '--fs-roots must be a comma-separated list of absolute folder paths: got "./data"',
  );
  refused(
    () => load(["--config", "c.json"], {}, { fsRoots: ["data"] }),
    'c.json: fsRoots must be a comma-separated list of absolute folder paths: got ["data"]',
  );
});
