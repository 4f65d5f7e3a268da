/**
 * Recurring jobs through scheduler faults, as real processes (two schedulers,
 * one worker): a kill -9 of the leading scheduler, and a pause, a resume and a
 * clean hand-over. Every tick is checked three ways: the results a subscriber
 * saw (duplicates included), the RESULTS stream, and the `fired` deltas on
 * `monitor.schedule.<name>` with the epoch of the leader that fired them.
 *
 * Both run in the fast suite, as the kill -9 of the leader with tasks does:
 * about 10 and 13 s each, also under `deno task test` on 2 cores.
 */

import assert from "node:assert/strict";
import { connectNats, mintToken, type TaskResult } from "../../src/internal_mod.ts";
import { Client, type NodeProcess, SECRET } from "../_cluster.ts";
import { TestServer } from "../_nats_server.ts";
import { kill, node, report, Watch } from "./_fault.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const SECOND = 1_000;
/** Default lease timings: the takeover reported is what a deployment gets. */
const ENV = { TASK_SCHEDULER_LEASE_MS: "1500" };

/** `schedules.<op>` as an admin; the leader's schedules actor answers. */
async function req(
  client: Client,
  op: string,
  body: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const token = await mintToken(SECRET, { sub: "fault", roles: ["admin"] });
  const reply = await client.t.request(`schedules.${op}`, enc.encode(JSON.stringify(body)), {
    timeoutMs: 5_000,
    headers: { Authorization: `Bearer ${token}` },
  });
  const out = JSON.parse(dec.decode(reply.data)) as Record<string, unknown>;
  assert.equal(out.ok, true, `schedules.${op} ${JSON.stringify(body)}: ${JSON.stringify(out)}`);
  return out;
}

