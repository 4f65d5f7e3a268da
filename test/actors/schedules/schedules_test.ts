import assert from "node:assert/strict";
import { upsert } from "../../../actors/schedules/requests.ts";
import type { ScheduleState, StoredSchedule } from "../../../actors/schedules/store.ts";
import { decodeSchedule, encodeSchedule, ManualClock, tickId } from "../../../src/internal_mod.ts";
import { at, DAY, HOUR, MIN, type Reply, S, term, tokens, World } from "./_harness.ts";

/** A schedule as a user writes it, `echo` by default. */
function spec(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, task: { type: "echo" }, ...extra };
}

/** Put a schedule as an admin; fails the test unless it was accepted. */
async function put(w: World, body: Record<string, unknown>, admin: string): Promise<Reply> {
  const r = await w.request("put", body, admin);
  assert.equal(r.ok, true, JSON.stringify(r));
  return r;
}

/** Run `body` in a world started at `t0`, and stop the world whatever happens. */
async function withWorld(
  o: Parameters<typeof World.start>[0],
  body: (w: World) => Promise<void>,
): Promise<void> {
  const w = await World.start(o);
  try {
    await body(w);
    assert.deepEqual(w.failures, [], "the schedules actor failed");
  } finally {
    await w.stop();
  }
}

// ------------------------------------------------------------------ day-saving changes

/** Put a daily schedule at `from`, advance the clock hour by hour for two days, return the ids. */
async function twoDays(tz: string, daily: string, from: string): Promise<string[]> {
  let ids: string[] = [];
  await withWorld({ t0: at(from), autoFinish: true }, async (w) => {
    const tk = await tokens();
    await w.lead(term(1));
    await put(w, spec("nightly", { daily, tz }), tk.admin);
    for (let h = 0; h < 48; h++) await w.advance(HOUR);
    ids = await w.ids();
    // Each fired on time: the actor's own timer woke it at the fire time.
    assert.deepEqual(w.deltasOf("fired").map((d) => d.lateMs), ids.map(() => 0));
    assert.equal(w.deltasOf("missed").length, 0);
  });
  return ids;
}

Deno.test("schedules - a daily 02:30 in Europe/Berlin fires once on the spring-forward day, at 03:00", async () => {
  assert.deepEqual(await twoDays("Europe/Berlin", "02:30", "2026-03-28T12:00:00Z"), [
    "nightly:20260329T010000Z", // 03:00 CEST: 02:30 did not exist
    "nightly:20260330T003000Z", // 02:30 CEST
  ]);
});

Deno.test("schedules - a daily 02:30 in Europe/Berlin fires once on the fall-back day, the first 02:30", async () => {
  assert.deepEqual(await twoDays("Europe/Berlin", "02:30", "2026-10-24T12:00:00Z"), [
    "nightly:20261025T003000Z", // 02:30 CEST; the 02:30 CET an hour later does not fire
    "nightly:20261026T013000Z", // 02:30 CET
  ]);
});

Deno.test("schedules - a daily 02:30 in America/New_York fires once on the spring-forward day, at 03:00", async () => {
  assert.deepEqual(await twoDays("America/New_York", "02:30", "2026-03-07T12:00:00Z"), [
    "nightly:20260308T070000Z", // 03:00 EDT: 02:30 did not exist
    "nightly:20260309T063000Z", // 02:30 EDT
  ]);
});

Deno.test("schedules - a daily 01:30 in America/New_York fires once on the fall-back day, the first 01:30", async () => {
  assert.deepEqual(await twoDays("America/New_York", "01:30", "2026-10-31T12:00:00Z"), [
    "nightly:20261101T053000Z", // 01:30 EDT; the 01:30 EST an hour later does not fire
    "nightly:20261102T063000Z", // 01:30 EST
  ]);
});

Deno.test("schedules - a daily 02:30 in America/New_York is not repeated on the fall-back day", async () => {
  assert.deepEqual(await twoDays("America/New_York", "02:30", "2026-10-31T12:00:00Z"), [
    "nightly:20261101T073000Z", // 02:30 EST, after the repeated 01:00-02:00
    "nightly:20261102T073000Z",
  ]);
});

// ------------------------------------------------------------------ submissions

Deno.test("schedules - a tick is submitted on tasks.submit.<type> with its id as body id and Nats-Msg-Id, the template's fields and a Bearer token", async () => {
  await withWorld({ t0: at("2026-05-01T00:00:30Z") }, async (w) => {
    const tk = await tokens();
    await w.lead(term(1));
    await put(
      w,
      spec("report", {
        every: "1m",
        task: {
          type: "echo",
          payload: { n: 1 },
          priority: 7,
          timeoutMs: 30_000,
          maxAttempts: 2,
          requires: ["gpu"],
          deadline: "10m",
        },
      }),
      tk.admin,
    );
    assert.deepEqual(await w.submissions(), []);
    await w.advance(30 * S);

    const [sub, ...more] = await w.submissions();
    assert.deepEqual(more, []);
    assert.equal(sub.subject, "tasks.submit.echo");
    assert.equal(sub.msgId, "report:20260501T000100Z");
    assert.deepEqual(sub.body, {
      id: "report:20260501T000100Z",
      payload: { n: 1 },
      priority: 7,
      timeoutMs: 30_000,
      maxAttempts: 2,
      requires: ["gpu"],
      deadline: "2026-05-01T00:11:00.000Z", // nominal + 10m
    });
    assert.match(sub.authorization ?? "", /^Bearer \S+$/);
    const who = await w.verifier.verifyHeader(sub.authorization);
    assert.equal(who.sub, "schedules");
    assert.deepEqual(who.roles, ["submitter"]);

    const [fired] = w.deltasOf("fired");
    assert.equal(fired.name, "report");
    assert.equal(fired.epoch, 1);
    assert.equal(fired.id, "report:20260501T000100Z");
    assert.equal(fired.nominal, "2026-05-01T00:01:00.000Z");
    assert.equal(fired.lateMs, 0);
    assert.equal(fired.fired, 1);

    const stored = (await w.stored("report"))!.value.state;
    assert.equal(stored.settledUntil, at("2026-05-01T00:01:00Z"));
    assert.equal(stored.runs, 1);
    assert.deepEqual(stored.active, ["report:20260501T000100Z"]);
    assert.equal(stored.epoch, 1);
  });
});

