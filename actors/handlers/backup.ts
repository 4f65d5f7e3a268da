/**
 * The `backup` task type: copies a folder, recursively, into a new folder
 * `backup_<YYYYMMDD_HHMMSS_mmm>` (UTC) under the target, as the Python job
 * runner's backup did, except that it really copies.
 *
 * Relative structure, file contents, file modes and modification times are
 * kept; folders get their source modification times back once filled. The
 * backup folder itself keeps its own time of creation, so a `cleanup` by age
 * sees when the backup was made. Symbolic links are recreated as links with
 * the same target text and never followed. Other special files (sockets,
 * FIFOs, devices) are skipped with a warning in the task log.
 *
 * If the task fails or is aborted part way, the partial backup folder is
 * removed, so every `backup_*` folder left behind is complete.
 *
 * Source and target must both lie within the node's TASK_SCHEDULER_FS_ROOTS
 * once resolved (links followed, `..` normalised; a target still to be made
 * through its existing parent): otherwise, or with no roots, the task fails
 * at once with PERMISSION_DENIED (see src/fs_roots.ts).
 *
 * @module
 */

import { join } from "node:path";
import { show } from "../../src/mod.ts";
import { checkPath, isWithin } from "../../src/mod.ts";
import {
  type HandlerDefinition,
  type TaskContext,
  type TaskHandler,
  Unrecoverable,
} from "../../src/mod.ts";
import { pathField, payloadObject } from "./_payload.ts";

/** `{ "source": "./data", "target": "./backups" }` */
export interface BackupPayload {
  /** The folder to copy. */
  source: string;
  /** The folder to create the backup in; made if missing. Must not be inside `source`. */
  target: string;
}

/** Where the backup went and what it holds. */
export interface BackupResult {
  /** The absolute path of the new `backup_*` folder. */
  path: string;
  /** Regular files copied. */
  files: number;
  /** Symbolic links recreated. */
  symlinks: number;
  /** Folders created below the backup folder. */
  dirs: number;
  /** Bytes of regular file content copied. */
  bytes: number;
}

const FIELDS = ["source", "target"];

/** Check an untrusted payload; throws {@link Unrecoverable} naming the bad field. */
export function parseBackupPayload(payload: unknown): BackupPayload {
  const p = payloadObject(payload, "backup", FIELDS);
  return { source: pathField(p, "source"), target: pathField(p, "target") };
}

/** The folder name for a backup made at `ms`: `backup_20240131_235959_123`. */
export function backupName(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2024-01-31T23:59:59.123Z
  const d = iso.slice(0, 10).replaceAll("-", "");
  const t = iso.slice(11, 19).replaceAll(":", "");
  return `backup_${d}_${t}_${iso.slice(20, 23)}`;
}

async function checkPaths(
  p: BackupPayload,
  roots: readonly string[],
): Promise<{ source: string; target: string }> {
  // Both inside the roots before anything else is looked at, or said about them.
  const source = await checkPath(p.source, roots, "backup: source");
  const target = await checkPath(p.target, roots, "backup: target");
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(source);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new Unrecoverable(
        `payload.source must be an existing folder: got ${show(p.source)}, which does not exist`,
      );
    }
    throw err;
  }
  if (!info.isDirectory) {
    throw new Unrecoverable(
      `payload.source must be a folder: got ${show(p.source)}, which is not one`,
    );
  }
  if (isWithin(target, source)) {
    throw new Unrecoverable(
      `payload.target must not be inside payload.source: got ${show(p.target)} inside ${
        show(p.source)
      }`,
    );
  }
  try {
    if (!(await Deno.stat(target)).isDirectory) {
      throw new Unrecoverable(
        `payload.target must be a folder: got ${show(p.target)}, which is not one`,
      );
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return { source, target };
}

/** Every path below `root`, relative, parents before children; links are not followed. */
async function scan(root: string, signal: AbortSignal): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    signal.throwIfAborted();
    const names: { name: string; isDirectory: boolean }[] = [];
    for await (const e of Deno.readDir(join(root, rel))) names.push(e);
    names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of names) {
      const child = rel === "" ? e.name : join(rel, e.name);
      out.push(child);
      // readDir reports a link as a link, never as what it points at.
      if (e.isDirectory) await walk(child);
    }
  };
  await walk("");
  return out;
}

