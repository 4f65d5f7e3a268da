import assert from "node:assert/strict";
import { LocalDirectory } from "../../../actors/directory.ts";
import { nodeBehavior, type NodeMsg } from "../../../actors/worker/node.ts";
import {
  type HandlerEntry,
  workerBehavior,
  type WorkerMsg,
} from "../../../actors/worker/worker.ts";
import {
  type ActorRef,
  type Assignment,
  type Delta,
  functionRef,
  healthScore,
  MemoryBroker,
  type MemoryTransport,
  type NodeStatus,
  Opener,
  type Report,
  SEAL_HEADER,
  Sealer,
  type Subjects,
  subjects,
  type ToNode,
  type ToScheduler,
  type WorkerInfo,
} from "../../../src/internal_mod.ts";
import type { SupervisorCell } from "../../../src/runtime/supervisor.ts";
import { Harness } from "../../runtime/_harness.ts";
import { assignment, Gates, Recorder, settle, untilAborted } from "./_harness.ts";

const NODE = "n1";
/** The cluster secret of these tests: the leader's messages over the wire are sealed with it. */
const SEAL_SECRET = "node-test-cluster-secret-of-32-characters";
const leaderSealer = new Sealer(SEAL_SECRET, "leader");
const HEARTBEAT_MS = 1_000;
const GRACE_MS = 300;

type Reports = Extract<ToScheduler, { type: "node.reports" }>;
type Hello = Extract<ToScheduler, { type: "node.hello" }>;
type Leaving = Extract<ToScheduler, { type: "node.leaving" }>;
type StatusDelta = Delta<NodeStatus>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Every NodeStatus field, for checking that a snapshot or first delta is complete. */
const STATUS_FIELDS: (keyof NodeStatus)[] = [
  "node",
  "incarnation",
  "state",
  "cpuLoad",
  "memoryUsed",
  "tasksProcessing",
  "tasksQueued",
  "capabilities",
  "types",
  "workers",
  "concurrency",
  "health",
  "recentFailures",
  "tasksSucceeded",
  "tasksFailed",
  "heartbeatAt",
];
/** Fields every delta carries, changed or not. */
const ALWAYS = ["node", "incarnation", "state", "seq"];

interface NodeRig extends AsyncDisposable {
  h: Harness;
  root: SupervisorCell;
  node: ActorRef<NodeMsg>;
  transport: MemoryTransport;
  subj: Subjects;
  directory: LocalDirectory;
  infos: WorkerInfo[];
  gates: Gates;
  signals: Map<string, AbortSignal>;
  running: Recorder<string>;
  /** What the (fake) leader received, in process or over NATS. */
  leader: Recorder<ToScheduler>;
  deltas: Recorder<StatusDelta>;
  /** Subjects of messages to the leader over NATS that lacked the node's seal. */
  unsealed: string[];
  /** Every report the leader received, in order, across batches. */
  reports(): Report[];
  /** Send the node a scheduler message as the leader would, over NATS. */
  wire(msg: ToNode, subject?: string): void;
  /** Publish on the wire as an outsider would: no seal, or the given headers. */
  wireRaw(msg: unknown, subject?: string, headers?: Record<string, string>): void;
  assign(epoch: number, ...tasks: Assignment[]): void;
  /** The next message to the leader of this type, from index `from` on. */
  next<T extends ToScheduler["type"]>(
    type: T,
    pred?: (m: Extract<ToScheduler, { type: T }>) => boolean,
    from?: number,
  ): Promise<Extract<ToScheduler, { type: T }>>;
  /** Advance the clock by one heartbeat and wait for its status delta. */
  beat(): Promise<StatusDelta>;
}