Deno.test("schedules - a template with only a type submits the id and an empty payload", async () => {
  await withWorld({ t0: at("2026-05-01T00:00:30Z") }, async (w) => {
    const tk = await tokens();
    await w.lead(term(1));
    await put(w, spec("bare", { every: "1m" }), tk.admin);
    await w.advance(30 * S);
    assert.deepEqual((await w.submissions()).map((s) => s.body), [
      { id: "bare:20260501T000100Z", payload: {} },
    ]);
  });
});

Deno.test("schedules - a run's result is recorded: the run leaves active, recent shows its state", async () => {
  await withWorld({ t0: at("2026-05-01T00:00:30Z") }, async (w) => {
    const tk = await tokens();
    await w.lead(term(1));
    await put(w, spec("beat", { every: "1m" }), tk.admin);
    await w.advance(30 * S);
    await w.advance(5 * S);
    w.finish("beat:20260501T000100Z", "failed");
    await w.idle();
    const [ended] = w.deltasOf("run-ended");
    assert.equal(ended.id, "beat:20260501T000100Z");
    assert.equal(ended.state, "failed");
    const state = (await w.stored("beat"))!.value.state;
    assert.deepEqual(state.active, []);
    assert.equal(state.recent[0].state, "failed");
    assert.equal(state.recent[0].finishedAt, at("2026-05-01T00:01:05Z"));
  });
});

// ------------------------------------------------------------------ overlap

const T = at("2026-05-01T00:00:30Z");
const id1 = "job:20260501T000100Z";
const id2 = "job:20260501T000200Z";
const id3 = "job:20260501T000300Z";
const id4 = "job:20260501T000400Z";

/** A world at T with an every-minute schedule `job` under `overlap`; its first tick fired. */
async function overlapWorld(overlap: string, body: (w: World) => Promise<void>): Promise<void> {
  await withWorld({ t0: T }, async (w) => {
    const tk = await tokens();
    await w.lead(term(1));
    await put(w, spec("job", { every: "1m", overlap }), tk.admin);
    await w.advance(30 * S); // 00:01: the first tick fires
    assert.deepEqual(await w.ids(), [id1]);
    await body(w);
  });
}

Deno.test("schedules - overlap skip: a tick while the last run goes is skipped and counted; the next after it ends fires", async () => {
  await overlapWorld("skip", async (w) => {
    await w.advance(MIN); // 00:02
    assert.deepEqual(await w.ids(), [id1]);
    const [skipped, ...more] = w.deltasOf("skipped");
    assert.deepEqual(more, []);
    assert.equal(skipped.id, id2);
    assert.equal(skipped.skipped, 1);
    assert.deepEqual(skipped.active, [id1]);
    const state = (await w.stored("job"))!.value.state;
    assert.equal(state.counts.skipped, 1);
    assert.equal(state.settledUntil, at("2026-05-01T00:02:00Z"));

    w.finish(id1);
    await w.advance(MIN); // 00:03
    assert.deepEqual(await w.ids(), [id1, id3]);
    assert.equal(w.deltasOf("skipped").length, 1);
  });
});

Deno.test("schedules - a result nobody signed does not end a run: overlap skip goes on skipping", async () => {
  await overlapWorld("skip", async (w) => {
    w.forgeResult(id1); // as anybody on an open NATS could publish on tasks.result.<id>
    await w.advance(MIN); // 00:02
    assert.deepEqual(await w.ids(), [id1], "the forged result did not end the run");
    assert.equal(w.deltasOf("skipped").length, 1);
    assert.equal(w.deltasOf("run-ended").length, 0);
  });
});

Deno.test("schedules - overlap allow: a tick fires while the last run goes", async () => {
  await overlapWorld("allow", async (w) => {
    await w.advance(MIN);
    assert.deepEqual(await w.ids(), [id1, id2]);
    assert.deepEqual((await w.stored("job"))!.value.state.active, [id1, id2]);
    assert.deepEqual(w.deltasOf("skipped"), []);
  });
});

Deno.test("schedules - overlap buffer-one: one tick waits and fires under its own nominal id when the run ends; a third is skipped", async () => {
  await overlapWorld("buffer-one", async (w) => {
    await w.advance(MIN); // 00:02: buffered
    assert.deepEqual(await w.ids(), [id1]);
    assert.deepEqual(w.deltasOf("buffered").map((d) => d.id), [id2]);
    let state = (await w.stored("job"))!.value.state;
    assert.equal(state.buffered, at("2026-05-01T00:02:00Z"));

    await w.advance(MIN); // 00:03: the buffer is taken: skipped
    assert.deepEqual(await w.ids(), [id1]);
    assert.deepEqual(w.deltasOf("skipped").map((d) => d.id), [id3]);

    await w.advance(20 * S);
    w.finish(id1); // 00:03:20: the buffered 00:02 tick fires now
    await w.idle();
    assert.deepEqual(await w.ids(), [id1, id2]);
    const fired = w.deltasOf("fired").at(-1)!;
    assert.equal(fired.id, id2);
    assert.equal(fired.lateMs, 80 * S);
    state = (await w.stored("job"))!.value.state;
    assert.equal(state.buffered, null);
    assert.deepEqual(state.active, [id2]);
    assert.equal(state.runs, 2);

    await w.advance(40 * S); // 00:04 while the 00:02 run goes: buffered again
    w.finish(id2);
    await w.idle();
    assert.deepEqual(await w.ids(), [id1, id2, id4]);
  });
});

