/**
 * The README's "Command line" examples run as written: every ```sh block
 * between `<!-- ctl-examples` and `<!-- /ctl-examples -->` runs in bash
 * (`-e`: any command that fails fails the test) from the repository root,
 * against a node started as `deno task start` starts one by default (an
 * embedded nats-server, locked down: the CLI connects as its anonymous client
 * user). The environment holds what a reader's second terminal would:
 * TASK_SCHEDULER_MESSAGE_BROKER and an admin TASK_SCHEDULER_TOKEN, a home
 * folder for the login file, and the data folder `deno task user` finds the
 * node's credentials in; stdin holds the password the login example types.
 */

import assert from "node:assert/strict";
import { mintToken } from "../../../src/internal_mod.ts";
import { freePort } from "../../../src/transport/nats_server.ts";
import { SECRET, startNodeProcess } from "../../_cluster.ts";
import { ROOT } from "./_ctl.ts";

/** The shell blocks of the README's CLI section. */
export async function readmeExamples(): Promise<string[]> {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const start = readme.indexOf("<!-- ctl-examples");
  const end = readme.indexOf("<!-- /ctl-examples -->");
  assert.ok(start >= 0 && end > start, "the README marks its CLI examples");
  return [...readme.slice(start, end).matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
}

/** Where deno keeps its cache: the examples run with another HOME, not another cache. */
async function denoDir(): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
  return JSON.parse(new TextDecoder().decode(out.stdout)).denoDir;
}

Deno.test("ctl README - the Command line examples run as written against a default node", async () => {
  const blocks = await readmeExamples();
  assert.equal(blocks.length, 5, "five example blocks");
  for (const b of blocks) {
    for (const line of b.split("\n").filter((l) => l.trim() && !l.startsWith("#"))) {
      assert.match(
        line,
        /^(deno task|id=\$\(deno task|unset |echo )/,
        `an example line runs deno task: ${line}`,
      );
    }
  }
  const data = await Deno.makeTempDir({ prefix: "ctl-readme-data-" });
  const home = await Deno.makeTempDir({ prefix: "ctl-readme-home-" });
  const port = freePort();
  const broker = `nats://127.0.0.1:${port}`;
  const node = startNodeProcess(
    ["--embedded", "always", "--broker", broker, "--data-dir", data, "--node-id", "readme"],
    {},
  );
  try {
    await node.waitFor("node started", 30_000);
    const env: Record<string, string> = {
      PATH: `${Deno.execPath().replace(/\/[^/]*$/, "")}:${Deno.env.get("PATH") ?? ""}`,
      HOME: home,
      DENO_DIR: await denoDir(),
      TASK_SCHEDULER_MESSAGE_BROKER: broker,
      TASK_SCHEDULER_TOKEN: await mintToken(SECRET, { sub: "ops", roles: ["admin"] }),
      TASK_SCHEDULER_DATA_DIR: data,
      NO_COLOR: "1",
    };
    const outputs: string[] = [];
    for (const [i, block] of blocks.entries()) {
      const child = new Deno.Command("bash", {
        args: ["-e", "-o", "pipefail", "-c", block],
        cwd: ROOT,
        env,
        clearEnv: true,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      // What the login example's reader types: alice's new password, twice read.
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode("alice-password\nalice-password\n"));
      await w.close();
      const out = await child.output();
      const dec = new TextDecoder();
      const text = `${dec.decode(out.stdout)}\n--- stderr ---\n${dec.decode(out.stderr)}`;
      assert.equal(out.code, 0, `block ${i + 1} exited ${out.code}:\n${block}\n${text}`);
      outputs.push(text);
    }
    const [tasks, dead, schedules, scripts, login] = outputs;
    assert.match(tasks, /succeeded \(echo\)/);
    assert.match(tasks, /"hello": "world"/);
    assert.match(tasks, /"sleptMs": 3000/);
    assert.match(tasks, /^s2 cancelling \(was (running|dispatched)\)$/m);
    assert.match(tasks, /^exit 4$/m);
    assert.match(tasks, /^readme\s+up\s+/m);
    assert.match(dead, /^t1 failed \(sleep\)/m);
    assert.match(dead, /^exit 3$/m);
    assert.match(dead, /^t1\s+sleep\s+1\s+/m);
    assert.match(dead, /^t1 resubmitted/m);
    assert.match(schedules, /^created beat$/m);
    assert.match(schedules, /^beat:manual-\S+ succeeded \(heartbeat\)/m);
    assert.match(schedules, /^deleted beat$/m);
    assert.match(scripts, /"state": "succeeded"/);
    assert.match(login, /^logged in as alice \(roles submitter\)/m);
    assert.match(login, /^sub\s+alice$/m);
    assert.match(login, /"as alice"/);
    assert.equal((await Deno.stat(`${home}/.config/task-scheduler/token`)).mode! & 0o777, 0o600);
  } finally {
    node.kill("SIGTERM");
    await node.exited;
    await Deno.remove(data, { recursive: true }).catch(() => {});
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
});
