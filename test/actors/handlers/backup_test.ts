import assert from "node:assert/strict";
import { join } from "node:path";
import { backupName, definition } from "../../../actors/handlers/backup.ts";
import {
  assertAborted,
  assertProgressMonotonic,
  assertThrew,
  runHandler,
  tempDir,
} from "./_run.ts";

const OLD = new Date("2020-01-02T03:04:05.000Z");

Deno.test("backup - names the folder by UTC time to the millisecond", () => {
  assert.equal(backupName(Date.UTC(2024, 0, 31, 23, 59, 58, 7)), "backup_20240131_235958_007");
});

Deno.test("backup - copies nested folders with contents, mtimes and links", async () => {
  await using tmp = await tempDir();
  const src = join(tmp.path, "data");
  await Deno.mkdir(join(src, "a", "b"), { recursive: true });
  await Deno.mkdir(join(src, "empty"));
  await Deno.writeTextFile(join(src, "top.txt"), "top");
  await Deno.writeTextFile(join(src, "a", "mid.txt"), "middle");
  await Deno.writeFile(join(src, "a", "b", "deep.bin"), new Uint8Array([0, 1, 2, 255]));
  await Deno.utime(join(src, "a", "mid.txt"), OLD, OLD);
  await Deno.symlink("../top.txt", join(src, "a", "link"));

  const run = await runHandler(definition, { source: src, target: join(tmp.path, "backups") }, {
    fsRoots: [tmp.path],
  });
  assert.equal(run.error, undefined);
  const r = run.result!;
  assert.match(r.path, /backups\/backup_\d{8}_\d{6}_\d{3}$/);
  assert.deepEqual({ files: r.files, symlinks: r.symlinks, dirs: r.dirs, bytes: r.bytes }, {
    files: 3,
    symlinks: 1,
    dirs: 3,
    bytes: 3 + 6 + 4,
  });
  assert.equal(await Deno.readTextFile(join(r.path, "top.txt")), "top");
  assert.equal(await Deno.readTextFile(join(r.path, "a", "mid.txt")), "middle");
  assert.deepEqual(
    await Deno.readFile(join(r.path, "a", "b", "deep.bin")),
    new Uint8Array([0, 1, 2, 255]),
  );
  assert.ok((await Deno.stat(join(r.path, "empty"))).isDirectory);
  assert.equal((await Deno.stat(join(r.path, "a", "mid.txt"))).mtime?.getTime(), OLD.getTime());
  assert.ok((await Deno.lstat(join(r.path, "a", "link"))).isSymlink);
  assert.equal(await Deno.readLink(join(r.path, "a", "link")), "../top.txt");
  assertProgressMonotonic(run.progress);
  assert.equal(run.progress.at(-1)?.progress, 1);
});

Deno.test("backup - recreates a link to outside the source as a link, not a copy", async () => {
  await using tmp = await tempDir();
  const src = join(tmp.path, "data");
  await Deno.mkdir(join(tmp.path, "outside"));
  await Deno.writeTextFile(join(tmp.path, "outside", "secret.txt"), "not to be copied");
  await Deno.mkdir(src);
  await Deno.symlink(join(tmp.path, "outside"), join(src, "out"));
  const run = await runHandler(definition, { source: src, target: join(tmp.path, "b") }, {
    fsRoots: [tmp.path],
  });
  assert.equal(run.error, undefined);
  assert.equal(run.result!.files, 0);
  assert.ok((await Deno.lstat(join(run.result!.path, "out"))).isSymlink);
});

Deno.test("backup - two backups in a row get two folders", async () => {
  await using tmp = await tempDir();
  await Deno.mkdir(join(tmp.path, "s"));
  await Deno.writeTextFile(join(tmp.path, "s", "f"), "x");
  const payload = { source: join(tmp.path, "s"), target: join(tmp.path, "t") };
  const a = await runHandler(definition, payload, { fsRoots: [tmp.path] });
  const b = await runHandler(definition, payload, { fsRoots: [tmp.path] });
  assert.notEqual(a.result!.path, b.result!.path);
  assert.equal(await Deno.readTextFile(join(b.result!.path, "f")), "x");
});

Deno.test("backup - fails cleanly on a missing source, a file source, or a target inside", async () => {
  await using tmp = await tempDir();
  const missing = join(tmp.path, "missing");
  assertThrew(
    await runHandler(definition, { source: missing, target: join(tmp.path, "t") }, {
      fsRoots: [tmp.path],
    }),
    "Unrecoverable",
    "payload.source",
    missing,
    "does not exist",
  );
  await Deno.writeTextFile(join(tmp.path, "file"), "x");
  assertThrew(
    await runHandler(definition, { source: join(tmp.path, "file"), target: join(tmp.path, "t") }, {
      fsRoots: [tmp.path],
    }),
    "Unrecoverable",
    "payload.source must be a folder",
  );
  await Deno.mkdir(join(tmp.path, "src"));
  assertThrew(
    await runHandler(definition, {
      source: join(tmp.path, "src"),
      target: join(tmp.path, "src", "bk"),
    }, { fsRoots: [tmp.path] }),
    "Unrecoverable",
    "payload.target must not be inside payload.source",
  );
  assertThrew(
    await runHandler(definition, { source: join(tmp.path, "src"), target: join(tmp.path, "src") }, {
      fsRoots: [tmp.path],
    }),
    "Unrecoverable",
    "payload.target",
  );
  // Nothing was created by the failed attempts.
  assert.deepEqual([...Deno.readDirSync(tmp.path)].map((e) => e.name).sort(), ["file", "src"]);
  assertThrew(
    await runHandler(definition, { source: "", target: "t" }, { fsRoots: [tmp.path] }),
    "Unrecoverable",
    "payload.source",
    '""',
  );
  assertThrew(
    await runHandler(definition, { source: "s" }, { fsRoots: [tmp.path] }),
    "Unrecoverable",
    "payload.target",
    "undefined",
  );
});

Deno.test("backup - stops promptly when aborted and removes the partial backup", async () => {
  await using tmp = await tempDir();
  const src = join(tmp.path, "many");
  await Deno.mkdir(src);
  const content = new Uint8Array(4096);
  for (let i = 0; i < 1500; i++) await Deno.writeFile(join(src, `f${i}`), content);
  const target = join(tmp.path, "t");
  // Reports: the scan, then each 1% copied; abort at the third (about 2% copied).
  const run = await runHandler(definition, { source: src, target }, {
    fsRoots: [tmp.path],
    abortAfterProgress: 3,
  });
  assertAborted(run);
  assert.equal(run.progress.length, 3, "it kept reporting after the abort");
  assert.deepEqual([...Deno.readDirSync(target)], [], "the partial backup is left behind");
});