Deno.test("schedules - overlap cancel-previous: tasks.cancel is requested for the running id, then the tick fires", async () => {
  await overlapWorld("cancel-previous", async (w) => {
    await w.advance(MIN); // 00:02
    assert.deepEqual(w.cancels.map((c) => c.id), [id1]);
    assert.match(w.cancels[0].authorization ?? "", /^Bearer \S+$/);
    assert.deepEqual(await w.ids(), [id1, id2]);

    w.finish(id1, "cancelled");
    await w.advance(MIN); // 00:03: only the 00:02 run is still going
    assert.deepEqual(w.cancels.map((c) => c.id), [id1, id2]);
    assert.deepEqual(await w.ids(), [id1, id2, id3]);
  });
});

Deno.test("schedules - overlap cancel-previous: the tick still fires when nobody answers the cancel", async () => {
  await withWorld({ t0: T, answerCancels: false }, async (w) => {
    const tk = await tokens();
    await w.lead(term(1));
    await put(w, spec("job", { every: "1m", overlap: "cancel-previous" }), tk.admin);
    await w.advance(30 * S);
    // The in-memory request has no responder and times out on the real clock (5 s).
    await w.advance(MIN);
    assert.deepEqual(await w.ids(), [id1, id2]);
  });
});

// ------------------------------------------------------------------ catch-up

/** 2026-05-01T12:00Z: a tick of every 5 minutes. */
const T0 = at("2026-05-01T12:00:00Z");

/** Every nominal `from`, `from + 5m`, … `to`, as tick ids of `name`. */
function ticks(name: string, from: number, to: number, step = 5 * MIN): string[] {
  const out: string[] = [];
  for (let t = from; t <= to; t += step) out.push(tickId(name, t));
  return out;
}

/**
 * A term that put an every-5-minutes schedule an hour before T0 and ended at
 * once; the clock moves to T0 + `late`, a new term leads. Returns the world.
 */
async function afterGap(
  extra: Record<string, unknown>,
  late: number,
  body: (w: World) => Promise<void>,
): Promise<void> {
  await withWorld({ t0: T0 - HOUR }, async (w) => {
    const tk = await tokens();
    await w.lead(term(1));
    await put(w, spec("job", { every: "5m", overlap: "allow", ...extra }), tk.admin);
    await w.follow();
    await w.advanceTo(T0 + late);
    assert.deepEqual(await w.ids(), [], "a follower fired");
    await w.lead(term(2));
    await body(w);
  });
}

Deno.test("schedules - catch-up skip: missed ticks older than 60 s do not fire and are counted in one missed delta", async () => {
  await afterGap({ catchup: "skip" }, 30 * S, async (w) => {
    assert.deepEqual(await w.ids(), ["job:20260501T120000Z"]); // 30 s late: fires
    const [missed, ...more] = w.deltasOf("missed");
    assert.deepEqual(more, []);
    assert.equal(missed.count, 11); // 11:05 .. 11:55
    assert.equal(missed.first, "2026-05-01T11:05:00.000Z");
    assert.equal(missed.last, "2026-05-01T11:55:00.000Z");
    assert.equal(missed.catchup, "skip");
    assert.equal(missed.missed, 11);
    assert.equal(missed.epoch, 2);
    const state = (await w.stored("job"))!.value.state;
    assert.equal(state.counts.missed, 11);
    assert.equal(state.settledUntil, T0);
    assert.equal(state.epoch, 2);
  });
});

Deno.test("schedules - catch-up one: the latest missed tick fires, the older are missed", async () => {
  await afterGap({ catchup: "one" }, 30 * S, async (w) => {
    assert.deepEqual(await w.ids(), ["job:20260501T115500Z", "job:20260501T120000Z"]);
    assert.deepEqual(w.deltasOf("missed").map((d) => d.count), [10]);
    const late = w.deltasOf("fired")[0];
    assert.equal(late.lateMs, 5 * MIN + 30 * S);
  });
});

Deno.test("schedules - catch-up all: every missed tick within catchupWindow fires, oldest first", async () => {
  await afterGap({ catchup: "all" }, 30 * S, async (w) => {
    assert.deepEqual(await w.ids(), ticks("job", T0 - 55 * MIN, T0));
    assert.deepEqual(w.deltasOf("missed"), []);
  });
});

Deno.test("schedules - catch-up all with a 30m window: older ticks are missed", async () => {
  await afterGap({ catchup: "all", catchupWindow: "30m" }, 30 * S, async (w) => {
    assert.deepEqual(await w.ids(), ticks("job", T0 - 25 * MIN, T0));
    assert.deepEqual(w.deltasOf("missed").map((d) => d.count), [6]); // 11:05 .. 11:30
  });
});

for (const catchup of ["skip", "one", "all"]) {
  Deno.test(`schedules - catch-up ${catchup}: a tick exactly 60 s late still fires`, async () => {
    await afterGap({ catchup, catchupWindow: "1m" }, 60 * S, async (w) => {
      // A one-minute window holds only the 60 s late tick: nothing else is caught up.
      assert.deepEqual(await w.ids(), ["job:20260501T120000Z"]);
    });
  });
}

Deno.test("schedules - catch-up skip: a tick 61 s late is missed", async () => {
  await afterGap({ catchup: "skip" }, 61 * S, async (w) => {
    assert.deepEqual(await w.ids(), []);
    assert.deepEqual(w.deltasOf("missed").map((d) => d.count), [12]);
  });
});