async function startNode(
  opts: { localLeader?: boolean; autoAck?: boolean } = {},
): Promise<NodeRig> {
  const h = new Harness();
  const broker = new MemoryBroker();
  const transport = broker.connect("node-test");
  const subj = subjects(`t${crypto.randomUUID().slice(0, 8)}`);
  const directory = new LocalDirectory();
  const leader = new Recorder<ToScheduler>("leader");
  const deltas = new Recorder<StatusDelta>("deltas");
  const unsealed: string[] = [];
  const gates = new Gates();
  const signals = new Map<string, AbortSignal>();
  const running = new Recorder<string>("running");

  const ack = (m: ToScheduler) => {
    if (!opts.autoAck || m.type !== "node.reports") return;
    const dispatches = m.reports.filter((r) => r.kind === "done" || r.kind === "refused")
      .map((r) => r.dispatch);
    if (dispatches.length) {
      directory.nodes.get(NODE)?.send({ type: "report.ack", epoch: m.epoch, dispatches });
    }
  };
  if (opts.localLeader ?? true) {
    directory.leader = functionRef<ToScheduler>("leader", (m) => {
      leader.push(m);
      ack(m);
    });
  } else {
    const opener = new Opener(SEAL_SECRET);
    transport.subscribe(subj.report, (m) => {
      const msg = JSON.parse(decoder.decode(m.data)) as ToScheduler;
      // What the node sends over NATS is sealed by the node itself.
      const opened = opener.open(m.subject, m.data, m.header(SEAL_HEADER));
      if (!opened.ok || opened.sender !== NODE) unsealed.push(m.subject);
      leader.push(msg);
      ack(msg);
    });
  }
  transport.subscribe(
    subj.monitorWorker(NODE),
    (m) => deltas.push(JSON.parse(decoder.decode(m.data))),
  );

  const handlers = new Map<string, HandlerEntry>([
    ["ok", {
      def: {
        type: "ok",
        handler: async function* (payload) {
          yield { progress: 1 };
          return { echoed: payload };
        },
      },
    }],
    ["hold", {
      def: {
        type: "hold",
        // deno-lint-ignore require-yield
        handler: async function* (_p, ctx) {
          signals.set(ctx.id, ctx.signal);
          running.push(ctx.id);
          await Promise.race([gates.wait(ctx.id), untilAborted(ctx.signal)]);
          return "released";
        },
      },
    }],
  ]);
  const infos: WorkerInfo[] = [0, 1].map((i) => ({
    id: `${NODE}/w${i}`,
    concurrency: 2,
    capabilities: ["cpu", "disk"],
    types: [...handlers.keys()].sort(),
  }));
  let root: SupervisorCell | null = null;
  const nodeRef = () => root!.ref<NodeMsg>("node");
  root = await h.start({
    kind: "supervisor",
    id: "root",
    policy: { strategy: "rest-for-one" },
    children: [
      {
        kind: "actor",
        id: "node",
        behavior: nodeBehavior({
          node: NODE,
          transport,
          subjects: subj,
          directory,
          capabilities: ["cpu", "disk"],
          pool: null,
          heartbeatMs: HEARTBEAT_MS,
          seals: { sealer: new Sealer(SEAL_SECRET, NODE), opener: new Opener(SEAL_SECRET) },
          workers: infos.map((info, i) => ({
            info,
            ref: {
              path: info.id,
              send: (m: WorkerMsg) => root!.ref<WorkerMsg>(`w${i}`).send(m),
              ask: (b, t) => root!.ref<WorkerMsg>(`w${i}`).ask(b, t),
            },
          })),
        }),
      },
      ...infos.map((info, i) => ({
        kind: "actor" as const,
        id: `w${i}`,
        behavior: workerBehavior({
          id: info.id,
          concurrency: info.concurrency,
          handlers,
          pool: null,
          report: (report) => nodeRef().send({ type: "worker.report", report }),
          progress: (id, attempt, progress) =>
            nodeRef().send({ type: "progress", id, attempt, worker: info.id, progress }),
          abortGraceMs: 5_000,
          progressIntervalMs: 100,
          maxResultBytes: 64 * 1024,
        }),
      })),
    ],
  });
  const node = nodeRef();
  await settle();

  const rig: NodeRig = {
    h,
    root,
    node,
    transport,
    subj,
    directory,
    infos,
    gates,
    signals,
    running,
    leader,
    deltas,
    unsealed,
    reports: () =>
      leader.items.flatMap((m) => m.type === "node.reports" ? m.reports : []) as Report[],
    wire(msg, subject = subj.node(NODE)) {
      const body = encoder.encode(JSON.stringify(msg));
      transport.publish(subject, body, { headers: leaderSealer.seal(subject, body) });
    },
    wireRaw(msg, subject = subj.node(NODE), headers = {}) {
      transport.publish(subject, encoder.encode(JSON.stringify(msg)), { headers });
    },
    assign(epoch, ...tasks) {
      node.send({ type: "task.assign", epoch, leader: "L", tasks });
    },
    next(type, pred = () => true, from = 0) {
      return leader.wait(
        (m) => m.type === type && pred(m as Extract<ToScheduler, { type: typeof type }>),
        `${type} to the leader`,
        from,
      ) as Promise<Extract<ToScheduler, { type: typeof type }>>;
    },
    beat() {
      const from = deltas.items.length;
      h.clock.advance(HEARTBEAT_MS);
      return deltas.wait(() => true, "a heartbeat delta", from);
    },
    async [Symbol.asyncDispose]() {
      gates.openAll();
      await h.system.stop();
      await settle();
    },
  };
  return rig;
}

