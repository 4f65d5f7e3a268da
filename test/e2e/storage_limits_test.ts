/**
 * Resource limits against a real nats-server with small limits: a full TASKS
 * stream and a full disk under JetStream. In both, an acked publish that is
 * not stored is refused with an error naming the problem, nothing accepted is
 * lost, the scheduler reports the condition on `monitor.scheduler.<id>` (once
 * per change, in the log too), and once space returns submissions are taken
 * again and every accepted task gets exactly one result.
 */

import assert from "node:assert/strict";
import {
  type Config,
  connectNats,
  createLogger,
  defaultConfig,
  type NatsTransport,
  type PubAck,
  pubAckError,
  silentLogger,
  subjects,
} from "../../src/internal_mod.ts";
import { loadHandlers, type RunningNode, startNode } from "../../actors/node.ts";
import { streamSpecs } from "../../actors/streams.ts";
import { Client, SECRET } from "../_cluster.ts";
import { TestServer } from "../_nats_server.ts";
import { Watch } from "../fault/_fault.ts";

const enc = new TextEncoder();

/** Timings that keep a case short. */
const FAST: Partial<Config> = {
  heartbeatMs: 200,
  nodeLostMs: 1_000,
  leaseMs: 600,
  shutdownGraceMs: 1_000,
  retryBaseMs: 50,
  retryMaxMs: 400,
};

/** In-process nodes on one server, a client, a publisher, a monitor feed and the nodes' log. */
class Rig implements AsyncDisposable {
  readonly lines: string[] = [];
  readonly log = createLogger({
    level: "info",
    format: "json",
    sinks: [{ write: (line) => this.lines.push(line) }],
  });
  readonly nodes: { node: RunningNode; t: NatsTransport }[] = [];
  /** Acked submissions: id → the stream's answer. */
  readonly acks = new Map<string, PubAck>();

  private constructor(
    readonly url: string,
    readonly base: Config,
    readonly client: Client,
    readonly pub: NatsTransport,
    readonly watch: Watch,
  ) {}

  static async start(url: string, config: Partial<Config>): Promise<Rig> {
    const base: Config = {
      ...defaultConfig(),
      ...FAST,
      broker: url,
      brokerExplicit: true,
      ...config,
    };
    return new Rig(
      url,
      base,
      await Client.connect(url),
      await connectNats({ servers: url, name: "publisher" }),
      await Watch.start(url, "monitor.scheduler.>"),
    );
  }

  async node(nodeId: string, config: Partial<Config>): Promise<RunningNode> {
    const t = await connectNats({ servers: this.url, name: nodeId });
    const node = await startNode({
      config: { ...this.base, nodeId, ...config },
      transport: t,
      log: this.log,
      jwtSecret: SECRET,
      handlers: await loadHandlers([], silentLogger),
    });
    this.nodes.push({ node, t });
    return node;
  }

  /** Submit with an acked publish, as a client that wants to know it was stored. */
  async submit(id: string, type: string, payload: unknown): Promise<PubAck> {
    const ack = await this.pub.publishDurable(
      `tasks.submit.${type}`,
      enc.encode(JSON.stringify({ id, payload })),
      { headers: { Authorization: `Bearer ${this.client.token}` }, msgId: id, timeoutMs: 5_000 },
    );
    this.acks.set(id, ack);
    return ack;
  }

  get accepted(): string[] {
    return [...this.acks].filter(([, a]) => a.ok).map(([id]) => id);
  }

  /** The next scheduler delta (after `since`) with these fields. */
  async delta(fields: Record<string, unknown>, since = 0, timeoutMs = 20_000) {
    try {
      return await this.watch.next(
        (e) => Object.entries(fields).every(([k, v]) => e.body[k] === v),
        since,
        timeoutMs,
      );
    } catch {
      const seen = this.watch.events.map((e) => JSON.stringify(e.body)).join("\n");
      const log = this.lines.slice(-15).join("\n");
      throw new Error(`no delta ${JSON.stringify(fields)}; deltas:\n${seen}\nlog:\n${log}`);
    }
  }