Deno.test("schedules - catch-up from a stored state written directly: settledUntil an hour ago", async () => {
  await withWorld({ t0: T0 + 10 * S }, async (w) => {
    const json = encodeSchedule(
      decodeSchedule(spec("stored", { every: "5m", catchup: "one", overlap: "allow" })),
    );
    const state: ScheduleState = {
      createdAt: T0 - DAY,
      updatedAt: T0 - HOUR,
      settledUntil: T0 - HOUR,
      runs: 40,
      paused: false,
      active: [],
      buffered: null,
      recent: [],
      counts: { fired: 40, skipped: 0, missed: 0, triggered: 0 },
      epoch: 3,
    };
    await w.restore("stored", { spec: json, state });
    await w.lead(term(4));
    assert.deepEqual(await w.ids(), ["stored:20260501T115500Z", "stored:20260501T120000Z"]);
    const stored = (await w.stored("stored"))!.value.state;
    assert.equal(stored.runs, 42);
    assert.equal(stored.counts.missed, 10);
    assert.equal(stored.epoch, 4);
  });
});

Deno.test("schedules - days missed before the catch-up window are counted once, not again at every wake", async () => {
  await withWorld({ t0: T0 + 10 * S }, async (w) => {
    const json = encodeSchedule(decodeSchedule(spec("daily", { daily: "02:00" })));
    const state: ScheduleState = {
      createdAt: T0 - 10 * DAY,
      updatedAt: T0 - 3 * DAY,
      settledUntil: T0 - 3 * DAY,
      runs: 7,
      paused: false,
      active: [],
      buffered: null,
      recent: [],
      counts: { fired: 7, skipped: 0, missed: 0, triggered: 0 },
      epoch: 1,
    };
    await w.restore("daily", { spec: json, state });
    await w.lead(term(2));
    await w.advance(10 * MIN); // several wakes, each at most a minute apart
    assert.deepEqual(await w.ids(), []);
    assert.equal(w.deltasOf("missed").length, 1, JSON.stringify(w.deltasOf("missed")));
    const stored = (await w.stored("daily"))!.value.state;
    assert.equal(stored.counts.missed, w.deltasOf("missed")[0].count);
  });
});

// ------------------------------------------------------------------ limit

Deno.test("schedules - limit 3 fires exactly three ticks, then get shows no next runs", async () => {
  await withWorld({ t0: at("2026-05-01T00:00:30Z"), autoFinish: true }, async (w) => {
    const tk = await tokens();
    await w.lead(term(1));
    await put(w, spec("thrice", { every: "1m", limit: 3 }), tk.admin);
    let got = await w.request("get", { name: "thrice" }, tk.viewer);
    assert.equal(got.schedule.next.length, 3);
    await w.advance(10 * MIN);
    assert.deepEqual(await w.ids(), [
      "thrice:20260501T000100Z",
      "thrice:20260501T000200Z",
      "thrice:20260501T000300Z",
    ]);
    got = await w.request("get", { name: "thrice" }, tk.viewer);
    assert.deepEqual(got.schedule.next, []);
    assert.equal(got.schedule.state.runs, 3);
    assert.equal(w.deltasOf("missed").length, 0);
  });
});

Deno.test("schedules - a schedule deleted from the store behind the leader's back stops firing", async () => {
  await withWorld({ t0: at("2026-05-01T00:00:30Z"), autoFinish: true }, async (w) => {
    const tk = await tokens();
    await w.lead(term(1));
    await put(w, spec("gone", { every: "1m" }), tk.admin);
    await w.advance(1 * MIN); // 00:01 fired
    const kv = await w.transport.kv(w.subj.schedulesBucket);
    await kv.delete("gone"); // as `nats kv del` would
    await w.advance(5 * MIN);
    // The first write after the deletion finds the entry gone; nothing fires after that.
    assert.ok((await w.ids()).length <= 2, JSON.stringify(await w.ids()));
    assert.equal(w.deltasOf("deleted").length, 1);
    const got = await w.request("get", { name: "gone" }, tk.viewer);
    assert.equal(got.ok, false);
  });
});

Deno.test("schedules - get shows the live paused flag, so putting the view back keeps the pause", async () => {
  await withWorld({ t0: at("2026-05-01T00:00:30Z") }, async (w) => {
    const tk = await tokens();
    await w.lead(term(1));
    await put(w, spec("p", { every: "1m" }), tk.admin);
    await w.request("pause", { name: "p" }, tk.admin);
    const got = await w.request("get", { name: "p" }, tk.viewer);
    assert.equal(got.schedule.paused, true);
    assert.equal(got.schedule.state.paused, true);
    const { state: _s, next: _n, recent: _r, ...spec2 } = got.schedule;
    const again = await w.request("put", spec2, tk.admin);
    assert.equal(again.ok, true);
    assert.equal(again.schedule.state.paused, true);
    await w.advance(3 * MIN);
    assert.deepEqual(await w.ids(), []);
  });
});

// ------------------------------------------------------------------ restarts