/** A task for worker `w` of the node. */
function task(id: string, type: string, dispatch: number, w = 0): Assignment {
  return assignment(id, type, dispatch, { worker: `${NODE}/w${w}` });
}

function reportsOf(m: ToScheduler): Report[] {
  return m.type === "node.reports" ? m.reports : [];
}

Deno.test("node - publishes a full status delta on start, then only changed fields with seq + 1", async () => {
  await using n = await startNode();
  const first = await n.deltas.wait(() => true, "the first delta");
  assert.equal(first.seq, 1);
  assert.equal(first.node, NODE);
  assert.equal(first.state, "up");
  assert.equal(typeof first.incarnation, "number");
  for (const k of STATUS_FIELDS) assert.ok(k in first, `first delta lacks ${k}`);
  assert.equal(typeof first.cpuLoad, "number");
  assert.ok(first.cpuLoad! >= 0 && first.cpuLoad! <= 100, `cpuLoad ${first.cpuLoad}`);
  assert.ok(first.memoryUsed! > 0);
  assert.equal(first.tasksProcessing, 0);
  assert.equal(first.tasksQueued, 0);
  assert.deepEqual(first.capabilities, ["cpu", "disk"]);
  assert.deepEqual(first.types, ["hold", "ok"]);
  assert.equal(first.workers, 2);
  assert.equal(first.concurrency, 4);
  assert.ok(Number.isInteger(first.health) && first.health! >= 0 && first.health! <= 100);
  assert.equal(first.heartbeatAt, n.h.clock.now());

  // A running task changes tasksProcessing; each beat sends only what changed.
  n.assign(1, task("t1", "hold", 1));
  await n.running.wait((id) => id === "t1", "t1 to run");
  await settle();
  for (let i = 0; i < 3; i++) await n.beat();

  const model: Record<string, unknown> = {};
  n.deltas.items.forEach((d, i) => {
    assert.equal(d.seq, i + 1, "seq goes up by one");
    for (const k of ALWAYS) assert.ok(k in d, `delta ${d.seq} lacks ${k}`);
    if (i > 0) {
      for (const [k, v] of Object.entries(d)) {
        if (ALWAYS.includes(k)) continue;
        assert.notDeepEqual(v, model[k], `delta ${d.seq} repeats unchanged ${k}`);
      }
      for (const k of ["capabilities", "types", "workers", "concurrency", "tasksQueued"]) {
        assert.ok(!(k in d), `delta ${d.seq} repeats ${k}`);
      }
      assert.ok("heartbeatAt" in d, "a beat moves heartbeatAt");
    }
    Object.assign(model, d);
  });
  assert.equal(n.deltas.items[1].tasksProcessing, 1);
  assert.ok(!("tasksProcessing" in n.deltas.items[2]));
  assert.equal(model.heartbeatAt, n.h.clock.now());
});