  /** Resolves when `cond` holds (checked every 20 ms), or fails after `timeoutMs`. */
  async until(cond: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
    for (const end = Date.now() + timeoutMs; !(await cond());) {
      if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Log lines whose message starts so. */
  logged(prefix: string): string[] {
    return this.lines.filter((l) => (JSON.parse(l).msg as string).startsWith(prefix));
  }

  /** Every accepted task has exactly one result, and no refused one has any. */
  async exactlyOnce(timeoutMs = 20_000): Promise<void> {
    await Promise.all(this.accepted.map((id) => this.client.result(id, timeoutMs)));
    const counts = new Map<string, number>();
    for (const r of this.client.received) counts.set(r.id, (counts.get(r.id) ?? 0) + 1);
    for (const id of this.accepted) assert.equal(counts.get(id), 1, `results of ${id}`);
    for (const [id, a] of this.acks) if (!a.ok) assert.equal(counts.get(id), undefined, id);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const { node, t } of this.nodes.reverse()) {
      await node.shutdown(500).catch(() => {});
      await t.close().catch(() => {});
    }
    await this.watch[Symbol.asyncDispose]();
    await this.pub.close();
    await this.client[Symbol.asyncDispose]();
  }
}

Deno.test("storage - transport: a PubAck error's code names a full subject only for the per-subject limit, never for a full stream or disk", () => {
  // 10077 ("store failed") carries all of these: only the first means "a result is there".
  assert.equal(pubAckError(10077, "maximum messages per subject exceeded"), "SUBJECT_FULL");
  assert.equal(pubAckError(10077, "maximum messages exceeded"), "STREAM_FULL");
  assert.equal(pubAckError(10077, "maximum bytes exceeded"), "STREAM_FULL");
  assert.equal(
    pubAckError(10077, "write /js/$G/streams/RESULTS/msgs/1.blk: no space left on device"),
    "STORAGE_FULL",
  );
  assert.equal(pubAckError(10023, "insufficient resources"), "STORAGE_FULL");
  assert.equal(pubAckError(10002, "resource limits exceeded for account"), "STORAGE_FULL");
  assert.equal(pubAckError(10071, "wrong last sequence: 3"), "WRONG_LAST_SEQUENCE");
  assert.equal(pubAckError(10077, "malformed message"), "ERROR");
  assert.equal(pubAckError(undefined, "stream error"), "ERROR");
});

Deno.test("storage - transport: a stream with discard new refuses at its byte or message limit and keeps what it stored; a lower limit never drops messages", async () => {
  await using server = await TestServer.start();
  const t = await connectNats({ servers: server.url });
  try {
    const spec = { name: "B", subjects: ["b.>"], retention: "workqueue" as const };
    await t.ensureStreams([{ ...spec, discard: "new", maxBytes: 4_096 }]);
    const acks: PubAck[] = [];
    for (let i = 0; i < 40; i++) acks.push(await t.publishDurable(`b.${i}`, new Uint8Array(200)));
    const stored = acks.filter((a) => a.ok).length;
    assert.ok(stored > 10 && stored < 40, `stored ${stored}`);
    for (const a of acks.slice(stored)) {
      assert.deepEqual(a, { ok: false, code: "STREAM_FULL", message: "maximum bytes exceeded" });
    }
    let s = await t.streamInfo("B");
    assert.deepEqual([s.messages, s.maxBytes, s.maxMsgs], [stored, 4_096, 0]);
    assert.equal((await t.lastMessage("B", "b.0"))?.seq, 1, "the first message is still there");

    // An existing stream of the old kind (discard old, no limit) with 10 messages, given a
    // limit of 5: JetStream would drop the 5 oldest; the limit is held at 10 instead.
    await t.ensureStreams([{ name: "M", subjects: ["m.>"], retention: "workqueue" }]);
    for (let i = 0; i < 10; i++) assert.ok((await t.publishDurable(`m.${i}`, enc.encode("x"))).ok);
    const notes = await t.ensureStreams([{
      name: "M",
      subjects: ["m.>"],
      retention: "workqueue",
      discard: "new",
      maxMsgs: 5,
    }]);
    assert.equal(notes.length, 1);
    assert.match(notes[0], /stream M holds 10 \(max_msgs\), more than its new limit 5/);
    s = await t.streamInfo("M");
    assert.deepEqual([s.messages, s.maxMsgs], [10, 10]);
    const refused = await t.publishDurable("m.x", enc.encode("x"));
    assert.deepEqual(refused, {
      ok: false,
      code: "STREAM_FULL",
      message: "maximum messages exceeded",
    });
    assert.equal((await t.lastMessage("M", "m.0"))?.seq, 1, "nothing was dropped");
    // update: false leaves an existing stream alone.
    await t.ensureStreams([{ name: "M", subjects: ["m.>"], retention: "workqueue", maxMsgs: 50 }], {
      update: false,
    });
    assert.equal((await t.streamInfo("M")).maxMsgs, 10);

    // A byte limit JetStream cannot reserve is refused with a hint.
    await assert.rejects(
      t.ensureStreams([{ ...spec, discard: "new", maxBytes: 2 ** 50 }]),
      /cannot create stream B: insufficient storage resources available \(its byte limit, 1125899906842624, is more than JetStream's storage can reserve\)/,
    );
  } finally {
    await t.close();
  }
});

Deno.test("storage - a full TASKS stream refuses acked submissions by name, loses nothing, is reported once, and takes submissions again when drained", async () => {
  await using server = await TestServer.start();
  // An existing deployment: TASKS as it used to be made (discard old, no limit) holding a
  // backlog of 25 submissions, more than the limit of 20 the new configuration sets.
  const subj = subjects("");
  const old = streamSpecs(subj, 1).map((s) =>
    s.name === "TASKS" ? { ...s, discard: undefined, maxMsgs: undefined } : s
  );
  await using rig = await Rig.start(server.url, { tasksMaxMsgs: 20 });
  {
    const t = await connectNats({ servers: server.url });
    await t.ensureStreams(old);
    await t.close();
  }
  for (let i = 0; i < 25; i++) assert.ok((await rig.submit(`old-${i}`, "echo", i)).ok);

  await rig.node("s1", { role: "scheduler" });
  await rig.delta({ role: "leader", ready: true });
  const full = await rig.delta({ storage: "full", stream: "TASKS" });
  // The limit of 20 was not applied below the 25 held: nothing was dropped.
  assert.deepEqual(
    [full.body.code, full.body.messages, full.body.maxMsgs, full.body.full],
    ["STREAM_FULL", 25, 25, ["TASKS"]],
  );
  assert.equal(rig.logged("stream TASKS holds 25 (max_msgs)").length >= 1, true);

  // Full: acked publishes are refused, naming the problem; older submissions stay.
  for (let i = 0; i < 5; i++) {
    const ack = await rig.submit(`refused-${i}`, "echo", i);
    assert.deepEqual(ack, { ok: false, code: "STREAM_FULL", message: "maximum messages exceeded" });
  }

  // Space returns: a worker drains the stream; the scheduler says so, once.
  const since = Date.now();
  await rig.node("w1", { role: "worker", workers: 1, concurrency: 8 });
  const ok = await rig.delta({ storage: "ok", stream: "TASKS" }, since);
  assert.deepEqual(ok.body.full, []);
  // Every old task ends and its submission is acked (so removed): the stream is empty again.
  await Promise.all(rig.accepted.map((id) => rig.client.result(id)));
  await rig.until(async () => (await rig.pub.streamInfo("TASKS")).messages === 0);
  for (let i = 0; i < 10; i++) assert.ok((await rig.submit(`new-${i}`, "echo", i)).ok);
  await rig.exactlyOnce();
  assert.equal(rig.accepted.length, 35);
  assert.equal(rig.logged("storage full: stream TASKS").length, 1, rig.lines.join("\n"));
  assert.equal(rig.logged("storage available again: TASKS").length, 1);
  const reports = rig.watch.events.filter((e) => e.body.storage !== undefined);
  assert.deepEqual(reports.map((e) => e.body.storage), ["full", "ok"]);
});

/**
 * The disk under JetStream: a small tmpfs mounted for the server's data folder,
 * so that JetStream's storage limit is the one nats-server derives from the
 * disk (75 % of its free space at start); where mounting is not permitted, an
 * explicit max_file_store of 1 MiB. Another stream on the same storage fills
 * it; purging that stream gives the space back. (A disk that really runs out
 * underneath JetStream, past that limit, is not simulated: on nats-server
 * 2.9.10 a failed block write leaves the stream locked until a restart.)
 */
class Disk implements AsyncDisposable {
  private constructor(
    readonly kind: "tmpfs" | "max_file_store",
    readonly dir: string | undefined,
    readonly maxFileStore: number | undefined,
  ) {}

  static async make(): Promise<Disk> {
    const dir = await Deno.makeTempDir({ prefix: "ts-disk-" });
    const mount = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=8m", "tmpfs", dir],
      stdout: "null",
      stderr: "null",
    }).output().catch(() => ({ success: false }));
    if (mount.success) return new Disk("tmpfs", dir, undefined);
    await Deno.remove(dir);
    return new Disk("max_file_store", undefined, 1_048_576);
  }

