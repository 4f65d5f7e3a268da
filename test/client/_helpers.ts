/** What the client tests share: a connected client with a minted token, typed rejections. */

import assert from "node:assert/strict";
import { mintToken } from "../../src/internal_mod.ts";
import { connect, type SchedulerClient } from "../../src/client/mod.ts";
import { SECRET } from "../_cluster.ts";
import type { Rig } from "../e2e/_node.ts";

/** A client of the rig's server with a token of `sub` and `roles`. */
export async function client(
  r: Rig,
  roles = ["admin"],
  sub = "client-test",
): Promise<SchedulerClient> {
  return await connect({
    servers: r.server.url,
    token: await mintToken(SECRET, { sub, roles }),
    name: "client-test",
  });
}

/** `p` rejects with an error of `type`, which is returned. */
export async function rejects<E extends Error>(
  p: Promise<unknown>,
  type: new (...args: never[]) => E,
): Promise<E> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof type, `expected ${type.name}, got ${err}`);
    return err as E;
  }
  throw new Error(`expected ${type.name}, but it resolved`);
}