Deno.test("node - says hello to a local leader with its workers", async () => {
  await using n = await startNode();
  const hello = await n.next("node.hello");
  assert.equal(n.leader.items[0], hello, "hello is the first message");
  assert.equal(hello.node, NODE);
  assert.equal(hello.incarnation, n.deltas.items[0].incarnation);
  assert.deepEqual(hello.workers, n.infos);
  assert.deepEqual(hello.running, []);
  assert.equal(hello.draining, false);
  assert.equal(n.directory.nodes.get(NODE), n.node);
});

Deno.test("node - routes an assignment to the named worker; the leader gets started then done", async () => {
  await using n = await startNode();
  n.assign(1, task("t1", "ok", 101, 1));
  await n.next("node.reports", (m) => m.reports.some((r) => r.kind === "done"));
  const reports = n.reports();
  assert.deepEqual(reports.map((r) => r.kind), ["started", "done"]);
  for (const r of reports) {
    assert.equal(r.id, "t1");
    assert.equal(r.dispatch, 101);
    assert.equal(r.worker, `${NODE}/w1`);
  }
  const done = reports[1] as Extract<Report, { kind: "done" }>;
  assert.equal(done.outcome, "succeeded");
  assert.deepEqual(done.result, { echoed: null });
  const batch = n.leader.items.find((m) => m.type === "node.reports") as Reports;
  assert.equal(batch.node, NODE);
  assert.equal(batch.epoch, 1);
  assert.equal(batch.incarnation, n.deltas.items[0].incarnation);

  // An assignment over NATS, for a worker the node does not have, is refused.
  n.wire({ type: "task.assign", epoch: 1, leader: "L", tasks: [task("t2", "ok", 102, 7)] });
  const refused = await n.next("node.reports", (m) => m.reports.some((r) => r.id === "t2"));
  assert.equal(refused.reports[0].kind, "refused");
  assert.match(
    (refused.reports[0] as Extract<Report, { kind: "refused" }>).reason,
    /no worker n1\/w7/,
  );
});

Deno.test("node - progress goes out on tasks.progress.<id>", async () => {
  await using n = await startNode();
  const progress = new Recorder<Record<string, unknown>>("progress");
  n.transport.subscribe(
    n.subj.progress("t1"),
    (m) => progress.push(JSON.parse(decoder.decode(m.data))),
  );
  n.assign(1, task("t1", "ok", 1));
  const p = await progress.wait(() => true, "a progress event");
  assert.deepEqual(p, { id: "t1", progress: 1, attempt: 1, worker: `${NODE}/w0` });
});

/**
 * Run task t1 as dispatch `dispatch` until its outcome reaches the leader once; returns how many
 * times the leader has been sent that outcome so far.
 */
async function doneOnce(n: Awaited<ReturnType<typeof startNode>>, dispatch: number) {
  n.assign(1, task("t1", "ok", dispatch));
  await n.next("node.reports", (m) => m.reports.some((r) => r.kind === "done"));
  const sent = () =>
    n.leader.items.filter((m) =>
      reportsOf(m).some((r) => r.kind === "done" && r.dispatch === dispatch)
    ).length;
  assert.equal(sent(), 1);
  return sent;
}

Deno.test("node - done reports stay in the outbox and are resent on each heartbeat a whole beat after they were sent, until report.ack", async () => {
  await using n = await startNode();
  const sent = await doneOnce(n, 5);
  // Sent since the last beat: its ack may still be on the way (the stale resends under bursts).
  await n.beat();
  assert.equal(sent(), 1, "not resent at the first beat after it was sent");
  await n.beat();
  assert.equal(sent(), 2, "resent a whole beat later");
  await n.beat();
  assert.equal(sent(), 3, "and on the next");

  // An ack from an older epoch does not count.
  n.node.send({ type: "report.ack", epoch: 0, dispatches: [5] });
  await n.beat();
  assert.equal(sent(), 4);

  n.node.send({ type: "report.ack", epoch: 1, dispatches: [5] });
  await n.beat();
  await n.beat();
  assert.equal(sent(), 4, "not resent after the ack");
});

