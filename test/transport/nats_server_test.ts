import assert from "node:assert/strict";
import { natsProcs, startNatsServer } from "../../src/transport/nats_server.ts";

/** The GOMAXPROCS in a running process's environment, from /proc. */
async function goMaxProcsOf(pid: number): Promise<string | undefined> {
  const env = await Deno.readTextFile(`/proc/${pid}/environ`);
  return env.split("\0").find((kv) => kv.startsWith("GOMAXPROCS="))?.slice("GOMAXPROCS=".length);
}

Deno.test({
  name:
    "nats_server - a started server gets GOMAXPROCS of one fewer than the cores, or what is asked",
  // Read from /proc.
  ignore: Deno.build.os !== "linux",
}, async () => {
  const saved = Deno.env.get("GOMAXPROCS");
  Deno.env.delete("GOMAXPROCS");
  try {
    const cores = navigator.hardwareConcurrency;
    assert.equal(natsProcs(), Math.max(1, cores - 1));
    for (const [procs, want] of [[undefined, Math.max(1, cores - 1)], [3, 3]] as const) {
      const dir = await Deno.makeTempDir({ prefix: "ts-nats-procs-" });
      try {
        await using server = await startNatsServer({ dir, jetstream: false, procs });
        assert.equal(await goMaxProcsOf(server.pid), String(want));
      } finally {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    }
    // The operator's own setting wins over the default, not over an explicit one.
    Deno.env.set("GOMAXPROCS", "5");
    assert.equal(natsProcs(), 5);
    assert.equal(natsProcs(2), 2);
    assert.equal(natsProcs(0), 1);
    // What Go would not take as a number of threads is not passed on.
    assert.equal(natsProcs(Number.NaN), 5);
    for (const bad of ["0x10", "1e1", "-2", "0", "many"]) {
      Deno.env.set("GOMAXPROCS", bad);
      assert.equal(natsProcs(), Math.max(1, cores - 1), bad);
    }
  } finally {
    if (saved === undefined) Deno.env.delete("GOMAXPROCS");
    else Deno.env.set("GOMAXPROCS", saved);
  }
});
