/**
 * The `rotate-logs` task type: when a log file has grown past a size, moves
 * it aside as `<file>.1`, shifting older copies up (`.1` to `.2`, and so on),
 * dropping `<file>.<keep>`, and starts a new file with a "rotated at" line,
 * as the Python job runner's log rotation did.
 *
 * Only the numbered copies up to `keep` are touched: a `<file>.<n>` above
 * `keep` (left from a run with a larger `keep`) is left alone rather than
 * guessed to be ours. The new file gets the old one's permission bits. A
 * program that still holds the old file open keeps writing to `<file>.1`
 * until it reopens by name; that is the usual contract of rename rotation.
 *
 * `file`, resolved (links followed, `..` normalised; a missing file through
 * its folder), must lie within the node's TASK_SCHEDULER_FS_ROOTS: otherwise,
 * or with no roots, the task fails at once with PERMISSION_DENIED (see
 * src/fs_roots.ts).
 *
 * @module
 */

import { basename, dirname, join, resolve } from "node:path";
import { show } from "../../src/mod.ts";
import { checkPath, pathExists as exists, realPathOf } from "../../src/mod.ts";
import { type HandlerDefinition, type TaskHandler, Unrecoverable } from "../../src/mod.ts";
import { intField, numberField, pathField, payloadObject } from "./_payload.ts";

/** `{ "file": "/var/log/app.log", "maxSizeKb": 1024, "keep": 3 }` */
export interface RotateLogsPayload {
  /** The log file. A missing file is not an error. */
  file: string;
  /** Rotate when the file is larger than this many KiB, 0 or more; default 1024. */
  maxSizeKb?: number;
  /** How many rotated copies to keep, 1 to 100; default 3. */
  keep?: number;
}

/** What happened. */
export interface RotateLogsResult {
  rotated: boolean;
  /** The file's size before any rotation, in KiB, to 0.01. */
  sizeKb: number;
  /** The rotated copies that exist afterwards, newest (`.1`) first. */
  files: string[];
  /** When nothing was rotated, why. */
  reason?: string;
}

const FIELDS = ["file", "maxSizeKb", "keep"];
const MAX_KEEP = 100;

/** Check an untrusted payload and fill in defaults; throws {@link Unrecoverable} naming the bad field. */
export function parseRotateLogsPayload(payload: unknown): Required<RotateLogsPayload> {
  const p = payloadObject(payload, "rotate-logs", FIELDS);
  return {
    file: pathField(p, "file"),
    maxSizeKb: numberField(p, "maxSizeKb", { min: 0 }, 1024),
    keep: intField(p, "keep", 1, MAX_KEEP, 3),
  };
}

async function existingCopies(file: string, keep: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 1; i <= keep; i++) if (await exists(`${file}.${i}`)) out.push(`${file}.${i}`);
  return out;
}

const rotateLogs: TaskHandler<unknown, RotateLogsResult> = async function* (payload, ctx) {
  const given = parseRotateLogsPayload(payload);
  const { maxSizeKb, keep } = given;
  // Where the file leads, links followed, must be inside a root; the work is then done on the
  // file itself in its real folder, so that a link is still seen as one (and refused below).
  await checkPath(given.file, ctx.fsRoots, "rotate-logs: file");
  const abs = resolve(given.file);
  const file = join(await realPathOf(dirname(abs)), basename(abs));
  ctx.signal.throwIfAborted();
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(file);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    return { rotated: false, sizeKb: 0, files: [], reason: "file does not exist" };
  }
  if (!info.isFile) {
    throw new Unrecoverable(
      `payload.file must be a regular file (not a folder or link): got ${show(given.file)}`,
    );
  }
  const sizeKb = Math.round((info.size / 1024) * 100) / 100;
  if (info.size <= maxSizeKb * 1024) {
    return {
      rotated: false,
      sizeKb,
      files: await existingCopies(file, keep),
      reason: `size ${sizeKb} KB is within ${maxSizeKb} KB`,
    };
  }

  const steps = keep + 1;
  await Deno.remove(`${file}.${keep}`).catch((err) => {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  });
  yield { progress: 1 / steps, message: `dropped ${file}.${keep}` };
  for (let i = keep - 1; i >= 1; i--) {
    ctx.signal.throwIfAborted();
    await Deno.rename(`${file}.${i}`, `${file}.${i + 1}`).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
    yield { progress: (keep - i + 1) / steps, message: `moved ${file}.${i}` };
  }
  ctx.signal.throwIfAborted();
  // Past this point the rotation is finished as one step: stopping between the rename and
  // the new file would leave no file where programs expect one.
  await Deno.rename(file, `${file}.1`);
  await Deno.writeTextFile(file, `Log rotated at ${new Date().toISOString()}\n`, {
    append: true,
    mode: info.mode === null ? undefined : info.mode & 0o777,
  });
  ctx.log.info("rotate-logs: rotated", { file, sizeKb });
  yield { progress: 1 };
  return { rotated: true, sizeKb, files: await existingCopies(file, keep) };
};

/**
 * The `rotate-logs` handler.
 *
 * @example
 * ```ts
 * // tasks.submit.rotate-logs with { "file": "/var/log/app.log", "maxSizeKb": 1024, "keep": 3 }
 * // completes with { "rotated": true, "sizeKb": 1200.5, "files": ["/var/log/app.log.1", ...] }
 * ```
 */
export const definition: HandlerDefinition<unknown, RotateLogsResult> = {
  type: "rotate-logs",
  handler: rotateLogs,
};