Deno.test("node - while draining, an unacknowledged outcome is resent at every beat, the first one too", async () => {
  await using n = await startNode();
  const sent = await doneOnce(n, 7);
  const drained = n.node.ask<{ handedBack: string[] }>(
    (replyTo) => ({ type: "drain", graceMs: GRACE_MS, replyTo }),
    60_000,
  );
  await n.deltas.wait((d) => d.state === "draining", "a draining delta");
  await n.beat();
  assert.equal(sent(), 2, "resent at the first beat: the node is about to leave");
  n.node.send({ type: "report.ack", epoch: 1, dispatches: [7] });
  await n.beat();
  assert.equal(sent(), 2, "not after the ack");
  assert.deepEqual((await drained).handedBack, []);
});

Deno.test("node - after node.sync from a higher epoch it says hello with its running tasks and resends unacked outcomes", async () => {
  await using n = await startNode();
  n.assign(1, task("t1", "ok", 11), task("t2", "hold", 12, 1));
  await n.next("node.reports", (m) => m.reports.some((r) => r.kind === "done" && r.id === "t1"));
  await n.running.wait((id) => id === "t2", "t2 to run");
  await settle();

  const from = n.leader.items.length;
  // A new leader broadcasts its sync to every node over NATS.
  n.wire({ type: "node.sync", epoch: 2, leader: "L2" }, n.subj.nodes);
  const hello = await n.next("node.hello", () => true, from);
  assert.equal(hello.running.length, 1);
  const run = hello.running[0];
  assert.equal(run.id, "t2");
  assert.equal(run.dispatch, 12);
  assert.equal(run.worker, `${NODE}/w1`);
  assert.equal(run.attempt, 1);
  assert.equal(typeof run.startedAt, "number");
  const resent = await n.next("node.reports", () => true, from);
  assert.equal(resent.epoch, 2);
  assert.deepEqual(resent.reports.map((r) => [r.kind, r.id]), [["done", "t1"]]);
  assert.ok(n.leader.items.indexOf(hello) < n.leader.items.indexOf(resent), "hello first");

  // The old leader's assignments are ignored now; the new leader's run.
  const before = n.leader.items.length;
  n.assign(1, task("stale", "ok", 13));
  n.assign(2, task("t3", "ok", 21));
  await n.next("node.reports", (m) => m.reports.some((r) => r.kind === "done" && r.id === "t3"));
  await settle();
  const after = n.leader.items.slice(before).flatMap(reportsOf);
  assert.ok(!after.some((r) => r.id === "stale"), JSON.stringify(after));
  // A sync from an older epoch is ignored too.
  const count = n.leader.items.length;
  n.wire({ type: "node.sync", epoch: 1, leader: "L" }, n.subj.nodes);
  await settle();
  assert.equal(n.leader.items.length, count);
});

