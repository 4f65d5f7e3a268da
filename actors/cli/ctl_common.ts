/**
 * What every verb of `deno task ctl` shares: exit codes and how errors map to
 * them, the usage error, output (human or `--json`), durations, and the
 * context a verb runs in (its parsed flags and a lazily connected client).
 *
 * @module
 */

import {
  PublishRefusedError,
  RequestRefusedError,
  type SchedulerClient,
  SchedulerClientError,
  TaskFailedError,
  TaskRejectedError,
  type TaskResult,
  type TerminalState,
} from "../../src/client/mod.ts";

/** Exit codes: a script can rely on them (README, "Command line"). */
export const EXIT = {
  /** The task succeeded; the request was done. */
  ok: 0,
  /** Any other error. */
  error: 1,
  /** Bad usage: unknown verb or flag, bad JSON, a bad id; nothing was sent. */
  usage: 2,
  /** The task failed. */
  failed: 3,
  /** The task was cancelled. */
  cancelled: 4,
  /** The task expired (its deadline passed before it started). */
  expired: 5,
  /** The submission was rejected, or the scheduler refused the request. */
  rejected: 6,
  /** No such task, schedule or dead letter. */
  notFound: 7,
  /** No token, a bad or expired one, or roles that do not allow it. */
  auth: 8,
  /** No NATS at the address, nothing answers (no scheduler leads), or no reply in time. */
  unreachable: 9,
  /** The task has not ended (`--no-wait`, or `--max-wait` passed). */
  pending: 10,
} as const;

/** The exit code of a terminal state. */
export function exitOfState(state: TerminalState | string, code?: string): number {
  switch (state) {
    case "succeeded":
      return EXIT.ok;
    case "failed":
      return EXIT.failed;
    case "cancelled":
      return EXIT.cancelled;
    case "expired":
      return EXIT.expired;
    case "rejected":
      return code === "UNAUTHENTICATED" || code === "PERMISSION_DENIED" ? EXIT.auth : EXIT.rejected;
    default:
      return EXIT.error;
  }
}

/** A usage error: exit 2, with a hint at `--help`. */
export class Usage extends Error {
  /** The verb whose help to point at, if any. */
  readonly verb: string | undefined;

  /** A usage error about `verb`. */
  constructor(message: string, verb?: string) {
    super(message);
    this.name = "Usage";
    this.verb = verb;
  }
}

/** An error with its own exit code and error code (for `--json`). */
export class CtlError extends Error {
  /** The exit code. */
  readonly exit: number;
  /** The code shown with `--json`. */
  readonly code: string;

  /** An error that exits with `exit`. */
  constructor(exit: number, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CtlError";
    this.exit = exit;
    this.code = code;
  }
}

const UNREACHABLE = new Set(["NO_RESPONDERS", "REQUEST_TIMEOUT", "CONNECTION_CLOSED", "NO_STREAM"]);
const AUTH = new Set(["UNAUTHENTICATED", "PERMISSION_DENIED"]);
const CLIENT_SIDE_USAGE = new Set(["INVALID_ARGUMENT", "UNKNOWN_TYPE", "PAYLOAD_TOO_LARGE"]);

/** The exit code and `{code, message}` of an error. */
export function classify(err: unknown): { exit: number; code: string; message: string } {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof Usage) return { exit: EXIT.usage, code: "USAGE", message };
  if (err instanceof CtlError) return { exit: err.exit, code: err.code, message };
  if (err instanceof TaskRejectedError) {
    return { exit: exitOfState("rejected", err.code), code: err.code, message };
  }
  if (err instanceof TaskFailedError) {
    return { exit: exitOfState(err.result.state), code: err.code, message };
  }
  if (err instanceof SchedulerClientError) {
    const code = err.code;
    if (code === "NOT_FOUND") return { exit: EXIT.notFound, code, message };
    if (AUTH.has(code)) return { exit: EXIT.auth, code, message };
    if (UNREACHABLE.has(code)) return { exit: EXIT.unreachable, code, message };
    if (code === "WAIT_TIMEOUT") return { exit: EXIT.pending, code, message };
    if (err instanceof RequestRefusedError) {
      return { exit: code === "INTERNAL" ? EXIT.error : EXIT.rejected, code, message };
    }
    if (err instanceof PublishRefusedError) {
      return { exit: EXIT.rejected, code, message };
    }
    if (CLIENT_SIDE_USAGE.has(code)) return { exit: EXIT.usage, code, message };
    if (code === "TRANSPORT" && /permission/i.test(message)) {
      return { exit: EXIT.auth, code: "PERMISSION_DENIED", message };
    }
    return { exit: EXIT.error, code, message };
  }
  return { exit: EXIT.error, code: "ERROR", message };
}

