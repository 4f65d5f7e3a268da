/**
 * The `cleanup` task type: removes files older than a given age under a
 * folder, then the folders that leaves empty, as the Python job runner's
 * cleanup did.
 *
 * Age is by modification time: an entry is removed when its mtime is more
 * than `maxAgeDays` before the start of the task (`0` removes everything
 * written before the task began). Regular files and symbolic links are
 * candidates; a link is judged by its own `lstat` time and removed as a link,
 * and is never followed, so nothing outside `dir` is read or touched. Sockets,
 * FIFOs and devices are left alone.
 *
 * A folder below `dir` (never `dir` itself) is removed, deepest first, when it
 * ends up empty and either this run emptied it or it was itself older than
 * the cut-off; a freshly made empty folder that some program is about to use
 * is left in place. With `dryRun`, nothing is removed and the result says what
 * would have been. `dir` itself may be a link to a folder: it is the one link
 * followed, since the caller named it.
 *
 * `dir`, resolved (links followed, `..` normalised), must lie within the
 * node's TASK_SCHEDULER_FS_ROOTS: otherwise, or with no roots, the task fails
 * at once with PERMISSION_DENIED (see src/fs_roots.ts). A link to a folder
 * elsewhere is therefore refused, not followed.
 *
 * @module
 */

import { join } from "node:path";
import { show } from "../../src/mod.ts";
import { checkPath } from "../../src/mod.ts";
import { type HandlerDefinition, type TaskHandler, Unrecoverable } from "../../src/mod.ts";
import { numberField, pathField, payloadObject } from "./_payload.ts";

/** `{ "dir": "./backups", "maxAgeDays": 7 }` */
export interface CleanupPayload {
  /** The folder to clean. A missing folder is not an error. */
  dir: string;
  /** Remove what is older than this many days: a number, 0 or more (fractions allowed). */
  maxAgeDays: number;
  /** Report what would go, remove nothing. Default false. */
  dryRun?: boolean;
}

/** What was removed (or, with `dryRun`, would have been). */
export interface CleanupResult {
  /** Files and links removed. */
  removedFiles: number;
  removedDirs: number;
  /** Sum of the removed entries' sizes. */
  freedBytes: number;
  /** Paths relative to `dir`, with "/" between parts, at most {@link MAX_LISTED}. */
  removed: string[];
  /** True when more were removed than `removed` lists. */
  truncated: boolean;
  dryRun: boolean;
  /** Present when nothing was done, saying why. */
  skipped?: string;
}

/** The longest `removed` list a result carries. */
export const MAX_LISTED = 1000;
const FIELDS = ["dir", "maxAgeDays", "dryRun"];
const DAY_MS = 86_400_000;

/** Check an untrusted payload; throws {@link Unrecoverable} naming the bad field. */
export function parseCleanupPayload(payload: unknown): Required<CleanupPayload> {
  const p = payloadObject(payload, "cleanup", FIELDS);
  const dir = pathField(p, "dir");
  const maxAgeDays = numberField(p, "maxAgeDays", { min: 0 });
  const { dryRun = false } = p;
  if (typeof dryRun !== "boolean") {
    throw new Unrecoverable(`payload.dryRun must be a boolean: got ${show(dryRun)}`);
  }
  return { dir, maxAgeDays, dryRun };
}

/** One entry found by the scan. Folders come after everything inside them. */
interface Entry {
  /** Path parts below `dir`. */
  parts: string[];
  kind: "file" | "dir" | "other";
  mtimeMs: number | undefined;
  size: number;
  /** For folders: how many entries they held. */
  children: number;
}

async function scan(root: string, signal: AbortSignal): Promise<Entry[]> {
  const out: Entry[] = [];
  const walk = async (parts: string[]): Promise<number> => {
    signal.throwIfAborted();
    let children = 0;
    for await (const e of Deno.readDir(join(root, ...parts))) {
      children++;
      const child = [...parts, e.name];
      const info = await Deno.lstat(join(root, ...child)).catch((err) => {
        if (err instanceof Deno.errors.NotFound) return undefined; // gone since readDir
        throw err;
      });
      if (!info) {
        children--;
        continue;
      }
      const entry: Entry = {
        parts: child,
        kind: info.isFile || info.isSymlink ? "file" : info.isDirectory ? "dir" : "other",
        mtimeMs: info.mtime?.getTime(),
        size: info.size,
        children: 0,
      };
      // lstat never reports a link as a folder, so this never descends through one.
      if (entry.kind === "dir") entry.children = await walk(child);
      out.push(entry);
    }
    return children;
  };
  await walk([]);
  return out;
}

