import assert from "node:assert/strict";
import { join } from "node:path";
import { definition } from "../../../actors/handlers/rotate_logs.ts";
import { assertProgressMonotonic, assertThrew, runHandler, tempDir } from "./_run.ts";

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("rotate logs - keeps exactly N copies with contents shifted", async () => {
  await using tmp = await tempDir();
  const file = join(tmp.path, "app.log");
  const payload = { file, maxSizeKb: 1, keep: 3 };
  // Five generations, each over 1 KiB: "gen1" is oldest.
  for (let gen = 1; gen <= 5; gen++) {
    await Deno.writeTextFile(file, `gen${gen}\n` + "x".repeat(1100));
    const run = await runHandler(definition, payload, { fsRoots: [tmp.path] });
    assert.equal(run.error, undefined);
    assert.equal(run.result!.rotated, true);
    assertProgressMonotonic(run.progress);
    assert.equal(run.progress.at(-1)?.progress, 1);
  }
  assert.deepEqual(await names(tmp.path), ["app.log", "app.log.1", "app.log.2", "app.log.3"]);
  for (const [suffix, gen] of [[1, 5], [2, 4], [3, 3]]) {
    const text = await Deno.readTextFile(`${file}.${suffix}`);
    assert.ok(text.startsWith(`gen${gen}\n`), `${file}.${suffix} holds ${text.slice(0, 5)}`);
  }
  assert.match(await Deno.readTextFile(file), /^Log rotated at \d{4}-\d\d-\d\dT.*\n$/);
});

Deno.test("rotate logs - reports the size and the copies", async () => {
  await using tmp = await tempDir();
  const file = join(tmp.path, "a.log");
  await Deno.writeTextFile(file, "y".repeat(3 * 1024));
  const run = await runHandler(definition, { file, maxSizeKb: 2, keep: 2 }, {
    fsRoots: [tmp.path],
  });
  assert.deepEqual(run.result, { rotated: true, sizeKb: 3, files: [`${file}.1`] });
});

Deno.test("rotate logs - leaves a file within the size alone", async () => {
  await using tmp = await tempDir();
  const file = join(tmp.path, "small.log");
  await Deno.writeTextFile(file, "z".repeat(512));
  const run = await runHandler(definition, { file }, { fsRoots: [tmp.path] });
  assert.equal(run.result!.rotated, false);
  assert.equal(run.result!.sizeKb, 0.5);
  assert.deepEqual(await names(tmp.path), ["small.log"]);
});

Deno.test("rotate logs - keep 1 replaces the single copy", async () => {
  await using tmp = await tempDir();
  const file = join(tmp.path, "one.log");
  for (const text of ["first", "second"]) {
    await Deno.writeTextFile(file, text.padEnd(2048, "."));
    await runHandler(definition, { file, maxSizeKb: 1, keep: 1 }, { fsRoots: [tmp.path] });
  }
  assert.deepEqual(await names(tmp.path), ["one.log", "one.log.1"]);
  assert.ok((await Deno.readTextFile(`${file}.1`)).startsWith("second"));
});

Deno.test("rotate logs - a missing file is not an error", async () => {
  await using tmp = await tempDir();
  const run = await runHandler(definition, { file: join(tmp.path, "none.log") }, {
    fsRoots: [tmp.path],
  });
  assert.equal(run.error, undefined);
  assert.equal(run.result!.rotated, false);
  assert.equal(run.result!.reason, "file does not exist");
});

Deno.test("rotate logs - rejects bad payloads, naming the field", async () => {
  await using tmp = await tempDir();
  const file = join(tmp.path, "x.log");
  assertThrew(
    await runHandler(definition, { file, keep: 0 }, { fsRoots: [tmp.path] }),
    "Unrecoverable",
    "payload.keep",
    "1 to 100",
    "0",
  );
  assertThrew(
    await runHandler(definition, { file, keep: 101 }, { fsRoots: [tmp.path] }),
    "Unrecoverable",
    "payload.keep",
    "101",
  );
  assertThrew(
    await runHandler(definition, { file, maxSizeKb: -1 }, { fsRoots: [tmp.path] }),
    "Unrecoverable",
    "payload.maxSizeKb",
    "-1",
  );
  assertThrew(
    await runHandler(definition, { file: "" }, { fsRoots: [tmp.path] }),
    "Unrecoverable",
    "payload.file",
    '""',
  );
  assertThrew(
    await runHandler(definition, { file: tmp.path }, { fsRoots: [tmp.path] }),
    "Unrecoverable",
    "payload.file must be a regular file",
  );
});