/** Parse a duration: `500ms`, `30s`, `5m`, `1h`, `1d`, `1h30m`, or a number of milliseconds. */
export function parseDuration(text: string, flag: string): number {
  if (/^[0-9]+$/.test(text)) return Number(text);
  const re = /([0-9]+)(ms|s|m|h|d)/g;
  const unit: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  let total = 0;
  let seen = "";
  for (const m of text.matchAll(re)) {
    total += Number(m[1]) * unit[m[2]];
    seen += m[0];
  }
  if (!seen || seen !== text) {
    throw new Usage(
      `${flag} must be a duration (500ms, 30s, 5m, 1h, 1h30m) or milliseconds: got ${
        JSON.stringify(text)
      }`,
    );
  }
  return total;
}

/** Parse an integer flag within bounds. */
export function parseInteger(text: string, flag: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^-?[0-9]+$/.test(text) || n < min || n > max) {
    throw new Usage(
      `${flag} must be an integer from ${min} to ${max}: got ${JSON.stringify(text)}`,
    );
  }
  return n;
}

/** A comma-separated list flag. */
export function parseList(text: string | undefined): string[] | undefined {
  return text?.split(",").map((s) => s.trim()).filter(Boolean);
}

/** Parse JSON given on the command line. */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Usage(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Where a verb writes: stdout for results, stderr for progress and messages. */
export interface Output {
  /** `--json`: stdout carries one JSON document and nothing else. */
  readonly json: boolean;
  /** Is stderr a terminal (progress bar) or not (plain lines)? */
  readonly tty: boolean;
  /** A line on stdout. */
  line(text: string): void;
  /** A line on stderr (not with `--json`). */
  note(text: string): void;
  /** Raw text on stderr (the progress bar). */
  raw(text: string): void;
  /** The JSON document on stdout. */
  data(value: unknown): void;
}

/** The real output: console, or collected by tests. */
export function consoleOutput(json: boolean): Output {
  const enc = new TextEncoder();
  return {
    json,
    tty: Deno.stderr.isTerminal(),
    line: (text) => console.log(text),
    note: (text) => {
      if (!json) console.error(text);
    },
    raw: (text) => {
      if (!json) Deno.stderr.writeSync(enc.encode(text));
    },
    data: (value) => console.log(JSON.stringify(value, null, 2)),
  };
}

/** Parsed flags: strings, booleans, and `--header`-style lists. */
export type Flags = Record<string, string | boolean | string[] | undefined>;

/** What a verb runs with. */
export interface Ctx {
  /** The verb's flags (global ones included). */
  readonly flags: Flags;
  /** Positional arguments after the verb. */
  readonly args: string[];
  /** Where to write. */
  readonly out: Output;
  /** The client, connected on first use; needs a token when `token` is true. */
  client(opts?: { token?: boolean }): Promise<SchedulerClient>;
  /** The token in use and where it came from, if any. */
  token(): Promise<{ token: string; source: string } | undefined>;
}

/** A string flag, or undefined. */
export function str(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === "string" ? v : undefined;
}

/** A boolean flag. */
export function bool(flags: Flags, name: string): boolean {
  return flags[name] === true;
}

/** Exactly `n` positionals (named in `names` for the message), or a usage error. */
export function positionals(ctx: Ctx, verb: string, names: string[], optional = 0): string[] {
  const need = names.length - optional;
  if (ctx.args.length < need) {
    throw new Usage(`${verb} needs ${names.slice(ctx.args.length, need).join(" ")}`, verb);
  }
  if (ctx.args.length > names.length) {
    throw new Usage(`unexpected argument ${JSON.stringify(ctx.args[names.length])}`, verb);
  }
  return ctx.args;
}

/** The exit code of a result shown to the user. */
export function exitOfResult(r: TaskResult): number {
  return exitOfState(r.state, r.error?.code);
}

/**
 * Where and how a CLI reaches NATS, from the global flags and the environment:
 * `--server` (else `TASK_SCHEDULER_MESSAGE_BROKER`, else `nats://127.0.0.1:4222`;
 * comma-separated for several), `--prefix`, the TLS files and the NATS user.
 */
export function natsOptions(flags: Flags): {
  servers: string[];
  prefix: string | undefined;
  user: string | undefined;
  pass: string | undefined;
  tls: { certFile?: string; keyFile?: string; caFile?: string } | undefined;
} {
  const env = (k: string) => Deno.env.get(k) || undefined;
  const server = str(flags, "server") ?? env("TASK_SCHEDULER_MESSAGE_BROKER") ??
    "nats://127.0.0.1:4222";
  const certFile = str(flags, "tlscert") ?? env("TASK_SCHEDULER_TLS_CERT");
  const keyFile = str(flags, "tlskey") ?? env("TASK_SCHEDULER_TLS_KEY");
  const caFile = str(flags, "tlsca") ?? env("TASK_SCHEDULER_TLS_CA");
  const user = str(flags, "nats-user") ?? env("TASK_SCHEDULER_NATS_USER");
  return {
    servers: server.split(",").map((s) => s.trim()).filter(Boolean),
    prefix: str(flags, "prefix") ?? env("TASK_SCHEDULER_SUBJECT_PREFIX"),
    user,
    pass: user ? env("TASK_SCHEDULER_NATS_PASSWORD") : undefined,
    tls: certFile || caFile ? { certFile, keyFile, caFile } : undefined,
  };
}