/** Remove one entry unless it changed kind or age since the scan (another program at work). */
async function removeIfStill(path: string, entry: Entry, cutoff: number): Promise<boolean> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
  if (entry.kind === "file") {
    if (!(info.isFile || info.isSymlink) || (info.mtime?.getTime() ?? Infinity) >= cutoff) {
      return false;
    }
  } else {
    if (!info.isDirectory) return false;
    for await (const _ of Deno.readDir(path)) return false;
  }
  try {
    await Deno.remove(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw new Error(`cleanup: cannot remove ${show(path)}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

const cleanup: TaskHandler<unknown, CleanupResult> = async function* (payload, ctx) {
  const { dir, maxAgeDays, dryRun } = parseCleanupPayload(payload);
  // Work on the path as checked: the real one, inside a root.
  const real = await checkPath(dir, ctx.fsRoots, "cleanup: dir");
  const cutoff = Date.now() - maxAgeDays * DAY_MS;
  const result: CleanupResult = {
    removedFiles: 0,
    removedDirs: 0,
    freedBytes: 0,
    removed: [],
    truncated: false,
    dryRun,
  };
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(real);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    ctx.log.info("cleanup: skipped, the folder does not exist", { dir });
    return { ...result, skipped: "directory does not exist" };
  }
  if (!info.isDirectory) {
    throw new Unrecoverable(`payload.dir must be a folder: got ${show(dir)}, which is not one`);
  }

  const entries = await scan(real, ctx.signal);
  yield { progress: 0, message: `${entries.length} entries to check` };
  /** For each folder (by its joined parts): how many of its entries went. */
  const gone = new Map<string, number>();
  let reported = 0;
  for (let i = 0; i < entries.length; i++) {
    ctx.signal.throwIfAborted();
    const e = entries[i];
    const key = e.parts.join("/");
    const old = e.mtimeMs !== undefined && e.mtimeMs < cutoff;
    let remove = false;
    if (e.kind === "file") remove = old;
    else if (e.kind === "dir") {
      const emptied = gone.get(key) ?? 0;
      remove = emptied === e.children && (emptied > 0 || old);
    }
    if (remove && !dryRun) remove = await removeIfStill(join(real, ...e.parts), e, cutoff);
    if (remove) {
      if (e.kind === "dir") result.removedDirs++;
      else {
        result.removedFiles++;
        result.freedBytes += e.size;
      }
      if (result.removed.length < MAX_LISTED) result.removed.push(key);
      else result.truncated = true;
      const parent = e.parts.slice(0, -1).join("/");
      gone.set(parent, (gone.get(parent) ?? 0) + 1);
    }
    const percent = Math.floor(((i + 1) * 100) / entries.length);
    if (percent > reported) {
      reported = percent;
      yield {
        progress: (i + 1) / entries.length,
        message: `checked ${i + 1} of ${entries.length}`,
      };
    }
  }
  if (entries.length === 0) yield { progress: 1, message: "folder is empty" };
  ctx.log.info(dryRun ? "cleanup: dry run done" : "cleanup: done", {
    dir,
    files: result.removedFiles,
    dirs: result.removedDirs,
    bytes: result.freedBytes,
  });
  return result;
};

/**
 * The `cleanup` handler.
 *
 * @example
 * ```ts
 * // tasks.submit.cleanup with { "dir": "/srv/backups", "maxAgeDays": 7 } completes with
 * // { "removedFiles": 3, "removedDirs": 1, "freedBytes": 4096, "removed": [...], "truncated": false, "dryRun": false }
 * ```
 */
export const definition: HandlerDefinition<unknown, CleanupResult> = {
  type: "cleanup",
  handler: cleanup,
};
