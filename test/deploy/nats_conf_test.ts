/**
 * The nats-server configurations in deploy/nats/ parse: each is checked with
 * `nats-server -t`, the TLS ones against throwaway certificates from
 * make-dev-certs.sh.
 */
import assert from "node:assert/strict";

const NATS = Deno.env.get("NATS_SERVER") ?? "/usr/sbin/nats-server";
const dir = new URL("../../deploy/nats/", import.meta.url).pathname;

async function run(cmd: string, args: string[], cwd?: string) {
  const o = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
}

Deno.test("deploy - every nats-server configuration parses (TLS ones with dev certificates)", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "nats-conf-" });
  try {
    const certs = `${tmp}/certs`;
    const made = await run("bash", [`${dir}make-dev-certs.sh`, certs]);
    assert.equal(made.code, 0, made.out);
    for (const name of ["single.conf", "tls.conf", "permissions.conf", "container.conf"]) {
      const text = (await Deno.readTextFile(`${dir}${name}`))
        .replaceAll("/etc/nats/certs/", `${certs}/`)
        .replaceAll(/store_dir:\s*"[^"]*"/g, `store_dir: "${tmp}/js"`);
      const file = `${tmp}/${name}`;
      await Deno.writeTextFile(file, text);
      const checked = await run(NATS, ["-t", "-c", file]);
      assert.equal(checked.code, 0, `${name}: ${checked.out}`);
      assert.match(checked.out, /is valid/, name);
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
