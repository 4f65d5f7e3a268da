import assert from "node:assert/strict";
import { pathExists as exists } from "../../../src/fs_roots.ts";
import { join } from "node:path";
import { definition } from "../../../actors/handlers/cleanup.ts";
import {
  assertAborted,
  assertProgressMonotonic,
  assertThrew,
  runHandler,
  tempDir,
} from "./_run.ts";

const DAY = 86_400_000;
const daysAgo = (n: number) => new Date(Date.now() - n * DAY);

async function write(path: string, text: string, ageDays: number): Promise<void> {
  await Deno.writeTextFile(path, text);
  await Deno.utime(path, daysAgo(ageDays), daysAgo(ageDays));
}

Deno.test("cleanup - removes old files and the folders they leave empty, keeps new ones", async () => {
  await using tmp = await tempDir();
  const d = tmp.path;
  await Deno.mkdir(join(d, "keep"), { recursive: true });
  await Deno.mkdir(join(d, "gone", "deeper"), { recursive: true });
  await Deno.mkdir(join(d, "fresh-empty"));
  await write(join(d, "old.log"), "12345", 10);
  await write(join(d, "new.log"), "new", 1);
  await write(join(d, "keep", "old.txt"), "1234567", 30);
  await write(join(d, "keep", "new.txt"), "new", 0);
  await write(join(d, "gone", "deeper", "old.bin"), "123", 8);

  const run = await runHandler(definition, { dir: d, maxAgeDays: 7 }, { fsRoots: [tmp.path] });
  assert.equal(run.error, undefined);
  const r = run.result!;
  assert.equal(r.removedFiles, 3);
  assert.equal(r.removedDirs, 2);
  assert.equal(r.freedBytes, 5 + 7 + 3);
  assert.equal(r.dryRun, false);
  assert.deepEqual([...r.removed].sort(), [
    "gone",
    "gone/deeper",
    "gone/deeper/old.bin",
    "keep/old.txt",
    "old.log",
  ]);
  assert.ok(r.removed.indexOf("gone/deeper") < r.removed.indexOf("gone"), "deepest first");
  for (const kept of ["new.log", "keep/new.txt", "fresh-empty"]) {
    assert.ok(await exists(join(d, kept)), `${kept} was removed`);
  }
  for (const gone of ["old.log", "keep/old.txt", "gone"]) {
    assert.ok(!(await exists(join(d, gone))), `${gone} is still there`);
  }
  assert.ok(await exists(d), "the folder itself stays");
  assertProgressMonotonic(run.progress);
  assert.equal(run.progress.at(-1)?.progress, 1);
});

Deno.test("cleanup - never deletes through a symlink pointing outside the folder", async () => {
  await using tmp = await tempDir();
  const inside = join(tmp.path, "inside");
  const outside = join(tmp.path, "outside");
  await Deno.mkdir(inside);
  await Deno.mkdir(outside);
  await write(join(outside, "precious.txt"), "keep me", 100);
  await Deno.symlink(join(outside, "precious.txt"), join(inside, "file-link"));
  await Deno.symlink(outside, join(inside, "dir-link"));

  // The links lead out of the root; the scan never follows them there.
  // A fresh link to an old file: the link's own age counts, so it stays.
  let run = await runHandler(definition, { dir: inside, maxAgeDays: 7 }, { fsRoots: [inside] });
  assert.equal(run.error, undefined);
  assert.equal(run.result!.removedFiles, 0);
  assert.ok(await exists(join(inside, "file-link")));

  // Everything goes (age 0): the links are removed as links, their targets survive.
  run = await runHandler(definition, { dir: inside, maxAgeDays: 0 }, { fsRoots: [inside] });
  assert.equal(run.error, undefined);
  assert.deepEqual([...run.result!.removed].sort(), ["dir-link", "file-link"]);
  assert.equal(await Deno.readTextFile(join(outside, "precious.txt")), "keep me");
  assert.deepEqual([...Deno.readDirSync(inside)], []);
});