  /** Use up JetStream's storage with another stream; returns when a write is refused. */
  async fill(t: NatsTransport): Promise<void> {
    await t.ensureStreams([{ name: "FILLER", subjects: ["filler.>"], retention: "limits" }]);
    const chunk = new Uint8Array(32_768);
    for (let i = 0;; i++) {
      const ack = await t.publishDurable(`filler.${i}`, chunk);
      if (!ack.ok) {
        assert.equal(ack.code, "STORAGE_FULL", ack.message);
        return;
      }
      assert.ok(i < 1_000, "the storage never filled");
    }
  }

  /** Give the space back. */
  async free(t: NatsTransport): Promise<void> {
    await t.request("$JS.API.STREAM.PURGE.FILLER", enc.encode("{}"));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.kind !== "tmpfs") return;
    await new Deno.Command("umount", { args: ["-l", this.dir!] }).output().catch(() => {});
    await Deno.remove(this.dir!, { recursive: true }).catch(() => {});
  }
}

Deno.test("storage - when the disk under JetStream fills, submissions are refused by name, the scheduler reports it, and everything accepted gets one result once space returns", async () => {
  await using disk = await Disk.make();
  await using server = await TestServer.start({ dir: disk.dir, maxFileStore: disk.maxFileStore });
  // A lease of 6 s (renewed every 2 s, given up 4.8 s after the last renewal): the tasks
  // running when storage fills end, and their results fail, before the lease does.
  await using rig = await Rig.start(server.url, { leaseMs: 6_000 });
  await rig.node("n1", { workers: 1, concurrency: 4 });
  const leading = await rig.delta({ role: "leader", ready: true });

  // Work in flight when the disk fills: four tasks running.
  const running = new Set<string>();
  const feed = await Watch.start(server.url, "monitor.task.>");
  try {
    for (let i = 0; i < 4; i++) {
      assert.ok((await rig.submit(`before-${i}`, "sleep", { ms: 2_000 })).ok);
    }
    await feed.next((e) => {
      if (e.body.state === "running") running.add(String(e.body.id));
      return running.size === 4;
    });
  } finally {
    await feed[Symbol.asyncDispose]();
  }

  const since = Date.now();
  await disk.fill(rig.pub);
  const filledMs = Date.now() - since;
  // Full: every acked publish is refused, naming the problem.
  for (let i = 0; i < 3; i++) {
    const ack = await rig.submit(`refused-${i}`, "echo", i);
    assert.deepEqual(ack, { ok: false, code: "STORAGE_FULL", message: "insufficient resources" });
  }
  // The running tasks end; their results cannot be stored: reported once, kept, retried.
  const results = await rig.delta({ storage: "full", stream: "RESULTS" }, since);
  assert.deepEqual(
    [results.body.id, results.body.code, results.body.reason, results.body.full],
    [leading.body.id, "STORAGE_FULL", "insufficient resources", ["RESULTS"]],
  );
  // The lease cannot be renewed either: the leader stops acting (pauses or steps down), says why.
  const down = await rig.watch.next(
    (e) =>
      e.body.epoch === leading.body.epoch &&
      (e.body.role === "follower" || e.body.event === "paused"),
    since,
  );
  assert.match(String(down.body.reason), /insufficient resources/);
  const lease = await rig.delta({ storage: "full", stream: "KV_sched_lease" }, since);
  assert.deepEqual(lease.body.full, ["RESULTS", "KV_sched_lease"]);
  assert.equal(rig.client.results.size, 0, "no result was published while storage was full");

  // Space returns: the scheduler leads again by itself (on, or in a new term), says storage is
  // fine, and takes work.
  const freed = Date.now();
  await disk.free(rig.pub);
  const again = await rig.delta({ role: "leader", ready: true }, freed, 30_000);
  for (let i = 0; i < 3; i++) assert.ok((await rig.submit(`after-${i}`, "echo", i)).ok);
  await rig.exactlyOnce(30_000);
  assert.equal(rig.accepted.length, 7);
  const cleared = rig.watch.events.filter((e) => e.at >= freed && e.body.storage === "ok");
  assert.deepEqual(cleared.map((e) => e.body.stream).sort(), ["KV_sched_lease", "RESULTS"]);
  assert.deepEqual(cleared.at(-1)!.body.full, []);
  // Once per change in the log too, not once per result or retry.
  assert.equal(rig.logged("storage full:").length, 2, rig.lines.join("\n"));
  assert.equal(rig.logged("storage available again:").length, 2);
  assert.equal(rig.logged("result not stored yet").length, 0);
  const story = rig.watch.events.filter((e) => e.at >= since && !("held" in e.body)).map((e) =>
    e.body.storage ? `${e.body.storage} ${e.body.stream}` : e.body.event ?? `role ${e.body.role}`
  );
  console.log(
    `[storage] ${disk.kind}: filled in ${filledMs} ms; full for ${freed - since} ms; ` +
      `leader again ${again.at - freed} ms after space returned; ${story.join(", ")}`,
  );
});

