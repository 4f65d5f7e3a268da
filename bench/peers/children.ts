/**
 * What `bench:peers` shares between its runs: the worker scripts of this
 * folder started as child processes that talk in lines on their stdout, and a
 * burst of echo tasks sent as fast as they go.
 *
 * @module
 */

import type { Client } from "../../test/_cluster.ts";
import { echoBurst, type NotSucceeded } from "../_echo.ts";

/** The lines of a child's output, as they come. */
export { lines } from "../../test/_cluster.ts";

/** Epoch ms, to the microsecond. */
export const now = (): number => performance.timeOrigin + performance.now();

/** A script of this folder in a Deno process of its own; it talks in lines on its stdout. */
export function script(name: string, args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(`./${name}`, import.meta.url).pathname, ...args],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

/** `n` echo tasks as fast as they go, `perMessage` to a message; tasks/s to the last result. */
export async function fastAsItGoes(
  client: Client,
  tag: string,
  n: number,
  perMessage: 1 | 1_000,
  failures: NotSucceeded,
): Promise<number> {
  const start = now();
  await echoBurst(client, tag, n, perMessage, failures);
  return n / ((now() - start) / 1000);
}
