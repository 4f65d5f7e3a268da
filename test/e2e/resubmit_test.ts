/**
 * Ids used again: a rejected submission never ran, so its id may be used
 * again, before and after a restart; a finished id submitted again hears its
 * stored result again and does not run twice. Against node processes, so a
 * restart forgets everything held in memory.
 */
import assert from "node:assert/strict";
import { connectNats, mintToken, type TaskResult } from "../../src/internal_mod.ts";
import { SECRET } from "../_cluster.ts";
import { TestServer } from "../_nats_server.ts";
import { kill, node } from "../fault/_fault.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("resubmit - a rejected id runs when submitted again (also after a restart); a finished id hears its stored result again", async () => {
  await using server = await TestServer.start();
  const t = await connectNats({ servers: server.url, name: "resubmit-test" });
  const good = {
    Authorization: `Bearer ${await mintToken(SECRET, { sub: "u1", roles: ["admin"] })}`,
  };
  const bad = { Authorization: "Bearer not-a-token" };
  const seen: { r: TaskResult; expectHeader: string | undefined }[] = [];
  t.subscribe("tasks.result.>", (m) => {
    seen.push({
      r: JSON.parse(dec.decode(m.data)),
      expectHeader: m.header("Nats-Expected-Last-Subject-Sequence"),
    });
  });
  await t.flush();
  /** The `n`-th result for `id` (1-based), waiting for it. */
  const nth = async (id: string, n: number): Promise<TaskResult> => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const all = seen.filter((s) => s.r.id === id);
      if (all.length >= n) return all[n - 1].r;
      if (Date.now() > deadline) throw new Error(`result ${n} of ${id} never came`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const submit = (id: string, auth: Record<string, string>) =>
    t.publish("tasks.submit.echo", enc.encode(JSON.stringify({ id, payload: id })), {
      headers: auth,
    });
  const status = async (id: string) => {
    const m = await t.request("tasks.status", enc.encode(JSON.stringify({ id })), {
      headers: good,
      timeoutMs: 5_000,
    });
    return JSON.parse(dec.decode(m.data));
  };

  let n = await node(server.url, ["--node-id", "n1"]);
  try {
    // In one process: rejected, then the same id with a good token runs.
    submit("r1", bad);
    assert.equal((await nth("r1", 1)).state, "rejected");
    submit("r1", good);
    const r1 = await nth("r1", 2);
    assert.equal(r1.state, "succeeded");
    assert.equal(r1.result, "r1");
    // Rejected before a restart; finished before a restart.
    submit("s1", bad);
    assert.equal((await nth("s1", 1)).state, "rejected");
    submit("a1", good);
    const a1 = await nth("a1", 1);
    assert.equal(a1.state, "succeeded");
    // A finished id again, same process: its stored result again, not a second run.
    submit("a1", good);
    assert.deepEqual(await nth("a1", 2), a1);

    await kill(n, "SIGTERM");
    // Submitted while no scheduler runs: in the stream when the next one takes over.
    submit("s1", good);
    submit("a1", good);
    await t.flush();
    n = await node(server.url, ["--node-id", "n1"]);
    const s1 = await nth("s1", 2);
    assert.equal(s1.state, "succeeded", "the rejected id ran after the restart");
    assert.equal((await status("s1")).state, "succeeded");
    assert.deepEqual(await nth("a1", 3), a1, "the stored result, not a second run");
    // And after the takeover, as a fresh submission.
    submit("a1", good);
    assert.deepEqual(await nth("a1", 4), a1);
    // Once the new leader has listed the stored results, a fresh submission is let through
    // without a look-up only if its id has none: this one has, so it is looked up and answered.
    const listedBy = Date.now() + 10_000;
    while (!n.log.some((l) => l.includes("stored results listed"))) {
      if (Date.now() > listedBy) throw new Error("the new leader never listed the stored results");
      await new Promise((r) => setTimeout(r, 20));
    }
    submit("a1", good);
    assert.deepEqual(await nth("a1", 5), a1);
    submit("f1", good);
    assert.equal((await nth("f1", 1)).state, "succeeded", "a new id runs");
    assert.ok(
      n.log.some((l) => l.includes("scheduler: republished") && l.includes("a1")),
      "the republish is in the log",
    );
    const leaked = seen.filter((s) => s.expectHeader !== undefined).map((s) => s.r.id);
    assert.deepEqual(leaked, [], "no internal header reaches subscribers");
  } finally {
    await kill(n, "SIGTERM");
    await t.close();
  }
});
