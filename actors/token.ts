/**
 * `deno task token`: mint a JWT for local use.
 *
 * ```
 * deno task token --sub alice --roles submitter [--types echo,sleep] [--ttl 3600]
 * ```
 * The secret comes from TASK_SCHEDULER_JWT_SECRET.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { mintToken, ROLES } from "../src/mod.ts";

const USAGE =
  `Usage: TASK_SCHEDULER_JWT_SECRET=... deno task token [--sub NAME] [--roles r1,r2] [--types t1,t2] [--ttl SECONDS]

Prints a JWT (HS256) with claims sub, roles, exp and, when given, types.
Roles: ${ROLES.join(", ")}. Defaults: --sub admin --roles admin --ttl 86400.`;

function run(args: string[]): number {
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
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    console.error(`token: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const secret = Deno.env.get("TASK_SCHEDULER_JWT_SECRET");
  if (!secret) {
    console.error(
      "token: TASK_SCHEDULER_JWT_SECRET is not set (the node prints a session token when it runs without one)",
    );
    return 2;
  }
  const roles = values.roles.split(",").map((r) => r.trim()).filter(Boolean);
  const unknown = roles.filter((r) => !(ROLES as readonly string[]).includes(r));
  if (unknown.length) {
    console.error(`token: unknown role ${unknown.join(", ")}: roles are ${ROLES.join(", ")}`);
    return 2;
  }
  const ttl = Number(values.ttl);
  if (!Number.isInteger(ttl) || ttl <= 0) {
    console.error(
      `token: --ttl must be a positive integer of seconds: got ${JSON.stringify(values.ttl)}`,
    );
    return 2;
  }
  const types = values.types?.split(",").map((t) => t.trim()).filter(Boolean);
  mintToken(secret, { sub: values.sub, roles, types, ttlSec: ttl }).then(
    (t) => console.log(t),
    (err) => {
      console.error(`token: ${(err as Error).message}`);
      Deno.exit(2);
    },
  );
  return 0;
}

if (import.meta.main) {
  const code = run(Deno.args);
  if (code !== 0) Deno.exit(code);
}