Deno.test("schedules - a tick submitted but not settled before a restart is submitted again under the same id, and the stream keeps one", async () => {
  await withWorld({ t0: at("2026-05-01T00:00:30Z") }, async (w) => {
    const tk = await tokens();
    await w.lead(term(1));
    await put(w, spec("job", { every: "1m" }), tk.admin);
    const before = (await w.stored("job"))!.value;
    await w.advance(30 * S); // 00:01: fired and settled
    assert.deepEqual(await w.ids(), [id1]);
    // The leader dies after the stream stored the tick and before KV said so.
    await w.follow();
    await w.restore("job", before);
    await w.advance(10 * S);
    await w.lead(term(2));

    assert.deepEqual(w.deltasOf("fired").map((d) => [d.id, d.epoch]), [[id1, 1], [id1, 2]]);
    assert.deepEqual(await w.ids(), [id1], "the stream de-duplicates by Nats-Msg-Id");
    const state = (await w.stored("job"))!.value.state;
    assert.equal(state.settledUntil, at("2026-05-01T00:01:00Z"));
    assert.equal(state.epoch, 2);

    w.finish(id1);
    await w.advance(MIN);
    assert.deepEqual(await w.ids(), [id1, id2]);
  });
});

Deno.test("schedules - a new term follows the runs the last one started and reads results stored meanwhile", async () => {
  await withWorld({ t0: at("2026-05-01T00:00:30Z") }, async (w) => {
    const tk = await tokens();
    await w.lead(term(1));
    await put(w, spec("job", { every: "1m" }), tk.admin);
    await w.advance(30 * S);
    await w.follow();
    await w.storeResult(id1); // while nobody listens
    await w.advance(20 * S);
    await w.lead(term(2));
    const state = (await w.stored("job"))!.value.state;
    assert.deepEqual(state.active, []);
    assert.equal(state.recent.find((r) => r.id === id1)?.state, "succeeded");
    await w.advance(40 * S); // 00:02: the last run ended, so this one fires under overlap skip
    assert.deepEqual(await w.ids(), [id1, id2]);
  });
});

Deno.test("schedules - a restarted actor picks the current term up from the directory", async () => {
  await withWorld({ t0: at("2026-05-01T00:00:30Z") }, async (w) => {
    const tk = await tokens();
    await w.lead(term(1));
    await put(w, spec("job", { every: "1m", overlap: "allow" }), tk.admin);
    await w.cell.halt("test restart");
    await w.cell.boot();
    await w.idle();
    await w.advance(90 * S);
    assert.deepEqual(await w.ids(), [id1, id2]);
  });
});

// ------------------------------------------------------------------ fencing

const F0 = at("2026-05-01T00:00:30Z");

Deno.test("schedules - a runner whose term no longer leads fires nothing", async () => {
  await withWorld({ t0: F0 }, async (w) => {
    const t = term(1);
    const { runner } = w.runner(t);
    await runner.load();
    await upsert(runner, decodeSchedule(spec("job", { every: "1m" })), w.clock.now());
    t.lost = true;
    w.clock.advance(2 * MIN);
    await runner.wake();
    await runner.runDue(runner.items.get("job")!, w.clock.now());
    assert.deepEqual(await w.ids(), []);
    runner.close();
  });
});

Deno.test("schedules - an actor whose term stops leading mid-term fires nothing more", async () => {
  await withWorld({ t0: F0 }, async (w) => {
    const tk = await tokens();
    const t = term(1);
    await w.lead(t);
    await put(w, spec("job", { every: "1m", overlap: "allow" }), tk.admin);
    await w.advance(30 * S);
    t.lost = true;
    await w.advance(5 * MIN);
    assert.deepEqual(await w.ids(), [id1]);
  });
});

Deno.test("schedules - a runner of an older epoch is deposed at its first write conflict; the newer term's state wins", async () => {
  await withWorld({ t0: F0 }, async (w) => {
    const old = w.runner(term(1)).runner;
    await old.load();
    await upsert(old, decodeSchedule(spec("job", { every: "1m", overlap: "allow" })), F0);
    const newer = w.runner(term(2)).runner;
    await newer.load();

    w.clock.advance(30 * S); // 00:01
    await newer.wake();
    assert.equal((await w.stored("job"))!.value.state.epoch, 2);
    // The old leader, still believing it leads, fires the same tick: the stream drops it,
    // and its write meets the newer epoch.
    await old.wake();
    assert.equal(old.deposed, true);
    assert.equal(newer.deposed, false);
    assert.deepEqual(await w.ids(), [id1]);
    let state = (await w.stored("job"))!.value.state;
    assert.equal(state.epoch, 2);
    assert.deepEqual(state.active, [id1]);

    w.clock.advance(MIN); // 00:02
    await old.wake();
    await newer.wake();
    assert.deepEqual(await w.ids(), [id1, id2]);
    state = (await w.stored("job"))!.value.state;
    assert.equal(state.epoch, 2);
    assert.deepEqual(state.active, [id1, id2]);
    old.close();
    newer.close();
  });
});

Deno.test("schedules - a newer term whose write meets an older epoch's write reloads and goes on", async () => {
  await withWorld({ t0: F0 }, async (w) => {
    const old = w.runner(term(1)).runner;
    await old.load();
    await upsert(old, decodeSchedule(spec("job", { every: "1m", overlap: "allow" })), F0);
    const newer = w.runner(term(2)).runner;
    await newer.load();

    w.clock.advance(30 * S); // 00:01: the old leader writes first
    await old.wake();
    await newer.wake(); // conflict with epoch 1: not deposed
    assert.equal(newer.deposed, false);

    w.clock.advance(MIN); // 00:02
    await newer.wake();
    assert.equal((await w.stored("job"))!.value.state.epoch, 2, "the newer term could not write");
    await old.wake();
    assert.equal(old.deposed, true);
    assert.deepEqual(await w.ids(), [id1, id2]);
    old.close();
    newer.close();
  });
});

