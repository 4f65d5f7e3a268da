/**
 * The floor of the peer bench, in its own process: the JetStream work every
 * task costs in this system, with nothing else. It pulls submissions from the
 * same TASKS stream through a consumer like the scheduler's, and for each task
 * (one a message, or each of a batch) stores a result on
 * `tasks.outcome.<id>` in the same RESULTS stream (one message per id, which
 * the stream republishes on `tasks.result.<id>`), and acks the submission
 * once all its results are stored.
 *
 * No scheduling, no checks (token, type, payload, rate), no de-duplication,
 * no workers or handlers, no signatures, no task deltas, no monitor: what any
 * design keeping one stored submission and one stored result a task must pay
 * to nats-server. The peer bench runs the same load through it so that the
 * figures of this system can be read against this floor and BullMQ in one run.
 *
 * ```
 * deno run -A bench/peers/floor_worker.ts --server nats://127.0.0.1:4222 [--sign] [--deltas]
 * ```
 *
 * `--sign` signs each result as this system does; `--deltas` publishes one
 * task delta a task on `monitor.task.<id>`: what those cost on their own.
 * Prints `ready` once it pulls.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { connectNats } from "../../src/transport/nats.ts";
import { subjects } from "../../src/protocol/subjects.ts";
import { streamSpecs } from "../../actors/streams.ts";
import { tasksConsumer } from "../../actors/scheduler/types.ts";
import { defaults } from "../../src/config/config.ts";
import type { DurableMsg } from "../../src/transport/types.ts";
import { RESULT_SIGNATURE, ResultSigner } from "../../src/auth/result_sig.ts";

const { values } = parseArgs({
  options: {
    server: { type: "string" },
    // What this system adds a task, one part at a time: a signed result, and a task delta.
    sign: { type: "boolean", default: false },
    deltas: { type: "boolean", default: false },
  },
});
const subj = subjects();
const config = defaults();
const transport = await connectNats({ servers: values.server!, name: "floor" });
await transport.ensureStreams(streamSpecs(subj, 1));
const decoder = new TextDecoder();
const signer = values.sign ? await ResultSigner.create("floor") : null;

/** Store one result a task of `msg`, then ack it (a failed store leaves it for redelivery). */
function handle(msg: DurableMsg): void {
  let body: { id: string; payload: unknown } | { id: string; payload: unknown }[];
  try {
    body = JSON.parse(decoder.decode(msg.data));
  } catch {
    return msg.term(); // not what the peer bench sends: never delivered again
  }
  const tasks = Array.isArray(body) ? body : [body];
  const now = new Date().toISOString();
  Promise.all(tasks.map((t) => {
    const result = JSON.stringify({
      id: t.id,
      type: "echo",
      state: "succeeded",
      result: t.payload,
      finishedAt: now,
    });
    if (values.deltas) {
      // One message a task, as this system's coalesced deltas mostly are for an echo.
      transport.publish(
        subj.monitorTask(t.id),
        JSON.stringify({ id: t.id, seq: 2, state: "succeeded", from: 1, steps: [{ seq: 1 }] }),
      );
    }
    return transport.publishDurable(subj.outcome(t.id), result, {
      timeoutMs: 5_000,
      headers: signer ? { [RESULT_SIGNATURE]: signer.signText(result) } : undefined,
    });
  })).then((acks) => {
    // A result the stream already holds (a redelivery of this message) counts as stored.
    if (acks.every((a) => a.ok || a.code === "SUBJECT_FULL")) msg.ack();
  });
}

await transport.consume(tasksConsumer(subj, config), handle);
console.log("ready");
