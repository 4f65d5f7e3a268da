/**
 * The folders file-touching jobs may work in (`fsRoots`,
 * TASK_SCHEDULER_FS_ROOTS), and the check of a payload path against them.
 *
 * A path is resolved before it is checked: made absolute (against the
 * process's working folder), `..` normalised, and every symbolic link on the
 * way followed, as the kernel would follow it. A part that does not exist
 * yet (a backup target to be made) is taken as a plain folder to be, so a
 * new path is judged by its nearest existing ancestor; a dangling link is
 * followed to where it points. The resolved path passes when it is a root or
 * lies below one. Roots are resolved the same way, once, at start
 * ({@link resolveRoots}).
 *
 * With no roots, every path is refused: a node runs the file jobs only on
 * the folders its operator named. Refusals throw {@link Unrecoverable} with
 * code PERMISSION_DENIED, so the task fails at once and is not retried.
 *
 * Handlers should work on the path {@link checkPath} returns, not on the one
 * they were given, so that what is touched is what was checked.
 *
 * @example
 * ```ts
 * const source = await checkPath(payload.source, ctx.fsRoots, "backup: source");
 * // roots ["/srv/data"], source "/etc" throws PERMISSION_DENIED:
 * //   backup: source "/etc" is outside TASK_SCHEDULER_FS_ROOTS (/srv/data): refused
 * ```
 *
 * @module
 */

import { isAbsolute, join, parse, relative, resolve, sep } from "node:path";
import { CONFIG_KEYS } from "./config/keys.ts";
import { SchedulerError, show } from "./errors.ts";
import { Unrecoverable } from "./handler.ts";

/** The environment variable that sets the roots, as messages name it. */
export const FS_ROOTS_VAR: string = CONFIG_KEYS.fsRoots.env!;

/** Links followed while resolving one path before giving up, as Linux does (ELOOP). */
const MAX_LINKS = 40;
/** Longest path shown in a message. */
const SHOWN = 200;

/** Whether absolute, normalised `path` is `root` or lies below it. Pure. */
export function isWithin(path: string, root: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (!isAbsolute(rel) && rel !== ".." && !rel.startsWith(`..${sep}`));
}

/** Whether absolute, normalised `path` is within one of `roots`. Pure. */
export function isWithinRoots(path: string, roots: readonly string[]): boolean {
  return roots.some((root) => isWithin(path, root));
}

function missing(err: unknown): boolean {
  return err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory;
}

/**
 * The real path of `path`: absolute, `..` normalised, links followed. Parts
 * that do not exist are kept as they are, so a path to be created resolves
 * through its nearest existing ancestor.
 */
export async function realPathOf(path: string): Promise<string> {
  const abs = resolve(path);
  const { root } = parse(abs);
  /** Parts still to walk, next first. */
  const todo = abs.slice(root.length).split(sep).filter(Boolean);
  let done = root;
  let links = 0;
  while (todo.length > 0) {
    const part = todo.shift()!;
    if (part === ".") continue;
    if (part === "..") {
      done = resolve(done, "..");
      continue;
    }
    const next = join(done, part);
    let info: Deno.FileInfo | undefined;
    try {
      info = await Deno.lstat(next);
    } catch (err) {
      if (!missing(err)) throw err;
    }
    if (info?.isSymlink) {
      if (++links > MAX_LINKS) {
        throw new Deno.errors.FilesystemLoop(`too many symbolic links resolving ${show(path)}`);
      }
      const target = await Deno.readLink(next);
      // The link's target replaces it: relative to the folder holding the link (`done`).
      if (isAbsolute(target)) done = parse(target).root;
      todo.unshift(...target.split(sep).filter(Boolean));
      continue;
    }
    done = next;
  }
  return done;
}

/**
 * Resolve configured roots, once, at start: each must be absolute (the
 * config rule already says so); duplicates go.
 */
export async function resolveRoots(roots: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const root of roots) {
    if (!isAbsolute(root)) {
      throw new SchedulerError(
        "CONFIG",
        `${FS_ROOTS_VAR} must be a comma-separated list of absolute folder paths: got ${
          show(root, SHOWN)
        }`,
      );
    }
    const real = await realPathOf(root);
    if (!out.includes(real)) out.push(real);
  }
  return out;
}

/**
 * Resolve `path` and check it against `roots` (resolved by
 * {@link resolveRoots}). Returns the resolved path, which the caller should
 * use from then on; throws {@link Unrecoverable} with code PERMISSION_DENIED
 * when there are no roots or the path is outside them.
 *
 * @param what Names the path in the message: `"backup: source"`.
 */
export async function checkPath(
  path: string,
  roots: readonly string[],
  what: string,
): Promise<string> {
  if (roots.length === 0) {
    throw new Unrecoverable(
      `${what} ${
        show(path, SHOWN)
      }: no ${FS_ROOTS_VAR} configured: file jobs are refused until it names the folders they may touch`,
      { code: "PERMISSION_DENIED" },
    );
  }
  let real: string;
  try {
    real = await realPathOf(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.FilesystemLoop)) throw err;
    throw new Unrecoverable(`${what} ${show(path, SHOWN)}: too many symbolic links: refused`, {
      code: "PERMISSION_DENIED",
      cause: err,
    });
  }
  if (!isWithinRoots(real, roots)) {
    const via = real === path ? "" : ` (resolves to ${show(real, SHOWN)})`;
    throw new Unrecoverable(
      `${what} ${show(path, SHOWN)}${via} is outside ${FS_ROOTS_VAR} (${
        roots.join(", ")
      }): refused`,
      { code: "PERMISSION_DENIED" },
    );
  }
  return real;
}

/** Is there anything (a file, a folder, a link, even a dangling one) at `path`? */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}
