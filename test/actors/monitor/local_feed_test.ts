/**
 * Task deltas from the scheduler in the same process (actors/monitor/local_feed.ts):
 * while it leads, the monitor folds them in process and not again from
 * `monitor.task.*`; before and after, it follows `monitor.task.*` over NATS.
 * Each transition is folded once: a task's finish is counted once.
 */

import assert from "node:assert/strict";
import { LocalTaskFeed } from "../../../actors/monitor/local_feed.ts";
import { monitorBehavior, MonitorHub } from "../../../actors/monitor/monitor.ts";
import { coalesce } from "../../../actors/scheduler/task_deltas.ts";
import { MemoryBroker, type MemoryTransport, subjects } from "../../../src/internal_mod.ts";
import { Harness } from "../../runtime/_harness.ts";

const subj = subjects("");
const encoder = new TextEncoder();

/** An echo task's four transitions in one message, as the leader coalesces them. */
function ran(id: string): Record<string, unknown> {
  return coalesce([
    { id, seq: 1, state: "queued", type: "echo", attempt: 0 },
    { id, seq: 2, state: "dispatched", worker: "n/w0", attempt: 1 },
    { id, seq: 3, state: "running", worker: "n/w0", attempt: 1, waitMs: 1 },
    { id, seq: 4, state: "succeeded", runMs: 1 },
  ]);
}

/** A monitor on the memory transport with a feed from "this process's scheduler". */
async function world(o: { leadingAtStart?: boolean; mailbox?: number } = {}) {
  const broker = new MemoryBroker();
  const t: MemoryTransport = broker.connect();
  const feed = new LocalTaskFeed();
  if (o.leadingAtStart) feed.setLeading(true);
  const hub = new MonitorHub();
  const h = new Harness();
  await h.start({
    kind: "supervisor",
    id: "root",
    children: [{
      kind: "actor",
      id: "monitor",
      // As in a node: under a flood the oldest messages go.
      mailbox: { capacity: o.mailbox ?? 100_000, overflow: "drop-oldest" },
      behavior: monitorBehavior({ node: "n", transport: t, subjects: subj, hub, localTasks: feed }),
    }],
  });
  return {
    t,
    feed,
    hub,
    clock: h.clock,
    /** Published on monitor.task.<id>, as the leader always also does. */
    publish: (id: string, body: Record<string, unknown>) =>
      t.publish(subj.monitorTask(id), encoder.encode(JSON.stringify(body))),
    /** The monitor answers in mailbox order: once it does, everything sent before is folded. */
    settled: () => t.request(subj.monitorSnapshot, encoder.encode("{}"), { timeoutMs: 2_000 }),
    succeeded: () => hub.fold.finished.get(["echo", "succeeded"]),
    stop: () => h.system.stop(),
  };
}

Deno.test("local feed - while the scheduler here leads, its deltas are folded once, in process, and monitor.task.* is not read", async () => {
  const w = await world();
  try {
    w.publish("before", ran("before")); // another process's leader: over NATS
    await w.settled();
    assert.equal(w.succeeded(), 1);

    w.feed.setLeading(true);
    // The leader publishes every window and hands the same window over.
    w.publish("a", ran("a"));
    w.publish("b", ran("b"));
    w.feed.deliver([["a", ran("a")], ["b", ran("b")]]);
    await w.settled();
    assert.equal(w.hub.fold.tasks.get("a")?.state, "succeeded");
    assert.equal(w.succeeded(), 3, "each finish counted once");

    w.publish("stale", ran("stale")); // a deposed leader elsewhere, while this one leads
    await w.settled();
    assert.equal(w.hub.fold.tasks.has("stale"), false);

    // Its last window, then it stops leading: the monitor follows NATS again.
    w.publish("last", ran("last"));
    w.feed.deliver([["last", ran("last")]]);
    w.feed.setLeading(false);
    await w.settled();
    w.publish("after", ran("after"));
    w.feed.deliver([["ignored", ran("ignored")]]); // not leading: nothing is handed over
    await w.settled();
    assert.equal(w.hub.fold.tasks.get("after")?.state, "succeeded");
    assert.equal(w.hub.fold.tasks.has("ignored"), false);
    assert.equal(w.succeeded(), 5, "before, a, b, last, after: once each");
  } finally {
    await w.stop();
  }
});

Deno.test("local feed - deltas the NATS subscription queued before leading began are dropped, not folded twice", async () => {
  const w = await world();
  try {
    // Heard over NATS, but queued behind the leader's word that it now leads.
    w.publish("x", ran("x"));
    w.feed.setLeading(true);
    w.feed.deliver([["x", ran("x")]]);
    await w.settled();
    assert.equal(w.hub.fold.tasks.get("x")?.state, "succeeded");
    assert.equal(w.succeeded(), 1);
  } finally {
    await w.stop();
  }
});

Deno.test("local feed - a monitor started while the scheduler here leads does not follow monitor.task.*", async () => {
  const w = await world({ leadingAtStart: true });
  try {
    w.publish("y", ran("y"));
    w.feed.deliver([["y", ran("y")]]);
    await w.settled();
    assert.equal(w.succeeded(), 1);
  } finally {
    await w.stop();
  }
});

Deno.test("local feed - the leader's word dropped by a flooded mailbox: within a second the monitor follows monitor.task.* again", async () => {
  const w = await world({ mailbox: 4 });
  try {
    w.feed.setLeading(true);
    await w.settled();
    // A flood of node deltas (delivered on the next microtasks, before the monitor runs) pushes
    // out the leader's last window and its word that it stopped leading.
    for (let i = 0; i < 8; i++) {
      w.t.publish(subj.monitorWorker(`n${i}`), encoder.encode(JSON.stringify({ seq: 1 })));
    }
    w.feed.deliver([["l1", ran("l1")]]);
    w.feed.setLeading(false);
    await w.settled();
    w.clock.advance(1_000); // the next tick checks the feed
    await w.settled();
    w.publish("remote", ran("remote")); // the next leader, elsewhere
    await w.settled();
    assert.equal(w.hub.fold.tasks.get("remote")?.state, "succeeded");
  } finally {
    await w.stop();
  }
});

Deno.test("local feed - a term that starts and ends before the monitor runs: its deltas are folded once", async () => {
  const w = await world();
  try {
    w.feed.setLeading(true);
    w.publish("brief", ran("brief")); // its echo reaches the still open subscription
    w.feed.deliver([["brief", ran("brief")]]);
    w.feed.setLeading(false);
    await w.settled();
    assert.equal(w.hub.fold.tasks.get("brief")?.state, "succeeded");
    assert.equal(w.succeeded(), 1);
  } finally {
    await w.stop();
  }
});