Deno.test("schedules - an actor deposed by a newer epoch stops acting and answers as a follower", async () => {
  await withWorld({ t0: F0 }, async (w) => {
    const tk = await tokens();
    await w.lead(term(1));
    await put(w, spec("job", { every: "1m", overlap: "allow" }), tk.admin);
    // The newer term runs on its own clock, so it fires 00:01 before the actor's timer does.
    const ahead = new ManualClock(w.clock.now() + 30 * S);
    const newer = w.runner(term(2), ahead).runner;
    await newer.load();
    await newer.wake(); // 00:01 fired and written by epoch 2
    await w.advance(30 * S); // the actor's 00:01 wake: its write meets epoch 2
    await w.advance(3 * MIN);
    const firedBy1 = w.deltasOf("fired").filter((d) => d.epoch === 1).map((d) => d.id);
    assert.deepEqual(firedBy1, [id1]);
    assert.deepEqual(await w.ids(), [id1]);
    const r = await w.ask("get", { name: "job" }, tk.viewer);
    assert.equal(r.ok, false);
    assert.match(r.error!.message, /not leading/);
    newer.close();
  });
});

// ------------------------------------------------------------------ requests

Deno.test("schedules - put creates, the same put again changes nothing, a different put changes", async () => {
  await withWorld({ t0: at("2026-05-01T00:00:00Z") }, async (w) => {
    const tk = await tokens();
    await w.lead(term(1));
    const body = spec("beat", { every: "10s", task: { type: "echo", payload: { a: 1 } } });
    const first = await put(w, body, tk.admin);
    assert.equal(first.created, true);
    assert.equal(first.changed, true);
    assert.equal(first.schedule.name, "beat");
    assert.equal(first.schedule.every, "10s");
    const rev = (await w.stored("beat"))!.revision;

    const again = await put(w, body, tk.admin);
    assert.equal(again.created, false);
    assert.equal(again.changed, false);
    assert.equal((await w.stored("beat"))!.revision, rev, "an identical put wrote");

    const changed = await put(w, { ...body, task: { type: "echo", payload: { a: 2 } } }, tk.admin);
    assert.equal(changed.created, false);
    assert.equal(changed.changed, true);
    assert.deepEqual((await w.stored("beat"))!.value.spec.task.payload, { a: 2 });
    assert.deepEqual(w.deltas.map((d) => d.event), ["created", "updated"]);
  });
});

Deno.test("schedules - get shows the spec, the next N fire times with at and local, and recent runs with results", async () => {
  await withWorld({ t0: at("2026-03-28T12:00:00Z") }, async (w) => {
    const tk = await tokens();
    await w.lead(term(1));
    await put(w, spec("nightly", { daily: "02:30", tz: "Europe/Berlin" }), tk.admin);
    let r = await w.request("get", { name: "nightly", next: 4 }, tk.viewer);
    assert.equal(r.ok, true);
    assert.equal(r.schedule.daily, "02:30");
    assert.equal(r.schedule.tz, "Europe/Berlin");
    assert.deepEqual(r.schedule.next, [
      { at: "2026-03-29T01:00:00.000Z", local: "2026-03-29T03:00:00+02:00[Europe/Berlin]" },
      { at: "2026-03-30T00:30:00.000Z", local: "2026-03-30T02:30:00+02:00[Europe/Berlin]" },
      { at: "2026-03-31T00:30:00.000Z", local: "2026-03-31T02:30:00+02:00[Europe/Berlin]" },
      { at: "2026-04-01T00:30:00.000Z", local: "2026-04-01T02:30:00+02:00[Europe/Berlin]" },
    ]);
    assert.deepEqual(r.schedule.recent, []);
    assert.equal(r.schedule.state.lastTick, null);

    await w.advanceTo(at("2026-03-29T01:00:00Z"));
    await w.advance(10 * MIN);
    w.finish("nightly:20260329T010000Z");
    await w.idle();
    r = await w.request("get", { name: "nightly" }, tk.viewer);
    assert.equal(r.schedule.next.length, 3);
    assert.equal(r.schedule.next[0].at, "2026-03-30T00:30:00.000Z");
    assert.deepEqual(r.schedule.recent, [{
      id: "nightly:20260329T010000Z",
      nominal: "2026-03-29T01:00:00.000Z",
      firedAt: "2026-03-29T01:00:00.000Z",
      lateMs: 0,
      state: "succeeded",
      finishedAt: "2026-03-29T01:10:00.000Z",
    }]);
    assert.equal(r.schedule.state.runs, 1);
    assert.equal(r.schedule.state.lastTick, "2026-03-29T01:00:00.000Z");
    assert.deepEqual(r.schedule.state.active, []);
    assert.deepEqual(r.schedule.state.counts, { fired: 1, skipped: 0, missed: 0, triggered: 0 });
  });
});

Deno.test("schedules - list shows every schedule sorted by name, with next fire times", async () => {
  await withWorld({ t0: at("2026-05-01T00:00:00Z") }, async (w) => {
    const tk = await tokens();
    await w.lead(term(1));
    await put(w, spec("zeta", { every: "1h" }), tk.admin);
    await put(w, spec("alpha", { daily: "06:00", tz: "America/New_York" }), tk.admin);
    const r = await w.request("list", { next: 2 }, tk.viewer);
    assert.equal(r.ok, true);
    assert.deepEqual(r.schedules.map((s: { name: string }) => s.name), ["alpha", "zeta"]);
    assert.deepEqual(r.schedules[0].next, [
      { at: "2026-05-01T10:00:00.000Z", local: "2026-05-01T06:00:00-04:00[America/New_York]" },
      { at: "2026-05-02T10:00:00.000Z", local: "2026-05-02T06:00:00-04:00[America/New_York]" },
    ]);
    assert.deepEqual(r.schedules[1].next.map((n: { at: string }) => n.at), [
      "2026-05-01T01:00:00.000Z",
      "2026-05-01T02:00:00.000Z",
    ]);
    // A submitter may read too.
    assert.equal((await w.request("list", {}, tk.submitter)).ok, true);
  });
});