Deno.test("storage - results that cannot be stored wait in the leader and are stored by its retries when space returns before the lease runs out", async () => {
  await using disk = await Disk.make();
  await using server = await TestServer.start({ dir: disk.dir, maxFileStore: disk.maxFileStore });
  await using rig = await Rig.start(server.url, { leaseMs: 6_000 });
  await rig.node("n1", { workers: 1, concurrency: 4 });
  const leading = await rig.delta({ role: "leader", ready: true });
  for (let i = 0; i < 4; i++) {
    assert.ok((await rig.submit(`short-${i}`, "sleep", { ms: 1_500 })).ok);
  }
  const since = Date.now();
  await disk.fill(rig.pub);
  const full = await rig.delta({ storage: "full", stream: "RESULTS" }, since);
  assert.equal(full.body.code, "STORAGE_FULL");
  await disk.free(rig.pub);
  // The same leader stores them: no step-down, no new term.
  const ok = await rig.delta({ storage: "ok", stream: "RESULTS" }, since);
  assert.equal(ok.body.id, leading.body.id);
  await rig.exactlyOnce();
  const stops = rig.watch.events.filter((e) =>
    e.at >= since && (e.body.role !== undefined || e.body.event === "paused")
  );
  assert.deepEqual(stops, [], "the leader never stopped leading");
  assert.equal(rig.logged("storage full:").length, 1);
});
