/**
 * What the node benches share: sending a burst of echo tasks (one a message,
 * or several to a message as a batch) and waiting for every result, and a
 * process's CPU time from /proc.
 *
 * @module
 */

import type { Client } from "../test/_cluster.ts";

/** CPU time (user + system) of a process so far, in µs (USER_HZ is 100 on Linux). */
export async function cpuMicros(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100; // utime + stime, in ticks
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
): Promise<void> {
  let done = 0;
  const all = Promise.withResolvers<void>();
  client.onResult((r) => {
    if (r.id.startsWith(tag) && ++done === n) all.resolve();
  });
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
  await all.promise;
}
