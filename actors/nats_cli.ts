/**
 * `deno task nats`: the three commands of the README tour for machines
 * without the `nats` CLI, taking the same arguments.
 *
 * ```
 * deno task nats pub <subject> <body> [-H "Name:Value"]... [--count N]
 * deno task nats sub <subject>
 * deno task nats req <subject> <body> [-H "Name:Value"]... [--timeout 5s]
 * ```
 * The server comes from `--server` or TASK_SCHEDULER_MESSAGE_BROKER (default nats://127.0.0.1:4222).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { connectNats } from "../src/internal_mod.ts";

const USAGE = `Usage:
  deno task nats pub <subject> <body> [-H "Name:Value"]... [--count N]
  deno task nats sub <subject>
  deno task nats req <subject> <body> [-H "Name:Value"]... [--timeout 5s]
Options: --server URL (default TASK_SCHEDULER_MESSAGE_BROKER or nats://127.0.0.1:4222)
         --tlscert F --tlskey F --tlsca F (default TASK_SCHEDULER_TLS_CERT, _KEY, _CA)`;

async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        header: { type: "string", short: "H", multiple: true },
        server: { type: "string", short: "s" },
        count: { type: "string" },
        timeout: { type: "string" },
        tlscert: { type: "string" },
        tlskey: { type: "string" },
        tlsca: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    console.error(`nats: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [cmd, subject, body = ""] = positionals;
  if (values.help || !cmd || !subject || !["pub", "sub", "req"].includes(cmd)) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const headers: Record<string, string> = {};
  for (const h of values.header ?? []) {
    const i = h.indexOf(":");
    if (i <= 0) {
      console.error(`nats: header must be Name:Value: got ${JSON.stringify(h)}`);
      return 2;
    }
    headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  const server = values.server ?? Deno.env.get("TASK_SCHEDULER_MESSAGE_BROKER") ??
    "nats://127.0.0.1:4222";
  const cert = values.tlscert ?? Deno.env.get("TASK_SCHEDULER_TLS_CERT");
  const key = values.tlskey ?? Deno.env.get("TASK_SCHEDULER_TLS_KEY");
  const ca = values.tlsca ?? Deno.env.get("TASK_SCHEDULER_TLS_CA");
  const tls = cert || ca ? { certFile: cert, keyFile: key, caFile: ca } : undefined;
  const t = await connectNats({ servers: server.split(","), name: "nats-cli", tls });
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  try {
    if (cmd === "pub") {
      const count = Number(values.count ?? 1);
      for (let i = 1; i <= count; i++) {
        t.publish(subject, enc.encode(body.replaceAll("{{Count}}", String(i))), { headers });
      }
      await t.flush();
      console.error(`Published ${count} message(s) to ${subject}`);
    } else if (cmd === "req") {
      const ms = parseDuration(values.timeout ?? "5s");
      const reply = await t.request(subject, enc.encode(body), { timeoutMs: ms, headers });
      console.log(dec.decode(reply.data));
    } else {
      let n = 0;
      t.subscribe(subject, (m) => {
        console.log(`[#${++n}] Received on "${m.subject}"\n${dec.decode(m.data)}\n`);
      });
      console.error(`Listening on ${subject}`);
      await new Promise<void>((resolve) => Deno.addSignalListener("SIGINT", () => resolve()));
    }
  } finally {
    await t.close();
  }
  return 0;
}

function parseDuration(s: string): number {
  const m = /^(\d+)(ms|s|m)?$/.exec(s);
  if (!m) throw new Error(`bad duration ${s}`);
  const n = Number(m[1]);
  return m[2] === "ms" ? n : m[2] === "m" ? n * 60_000 : n * 1_000;
}

if (import.meta.main) Deno.exit(await run(Deno.args));
