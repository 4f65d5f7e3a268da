/**
 * Structured logging: one line per event with a timestamp, level, actor and
 * optional task id, as JSON or as readable text, to stdout and optionally to a
 * file that rotates itself by size.
 *
 * @module
 */

/** Log levels, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Extra structured fields on a log line. */
export type LogFields = Record<string, unknown>;

/** A logger bound to an actor (and maybe a task). */
export interface Logger {
  /** Detail for whoever debugs (shown at log level debug). */
  debug(msg: string, fields?: LogFields): void;
  /** What happened, in the normal course. */
  info(msg: string, fields?: LogFields): void;
  /** Something went wrong and was dealt with. */
  warn(msg: string, fields?: LogFields): void;
  /** Something went wrong that needs a person. */
  error(msg: string, fields?: LogFields): void;
  /** A logger whose lines carry these fields too. */
  with(fields: LogFields): Logger;
}

/** Where log lines go. */
export interface LogSink {
  write(line: string, level: LogLevel): void;
}

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  level?: LogLevel;
  format?: "json" | "text";
  sinks?: LogSink[];
  fields?: LogFields;
  now?: () => number;
}

const encoder = new TextEncoder();

/** Writes to stdout (info and below) and stderr (warn and above). */
export const consoleSink: LogSink = {
  write(line, level) {
    const out = RANK[level] >= RANK.warn ? Deno.stderr : Deno.stdout;
    out.writeSync(encoder.encode(line + "\n"));
  },
};

/** Create a logger. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const min = RANK[options.level ?? "info"];
  const sinks = options.sinks ?? [consoleSink];
  const format = options.format ?? "text";
  const now = options.now ?? Date.now;
  const make = (bound: LogFields): Logger => {
    const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
      if (RANK[level] < min) return;
      const all = fields ? { ...bound, ...fields } : bound;
      const line = format === "json"
        ? safeJson({ ts: new Date(now()).toISOString(), level, msg, ...all })
        : textLine(new Date(now()).toISOString(), level, msg, all);
      for (const sink of sinks) sink.write(line, level);
    };
    return {
      debug: (m, f) => emit("debug", m, f),
      info: (m, f) => emit("info", m, f),
      warn: (m, f) => emit("warn", m, f),
      error: (m, f) => emit("error", m, f),
      with: (fields) => make({ ...bound, ...fields }),
    };
  };
  return make(options.fields ?? {});
}

/** A logger that drops everything: for tests and benchmarks. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  with: () => silentLogger,
};

function textLine(ts: string, level: LogLevel, msg: string, fields: LogFields): string {
  let line = `[${ts}] ${level.toUpperCase().padEnd(5)} `;
  const { actor, task, ...rest } = fields;
  if (actor !== undefined) line += `${actor} `;
  if (task !== undefined) line += `task=${task} `;
  line += msg;
  for (const [k, v] of Object.entries(rest)) {
    line += ` ${k}=${typeof v === "string" ? v : safeJson(v)}`;
  }
  return line;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(
      value,
      (_k, v) => (v instanceof Error ? { name: v.name, message: v.message } : v),
    );
  } catch {
    return String(value);
  }
}