/** Create a fresh `backup_*` folder under `target`, adding a counter if the name is taken. */
async function makeBackupDir(target: string): Promise<string> {
  await Deno.mkdir(target, { recursive: true });
  const base = join(target, backupName(Date.now()));
  for (let n = 0;; n++) {
    const path = n === 0 ? base : `${base}_${n}`;
    try {
      await Deno.mkdir(path);
      return path;
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists) || n >= 100) throw err;
    }
  }
}

interface Copied {
  kind: "file" | "symlink" | "dir" | "gone" | "other";
  info?: Deno.FileInfo;
}

async function copyEntry(from: string, to: string, ctx: TaskContext): Promise<Copied> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(from);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    ctx.log.warn("backup: file vanished before it was copied", { path: from });
    return { kind: "gone" };
  }
  if (info.isSymlink) {
    await Deno.symlink(await Deno.readLink(from), to);
    return { kind: "symlink" };
  }
  if (info.isDirectory) {
    await Deno.mkdir(to);
    return { kind: "dir", info };
  }
  if (!info.isFile) {
    ctx.log.warn("backup: skipped a special file", { path: from });
    return { kind: "other" };
  }
  await Deno.copyFile(from, to);
  if (info.mtime) await Deno.utime(to, info.atime ?? info.mtime, info.mtime);
  return { kind: "file", info };
}

const backup: TaskHandler<unknown, BackupResult> = async function* (payload, ctx) {
  const { source, target } = await checkPaths(parseBackupPayload(payload), ctx.fsRoots);
  const entries = await scan(source, ctx.signal);
  yield { progress: 0, message: `${entries.length} entries to copy` };
  ctx.signal.throwIfAborted();

  const path = await makeBackupDir(target);
  const result: BackupResult = { path, files: 0, symlinks: 0, dirs: 0, bytes: 0 };
  try {
    const dirTimes: [string, Deno.FileInfo][] = [];
    let reported = 0;
    for (let i = 0; i < entries.length; i++) {
      ctx.signal.throwIfAborted();
      const to = join(path, entries[i]);
      let copied: Copied;
      try {
        copied = await copyEntry(join(source, entries[i]), to, ctx);
      } catch (err) {
        throw new Error(`backup: cannot copy ${show(entries[i])}: ${(err as Error).message}`, {
          cause: err,
        });
      }
      if (copied.kind === "file") {
        result.files++;
        result.bytes += copied.info!.size;
      } else if (copied.kind === "symlink") result.symlinks++;
      else if (copied.kind === "dir") {
        result.dirs++;
        dirTimes.push([to, copied.info!]);
      }
      const percent = Math.floor(((i + 1) * 100) / entries.length);
      if (percent > reported) {
        reported = percent;
        yield {
          progress: (i + 1) / entries.length,
          message: `copied ${i + 1} of ${entries.length}`,
        };
      }
    }
    // Children are in place, so a folder's time is no longer disturbed: deepest first.
    for (const [dir, info] of dirTimes.reverse()) {
      if (info.mtime) await Deno.utime(dir, info.atime ?? info.mtime, info.mtime);
    }
  } catch (err) {
    await Deno.remove(path, { recursive: true }).catch((cleanupErr) =>
      ctx.log.error("backup: could not remove the partial backup", { path, error: cleanupErr })
    );
    throw err;
  }
  if (entries.length === 0) yield { progress: 1, message: "source is empty" };
  ctx.log.info("backup: done", { ...result });
  return result;
};

/**
 * The `backup` handler.
 *
 * @example
 * ```ts
 * // tasks.submit.backup with { "source": "/srv/data", "target": "/srv/backups" } completes with
 * // { "path": "/srv/backups/backup_20240131_020000_000", "files": 42, "symlinks": 0, "dirs": 3, "bytes": 123456 }
 * ```
 */
export const definition: HandlerDefinition<unknown, BackupResult> = {
  type: "backup",
  handler: backup,
};
