/**
 * Configuration: defaults, then a JSON config file, then environment
 * variables, then command-line flags, each overriding the one before. Every
 * value is checked; a bad one stops start-up with a message that names where
 * it came from, the rule and the value.
 *
 * The keys are declared once, in keys.ts; the parser, the config-file check,
 * {@link USAGE} and {@link configTable} are derived from those declarations.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { SchedulerError, show } from "../errors.ts";
import { type Config, CONFIG_FILE, CONFIG_KEYS, DECLARED, FLAG_KEYS, type Flags } from "./keys.ts";
import type { Key } from "./keys.ts";

export type { Config, Flags, Role } from "./keys.ts";

/** A table of declarations, looked up by name. */
type Table = Readonly<Record<string, Key<unknown>>>;

/** The defaults. */
export function defaults(): Config {
  return { ...defaultsOf(CONFIG_KEYS), brokerExplicit: false, httpExplicit: false } as Config;
}

/** The default of each key that has one; arrays are fresh, as callers may change theirs. */
function defaultsOf(table: Table): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(table)) {
    const d = key.default;
    const value = typeof d === "function" ? d() : Array.isArray(d) ? [...d] : d;
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** Where configuration comes from. */
export interface ConfigSources {
  args?: string[];
  env?: Record<string, string | undefined>;
  /** Read a config file (injected for tests). */
  readFile?: (path: string) => string;
}

/** Load and validate the configuration; throws CONFIG naming the bad value. */
export function loadConfig(sources: ConfigSources = {}): { config: Config; flags: Flags } {
  const env = sources.env ?? Deno.env.toObject();
  const readFile = sources.readFile ?? ((p: string) => Deno.readTextFileSync(p));
  const values = parseCommandLine(sources.args ?? []);
  const config = defaults() as unknown as Record<string, unknown>;
  const flags = defaultsOf(FLAG_KEYS);

  // An empty --config or TASK_SCHEDULER_CONFIG means no file, as for any empty variable.
  const file = (values[CONFIG_FILE.flag] ?? env[CONFIG_FILE.env]) as string | undefined;
  if (file) applyFile(config, file, readFile);
  applyEnv(config, CONFIG_KEYS, env);
  applyEnv(flags, FLAG_KEYS, env);
  applyFlags(config, CONFIG_KEYS, values);
  applyFlags(flags, FLAG_KEYS, values);
  checkTogether(config as unknown as Config);
  return { config: config as unknown as Config, flags: flags as unknown as Flags };
}

/** The flags, by name; each declared flag is an option, boolean for a boolean rule. */
function parseCommandLine(args: string[]): Record<string, string | boolean | undefined> {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {};
  for (const { key } of DECLARED) {
    if (!key.flag) continue;
    options[key.flag] = { type: key.rule.kind === "boolean" ? "boolean" : "string" };
    if (key.short) options[key.flag].short = key.short;
  }
  try {
    return parseArgs({ args, strict: true, options }).values as Record<string, string | boolean>;
  } catch (err) {
    throw new SchedulerError("CONFIG", `command line: ${(err as Error).message}`);
  }
}

/** Check a raw value by its key's rule and store it under `name`. */
function set(
  target: Record<string, unknown>,
  name: string,
  key: Key<unknown>,
  raw: unknown,
  where: string,
): void {
  target[name] = key.rule.check(raw, where);
  // A broker named anywhere means "connect there or fail": no embedded server is started.
  if (key === CONFIG_KEYS.broker) target.brokerExplicit = true;
  // An address named anywhere must be served there; the default may fall back to a free port.
  if (key === CONFIG_KEYS.http) target.httpExplicit = true;
}

/** Apply a JSON config file: an object of settings under their Config names. */
function applyFile(
  config: Record<string, unknown>,
  file: string,
  readFile: (path: string) => string,
): void {
  let data: unknown;
  try {
    data = JSON.parse(readFile(file));
  } catch (err) {
    throw new SchedulerError("CONFIG", `config file ${file}: ${(err as Error).message}`);
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new SchedulerError("CONFIG", `config file ${file} must hold a JSON object`);
  }
  const table: Table = CONFIG_KEYS;
  for (const [name, raw] of Object.entries(data)) {
    // Own keys only: `toString` or `__proto__` must not reach Object.prototype.
    // Flags and the derived brokerExplicit and httpExplicit are not in the table, so not file keys.
    if (!Object.hasOwn(table, name)) {
      throw new SchedulerError("CONFIG", `config file ${file}: unknown key ${show(name)}`);
    }
    set(config, name, table[name], raw, `${file}: ${name}`);
  }
}

/** Apply the environment variables of a table's keys. */
function applyEnv(
  target: Record<string, unknown>,
  table: Table,
  env: Record<string, string | undefined>,
): void {
  for (const [name, key] of Object.entries(table)) {
    const raw = key.env === undefined ? undefined : env[key.env];
    // An empty variable is how shells and compose files unset one.
    if (raw === undefined || (raw === "" && !key.emptyIsValue)) continue;
    set(target, name, key, raw, key.env!);
  }
}

/** Apply the parsed flags of a table's keys. */
function applyFlags(
  target: Record<string, unknown>,
  table: Table,
  values: Record<string, string | boolean | undefined>,
): void {
  for (const [name, key] of Object.entries(table)) {
    const raw = key.flag === undefined ? undefined : values[key.flag];
    if (raw !== undefined) set(target, name, key, raw, `--${key.flag}`);
  }
}

/** Rules between keys, checked once every source is applied. */
function checkTogether(config: Config): void {
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    throw new SchedulerError(
      "CONFIG",
      `${CONFIG_KEYS.tlsCert.env} and ${CONFIG_KEYS.tlsKey.env} must be set together`,
    );
  }
  if (config.nodeLostMs <= config.heartbeatMs) {
    throw new SchedulerError(
      "CONFIG",
      `nodeLostMs (${config.nodeLostMs}) must be longer than heartbeatMs (${config.heartbeatMs})`,
    );
  }
  if (config.retryMaxMs < config.retryBaseMs) {
    throw new SchedulerError(
      "CONFIG",
      `retryMaxMs (${config.retryMaxMs}) must be >= retryBaseMs (${config.retryBaseMs})`,
    );
  }
}

