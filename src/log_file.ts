/**
 * A log sink that appends to a file and rotates it by size: `file` becomes
 * `file.1`, `file.1` becomes `file.2`, and so on, keeping `keep` rotated
 * copies and deleting the oldest.
 *
 * Writes are synchronous: log lines are small, and a line written is on disk
 * (in the page cache) before the call returns, so nothing is lost to a crash
 * between an event and its log line. The file's size is read once, when it is
 * opened, and then counted in memory; a sink assumes it is the file's only
 * writer (another process appending, or `logrotate` with `copytruncate`,
 * would make the count drift).
 *
 * @module
 */

import { SchedulerError } from "./errors.ts";
import type { LogLevel, LogSink } from "./log.ts";

/** Options for {@link RotatingFileSink}. */
export interface RotatingFileSinkOptions {
  /**
   * Rotate before a line would take the file past this many bytes (default
   * 10 MiB). A single line longer than this still goes whole into a file of
   * its own: lines are never split.
   */
  maxBytes?: number;
  /** Rotated copies to keep, `file.1` (newest) to `file.<keep>` (oldest); 0 keeps none. Default 5. */
  keep?: number;
}

const encoder = new TextEncoder();

/**
 * Appends log lines to a file, rotating it by size.
 *
 * @example
 * ```ts
 * import { createLogger } from "./log.ts";
 * using file = new RotatingFileSink("scheduler.log", { maxBytes: 1024 * 1024, keep: 3 });
 * const log = createLogger({ format: "json", sinks: [file] });
 * log.info("started", { actor: "scheduler" });
 * ```
 */
export class RotatingFileSink implements LogSink, Disposable {
  /** The file written to; rotated copies are `<path>.1` to `<path>.<keep>`. */
  readonly path: string;
  /** The size at which the file rotates. */
  readonly maxBytes: number;
  /** How many rotated copies are kept. */
  readonly keep: number;
  #file: Deno.FsFile | undefined;
  #size = 0;

  /** Open (or create) `path` for appending; its current size counts toward `maxBytes`. */
  constructor(path: string, options: RotatingFileSinkOptions = {}) {
    const { maxBytes = 10 * 1024 * 1024, keep = 5 } = options;
    if (!Number.isInteger(maxBytes) || maxBytes < 1) {
      throw new SchedulerError(
        "INVALID_ARGUMENT",
        `maxBytes must be a positive integer: got ${maxBytes}`,
      );
    }
    if (!Number.isInteger(keep) || keep < 0 || keep > 1000) {
      throw new SchedulerError(
        "INVALID_ARGUMENT",
        `keep must be an integer from 0 to 1000: got ${keep}`,
      );
    }
    this.path = path;
    this.maxBytes = maxBytes;
    this.keep = keep;
    this.#open();
  }

  /** Bytes in the current file, as counted by this sink. */
  get size(): number {
    return this.#size;
  }

  /** Append `line` and a newline, rotating first if the file would pass `maxBytes`. */
  write(line: string, _level?: LogLevel): void {
    if (!this.#file) {
      throw new SchedulerError("INTERNAL", `log file ${this.path} is closed: cannot write`);
    }
    const bytes = encoder.encode(line + "\n");
    // An empty file takes any line, however long, so a long line cannot loop rotations.
    if (this.#size > 0 && this.#size + bytes.byteLength > this.maxBytes) this.#rotate();
    let written = 0;
    while (written < bytes.byteLength) {
      written += this.#file!.writeSync(bytes.subarray(written));
    }
    this.#size += written;
  }

  /** Close the file. Idempotent; a write after it throws. */
  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }

  /** Same as {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #open(): void {
    const file = Deno.openSync(this.path, { append: true, create: true });
    try {
      this.#size = file.statSync().size;
    } catch (err) {
      file.close();
      throw err;
    }
    this.#file = file;
  }

  #rotate(): void {
    this.#file!.close();
    this.#file = undefined;
    try {
      if (this.keep === 0) {
        removeIfThere(this.path);
      } else {
        removeIfThere(`${this.path}.${this.keep}`);
        for (let i = this.keep - 1; i >= 1; i--) {
          renameIfThere(`${this.path}.${i}`, `${this.path}.${i + 1}`);
        }
        renameIfThere(this.path, `${this.path}.1`);
      }
    } finally {
      // Even when a rename failed, keep logging: to the old file if it is still there.
      this.#open();
    }
  }
}

function removeIfThere(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

function renameIfThere(from: string, to: string): void {
  try {
    Deno.renameSync(from, to);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}