Deno.test("node - node.fenced with its incarnation aborts running work and rejoins with a higher incarnation", async () => {
  await using n = await startNode();
  const old = (await n.next("node.hello")).incarnation;
  n.assign(1, task("t1", "hold", 1), task("t2", "hold", 2, 1));
  await n.running.wait((id) => id === "t2", "both tasks to run");
  await n.running.wait((id) => id === "t1", "both tasks to run");
  await settle();

  // A fence for another incarnation is not for this node.
  const count = n.leader.items.length;
  n.wire({ type: "node.fenced", epoch: 1, incarnation: old - 1, reason: "old news" });
  await settle();
  assert.equal(n.leader.items.length, count);
  assert.equal(n.signals.get("t1")!.aborted, false);

  const deltasBefore = n.deltas.items.length;
  n.wire({ type: "node.fenced", epoch: 1, incarnation: old, reason: "declared lost" });
  const hello = await n.next("node.hello", (m) => m.incarnation !== old);
  assert.ok(hello.incarnation > old, `${hello.incarnation} > ${old}`);
  assert.deepEqual(hello.running, []);
  for (const id of ["t1", "t2"]) {
    const signal = n.signals.get(id)!;
    assert.equal(signal.aborted, true);
    assert.equal((signal.reason as { kind: string }).kind, "fenced");
  }
  // The status starts over under the new incarnation: a full delta with seq 1.
  const delta = await n.deltas.wait(
    (d) => d.incarnation === hello.incarnation,
    "a new delta",
    deltasBefore,
  );
  assert.equal(delta.seq, 1);
  for (const k of STATUS_FIELDS) assert.ok(k in delta, `delta lacks ${k}`);
  // Nothing of the old incarnation is resent as an outcome (an outcome goes again a whole beat
  // after it was sent: two beats).
  await settle();
  await n.beat();
  await n.beat();
  const afterFence = n.leader.items.slice(n.leader.items.indexOf(hello)).flatMap(reportsOf);
  assert.ok(!afterFence.some((r) => r.kind === "done"), JSON.stringify(afterFence));
});

Deno.test("node - drain: running tasks that finish within the grace are reported, then node.leaving, then the ask resolves", async () => {
  await using n = await startNode({ autoAck: true });
  n.assign(1, task("t1", "hold", 1));
  await n.running.wait((id) => id === "t1", "t1 to run");
  await settle();
  const drained = n.node.ask<{ handedBack: string[] }>(
    (replyTo) => ({ type: "drain", graceMs: GRACE_MS, replyTo }),
    60_000,
  );
  const hello = await n.next("node.hello", (m) => m.draining);
  assert.deepEqual(hello.running.map((r) => r.id), ["t1"]);
  await n.deltas.wait((d) => d.state === "draining", "a draining delta");

  // While draining, new work is refused.
  n.assign(1, task("t2", "ok", 2));
  const refused = await n.next("node.reports", (m) => m.reports.some((r) => r.id === "t2"));
  assert.match((refused.reports[0] as { reason: string }).reason, /shutting down/);

  n.gates.open("t1");
  assert.deepEqual(await drained, { handedBack: [] });
  const done = n.reports().find((r) => r.id === "t1" && r.kind === "done") as Extract<
    Report,
    { kind: "done" }
  >;
  assert.equal(done.outcome, "succeeded");
  const leaving = await n.next("node.leaving") as Leaving;
  assert.deepEqual(leaving.handedBack, []);
  assert.equal(leaving.incarnation, hello.incarnation);
  assert.ok(
    n.leader.items.findIndex((m) => reportsOf(m).includes(done)) <
      n.leader.items.indexOf(leaving),
    "the outcome before leaving",
  );
  await n.deltas.wait((d) => d.state === "leaving", "a leaving delta");
  // Gone: no more heartbeats.
  const count = n.deltas.items.length;
  n.h.clock.advance(HEARTBEAT_MS * 3);
  await settle();
  assert.equal(n.deltas.items.length, count);
  // Its own late status can make a leader ask it to introduce itself: a node that has left
  // says nothing (a hello would bring it work back), and work sent to it anyway is refused.
  const said = n.leader.items.length;
  n.wire({ type: "node.sync", epoch: 1, leader: "L" }, n.subj.nodes);
  n.wire({ type: "node.sync", epoch: 2, leader: "L2" }, n.subj.nodes);
  await settle();
  assert.equal(n.leader.items.length, said, "no hello after leaving");
  n.assign(2, task("t9", "ok", 9));
  const late = await n.next("node.reports", (m) => m.reports.some((r) => r.id === "t9"), said);
  assert.equal(late.reports[0].kind, "refused");
});

