/**
 * The README's client example runs as written: its `client.ts` and the shell
 * line that runs it, from the repository root, against a node started as
 * `deno task start` starts one by default (an embedded, locked-down
 * nats-server; the client connects as its anonymous client user). The only
 * change is where the file lives: a temporary folder under `.data/`, with its
 * relative import of `./src/client/mod.ts` pointed at the repository's.
 */

import assert from "node:assert/strict";
import { freePort } from "../../src/transport/nats_server.ts";
import { SECRET, startNodeProcess } from "../_cluster.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** The first ```ts block of the README's client section and the ```sh block after it. */
async function example(): Promise<{ code: string; run: string }> {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const start = readme.indexOf("## Client library");
  const section = readme.slice(start, readme.indexOf("\n## ", start + 1));
  const code = section.match(/```ts\n([\s\S]*?)```/)?.[1];
  const run = section.match(/```ts\n[\s\S]*?```[\s\S]*?```sh\n([\s\S]*?)```/)?.[1];
  assert.ok(code && run, "the client section has a ts example and the line that runs it");
  return { code, run };
}

Deno.test("client README - the example runs as written against a default node", async () => {
  const { code, run } = await example();
  assert.match(code, /from "\.\/src\/client\/mod\.ts"/);
  assert.match(run, /deno run [^\n]*client\.ts/);
  // Inside the repository (its ignored .data folder), as the reader's file is: deno.json applies.
  await Deno.mkdir(`${ROOT}.data`, { recursive: true });
  const dir = await Deno.makeTempDir({ dir: `${ROOT}.data`, prefix: "client-readme-" });
  const data = await Deno.makeTempDir({ prefix: "client-readme-data-" });
  await Deno.writeTextFile(
    `${dir}/client.ts`,
    code.replace("./src/client/mod.ts", `${ROOT}src/client/mod.ts`),
  );
  const broker = `nats://127.0.0.1:${freePort()}`;
  const node = startNodeProcess(
    ["--embedded", "always", "--broker", broker, "--data-dir", data, "--node-id", "readme"],
    {},
  );
  try {
    await node.waitFor("node started", 30_000);
    const out = await new Deno.Command("bash", {
      args: ["-e", "-o", "pipefail", "-c", run.replace(/\bclient\.ts\b/, `${dir}/client.ts`)],
      cwd: ROOT,
      env: {
        PATH: `${Deno.execPath().replace(/\/[^/]*$/, "")}:${Deno.env.get("PATH") ?? ""}`,
        HOME: Deno.env.get("HOME") ?? dir,
        // The tour's secret, exported in the reader's second terminal.
        TASK_SCHEDULER_JWT_SECRET: SECRET,
        TASK_SCHEDULER_MESSAGE_BROKER: broker,
        NO_COLOR: "1",
      },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    const stdout = dec.decode(out.stdout);
    assert.equal(out.code, 0, `${stdout}\n${dec.decode(out.stderr)}`);
    assert.match(stdout, /^\d+% /m, "progress was printed");
    assert.match(stdout, /^succeeded \d+$/m, "then the result");
  } finally {
    node.kill("SIGTERM");
    await node.exited;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.remove(data, { recursive: true }).catch(() => {});
  }
});