Deno.test("schedules - pause with a note stops firing; resume fires again and counts the ticks missed while paused", async () => {
  await withWorld({ t0: at("2026-05-01T00:00:30Z"), autoFinish: true }, async (w) => {
    const tk = await tokens();
    await w.lead(term(1));
    await put(w, spec("job", { every: "1m" }), tk.admin);
    await w.advance(30 * S); // 00:01 fires
    const paused = await w.request("pause", { name: "job", note: "maintenance" }, tk.admin);
    assert.equal(paused.ok, true);
    assert.equal(paused.schedule.state.paused, true);
    assert.equal(paused.schedule.state.note, "maintenance");
    assert.equal(paused.schedule.state.pausedAt, "2026-05-01T00:01:00.000Z");
    assert.deepEqual(paused.schedule.next, []);
    const [delta] = w.deltasOf("paused");
    assert.equal(delta.note, "maintenance");
    assert.equal(delta.by, "ops");

    await w.advance(5 * MIN + 30 * S); // 00:06:30: five ticks due while paused
    assert.deepEqual(await w.ids(), [id1]);

    const resumed = await w.request("resume", { name: "job" }, tk.admin);
    assert.equal(resumed.ok, true);
    assert.equal(resumed.schedule.state.paused, false);
    assert.equal(resumed.schedule.state.pausedAt, null);
    assert.equal(resumed.schedule.state.note, undefined, "the pause's note goes with the pause");
    // 00:06 is only 30 s late, but it was due in the pause: missed too.
    assert.deepEqual(w.deltasOf("missed").map((d) => d.count), [5]);
    await w.advance(30 * S); // 00:07
    assert.deepEqual(await w.ids(), [id1, "job:20260501T000700Z"]);
    const state = (await w.stored("job"))!.value.state;
    assert.equal(state.counts.missed, 5);
    assert.equal(state.paused, false);
  });
});

Deno.test("schedules - trigger fires now under <name>:manual-<time>, whatever limit and overlap say", async () => {
  await withWorld({ t0: at("2026-05-01T00:00:30.250Z") }, async (w) => {
    const tk = await tokens();
    await w.lead(term(1));
    await put(w, spec("once", { every: "1m", limit: 1 }), tk.admin);
    const r = await w.request("trigger", { name: "once" }, tk.admin);
    assert.equal(r.ok, true);
    assert.equal(r.id, "once:manual-20260501T000030250Z");
    assert.deepEqual(await w.ids(), ["once:manual-20260501T000030250Z"]);
    assert.deepEqual(w.deltasOf("triggered").map((d) => d.id), [r.id]);

    w.finish(r.id);
    await w.advance(5 * MIN);
    // The one tick of the limit still fires: the trigger did not count.
    assert.deepEqual(await w.ids(), [r.id, "once:20260501T000100Z"]);
    const got = await w.request("get", { name: "once" }, tk.viewer);
    assert.equal(got.schedule.state.runs, 1);
    assert.equal(got.schedule.state.counts.triggered, 1);
    assert.deepEqual(got.schedule.next, []);
    assert.equal(got.schedule.recent[0].trigger, true);
  });
});

Deno.test("schedules - delete removes the schedule: get answers NOT_FOUND and nothing fires", async () => {
  await withWorld({ t0: at("2026-05-01T00:00:30Z") }, async (w) => {
    const tk = await tokens();
    await w.lead(term(1));
    await put(w, spec("job", { every: "1m" }), tk.admin);
    const r = await w.request("delete", { name: "job" }, tk.admin);
    assert.deepEqual(r, { ok: true, deleted: "job" });
    assert.equal(await w.stored("job"), null);
    assert.equal(w.deltasOf("deleted")[0].by, "ops");
    const got = await w.request("get", { name: "job" }, tk.viewer);
    assert.equal(got.ok, false);
    assert.equal(got.error!.code, "NOT_FOUND");
    await w.advance(3 * MIN);
    assert.deepEqual(await w.ids(), []);
    assert.deepEqual((await w.request("list", {}, tk.viewer)).schedules, []);
  });
});

Deno.test("schedules - requests are refused with NOT_FOUND, INVALID_ARGUMENT naming the field, PERMISSION_DENIED and UNAUTHENTICATED", async () => {
  await withWorld({ t0: at("2026-05-01T00:00:00Z") }, async (w) => {
    const tk = await tokens();
    await w.lead(term(1));
    await put(w, spec("job", { every: "1m" }), tk.admin);
    const refused = async (op: string, body: unknown, token: string | undefined) => {
      const r = await w.request(op, body, token);
      assert.equal(r.ok, false, JSON.stringify(r));
      return r.error!;
    };

    for (const op of ["get", "pause", "resume", "trigger", "delete"]) {
      const e = await refused(op, { name: "nope" }, tk.admin);
      assert.equal(e.code, "NOT_FOUND", op);
      assert.match(e.message, /nope/);
    }

    let e = await refused("put", spec("bad", { daily: "25:00" }), tk.admin);
    assert.equal(e.code, "INVALID_ARGUMENT");
    assert.match(e.message, /^daily /);
    e = await refused("put", spec("bad", { every: "1m", tz: "Mars/Olympus" }), tk.admin);
    assert.equal(e.code, "INVALID_ARGUMENT");
    assert.match(e.message, /^tz /);
    e = await refused("put", spec("bad", { every: "1m", catchup: "most" }), tk.admin);
    assert.match(e.message, /^catchup /);
    e = await refused(
      "put",
      { name: "bad", every: "1m", task: { type: "echo", priority: 99 } },
      tk.admin,
    );
    assert.equal(e.code, "INVALID_ARGUMENT");
    assert.match(e.message, /^task\.priority/);
    e = await refused("get", { name: "no spaces" }, tk.viewer);
    assert.equal(e.code, "INVALID_ARGUMENT");
    assert.match(e.message, /^name /);
    e = await refused("get", { name: "job", next: 1_000 }, tk.viewer);
    assert.match(e.message, /^next /);
    e = await refused("pause", { name: "job", note: 5 }, tk.admin);
    assert.match(e.message, /^note /);
    e = await refused("frobnicate", {}, tk.admin);
    assert.equal(e.code, "INVALID_ARGUMENT");
    assert.match(e.message, /schedules\.frobnicate/);
    e = await refused("get", [1, 2], tk.viewer);
    assert.equal(e.code, "INVALID_ARGUMENT");
    assert.match(e.message, /JSON object/);

    for (const op of ["put", "delete", "pause", "resume", "trigger"]) {
      e = await refused(op, spec("job", { every: "1m" }), tk.viewer);
      assert.equal(e.code, "PERMISSION_DENIED", op);
      assert.match(e.message, /admin/);
    }
    e = await refused("put", spec("job", { every: "1m" }), tk.submitter);
    assert.equal(e.code, "PERMISSION_DENIED");

    e = await refused("get", { name: "job" }, undefined);
    assert.equal(e.code, "UNAUTHENTICATED");
    e = await refused("put", spec("x", { every: "1m" }), "not-a-jwt");
    assert.equal(e.code, "UNAUTHENTICATED");

    // Nothing refused changed anything.
    const list = await w.request("list", {}, tk.viewer);
    assert.deepEqual(list.schedules.map((s: { name: string }) => s.name), ["job"]);
    assert.equal(list.schedules[0].state.paused, false);
  });
});