Deno.test("cleanup - a dry run removes nothing and reports what would go", async () => {
  await using tmp = await tempDir();
  await Deno.mkdir(join(tmp.path, "sub"));
  await write(join(tmp.path, "sub", "old.txt"), "abc", 9);
  const run = await runHandler(definition, { dir: tmp.path, maxAgeDays: 7, dryRun: true }, {
    fsRoots: [tmp.path],
  });
  assert.equal(run.error, undefined);
  assert.equal(run.result!.dryRun, true);
  assert.deepEqual(run.result!.removed, ["sub/old.txt", "sub"]);
  assert.ok(await exists(join(tmp.path, "sub", "old.txt")));
});

Deno.test("cleanup - a missing folder is skipped, not an error", async () => {
  await using tmp = await tempDir();
  const run = await runHandler(definition, { dir: join(tmp.path, "nope"), maxAgeDays: 7 }, {
    fsRoots: [tmp.path],
  });
  assert.equal(run.error, undefined);
  assert.equal(run.result!.removedFiles, 0);
  assert.equal(run.result!.removedDirs, 0);
  assert.equal(run.result!.skipped, "directory does not exist");
});

Deno.test("cleanup - caps the removed list at 1000 and says so", async () => {
  await using tmp = await tempDir();
  for (let i = 0; i < 1005; i++) await write(join(tmp.path, `f${i}`), "", 2);
  const run = await runHandler(definition, { dir: tmp.path, maxAgeDays: 1 }, {
    fsRoots: [tmp.path],
  });
  assert.equal(run.result!.removedFiles, 1005);
  assert.equal(run.result!.removed.length, 1000);
  assert.equal(run.result!.truncated, true);
});

Deno.test("cleanup - stops when aborted mid-run", async () => {
  await using tmp = await tempDir();
  for (let i = 0; i < 300; i++) await write(join(tmp.path, `f${i}`), "x", 2);
  const run = await runHandler(definition, { dir: tmp.path, maxAgeDays: 1 }, {
    fsRoots: [tmp.path],
    abortAfterProgress: 2,
  });
  assertAborted(run);
  assert.ok([...Deno.readDirSync(tmp.path)].length > 250, "it kept going after the abort");
});

Deno.test("cleanup - rejects bad payloads, naming the field", async () => {
  await using tmp = await tempDir();
  assertThrew(
    await runHandler(definition, { dir: tmp.path }, { fsRoots: [tmp.path] }),
    "Unrecoverable",
    "payload.maxAgeDays",
    "undefined",
  );
  assertThrew(
    await runHandler(definition, { dir: tmp.path, maxAgeDays: -1 }, { fsRoots: [tmp.path] }),
    "Unrecoverable",
    "payload.maxAgeDays",
    "-1",
  );
  assertThrew(
    await runHandler(definition, { dir: tmp.path, maxAgeDays: "7" }, { fsRoots: [tmp.path] }),
    "Unrecoverable",
    "payload.maxAgeDays",
    '"7"',
  );
  assertThrew(
    await runHandler(definition, { dir: 1, maxAgeDays: 7 }, { fsRoots: [tmp.path] }),
    "Unrecoverable",
    "payload.dir",
    "1",
  );
  assertThrew(
    await runHandler(definition, { dir: tmp.path, maxAgeDays: 7, dryRun: "yes" }, {
      fsRoots: [tmp.path],
    }),
    "Unrecoverable",
    "payload.dryRun",
    '"yes"',
  );
  // A misspelt dryRun must not silently delete.
  assertThrew(
    await runHandler(definition, { dir: tmp.path, maxAgeDays: 7, dryrun: true }, {
      fsRoots: [tmp.path],
    }),
    "Unrecoverable",
    "payload.dryrun",
    "not a cleanup field",
  );
  await Deno.writeTextFile(join(tmp.path, "f"), "");
  assertThrew(
    await runHandler(definition, { dir: join(tmp.path, "f"), maxAgeDays: 7 }, {
      fsRoots: [tmp.path],
    }),
    "Unrecoverable",
    "payload.dir must be a folder",
  );
});