/** Longest line of the help text (deno fmt's lineWidth). */
const WIDTH = 100;

/** The default as help and README show it; undefined when there is none to show. */
function shownDefault(key: Key<unknown>): string | undefined {
  if (key.shown !== undefined) return key.shown;
  const d = key.default;
  if (typeof d === "function" || d === undefined || d === "" || d === false) return undefined;
  if (Array.isArray(d)) return d.length > 0 ? d.join(",") : undefined;
  return String(d);
}

/** The help of a key, with its default when it has one to show. */
function helpWithDefault(key: Key<unknown>): string {
  const d = shownDefault(key);
  return d === undefined ? key.help : `${key.help} (default ${d})`;
}

/** `-h, --flag ARG` */
function flagLabel(key: Key<unknown>): string {
  const short = key.short ? `-${key.short}, ` : "";
  return `${short}--${key.flag}${key.rule.arg ? ` ${key.rule.arg}` : ""}`;
}

/** Words of `text` in lines of at most WIDTH: the first starts with `first`, the others `indent`. */
function wrap(text: string, indent: string, first = indent): string[] {
  const lines: string[] = [];
  let line = first;
  let empty = true; // no word on this line yet
  for (const word of text.split(" ")) {
    if (!empty && line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      [line, empty] = [indent, true];
    }
    line += (empty ? "" : " ") + word;
    empty = false;
  }
  return [...lines, line];
}

/** Two columns: the left ones padded to one width, the right ones wrapped. */
function columns(rows: [string, string][]): string[] {
  const at = Math.max(...rows.map(([left]) => left.length)) + 5; // indent 2, gap 3
  return rows.flatMap(([left, right]) => wrap(right, " ".repeat(at), `  ${left}`.padEnd(at)));
}

/** What an environment variable sets: its config-file key and flag, else its help. */
function envNote({ name, to, key }: (typeof DECLARED)[number]): string {
  const fileKey = to === "config" ? `${name}: ` : "";
  const values = key.rule.kind === "boolean" ? " (1, true, 0 or false)" : "";
  return key.flag ? `${fileKey}as --${key.flag}${values}` : `${fileKey}${helpWithDefault(key)}`;
}

/** The help text, derived from the declarations. */
function usage(): string {
  const withFlag = DECLARED.filter(({ key }) => key.flag);
  const withEnv = DECLARED.filter(({ key }) => key.env);
  const keepEmpty = withEnv.filter(({ key }) => key.emptyIsValue).map(({ key }) => key.env);
  const options = withFlag.map((
    { key },
  ): [string, string] => [flagLabel(key), helpWithDefault(key)]);
  return [
    "Usage: deno task start [options]",
    "",
    "Runs a node of the task scheduler. Without --role it runs everything in one",
    "process: supervisor, scheduler, monitor and TASK_SCHEDULER_WORKERS workers.",
    "",
    "Options (each overrides the environment variable and the config file):",
    ...columns(options),
    "",
    ...wrap(
      "Environment variables (each overrides the config file; an empty one counts as unset, " +
        `except ${keepEmpty.join(", ")}), with the key of the setting in the config file:`,
      "",
    ),
    ...columns(withEnv.map((d): [string, string] => [d.key.env!, envNote(d)])),
    "",
  ].join("\n");
}

/** The help text of `deno task start`: every flag and every environment variable. */
export const USAGE: string = usage();

/** A markdown table, its columns padded as deno fmt pads them. */
function markdownTable(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(3, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  const rule = widths.map((w) => "-".repeat(w));
  return [line(rows[0]), line(rule), ...rows.slice(1).map(line)].join("\n") + "\n";
}

/** A table cell: code in backticks, prose escaped; a pipe would end the cell, a < open HTML. */
function cell(text: string | undefined, asCode: boolean): string {
  if (text === undefined || text === "") return "";
  if (asCode) return `\`${text.replaceAll("|", "\\|")}\``;
  return text.replace(/[|<>]/g, (c) => `\\${c}`);
}

/**
 * The README's configuration table (markdown: variable | flag | default |
 * meaning), one row per declared key, so the README can be kept in sync.
 */
export function configTable(): string {
  const rows = DECLARED.map(({ key }) => {
    const d = shownDefault(key);
    const prose = d === undefined || typeof key.default === "number" || key.shown?.includes(" ");
    const none = key.rule.kind === "boolean" ? "off" : "none";
    return [
      cell(key.env, true),
      cell(key.flag && (key.short ? `-${key.short}, --${key.flag}` : `--${key.flag}`), true),
      d === undefined ? none : cell(d, !prose),
      cell(key.help, false),
    ];
  });
  return markdownTable([["variable", "flag", "default", "meaning"], ...rows]);
}