Deno.test("node - drain: a task still running at the end of the grace is aborted, handed back and listed", async () => {
  await using n = await startNode({ autoAck: true });
  n.assign(1, task("t1", "hold", 1), task("t2", "ok", 2, 1));
  await n.running.wait((id) => id === "t1", "t1 to run");
  await n.next("node.reports", (m) => m.reports.some((r) => r.id === "t2" && r.kind === "done"));
  await settle();
  const drained = n.node.ask<{ handedBack: string[] }>(
    (replyTo) => ({ type: "drain", graceMs: GRACE_MS, replyTo }),
    60_000,
  );
  await n.next("node.hello", (m) => m.draining);
  n.h.clock.advance(GRACE_MS - 1);
  await settle();
  assert.equal(n.signals.get("t1")!.aborted, false, "still within the grace");
  n.h.clock.advance(1);
  assert.deepEqual(await drained, { handedBack: ["t1"] });
  assert.equal((n.signals.get("t1")!.reason as { kind: string }).kind, "shutdown");
  const back = n.reports().filter((r) => r.id === "t1").map((r) => r.kind);
  assert.deepEqual(back, ["started", "refused"]);
  const leaving = await n.next("node.leaving");
  assert.deepEqual(leaving.handedBack, ["t1"]);
});

Deno.test("node - drain: without acks from the leader it still leaves, 2 s after the grace", async () => {
  await using n = await startNode();
  n.assign(1, task("t1", "ok", 1));
  await n.next("node.reports", (m) => m.reports.some((r) => r.kind === "done"));
  let answer: { handedBack: string[] } | null = null;
  const drained = n.node.ask<{ handedBack: string[] }>(
    (replyTo) => ({ type: "drain", graceMs: GRACE_MS, replyTo }),
    60_000,
  ).then((a) => answer = a);
  await n.next("node.hello", (m) => m.draining);
  n.h.clock.advance(GRACE_MS + 1_900);
  await settle();
  assert.equal(answer, null, "waits for the ack of its last outcome");
  assert.ok(!n.leader.items.some((m) => m.type === "node.leaving"));
  n.h.clock.advance(100);
  assert.deepEqual(await drained, { handedBack: [] });
  await n.next("node.leaving");
});

Deno.test("node - answers a snapshot request on monitor.snapshot.worker.<node> with the full status", async () => {
  await using n = await startNode();
  n.assign(1, task("t1", "hold", 1));
  await n.running.wait((id) => id === "t1", "t1 to run");
  await settle();
  await n.beat();
  const reply = await n.transport.request(
    `${n.subj.monitorSnapshot}.worker.${NODE}`,
    new Uint8Array(),
    { timeoutMs: 5_000 },
  );
  const snap = JSON.parse(decoder.decode(reply.data)) as NodeStatus & { seq: number };
  for (const k of STATUS_FIELDS) assert.ok(k in snap, `snapshot lacks ${k}`);
  assert.equal(snap.node, NODE);
  assert.equal(snap.state, "up");
  assert.equal(snap.tasksProcessing, 1);
  assert.deepEqual(snap.capabilities, ["cpu", "disk"]);
  assert.equal(snap.seq, n.deltas.items.at(-1)!.seq);
  assert.equal(snap.incarnation, n.deltas.items[0].incarnation);
});

Deno.test("node - without a local leader, hello and batched reports go to the leader over NATS", async () => {
  await using n = await startNode({ localLeader: false });
  const hello = await n.next("node.hello") as Hello;
  assert.deepEqual(hello.workers, n.infos);
  n.assign(1, task("t1", "ok", 1), task("t2", "ok", 2, 1));
  await n.next("node.reports", () => n.reports().filter((r) => r.kind === "done").length === 2);
  const kinds = n.reports().map((r) => `${r.kind} ${r.id}`);
  assert.deepEqual(kinds.filter((k) => k.startsWith("started")).sort(), [
    "started t1",
    "started t2",
  ]);
  assert.ok(kinds.indexOf("started t1") < kinds.indexOf("done t1"));
  // The four reports of one turn travel in fewer messages than reports.
  const batches = n.leader.items.filter((m) => m.type === "node.reports").length;
  assert.ok(batches < 4, `${batches} batches for 4 reports`);
  assert.deepEqual(n.unsealed, [], "every message to the leader is sealed by the node");
});

