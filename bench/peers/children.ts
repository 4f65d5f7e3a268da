/**
 * What `bench:peers` shares between its runs: the worker scripts of this
 * folder started as child processes that talk in lines on their stdout, and a
 * burst of echo tasks sent as fast as they go.
 *
 * @module
 */

import type { Client } from "../../test/_cluster.ts";
import { echoBurst, type NotSucceeded } from "../_echo.ts";

/** Epoch ms, to the microsecond. */
export const now = (): number => performance.timeOrigin + performance.now();

/** Lines of a child's stdout, as they come. */
export function lines(stream: ReadableStream<Uint8Array>): AsyncIterator<string> {
  return (async function* () {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of stream) {
      buf += dec.decode(chunk, { stream: true });
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        yield buf.slice(0, i);
        buf = buf.slice(i + 1);
      }
    }
  })();
}

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
