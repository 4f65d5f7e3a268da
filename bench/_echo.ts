/**
 * What the node benches share: sending a burst of echo tasks (one a message,
 * or several to a message as a batch) and waiting for every result, and a
 * process's CPU time from /proc.
 *
 * @module
 */

import type { Client } from "../test/_cluster.ts";
import type { TaskResult } from "../src/internal_mod.ts";

/**
 * Results that did not succeed, by phase and by what they ended as: a figure
 * counted with rejections in it (a rate limit, say) would be a figure of
 * refusals, so every bench prints these next to its own.
 */
export class NotSucceeded {
  #counts = new Map<string, number>();

  /** Count `r` under `phase` unless it succeeded; true when it did. */
  note(phase: string, r: TaskResult): boolean {
    if (r.state === "succeeded") return true;
    const key = `${phase}: ${r.state}${r.error ? ` ${r.error.code}` : ""}`;
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
    return false;
  }

  /** How many did not succeed under `phase`. */
  count(phase: string): number {
    let n = 0;
    for (const [k, v] of this.#counts) if (k.startsWith(`${phase}: `)) n += v;
    return n;
  }

  /** One line per kind, or nothing when every task succeeded. */
  lines(): string[] {
    return [...this.#counts].map(([k, v]) => `  NOT SUCCEEDED ${k}: ${v}`);
  }
}

/** CPU time (user + system) of a process so far, in µs (USER_HZ is 100 on Linux). */
export async function cpuMicros(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100; // utime + stime, in ticks
}

/**
 * Resolves once `n` results of ids starting with `tag` have arrived (the
 * client's one result listener), counting those that did not succeed.
 */
export function allResults(
  client: Client,
  tag: string,
  n: number,
  failures?: NotSucceeded,
): Promise<void> {
  let done = 0;
  const all = Promise.withResolvers<void>();
  client.onResult((r) => {
    if (!r.id.startsWith(tag)) return;
    failures?.note(tag, r);
    if (++done === n) all.resolve();
  });
  return all.promise;
}

/**
 * Send `n` echo tasks with ids `<tag><i>`, `perMessage` to a message (1: one
 * task a message; more: a batch), flushing every 500 tasks or every batch,
 * and resolve once every result has arrived.
 */
export async function echoBurst(
  client: Client,
  tag: string,
  n: number,
  perMessage = 1,
  failures?: NotSucceeded,
): Promise<void> {
  const all = allResults(client, tag, n, failures);
  const headers = { Authorization: `Bearer ${client.token}` };
  const step = perMessage > 1 ? perMessage : 500;
  for (let i = 0; i < n; i += step) {
    const size = Math.min(step, n - i);
    if (perMessage > 1) {
      const tasks = Array.from({ length: size }, (_, k) => ({
        id: `${tag}${i + k}`,
        payload: { i: i + k },
      }));
      client.t.publish("tasks.submit.echo", client.enc.encode(JSON.stringify(tasks)), {
        headers,
      });
    } else {
      for (let k = 0; k < size; k++) {
        client.submit("echo", { id: `${tag}${i + k}`, payload: { i: i + k } });
      }
    }
    await client.t.flush();
  }
  await all;
}

/**
 * How many of `total` tasks offered open loop at `rate` a second are due
 * `elapsedMs` after the first one's intended send time: task i is due at
 * `i * 1000 / rate`, so the first is due at once (at 0 ms, not one interval
 * later), and none before the start.
 */
export function dueBy(elapsedMs: number, rate: number, total: number): number {
  if (elapsedMs < 0) return 0;
  return Math.min(total, Math.floor((elapsedMs * rate) / 1000) + 1);
}

/**
 * Offer `n` echo tasks with ids `<tag><i>` at `rate` a second, one a
 * message, open loop (each sent when its time comes, whether or not the
 * earlier ones have results), and resolve once every result has arrived.
 */
export async function echoOpenLoop(
  client: Client,
  tag: string,
  n: number,
  rate: number,
  failures?: NotSucceeded,
): Promise<void> {
  const all = allResults(client, tag, n, failures);
  await offerOpenLoop(n, rate, (i) => client.submit("echo", { id: `${tag}${i}`, payload: { i } }));
  await client.t.flush();
  await all;
}

/**
 * Make `total` sends open loop at `rate` a second: `send(i, intended)` is
 * called once task i's intended send time (`start + i * 1000 / rate`, by
 * `clock`) has come, whether or not earlier ones have results, waking about
 * every millisecond to let them in. `start` is `leadMs` from now; resolves
 * with it once every send is made.
 */
export async function offerOpenLoop(
  total: number,
  rate: number,
  send: (i: number, intended: number) => void,
  opts: { clock?: () => number; leadMs?: number } = {},
): Promise<number> {
  const clock = opts.clock ?? Date.now;
  const start = clock() + (opts.leadMs ?? 0);
  for (let i = 0; i < total;) {
    const due = dueBy(clock() - start, rate, total);
    for (; i < due; i++) send(i, start + (i * 1000) / rate);
    await new Promise((r) => setTimeout(r, 1));
  }
  return start;
}
