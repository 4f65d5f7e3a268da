/**
 * Tick lateness: a node process (all-in-one, file storage) against its own
 * nats-server runs S schedules firing every second; this process reads the
 * `fired` deltas on `monitor.schedule.>` and the results on
 * `tasks.result.>`, and reports, per tick:
 *
 * - lateness to submitted: from the tick's fire time (nominal + jitter, here
 *   the nominal time) to the submission being stored by JetStream, as the
 *   leader measured it (`lateMs` of the delta);
 * - nominal to result: from the nominal time in the task id to the result
 *   arriving here (the clocks are the same machine's).
 *
 * Optionally with a background load of echo tasks at a fixed rate, to show
 * what a busy scheduler does to ticks. Prints figures; never fails on time.
 *
 * ```
 * deno run -A bench/schedules_bench.ts [--schedules 20] [--seconds 20] [--load 2000]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import * as hdr from "hdr-histogram-js";
import { mintToken } from "../src/internal_mod.ts";
import { Client, SECRET, startNodeProcess } from "../test/_cluster.ts";
import { TestServer } from "../test/_nats_server.ts";

interface Options {
  schedules: number;
  seconds: number;
  /** Background echo tasks per second (0: none). */
  load: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function histogram() {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000,
    numberOfSignificantValueDigits: 3,
  });
}

/** The nominal time in a tick id `<name>:20261128T020000Z`. */
function nominalOf(id: string): number {
  const m = /:(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(id);
  if (!m) return NaN;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number);
  return Date.UTC(y, mo - 1, d, h, mi, s);
}

/** Run the benchmark and print its figures. */
export async function run(o: Partial<Options> = {}): Promise<void> {
  const given = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  const opts: Options = { schedules: 20, seconds: 20, load: 0, ...given };
  await using server = await TestServer.start();
  const node = startNodeProcess(["--node-id", "bench"], {
    TASK_SCHEDULER_MESSAGE_BROKER: server.url,
    TASK_SCHEDULER_LOG_LEVEL: "info",
  });
  await using client = await Client.connect(server.url);
  try {
    await node.waitFor("node started", 30_000);
    const warm = `warm-${crypto.randomUUID().slice(0, 8)}`;
    client.submit("echo", { id: warm, payload: null });
    await client.result(warm, 30_000);

    const late = histogram();
    const toResult = histogram();
    let fired = 0;
    let measuring = false;
    client.t.subscribe("monitor.schedule.>", (m) => {
      const d = JSON.parse(dec.decode(m.data)) as { event?: string; lateMs?: number };
      if (!measuring || d.event !== "fired" || typeof d.lateMs !== "number") return;
      late.recordValue(Math.max(1, Math.round(d.lateMs * 1000)));
      fired++;
    });
    client.onResult((r, at) => {
      const nominal = nominalOf(r.id);
      if (!measuring || !Number.isFinite(nominal)) return;
      toResult.recordValue(Math.max(1, Math.round((at - nominal) * 1000)));
    });

    const token = await mintToken(SECRET, { sub: "bench", roles: ["admin"] });
    for (let i = 0; i < opts.schedules; i++) {
      const body = {
        name: `tick${i}`,
        every: "1s",
        overlap: "allow",
        task: { type: "echo", payload: { i } },
      };
      const reply = await client.t.request("schedules.put", enc.encode(JSON.stringify(body)), {
        timeoutMs: 10_000,
        headers: { Authorization: `Bearer ${token}` },
      });
      const answer = JSON.parse(dec.decode(reply.data)) as { ok: boolean; error?: unknown };
      if (!answer.ok) throw new Error(`schedules.put: ${JSON.stringify(answer.error)}`);
    }
    // Let the first ticks pass, then measure whole seconds.
    await new Promise((r) => setTimeout(r, 2_000));
    measuring = true;
    const started = performance.now();
    let sent = 0;
    const loadTimer = opts.load > 0
      ? setInterval(() => {
        const due = Math.floor(((performance.now() - started) / 1000) * opts.load);
        for (; sent < due; sent++) client.submit("echo", { id: `bg${sent}`, payload: null });
      }, 5)
      : undefined;
    await new Promise((r) => setTimeout(r, opts.seconds * 1000));
    clearInterval(loadTimer);
    measuring = false;

    const f = (h: ReturnType<typeof histogram>, p: number) =>
      (h.getValueAtPercentile(p) / 1000).toFixed(1);
    console.log(
      `schedules: ${opts.schedules} × every 1 s for ${opts.seconds} s` +
        (opts.load ? `, with ${opts.load} echo tasks/s of background load` : ", no other load"),
    );
    console.log(`ticks fired: ${fired} (expected about ${opts.schedules * opts.seconds})`);
    console.log("| from the tick's nominal time to | p50 ms | p99 ms | max ms |");
    console.log("| ------------------------------- | ------ | ------ | ------ |");
    console.log(
      `| submission stored (lateness)    | ${f(late, 50)} | ${f(late, 99)} | ${
        (late.maxValue / 1000).toFixed(1)
      } |`,
    );
    console.log(
      `| result received                 | ${f(toResult, 50)} | ${f(toResult, 99)} | ${
        (toResult.maxValue / 1000).toFixed(1)
      } |`,
    );
  } finally {
    node.kill("SIGTERM");
    await node.exited;
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      schedules: { type: "string" },
      seconds: { type: "string" },
      load: { type: "string" },
    },
  });
  await run({
    schedules: values.schedules ? Number(values.schedules) : undefined,
    seconds: values.seconds ? Number(values.seconds) : undefined,
    load: values.load ? Number(values.load) : undefined,
  });
}
