/**
 * Tokens for `deno task ctl`: where the token comes from (`--token`, else
 * `TASK_SCHEDULER_TOKEN`, else the login file), the login file itself, and the
 * verbs `login` and `token`.
 *
 * The login file is `$HOME/.config/task-scheduler/token` (or
 * `TASK_SCHEDULER_LOGIN_FILE`): the token alone on one line, mode 0600 in a
 * folder of mode 0700, written by `ctl login`.
 *
 * @module
 */

import { MINT_FLAGS, mintFromArgs, MintUsageError } from "../token.ts";
import { readHidden, readLine } from "./_prompt.ts";
import {
  bool,
  CtlError,
  type Ctx,
  EXIT,
  type Flags,
  positionals,
  str,
  Usage,
} from "./ctl_common.ts";
import { pairs, relative } from "./ctl_format.ts";

/** Where `ctl login` keeps the token, or undefined when there is no home folder. */
export function loginFile(): string | undefined {
  const explicit = Deno.env.get("TASK_SCHEDULER_LOGIN_FILE");
  if (explicit) return explicit;
  const home = Deno.env.get("HOME");
  return home ? `${home}/.config/task-scheduler/token` : undefined;
}

/** The token to use and where it came from: `--token`, the environment, the login file. */
export async function findToken(
  flags: Flags,
): Promise<{ token: string; source: string } | undefined> {
  const given = str(flags, "token");
  if (given) return { token: given.trim(), source: "--token" };
  const env = Deno.env.get("TASK_SCHEDULER_TOKEN");
  if (env) return { token: env.trim(), source: "TASK_SCHEDULER_TOKEN" };
  const file = loginFile();
  if (!file) return undefined;
  try {
    const text = (await Deno.readTextFile(file)).trim();
    return text ? { token: text, source: `login file ${file}` } : undefined;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw new CtlError(
      EXIT.error,
      "LOGIN_FILE",
      `cannot read the login file ${file}: ${(err as Error).message}`,
    );
  }
}

/** Write the token to the login file: mode 0600, its folder 0700. */
async function saveToken(file: string, token: string): Promise<void> {
  const dir = file.slice(0, file.lastIndexOf("/"));
  try {
    if (dir) await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    // Create it private, then write: the token is never readable by others, not even briefly.
    const f = await Deno.open(file, { write: true, create: true, truncate: true, mode: 0o600 });
    try {
      await Deno.chmod(file, 0o600); // a file that was there keeps its mode otherwise
      await f.write(new TextEncoder().encode(`${token}\n`));
    } finally {
      f.close();
    }
  } catch (err) {
    const hint = err instanceof Deno.errors.NotCapable
      ? " (`deno task ctl` may write only in $HOME/.config/task-scheduler: for another login file run `deno run --allow-net --allow-env --allow-read --allow-write actors/cli/ctl.ts`)"
      : "";
    throw new CtlError(
      EXIT.error,
      "LOGIN_FILE",
      `cannot write the login file ${file}: ${(err as Error).message}${hint}`,
    );
  }
}

/** The claims of a JWT, read without checking its signature (the scheduler checks that). */
export function claimsOf(token: string): Record<string, unknown> | undefined {
  const part = token.split(".")[1];
  if (!part) return undefined;
  try {
    const b64 = part.replaceAll("-", "+").replaceAll("_", "/");
    const text = new TextDecoder().decode(
      Uint8Array.from(atob(b64 + "=".repeat((4 - b64.length % 4) % 4)), (c) => c.charCodeAt(0)),
    );
    const claims = JSON.parse(text);
    return typeof claims === "object" && claims !== null ? claims : undefined;
  } catch {
    return undefined;
  }
}

/** Help of `login`. */
export const LOGIN_HELP = `Usage: deno task ctl login NAME [--password-stdin] [--print]

Logs in as the user NAME (auth.login; users are made with \`deno task user add\`) and saves the
token in the login file, where later commands find it when neither --token nor
TASK_SCHEDULER_TOKEN is given. The password is asked for without echo at a terminal; with
--password-stdin, or when stdin is not a terminal, it is the first line of stdin.

  --password-stdin   read the password from stdin
  --print            print the token on stdout instead of saving it

Login file: TASK_SCHEDULER_LOGIN_FILE, else $HOME/.config/task-scheduler/token (mode 0600).`;