Deno.test("node - acts on no message that is unsealed, forged, altered, redirected or replayed, and counts each", async () => {
  await using n = await startNode();
  const subject = n.subj.node(NODE);
  const forgedAssign = (id: string, epoch: number) => ({
    type: "task.assign",
    epoch,
    leader: "L",
    tasks: [task(id, "ok", 900 + Number(id.slice(1)))],
  });
  // Unsealed, with an epoch that would cut the node off from its real leader.
  n.wireRaw(forgedAssign("x1", 1e9), subject);
  // Sealed with another secret.
  const stranger = new Sealer("a-different-secret-that-is-32-chars-long", "leader");
  const body2 = encoder.encode(JSON.stringify(forgedAssign("x2", 1e9)));
  n.wireRaw(forgedAssign("x2", 1e9), subject, stranger.seal(subject, body2));
  // Altered: a real seal over another body.
  const real = encoder.encode(JSON.stringify(forgedAssign("x3", 1)));
  n.wireRaw(forgedAssign("x4", 1e9), subject, leaderSealer.seal(subject, real));
  // Redirected: sealed for another node's subject.
  const other = n.subj.node("n2");
  const body5 = encoder.encode(JSON.stringify(forgedAssign("x5", 1)));
  n.wireRaw(forgedAssign("x5", 1), subject, leaderSealer.seal(other, body5));
  // Garbage in the header.
  n.wireRaw(forgedAssign("x6", 1), subject, { [SEAL_HEADER]: "v1.leader.x.1.2.abc" });
  // A real, sealed assignment runs; the same bytes sent again (a replay) do not.
  const body7 = encoder.encode(JSON.stringify(forgedAssign("x7", 1)));
  const seal7 = leaderSealer.seal(subject, body7);
  n.wireRaw(forgedAssign("x7", 1), subject, seal7);
  await n.next("node.reports", (m) => m.reports.some((r) => r.id === "x7" && r.kind === "done"));
  n.wireRaw(forgedAssign("x7", 1), subject, seal7);
  const delta = await n.beat();
  assert.equal(delta.rejectedMessages, 6);
  // Only x7 ran, once; the epoch of 10^9 was never taken: epoch 1 assignments still run.
  const started = n.reports().filter((r) => r.kind === "started").map((r) => r.id);
  assert.deepEqual(started, ["x7"]);
  n.wire({ type: "task.assign", epoch: 1, leader: "L", tasks: [task("t9", "ok", 999)] });
  await n.next("node.reports", (m) => m.reports.some((r) => r.id === "t9" && r.kind === "done"));
});

Deno.test("node - a cancelled task does not count as a failure of the node or lower its health", async () => {
  await using n = await startNode();
  n.assign(1, task("c1", "hold", 31));
  await n.running.wait((id) => id === "c1", "c1 running");
  n.node.send({
    type: "task.cancel",
    epoch: 1,
    id: "c1",
    dispatch: 31,
    reason: "cancelled by alice",
  });
  const done = await n.next("node.reports", (m) => m.reports.some((r) => r.kind === "done"));
  const outcome = done.reports.find((r) => r.kind === "done") as Extract<Report, { kind: "done" }>;
  assert.equal(outcome.outcome, "cancelled");
  const delta = await n.beat();
  const all = Object.assign({}, ...n.deltas.items, delta) as StatusDelta;
  assert.equal(all.tasksFailed, 0);
  assert.equal(all.recentFailures, 0);
  // Health also falls with the machine's load (shared with other tests): compare with what
  // this load alone gives. One failure in one attempt would take 40 off.
  const unmarked = healthScore({
    cpuLoad: all.cpuLoad ?? 0,
    utilisation: 0,
    recentFailures: 0,
    recentTasks: 0,
    heartbeatAgeMs: 0,
    heartbeatMs: 1,
  });
  assert.ok((all.health ?? 0) > unmarked - 40, `health ${all.health}, ${unmarked} unmarked`);
});
