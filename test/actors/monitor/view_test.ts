/**
 * The monitor's fold: what each message kind does to the view, the alerts it
 * raises (once per key), node snapshots asked on gaps, and bounded memory
 * whatever arrives (fast-check).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { type Alert, MonitorFold } from "../../../actors/monitor/view.ts";
import { LabelledCounter, Reservoir, Series } from "../../../actors/monitor/stats.ts";
import { coalesce } from "../../../actors/scheduler/task_deltas.ts";

function fold(o: { recentTasks?: number; events?: number } = {}) {
  let now = 1_800_000_000_000;
  const alerts: Alert[] = [];
  const asked: string[] = [];
  const f = new MonitorFold({
    now: () => now,
    onAlert: (a) => alerts.push(a),
    wantNodeSnapshot: (id) => asked.push(id),
    ...o,
  });
  return { f, alerts, asked, advance: (ms: number) => (now += ms), now: () => now };
}

const beat = (seq: number, extra: Record<string, unknown> = {}) => ({
  node: "n1",
  incarnation: 100,
  state: "up",
  seq,
  heartbeatAt: 1,
  ...extra,
});

Deno.test("fold - a node met mid-incarnation or with a gap asks its snapshot once, and the snapshot completes it", () => {
  const { f, asked } = fold();
  f.apply("worker", "n1", beat(5, { cpuLoad: 10 }));
  assert.deepEqual(asked, ["n1"]);
  assert.equal(f.nodes.get("n1")!.complete, false);
  f.apply("worker", "n1", beat(6));
  assert.deepEqual(asked, ["n1"], "asked once while the answer is pending");
  f.applyNodeSnapshot("n1", { ...beat(5), cpuLoad: 10, concurrency: 8, health: 90 });
  const n = f.nodes.get("n1")!;
  assert.equal(n.complete, true);
  assert.equal(n.status.concurrency, 8);
  assert.equal(n.status.seq, 6, "the newer delta's seq is kept over the older snapshot's");
  f.apply("worker", "n1", beat(9, { cpuLoad: 20 }));
  assert.equal(f.gaps, 1);
  assert.deepEqual(asked, ["n1", "n1"]);
  // An older incarnation's late message is ignored; a newer one replaces the node.
  f.apply("worker", "n1", { ...beat(1), incarnation: 50 });
  assert.equal(f.nodes.get("n1")!.status.incarnation, 100);
  f.apply("worker", "n1", { ...beat(1, { concurrency: 4 }), incarnation: 200 });
  assert.equal(f.nodes.get("n1")!.status.concurrency, 4);
  assert.equal(f.nodes.get("n1")!.complete, true);
});

Deno.test("fold - a lost node raises one alert per incarnation and is forgotten after a while", () => {
  const { f, alerts, advance } = fold();
  f.apply("worker", "n1", beat(1));
  f.apply("worker", "n1", { node: "n1", incarnation: 100, state: "lost", seq: 0 });
  f.apply("worker", "n1", { node: "n1", incarnation: 100, state: "lost", seq: 0 });
  assert.equal(f.nodes.get("n1")!.status.state, "lost");
  assert.deepEqual(alerts.map((a) => [a.kind, a.key, a.severity]), [
    ["node-lost", "node-lost:n1:100", "critical"],
  ]);
  // A lost message of another incarnation does not touch this one.
  f.apply("worker", "n2", { ...beat(1), node: "n2" });
  f.apply("worker", "n2", { node: "n2", incarnation: 7, state: "lost", seq: 0 });
  assert.equal(f.nodes.get("n2")!.status.state, "up");
  advance(600_001);
  f.tick();
  assert.equal(f.nodes.has("n1"), false);
  assert.equal(f.nodes.has("n2"), true, "a node that is up stays");
});

Deno.test("fold - leader changes: the first leader is no change; a later one alerts and resets storage", () => {
  const { f, alerts } = fold();
  f.apply("scheduler", "s1", { id: "s1", seq: 1, role: "follower", node: "n1" });
  f.apply("scheduler", "s1", { seq: 2, role: "leader", epoch: 3, previous: null });
  f.apply("scheduler", "s1", {
    seq: 3,
    held: 5,
    queued: 3,
    queuedByPriority: [0, 0, 0, 0, 0, 3, 0, 0, 0, 0],
  });
  f.apply("scheduler", "s1", { seq: 4, storage: "full", stream: "TASKS", full: ["TASKS"] });
  assert.equal(f.leader, "s1");
  assert.equal(f.counts.queued, 3);
  assert.equal(f.queuedByPriority[5], 3);
  assert.deepEqual(f.storageFull, ["TASKS"]);
  assert.equal(alerts.length, 0);
  // A follower's counts are not the leader's.
  f.apply("scheduler", "s2", { id: "s2", seq: 1, role: "follower", held: 99 });
  assert.equal(f.counts.held, 5);
  f.apply("scheduler", "s2", { seq: 2, role: "leader", epoch: 4, previous: "s1" });
  assert.equal(f.leader, "s2");
  assert.equal(f.leaderChanges, 1);
  assert.deepEqual(f.storageFull, []);
  assert.deepEqual(alerts.map((a) => a.key), ["leader-change:4"]);
  // The deposed leader's late message of an older epoch does not take the lead back.
  f.apply("scheduler", "s1", { seq: 5, role: "leader", epoch: 3 });
  assert.equal(f.leader, "s2");
  // A scheduler's gap is counted.
  f.apply("scheduler", "s2", { seq: 9, held: 1 });
  assert.equal(f.gaps, 1);
});

Deno.test("fold - task deltas: submitted and finished counts by type, wait and run, one alert for a failure", () => {
  const { f, alerts } = fold();
  f.apply("task", "t1", {
    id: "t1",
    seq: 1,
    state: "queued",
    type: "echo",
    priority: 5,
    attempt: 0,
  });
  f.apply("task", "t1", { seq: 2, state: "dispatched", worker: "n1/w0", attempt: 1 });
  f.apply("task", "t1", { seq: 3, state: "running", attempt: 1, type: "echo", waitMs: 40 });
  f.apply("progress", "t1", { id: "t1", progress: 0.5, message: "half" });
  assert.equal(f.tasks.get("t1")!.progress, 0.5);
  f.apply("task", "t1", { seq: 4, state: "succeeded", attempts: 1, type: "echo", runMs: 7 });
  f.apply("task", "t2", { id: "t2", seq: 1, state: "queued", type: "x", priority: 1, attempt: 0 });
  f.apply("task", "t2", {
    seq: 2,
    state: "failed",
    attempts: 3,
    type: "x",
    error: { message: "no" },
  });
  f.apply("task", "t2", { seq: 2, state: "failed", attempts: 3, type: "x" }); // heard again
  f.apply("task", "r1", {
    id: "r1",
    seq: 1,
    state: "rejected",
    error: { code: "INVALID_ARGUMENT" },
  });
  assert.equal(f.submitted.get(["echo"]), 1);
  assert.equal(f.submitted.get(["x"]), 1);
  assert.equal(f.finished.get(["echo", "succeeded"]), 1);
  assert.equal(f.finished.get(["x", "failed"]), 1);
  assert.equal(f.finished.get(["unknown", "rejected"]), 1);
  assert.deepEqual(f.waitRecent.percentiles()?.p50, 40);
  assert.deepEqual(f.runRecent.percentiles()?.p50, 7);
  assert.deepEqual(alerts.map((a) => a.key), ["task-failed:t2"]);
  // Progress for a task the ring does not hold makes no entry.
  f.apply("progress", "zz", { id: "zz", progress: 0.1 });
  assert.equal(f.tasks.has("zz"), false);
  // A new leader re-announces a held task from seq 1: not counted as submitted again when it ran.
  f.apply("task", "t3", { id: "t3", seq: 1, state: "queued", type: "echo", attempt: 1 });
  assert.equal(f.submitted.get(["echo"]), 1);
});

Deno.test("fold - schedule events count ticks by result and alert on missed and skipped ticks", () => {
  const { f, alerts } = fold();
  f.apply("schedule", "beat", { name: "beat", seq: 1, epoch: 1, event: "fired", id: "beat:1" });
  f.apply("schedule", "beat", {
    name: "beat",
    seq: 2,
    epoch: 1,
    event: "missed",
    count: 3,
    first: "a",
    last: "b",
    missed: 3,
  });
  f.apply("schedule", "beat", {
    name: "beat",
    seq: 3,
    epoch: 1,
    event: "skipped",
    id: "beat:2",
    reason: "overlap",
  });
  f.apply("schedule", "beat", { name: "beat", seq: 4, epoch: 1, event: "fire-failed", id: "x" });
  assert.equal(f.scheduleTicks.get(["beat", "fired"]), 1);
  assert.equal(f.scheduleTicks.get(["beat", "missed"]), 3);
  assert.equal(f.scheduleTicks.get(["beat", "skipped"]), 1);
  assert.equal(f.scheduleTicks.get(["beat", "failed"]), 1);
  assert.deepEqual(alerts.map((a) => a.kind), ["schedule-missed", "schedule-skipped"]);
});

Deno.test("fold - supervision events count restarts per child", () => {
  const { f } = fold();
  f.apply("supervisor", "n1", {
    node: "n1",
    seq: 1,
    type: "child.restarting",
    supervisor: "root",
    children: ["scheduler", "monitor"],
    delayMs: 10,
  });
  f.apply("supervisor", "n1", { node: "n1", seq: 2, type: "child.failed", child: "scheduler" });
  assert.equal(f.actorRestarts.get(["scheduler"]), 1);
  assert.equal(f.actorRestarts.get(["monitor"]), 1);
  assert.equal(f.supervision.length, 2);
});

Deno.test("fold - property: whatever arrives, the fold never throws and its memory stays bounded", () => {
  const anyValue = fc.oneof(
    fc.string({ maxLength: 6 }),
    fc.integer({ min: -3, max: 50 }),
    fc.constant(null),
    fc.boolean(),
    fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 12 }),
  );
  const msg = fc.record({
    kind: fc.constantFrom("worker", "scheduler", "task", "schedule", "supervisor", "progress"),
    id: fc.string({ minLength: 1, maxLength: 4 }),
    d: fc.dictionary(
      fc.constantFrom(
        "seq",
        "state",
        "type",
        "incarnation",
        "role",
        "epoch",
        "event",
        "children",
        "waitMs",
        "runMs",
        "attempt",
        "queuedByPriority",
        "full",
        "count",
      ),
      anyValue,
    ),
    ms: fc.integer({ min: 0, max: 120_000 }),
  });
  fc.assert(
    fc.property(fc.array(msg, { maxLength: 400 }), (msgs) => {
      const { f, advance } = fold({ recentTasks: 20, events: 10 });
      for (const m of msgs) {
        advance(m.ms);
        f.apply(m.kind as never, m.id, m.d);
        f.tick();
      }
      assert.ok(f.tasks.size <= 20);
      assert.ok(f.supervision.length <= 10 && f.scheduleEvents.length <= 10);
      assert.ok(f.schedulerEvents.length <= 10 && f.recentAlerts.length <= 10);
      assert.equal(f.queuedByPriority.length <= 10, true);
      f.takeDirty();
      f.protocolSnapshot();
    }),
    { numRuns: 200 },
  );
});

Deno.test("stats - a counter past its cap keeps the second label; series roll over; reservoir percentiles", () => {
  const c = new LabelledCounter(["type", "state"], 2);
  c.inc(["a", "ok"]);
  c.inc(["b", "ok"]);
  c.inc(["c", "failed"]);
  c.inc(["d", "failed"]);
  assert.equal(c.get(["other", "failed"]), 2);
  assert.equal(c.sumWhere(1, "failed"), 2);

  const s = new Series(5, ["n"]);
  s.add(10_000, "n");
  s.add(10_500, "n");
  s.add(12_000, "n", 3);
  assert.deepEqual(s.last(12_000, 3).values.n, [2, 0, 3]);
  assert.equal(s.rate(13_000, "n", 2), 1.5);
  assert.deepEqual(s.last(30_000, 5).values.n, [0, 0, 0, 0, 0], "old seconds roll out");
  s.add(1_000, "n"); // older than the window: dropped
  assert.deepEqual(s.last(30_000, 1).values.n, [0]);

  const r = new Reservoir(4);
  for (const v of [5, 1, 9, 3, 7, 2]) r.add(v);
  assert.deepEqual(r.percentiles(), { p50: 3, p90: 9, p99: 9, max: 9, samples: 4 });
});

Deno.test("fold - seeded from monitor.snapshot: the highest epoch leads without an alert, lost nodes kept, error replies ignored", () => {
  const { f, alerts, asked } = fold();
  f.applySnapshot({
    nodes: {
      n1: { ...beat(7), concurrency: 8 },
      n2: { node: "n2", incarnation: 5, state: "lost", seq: 0 },
      junk: { code: "NOT_FOUND" },
    },
    schedulers: {
      old: { id: "old", seq: 9, role: "leader", epoch: 2 },
      cur: { id: "cur", seq: 3, role: "leader", epoch: 5 },
    },
    tasks: { held: 4, bogus: 1 },
  });
  assert.equal(f.leader, "cur");
  assert.equal(f.epoch, 5);
  assert.equal(alerts.length, 0);
  assert.equal(f.nodes.get("n2")!.status.state, "lost");
  assert.equal(f.nodes.get("n1")!.complete, true);
  assert.equal(f.nodes.has("junk"), false);
  assert.deepEqual(f.counts, { held: 4 });
  // The next delta of n1 follows on without asking anything.
  f.apply("worker", "n1", beat(8));
  assert.deepEqual(asked, []);
  // An error reply to a node's snapshot is no status.
  f.apply("worker", "n3", { ...beat(4), node: "n3" });
  f.applyNodeSnapshot("n3", { code: "NOT_FOUND", message: "no such node" });
  assert.equal(f.nodes.get("n3")!.complete, false);
  // A later leader of a higher epoch is a change.
  f.apply("scheduler", "next", { id: "next", seq: 1, role: "leader", epoch: 6 });
  assert.deepEqual(alerts.map((a) => a.key), ["leader-change:6"]);
});

Deno.test("fold - a redelivered announcement is not counted again; a retried task's failure has its own key; a leader's periodic counts name it", () => {
  const { f, alerts } = fold();
  f.apply("task", "a", { id: "a", seq: 1, state: "queued", type: "echo", attempt: 0 });
  f.apply("task", "b", {
    id: "b",
    seq: 1,
    state: "queued",
    type: "echo",
    attempt: 0,
    redelivered: true,
  });
  assert.equal(f.submitted.get(["echo"]), 1);
  f.apply("task", "c", { id: "c", seq: 1, state: "failed", type: "x", attempts: 1 });
  // Retried by an admin: queued again, fails again.
  f.apply("task", "c", { id: "c", seq: 1, state: "queued", type: "x", attempt: 0 });
  f.apply("task", "c", { id: "c", seq: 2, state: "failed", type: "x", attempts: 1, replaces: 7 });
  assert.deepEqual(alerts.map((a) => a.key), ["task-failed:c", "task-failed:c:7"]);
  // A monitor that starts after the election learns the leader from its periodic counts.
  f.apply("scheduler", "s9", { seq: 40, leading: true, epoch: 3, held: 2 });
  assert.equal(f.leader, "s9");
  assert.equal(f.counts.held, 2);
});

Deno.test("fold - schedulers silent for long are forgotten (not the leader); an unanswered node snapshot is asked again", () => {
  const { f, asked, advance } = fold();
  f.apply("scheduler", "lead", { id: "lead", seq: 1, role: "leader", epoch: 1 });
  f.apply("scheduler", "gone", { id: "gone", seq: 1, role: "follower" });
  f.apply("worker", "n1", beat(3));
  assert.deepEqual(asked, ["n1"]);
  advance(5_001);
  f.tick();
  assert.deepEqual(asked, ["n1", "n1"], "asked again after 5 s without an answer");
  advance(600_000);
  f.tick();
  assert.equal(f.schedulers.has("gone"), false);
  assert.equal(f.schedulers.has("lead"), true);
});

Deno.test("fold - a coalesced message folds as its steps would one message each (fast-check)", () => {
  const fields = fc.record({
    state: fc.option(
      fc.constantFrom("queued", "dispatched", "running", "succeeded", "failed", "retrying"),
      { nil: undefined },
    ),
    type: fc.option(fc.constantFrom("echo", "sleep"), { nil: undefined }),
    attempt: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
    worker: fc.option(fc.constantFrom("n/w1", "n/w2"), { nil: undefined }),
    runMs: fc.option(fc.integer({ min: 0, max: 50 }), { nil: undefined }),
    waitMs: fc.option(fc.integer({ min: 0, max: 50 }), { nil: undefined }),
    // Mostly the next seq; now and then a new leader's 1, a repeat, or a gap.
    next: fc.constantFrom("next", "next", "next", "next", "restart", "repeat", "skip"),
  }, { requiredKeys: ["next"] });
  // Windows: a task and the transitions it had in one window (as the leader gathers them).
  const windows = fc.array(
    fc.tuple(fc.constantFrom("a", "b", "c", "d"), fc.array(fields, { minLength: 1, maxLength: 4 })),
    { maxLength: 40 },
  );
  fc.assert(fc.property(windows, fc.integer({ min: 1, max: 5 }), (ws, cap) => {
    const one = fold({ recentTasks: cap });
    const each = fold({ recentTasks: cap });
    const seqs = new Map<string, number>();
    for (const [id, steps] of ws) {
      const list = steps.map(({ next, ...f }) => {
        const last = seqs.get(id) ?? 0;
        const seq = next === "restart"
          ? 1
          : next === "repeat"
          ? Math.max(1, last)
          : next === "skip"
          ? last + 2
          : last + 1;
        seqs.set(id, seq);
        return { id, seq, ...f };
      });
      // The message the leader sends for the window, and the same transitions one message each.
      one.f.apply("task", id, list.length === 1 ? list[0] : coalesce(list));
      for (const d of list) each.f.apply("task", id, d);
    }
    assert.deepEqual([...one.f.tasks], [...each.f.tasks], "the same records, in the same order");
    assert.equal(one.f.gaps, each.f.gaps);
    assert.deepEqual(one.f.submitted.entries(), each.f.submitted.entries());
    assert.deepEqual(one.f.finished.entries(), each.f.finished.entries());
    assert.deepEqual(one.alerts, each.alerts);
    assert.deepEqual(one.f.takeDirty(), each.f.takeDirty());
  }));
});
