/**
 * `deno task token`: mint a JWT for local use.
 *
 * ```
 * deno task token --sub alice --roles submitter [--types echo,sleep] [--ttl 3600]
 * ```
 * The secret comes from TASK_SCHEDULER_JWT_SECRET. `deno task ctl token mint`
 * takes the same flags and runs {@link mintFromArgs}.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { mintToken, ROLES } from "../src/internal_mod.ts";

/** The flags and defaults of minting, for help texts. */
export const MINT_FLAGS = `[--sub NAME] [--roles r1,r2] [--types t1,t2] [--ttl SECONDS]

Prints a JWT (HS256) with claims sub, roles, exp and, when given, types, signed with
TASK_SCHEDULER_JWT_SECRET. Roles: ${ROLES.join(", ")}. Defaults: --sub admin --roles admin
--ttl 86400.`;

const USAGE = `Usage: TASK_SCHEDULER_JWT_SECRET=... deno task token ${MINT_FLAGS}`;

/** Flags or the secret are wrong: the message says which (exit 2). */
export class MintUsageError extends Error {
  /** A flag could not be parsed: show the usage. */
  readonly badFlag: boolean;

  /** An error with its message; `badFlag` when the flags could not be parsed. */
  constructor(message: string, badFlag = false) {
    super(message);
    this.badFlag = badFlag;
  }
}

/**
 * Mint a token from `deno task token`'s flags (without `--help`) and the
 * secret; a bad flag or a missing secret throws a {@link MintUsageError}.
 */
export async function mintFromArgs(args: string[], secret: string | undefined): Promise<string> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      options: {
        sub: { type: "string", default: "admin" },
        roles: { type: "string", default: "admin" },
        types: { type: "string" },
        ttl: { type: "string", default: "86400" },
      },
    }));
  } catch (err) {
    throw new MintUsageError((err as Error).message, true);
  }
  if (!secret) {
    throw new MintUsageError(
      "TASK_SCHEDULER_JWT_SECRET is not set (the node prints a session token when it runs without one)",
    );
  }
  const roles = values.roles.split(",").map((r) => r.trim()).filter(Boolean);
  const unknown = roles.filter((r) => !(ROLES as readonly string[]).includes(r));
  if (unknown.length) {
    throw new MintUsageError(`unknown role ${unknown.join(", ")}: roles are ${ROLES.join(", ")}`);
  }
  const ttl = Number(values.ttl);
  if (!Number.isInteger(ttl) || ttl <= 0) {
    throw new MintUsageError(
      `--ttl must be a positive integer of seconds: got ${JSON.stringify(values.ttl)}`,
    );
  }
  const types = values.types?.split(",").map((t) => t.trim()).filter(Boolean);
  try {
    return await mintToken(secret, { sub: values.sub, roles, types, ttlSec: ttl });
  } catch (err) {
    throw new MintUsageError((err as Error).message);
  }
}

async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  try {
    console.log(await mintFromArgs(args, Deno.env.get("TASK_SCHEDULER_JWT_SECRET")));
    return 0;
  } catch (err) {
    const usage = err instanceof MintUsageError && err.badFlag;
    console.error(`token: ${(err as Error).message}${usage ? `\n${USAGE}` : ""}`);
    return 2;
  }
}

if (import.meta.main) {
  const code = await run(Deno.args);
  if (code !== 0) Deno.exit(code);
}