/** `ctl login NAME`. */
export async function login(ctx: Ctx): Promise<number> {
  const [name] = positionals(ctx, "login", ["NAME"]);
  const file = loginFile();
  if (!bool(ctx.flags, "print") && !file) {
    throw new Usage(
      "no home folder for the login file: set TASK_SCHEDULER_LOGIN_FILE or use --print",
    );
  }
  let password: string;
  if (!bool(ctx.flags, "password-stdin") && Deno.stdin.isTerminal()) {
    password = await readHidden(`Password for ${name}: `);
  } else {
    password = await readLine();
  }
  if (!password) throw new Usage("no password given", "login");
  const c = await ctx.client({ token: false });
  const r = await c.login(name, password);
  if (bool(ctx.flags, "print")) {
    if (ctx.out.json) ctx.out.data({ name, ...r });
    else ctx.out.line(r.token);
    return EXIT.ok;
  }
  await saveToken(file!, r.token);
  if (ctx.out.json) {
    ctx.out.data({ name, roles: r.roles, types: r.types, expiresAt: r.expiresAt, file });
  } else {
    const types = r.types ? `, types ${r.types.join(", ")}` : "";
    ctx.out.line(
      `logged in as ${name} (roles ${
        r.roles.join(", ")
      }${types}) until ${r.expiresAt}; token saved to ${file}`,
    );
  }
  return EXIT.ok;
}

/** Help of `token`. */
export const TOKEN_HELP = `Usage: deno task ctl token [--raw]
       deno task ctl token mint ${MINT_FLAGS.split("\n")[0]}

token        shows the token ctl would use: where it comes from (--token, TASK_SCHEDULER_TOKEN or
             the login file), its sub, roles, types and expiry (read, not verified). Exit 8 when
             there is none or it has expired.
  --raw      print the token itself (export TASK_SCHEDULER_TOKEN=$(deno task -q ctl token --raw))
token mint   mints a token with TASK_SCHEDULER_JWT_SECRET, exactly as \`deno task token\` does:
${MINT_FLAGS.split("\n").slice(2).join("\n")}`;

/** `ctl token [--raw]`, `ctl token mint ...`. */
export async function token(ctx: Ctx, rest: string[]): Promise<number> {
  if (ctx.args[0] === "mint") {
    try {
      const t = await mintFromArgs(rest, Deno.env.get("TASK_SCHEDULER_JWT_SECRET"));
      if (ctx.out.json) ctx.out.data({ token: t, claims: claimsOf(t) });
      else ctx.out.line(t);
      return EXIT.ok;
    } catch (err) {
      if (err instanceof MintUsageError) throw new Usage(err.message, "token");
      throw err;
    }
  }
  positionals(ctx, "token", []);
  const found = await ctx.token();
  if (!found) {
    throw new CtlError(
      EXIT.auth,
      "UNAUTHENTICATED",
      "no token: pass --token, set TASK_SCHEDULER_TOKEN, or run `deno task ctl login NAME`",
    );
  }
  const claims = claimsOf(found.token);
  if (!claims) {
    throw new CtlError(EXIT.auth, "UNAUTHENTICATED", `the token from ${found.source} is not a JWT`);
  }
  const exp = typeof claims.exp === "number" ? claims.exp * 1_000 : undefined;
  const expired = exp !== undefined && exp <= Date.now();
  if (bool(ctx.flags, "raw")) {
    ctx.out.line(found.token);
  } else if (ctx.out.json) {
    ctx.out.data({
      source: found.source,
      claims,
      expiresAt: exp === undefined ? null : new Date(exp).toISOString(),
      expired,
    });
  } else {
    const rows = [
      ["source", found.source],
      ["sub", String(claims.sub ?? "-")],
      ["roles", Array.isArray(claims.roles) ? claims.roles.join(", ") : "-"],
      ["types", Array.isArray(claims.types) ? claims.types.join(", ") : "any"],
      [
        "expires",
        exp === undefined
          ? "never (the scheduler refuses a token without exp)"
          : `${new Date(exp).toISOString()} (${expired ? "expired " : ""}${relative(exp)})`,
      ],
    ];
    ctx.out.line(pairs(rows));
  }
  if (expired) {
    if (!ctx.out.json) ctx.out.note("ctl: the token has expired: log in again or mint a new one");
    return EXIT.auth;
  }
  return EXIT.ok;
}