Deno.test("schedules - a pause refused for a bad note changes nothing: the schedule keeps firing", async () => {
  await withWorld({ t0: at("2026-05-01T00:00:30Z"), autoFinish: true }, async (w) => {
    const tk = await tokens();
    await w.lead(term(1));
    await put(w, spec("job", { every: "1m" }), tk.admin);
    const r = await w.request("pause", { name: "job", note: "x".repeat(501) }, tk.admin);
    assert.equal(r.ok, false);
    assert.equal(r.error!.code, "INVALID_ARGUMENT");
    assert.match(r.error!.message, /^note /);
    const got = await w.request("get", { name: "job" }, tk.viewer);
    assert.equal(got.schedule.state.paused, false);
    assert.equal(got.schedule.next.length, 3);
    await w.advance(2 * MIN); // 00:02:30
    assert.deepEqual(await w.ids(), [id1, id2]);
  });
});

Deno.test("schedules - the declared plan is upserted at every term, and an unchanged plan writes nothing", async () => {
  const declared = [decodeSchedule(spec("planned", { every: "1m", overlap: "allow" }))];
  await withWorld({ t0: at("2026-05-01T00:00:30Z"), declared }, async (w) => {
    await w.lead(term(1));
    const rev = (await w.stored("planned"))!.revision;
    await w.advance(30 * S);
    assert.deepEqual(await w.ids(), ["planned:20260501T000100Z"]);
    const settled = (await w.stored("planned"))!.revision;
    assert.ok(settled > rev);
    await w.follow();
    await w.lead(term(2));
    assert.equal((await w.stored("planned"))!.revision, settled);
    assert.deepEqual(w.deltas.filter((d) => d.event === "created").length, 1);
  });
});

// ------------------------------------------------------------------ followers

Deno.test("schedules - a follower answers requests that it is not leading, and fires nothing", async () => {
  await withWorld({ t0: at("2026-05-01T00:00:30Z") }, async (w) => {
    const tk = await tokens();
    // A schedule is stored, as a previous leader left it.
    const json = encodeSchedule(decodeSchedule(spec("job", { every: "1m" })));
    const state: StoredSchedule["state"] = {
      createdAt: T,
      updatedAt: T,
      settledUntil: T,
      runs: 0,
      paused: false,
      active: [],
      buffered: null,
      recent: [],
      counts: { fired: 0, skipped: 0, missed: 0, triggered: 0 },
      epoch: 1,
    };
    await w.restore("job", { spec: json, state });
    const r = await w.ask("get", { name: "job" }, tk.viewer);
    assert.equal(r.ok, false);
    assert.match(r.error!.message, /not leading/);
    await w.advance(10 * MIN);
    assert.deepEqual(await w.ids(), []);
    assert.deepEqual(w.deltas, []);
  });
});

Deno.test("schedules - after a term ends the actor answers as a follower and fires nothing", async () => {
  await withWorld({ t0: at("2026-05-01T00:00:30Z") }, async (w) => {
    const tk = await tokens();
    await w.lead(term(1));
    await put(w, spec("job", { every: "1m" }), tk.admin);
    await w.follow();
    const r = await w.ask("trigger", { name: "job" }, tk.admin);
    assert.equal(r.ok, false);
    assert.match(r.error!.message, /not leading/);
    await w.advance(10 * MIN);
    assert.deepEqual(await w.ids(), []);
  });
});

Deno.test("schedules - a term that no longer leads when it arrives ends the previous one", async () => {
  await withWorld({ t0: at("2026-05-01T00:00:30Z") }, async (w) => {
    const tk = await tokens();
    await w.lead(term(1));
    await put(w, spec("job", { every: "1m", overlap: "allow" }), tk.admin);
    const gone = term(2);
    gone.lost = true;
    await w.lead(gone);
    const r = await w.ask("trigger", { name: "job" }, tk.admin);
    assert.equal(r.ok, false, "a request was served by the ended term");
    assert.match(r.error!.message, /not leading/);
    await w.advance(5 * MIN);
    assert.deepEqual(await w.ids(), []);
  });
});