/** The nominal time of a tick id `<name>:YYYYMMDDTHHMMSSZ`, or null for any other id. */
function nominalOf(name: string, id: string): number | null {
  const m = /^(.+):(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(id);
  if (!m || m[1] !== name) return null;
  return Date.parse(`${m[2]}-${m[3]}-${m[4]}T${m[5]}:${m[6]}:${m[7]}Z`);
}

function tickIdOf(name: string, nominal: number): string {
  return `${name}:${
    new Date(nominal).toISOString().replace(/\.\d{3}Z$/, "Z").replace(/[-:]/g, "")
  }`;
}

/** Nominal times of the results of `name` a subscriber saw (duplicates included), sorted. */
function seen(client: Client, name: string): number[] {
  return client.received.filter((r) => r.id.startsWith(`${name}:`))
    .map((r) => nominalOf(name, r.id) ?? NaN).sort((a, b) => a - b);
}

async function until(what: string, ok: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `fired` deltas of one schedule, as the watch saw them. */
/** A `fired` delta. */
interface Fired {
  at: number;
  id: string;
  nominal: number;
  lateMs: number;
  epoch: number;
}

function fired(watch: Watch, name: string): Fired[] {
  return watch.events.filter((e) =>
    e.subject === `monitor.schedule.${name}` && e.body.event === "fired"
  ).map((e) => ({
    at: e.at,
    id: String(e.body.id),
    nominal: Date.parse(String(e.body.nominal)),
    lateMs: Number(e.body.lateMs),
    epoch: Number(e.body.epoch),
  }));
}

function deltas(watch: Watch, name: string, event: string): Record<string, unknown>[] {
  return watch.events.filter((e) =>
    e.subject === `monitor.schedule.${name}` && e.body.event === event
  ).map((e) => e.body);
}

/** `p50/max` of some figures, for the report. */
function spread(xs: number[]): string {
  if (xs.length === 0) return "-";
  const s = [...xs].sort((a, b) => a - b);
  return `${s[Math.floor((s.length - 1) / 2)]}/${s.at(-1)}`;
}

/** Every whole second from `first` to `last`. */
function everySecond(first: number, last: number): number[] {
  const out: number[] = [];
  for (let t = first; t <= last; t += SECOND) out.push(t);
  return out;
}

/**
 * Exactly once, for one schedule: every tick in `expected` has one result a
 * subscriber saw and one succeeded result in the RESULTS stream; no tick id
 * was seen twice (across the whole run, not only the window); and no result
 * of the schedule has an id that is not one of its whole-second ticks.
 */
function assertExactlyOnce(
  name: string,
  expected: number[],
  received: TaskResult[],
  stored: Map<string, TaskResult[]>,
): void {
  const counts = new Map<string, number>();
  for (const r of received) {
    if (r.id.startsWith(`${name}:`)) counts.set(r.id, (counts.get(r.id) ?? 0) + 1);
  }
  const doubled = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
  assert.deepEqual(doubled, [], `${name}: tick ids seen more than once`);
  const ids = new Set([
    ...counts.keys(),
    ...[...stored.keys()].filter((id) => id.startsWith(`${name}:`)),
  ]);
  const strays = [...ids].filter((id) => {
    const t = nominalOf(name, id);
    return t === null || t % SECOND !== 0;
  });
  assert.deepEqual(strays, [], `${name}: results for ids that are not ticks`);
  const missing = expected.map((t) => tickIdOf(name, t)).filter((id) => !counts.has(id));
  assert.deepEqual(missing, [], `${name}: ticks in the window with no result seen`);
  for (const t of expected) {
    const id = tickIdOf(name, t);
    const rs = stored.get(id) ?? [];
    assert.equal(rs.length, 1, `${name}: ${id} has ${rs.length} stored results`);
    assert.equal(rs[0].state, "succeeded", `${name}: ${id} ended ${rs[0].state}`);
  }
  const notOk = received.filter((r) => r.id.startsWith(`${name}:`) && r.state !== "succeeded");
  assert.deepEqual(notOk.map((r) => `${r.id} ${r.state}`), [], `${name}: runs that failed`);
}

/** Every stored result in RESULTS, by task id (a list: more than one would be a bug). */
async function storedResults(url: string): Promise<Map<string, TaskResult[]>> {
  const t = await connectNats({ servers: url, name: "reader" });
  try {
    const out = new Map<string, TaskResult[]>();
    // RESULTS holds only tasks.outcome.<id>. (No filterSubject: readStream sends it as
    // filter_subjects, which nats-server 2.9 refuses.)
    for (const m of await t.readStream("RESULTS")) {
      if (!m.subject.startsWith("tasks.outcome.")) continue;
      const id = m.subject.slice("tasks.outcome.".length);
      const r = JSON.parse(dec.decode(m.data)) as TaskResult;
      assert.equal(r.id, id, `stored under ${m.subject}: result of ${r.id}`);
      out.set(id, [...(out.get(id) ?? []), r]);
    }
    return out;
  } finally {
    await t.close();
  }
}

/** Wait until a subscriber saw a result for every tick in `ticks`. */
function allSeen(client: Client, name: string, ticks: number[]): () => boolean {
  return () => {
    const have = new Set(seen(client, name));
    return ticks.every((t) => have.has(t));
  };
}

const isLeader = (who: string) => (e: Watch["events"][number]) =>
  e.subject.startsWith("monitor.scheduler.") && e.body.role === "leader" &&
  String(e.body.id).startsWith(`${who}-`);

async function stopAll(...ps: (NodeProcess | undefined)[]): Promise<void> {
  await Promise.all(ps.map((p) => p ? kill(p, "SIGTERM") : undefined));
}

Deno.test("fault - a 1 s schedule through kill -9 of the leading scheduler: every nominal tick in the window fires exactly once", async () => {
  await using server = await TestServer.start();
  await using watch = await Watch.start(server.url);
  const s1 = await node(server.url, ["--role", "scheduler", "--node-id", "s1"], ENV);
  let s2: NodeProcess | undefined;
  let w1: NodeProcess | undefined;
  try {
    await watch.next(isLeader("s1"));
    await s1.waitFor("schedules loaded");
    s2 = await node(server.url, ["--role", "scheduler", "--node-id", "s2"], ENV);
    w1 = await node(server.url, [
      "--role",
      "worker",
      "--node-id",
      "w1",
      "--workers",
      "2",
      "--concurrency",
      "8",
    ]);
    await using client = await Client.connect(server.url);
    // `all` catches up every tick; `skip` (the default) too, as long as a tick is less
    // than MISFIRE_GRACE_MS (60 s) late: a takeover of ~1.5 s must miss nothing in either.
    const names = ["kall", "kskip"];
    await req(client, "put", {
      name: "kall",
      every: "1s",
      overlap: "allow",
      catchup: "all",
      task: { type: "echo", payload: { s: "all" } },
    });
    await req(client, "put", {
      name: "kskip",
      every: "1s",
      overlap: "allow",
      task: { type: "echo", payload: { s: "skip" } },
    });
    await until("4 runs of each", () => names.every((n) => seen(client, n).length >= 4));

    const killedAt = Date.now();
    await kill(s1);
    const took = await watch.next(isLeader("s2"), killedAt);
    const takeoverMs = took.at - killedAt;
    const epoch = Number(took.body.epoch);
    assert.equal(epoch, 2);
    // A few more seconds under the new leader, then the window closes.
    await until(
      "3 s of ticks under the new leader",
      () => names.every((n) => (seen(client, n).at(-1) ?? 0) >= took.at + 3 * SECOND),
    );
    const windowEnd = Date.now();
    const last = Math.floor((windowEnd - 1) / SECOND) * SECOND;
    const expected = new Map<string, number[]>();
    for (const n of names) {
      const first = Math.min(...seen(client, n), ...fired(watch, n).map((f) => f.nominal));
      expected.set(n, everySecond(first, last));
    }
    await until(
      "a result for every tick in the window",
      () => names.every((n) => allSeen(client, n, expected.get(n)!)()),
      10_000,
    ).catch(() => {}); // the assertions below say which are missing
    // Time for a late double to show up, had there been one.
    await new Promise((r) => setTimeout(r, 500));
    const stored = await storedResults(server.url);

    const figures: Record<string, unknown> = { takeoverMs };
    for (const n of names) {
      assertExactlyOnce(n, expected.get(n)!, client.received, stored);
      // Each tick fired by one leader only: the new one fired what the old one had not.
      const f = fired(watch, n).filter((x) => x.nominal <= last);
      const old: Fired[] = f.filter((x) => x.epoch === 1);
      const neu: Fired[] = f.filter((x) => x.epoch === epoch);
      assert.equal(old.length + neu.length, f.length, `${n}: fired by an unexpected epoch`);
      const oldIds = new Set(old.map((x) => x.id));
      const both = neu.filter((x) => oldIds.has(x.id)).map((x) => x.id);
      // By design (runner.ts), a kill between a tick's stored submission and its settling
      // in KV fires that same tick again under the same id, which the stream drops: only
      // the old leader's last tick may be fired again. The results above prove no double run.
      const lastOld = old.map((x) => x.id).at(-1);
      assert.ok(
        both.length === 0 || (both.length === 1 && both[0] === lastOld),
        `${n}: ticks fired by both leaders: ${both.join(", ")}`,
      );
      const firedIds = new Set(f.map((x) => x.id));
      assert.deepEqual(
        expected.get(n)!.map((t) => tickIdOf(n, t)).filter((id) => !firedIds.has(id)),
        [],
        `${n}: ticks in the window with no fired delta`,
      );
      // The old leader fired a run of ticks, the new one the rest of the window from the next on.
      const lastOldNominal = Math.max(...old.map((x) => x.nominal));
      assert.deepEqual(
        old.map((x) => x.nominal),
        everySecond(expected.get(n)![0], lastOldNominal),
        `${n}: ticks the old leader fired`,
      );
      assert.deepEqual(
        neu.filter((x) => !oldIds.has(x.id)).map((x) => x.nominal),
        everySecond(lastOldNominal + SECOND, last),
        `${n}: ticks the new leader fired`,
      );
      // Catch-up: what the new leader's first wake fired, the ticks due before it could fire.
      const firstNewAt = Math.min(...neu.map((x) => x.at));
      const caught = neu.filter((x) => x.nominal < firstNewAt - 20 && !oldIds.has(x.id));
      figures[`${n}.ticks`] = expected.get(n)!.length;
      figures[`${n}.caughtUp`] = caught.length;
      figures[`${n}.refired`] = both.length;
      figures[`${n}.lateBefore`] = spread(old.map((x) => x.lateMs));
      figures[`${n}.lateCatchup`] = spread(caught.map((x) => x.lateMs));
      figures[`${n}.lateAfter`] = spread(
        neu.filter((x) => x.nominal >= firstNewAt).map((x) => x.lateMs),
      );
      figures[`${n}.firstFireAfterKillMs`] = firstNewAt - killedAt;
    }
    report("schedules kill -9 leader", figures);
  } finally {
    await stopAll(w1, s2);
    await kill(s1);
  }
});

Deno.test("fault - two schedulers and a resumed pause: no tick doubled, paused ticks follow the catch-up policy", async () => {
  await using server = await TestServer.start();
  await using watch = await Watch.start(server.url);
  const procs: Record<string, NodeProcess> = {};
  try {
    procs.s1 = await node(server.url, ["--role", "scheduler", "--node-id", "s1"], ENV);
    await watch.next(isLeader("s1"));
    await procs.s1.waitFor("schedules loaded");
    procs.s2 = await node(server.url, ["--role", "scheduler", "--node-id", "s2"], ENV);
    procs.w1 = await node(server.url, [
      "--role",
      "worker",
      "--node-id",
      "w1",
      "--workers",
      "2",
      "--concurrency",
      "8",
    ]);
    await using client = await Client.connect(server.url);
    const names = ["pskip", "pone"];
    for (const [name, catchup] of [["pskip", "skip"], ["pone", "one"]]) {
      await req(client, "put", {
        name,
        every: "1s",
        overlap: "allow",
        catchup,
        task: { type: "echo", payload: { catchup } },
      });
    }
    await until("2 runs of each", () => names.every((n) => seen(client, n).length >= 2));

    // Pause both.
    const pausedAt = new Map<string, number>();
    for (const n of names) {
      const r = await req(client, "pause", { name: n, note: "fault test" });
      pausedAt.set(n, Date.now());
      assert.equal((r.schedule as { state: { paused: boolean } }).state.paused, true);
    }
    await new Promise((r) => setTimeout(r, 3_200)); // ticks accrue while paused
    for (const n of names) {
      const during = seen(client, n).filter((t) => t > pausedAt.get(n)!);
      assert.deepEqual(during, [], `${n}: ticks ran while paused`);
      const firedDuring = fired(watch, n).filter((f) => f.nominal > pausedAt.get(n)!);
      assert.deepEqual(firedDuring.map((f) => f.id), [], `${n}: ticks fired while paused`);
    }
    const paused = deltas(watch, "pskip", "paused");
    assert.ok(paused.some((d) => d.note === "fault test"), "a paused delta with the note");

    // Resume both.
    const resumeSent = new Map<string, number>();
    const resumeReply = new Map<string, number>();
    for (const n of names) {
      resumeSent.set(n, Date.now());
      await req(client, "resume", { name: n });
      resumeReply.set(n, Date.now());
    }
    // The first tick each fired after the resume.
    const firstAfter = (n: string) =>
      fired(watch, n).find((f) => f.at >= resumeSent.get(n)! && f.nominal > pausedAt.get(n)!);
    await until(
      "3 ticks of each after the resume",
      () =>
        names.every((n) => {
          const f = firstAfter(n);
          return f !== undefined &&
            seen(client, n).filter((t) => t >= f.nominal + 2 * SECOND).length >= 1;
        }),
    );

    // skip: nothing from the paused interval; the paused ticks are counted as missed.
    const fSkip = firstAfter("pskip")!;
    assert.ok(
      fSkip.nominal >= resumeSent.get("pskip")!,
      `pskip: first tick after the resume ${fSkip.id} is before the resume`,
    );
    assert.deepEqual(
      seen(client, "pskip").filter((t) => t > pausedAt.get("pskip")! && t < fSkip.nominal),
      [],
      "pskip: ran ticks of the paused interval",
    );
    const missedSkip = deltas(watch, "pskip", "missed");
    assert.ok(
      missedSkip.some((d) => Number(d.count) >= 2 && d.catchup === "skip"),
      `pskip: no missed delta with count >= 2: ${JSON.stringify(missedSkip)}`,
    );

    // one: exactly one tick from the paused interval, the latest before the resume.
    const fOne = firstAfter("pone")!;
    const latestPaused = Math.floor(resumeReply.get("pone")! / SECOND) * SECOND;
    assert.ok(
      fOne.nominal > pausedAt.get("pone")! + SECOND &&
        fOne.nominal >= Math.floor(resumeSent.get("pone")! / SECOND) * SECOND &&
        fOne.nominal <= latestPaused,
      `pone: the caught-up tick ${fOne.id} is not the latest of the paused interval`,
    );
    assert.deepEqual(
      seen(client, "pone").filter((t) => t > pausedAt.get("pone")! && t < fOne.nominal),
      [],
      "pone: ran ticks of the paused interval other than the latest",
    );
    const missedOne = deltas(watch, "pone", "missed");
    assert.ok(
      missedOne.some((d) =>
        Number(d.count) >= 1 && d.catchup === "one" &&
        Date.parse(String(d.last)) === fOne.nominal - SECOND
      ),
      `pone: no missed delta ending just before ${fOne.id}: ${JSON.stringify(missedOne)}`,
    );

    // Clean hand-over: SIGTERM the leader; the other carries on without doubles.
    const before = watch.leader()!;
    const other = before.node === "s1" ? "s2" : "s1";
    const stoppedAt = Date.now();
    const status = await kill(procs[before.node], "SIGTERM");
    const stopMs = Date.now() - stoppedAt;
    assert.equal(status.code, 0, `${before.node} exited with ${status.code}`);
    const took = await watch.next(isLeader(other), stoppedAt);
    assert.equal(Number(took.body.epoch), before.epoch + 1);
    await until(
      "3 s of ticks under the new leader",
      () => names.every((n) => (seen(client, n).at(-1) ?? 0) >= took.at + 3 * SECOND),
    );
    const last = Math.floor((Date.now() - 1) / SECOND) * SECOND;
    const expected = new Map([
      ["pskip", everySecond(fSkip.nominal, last)],
      ["pone", everySecond(fOne.nominal, last)],
    ]);
    await until(
      "a result for every tick since the resume",
      () => names.every((n) => allSeen(client, n, expected.get(n)!)()),
      10_000,
    ).catch(() => {}); // the assertions below say which are missing
    await new Promise((r) => setTimeout(r, 500));
    const stored = await storedResults(server.url);
    const figures: Record<string, unknown> = {
      handoverMs: took.at - stoppedAt,
      exitMs: stopMs,
    };
    for (const n of names) {
      assertExactlyOnce(n, expected.get(n)!, client.received, stored);
      const f = fired(watch, n);
      const ids = f.map((x) => x.id);
      assert.equal(new Set(ids).size, ids.length, `${n}: a tick fired twice: ${ids.join(", ")}`);
      const byNew = f.filter((x) => x.epoch === Number(took.body.epoch));
      assert.ok(byNew.length >= 3, `${n}: the new leader fired ${byNew.length} ticks`);
      figures[`${n}.missed`] = deltas(watch, n, "missed").map((d) => d.count).join("+");
      figures[`${n}.lateAfterHandover`] = spread(byNew.map((x) => x.lateMs));
    }
    report("schedules pause, resume, hand-over", figures);
  } finally {
    await stopAll(procs.w1, procs.s2, procs.s1);
  }
});
