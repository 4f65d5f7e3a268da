/**
 * `deno task top`: the live view under a pseudo-terminal (util-linux
 * `script`), one plain frame with `--once`, usage and unreachable exits, and
 * the pure rendering. The monitor deltas are published by hand on a test
 * nats-server, as the scheduler and the worker nodes would.
 */

import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { TestServer } from "../../_nats_server.ts";
import { freePort } from "../../../src/transport/nats_server.ts";
import { MonitorFold } from "../../../actors/monitor/view.ts";
import {
  cellWidth,
  clipCells,
  healthBar,
  inPlace,
  plain,
  progressBar,
  renderFrame,
  sanitize,
} from "../../../actors/cli/top_render.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;
const TOP = `${ROOT}actors/cli/top.ts`;
const RUN = ["run", "--no-prompt", "--allow-net", "--allow-env", "--allow-read", TOP];
/** Variables of the caller's environment that would change where top connects. */
const ENV: Record<string, string> = {
  NO_COLOR: "",
  TASK_SCHEDULER_MESSAGE_BROKER: "",
  TASK_SCHEDULER_SUBJECT_PREFIX: "",
  TASK_SCHEDULER_NATS_USER: "",
  TASK_SCHEDULER_NATS_PASSWORD: "",
  TASK_SCHEDULER_TLS_CERT: "",
  TASK_SCHEDULER_TLS_KEY: "",
  TASK_SCHEDULER_TLS_CA: "",
};
const LEADER = "n1-85ed2fcc";
const enc = new TextEncoder();

function pub(nc: NatsConnection, subject: string, body: unknown): void {
  nc.publish(subject, enc.encode(JSON.stringify(body)));
}

/** A first heartbeat of an incarnation: every field (PROTOCOL 7.3). */
function heartbeat(node: string, incarnation: number, health: number, busy: number) {
  return {
    node,
    incarnation,
    state: "up",
    seq: 1,
    heartbeatAt: Date.now(),
    cpuLoad: 12.5,
    memoryUsed: 120 * 1024 * 1024,
    tasksProcessing: busy,
    tasksQueued: 0,
    capabilities: [],
    types: ["sleep", "echo"],
    workers: 2,
    concurrency: 4,
    health,
    recentFailures: 0,
    tasksSucceeded: 5,
    tasksFailed: 0,
  };
}

/** Run top with `args`, stdout piped (no terminal). */
async function runTop(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...RUN, ...args],
    cwd: ROOT,
    env: ENV,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** Top under a pseudo-terminal of 120x40, its output collected as it comes. */
function ptyTop(server: string) {
  const cmd = `stty cols 120 rows 40; exec ${
    [Deno.execPath(), ...RUN, "--server", server, "--interval", "200"].map(shellQuote).join(" ")
  }`;
  const child = new Deno.Command("script", {
    args: ["-qfec", cmd, "/dev/null"],
    cwd: ROOT,
    env: ENV,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const waiters = new Set<() => void>();
  const reading = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of child.stdout) {
      output += dec.decode(chunk, { stream: true });
      for (const w of [...waiters]) w();
    }
    for (const w of [...waiters]) w();
  })();
  const stderr = new Response(child.stderr).text();
  let ended = false;
  const status = child.status.then((s) => {
    ended = true;
    for (const w of [...waiters]) w();
    return s;
  });
  return {
    child,
    get output() {
      return output;
    },
    /** Resolves when the output so far satisfies `ok`; rejects on `timeoutMs` or an exit. */
    waitFor(what: string, ok: (out: string) => boolean, timeoutMs = 20_000): Promise<void> {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (ok(output)) {
            done();
            resolve();
          } else if (ended) {
            done();
            reject(new Error(`top ended before ${what}; output:\n${JSON.stringify(output)}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(`no ${what} within ${timeoutMs} ms; output:\n${JSON.stringify(output)}`),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    /** Type on the terminal. */
    async type(text: string): Promise<void> {
      const w = child.stdin.getWriter();
      await w.write(enc.encode(text));
      w.releaseLock();
    },
    async end(): Promise<{ code: number; stderr: string }> {
      const s = await status;
      await reading;
      await child.stdin.close().catch(() => {});
      return { code: s.code, stderr: await stderr };
    },
  };
}

/** The text of the last frame drawn in place (after the last cursor-home). */
function lastFrame(out: string): string {
  return out.slice(out.lastIndexOf("\x1b[H"));
}

Deno.test("top under a terminal: nodes, leader, progress, a lost node; Ctrl-C restores the screen", async () => {
  await using server = await TestServer.start();
  const nc = await connect({ servers: server.url, name: "top-test" });
  const top = ptyTop(server.url);
  try {
    // The first frame is drawn once top's subscriptions are on the server.
    await top.waitFor("the first frame", (o) => o.includes("task-scheduler top"));
    assert.ok(top.output.includes("\x1b[?1049h"), "enters the alternate screen");

    const now = Date.now();
    pub(nc, `monitor.scheduler.${LEADER}`, {
      id: LEADER,
      seq: 1,
      role: "leader",
      epoch: 3,
      previous: null,
    });
    pub(nc, `monitor.scheduler.${LEADER}`, {
      id: LEADER,
      seq: 2,
      held: 4,
      queued: 2,
      waiting: 0,
      retrying: 0,
      running: 1,
      accepted: 10,
      finished: 5,
      nodes: 2,
      workers: 4,
      queuedByPriority: [0, 0, 0, 0, 0, 2, 0, 0, 0, 0],
    });
    pub(nc, "monitor.worker.alpha", heartbeat("alpha", now - 5_000, 85, 1));
    pub(nc, "monitor.worker.bravo", heartbeat("bravo", now - 4_000, 40, 0));
    pub(nc, "monitor.task.s1", {
      id: "s1",
      seq: 1,
      state: "queued",
      priority: 5,
      type: "sleep",
      attempt: 0,
    });
    pub(nc, "monitor.task.s1", {
      id: "s1",
      seq: 2,
      state: "running",
      worker: "alpha/w1",
      attempt: 1,
      type: "sleep",
      waitMs: 12,
    });
    pub(nc, "tasks.progress.s1", {
      id: "s1",
      progress: 0.4,
      message: "slept 1200 of 3000 ms",
      attempt: 1,
      worker: "alpha/w1",
    });
    await nc.flush();
    await top.waitFor(
      "the nodes, the leader and the progress",
      (o) =>
        ["alpha", "bravo", LEADER, "epoch 3", "40%", "slept 1200 of 3000 ms", "held 4"].every((s) =>
          lastFrame(o).includes(s)
        ),
    );
    assert.ok(!lastFrame(top.output).includes("LOST"), "no node is lost yet");

    pub(nc, "monitor.worker.bravo", {
      node: "bravo",
      incarnation: now - 4_000,
      state: "lost",
      seq: 0,
    });
    pub(nc, `monitor.scheduler.${LEADER}`, {
      id: LEADER,
      seq: 3,
      event: "node-lost",
      node: "bravo",
      requeued: 0,
    });
    await nc.flush();
    await top.waitFor(
      "the lost marker and its alert",
      (o) => /bravo +✗ LOST/.test(lastFrame(o)) && lastFrame(o).includes("node bravo lost"),
    );
    const frame = lastFrame(top.output);
    assert.match(frame, /alpha +up +█{9}░ +85/, "alpha's health bar");
    assert.match(frame, /s1 +sleep +alpha\/w1 +█{8}░{12} +40% +slept 1200 of 3000 ms/);
    assert.match(frame, /1\/4/, "alpha's slots busy/total");

    // Ctrl-C on the terminal: the pty's line discipline sends deno SIGINT. (A SIGINT to
    // `script` itself would make it kill the session without reading the last output.)
    await top.type("\x03");
    const { code, stderr } = await top.end();
    assert.equal(code, 0, `exit 0 after SIGINT; stderr: ${stderr}`);
    const out = top.output;
    const tail = out.slice(out.lastIndexOf("\x1b[J") + 3);
    assert.ok(tail.includes("\x1b[?1049l"), `leaves the alternate screen: ${JSON.stringify(tail)}`);
    assert.ok(tail.includes("\x1b[?25h"), `shows the cursor again: ${JSON.stringify(tail)}`);
    assert.ok(out.trimEnd().endsWith("\x1b[?25h") || out.trimEnd().endsWith("\x1b[?1049l"));
  } finally {
    try {
      top.child.kill("SIGKILL");
    } catch {
      // ended already
    }
    await top.end().catch(() => {});
    await nc.close();
  }
});

Deno.test("top --once without a terminal: one plain frame from the monitor snapshot", async () => {
  await using server = await TestServer.start();
  const nc = await connect({ servers: server.url, name: "fake-monitor" });
  try {
    const inc = Date.now() - 60_000;
    // A monitor process's picture (PROTOCOL 7.6): one node up, one declared lost.
    nc.subscribe("monitor.snapshot", {
      callback: (_err, m) => {
        m.respond(enc.encode(JSON.stringify({
          nodes: {
            n7: { ...heartbeat("n7", inc, 60, 2), seq: 40 },
            n8: { ...heartbeat("n8", inc, 90, 0), state: "lost", seq: 0 },
          },
          schedulers: {
            [LEADER]: { id: LEADER, role: "leader", epoch: 2, seq: 10, held: 7, queued: 3 },
          },
          tasks: { held: 7, queued: 3, waiting: 0, retrying: 0, running: 2, accepted: 9 },
          applied: 50,
          gaps: 0,
        })));
      },
    });
    await nc.flush();
    const r = await runTop(["--once", "--server", server.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes("\x1b"), `no escape codes: ${JSON.stringify(r.stdout)}`);
    for (const s of ["task-scheduler top", LEADER, "epoch 2", "held 7", "queued 3", "running 2"]) {
      assert.ok(r.stdout.includes(s), `${s} in:\n${r.stdout}`);
    }
    assert.match(r.stdout, /n7 +up +██████░░░░ +60/);
    assert.match(r.stdout, /n8 +✗ LOST/);
    assert.match(r.stdout, /2\/4/);
    assert.equal(r.stdout.split("task-scheduler top").length, 2, "one frame");
    for (const line of r.stdout.trimEnd().split("\n")) assert.ok(cellWidth(line) <= 100, line);
  } finally {
    await nc.close();
  }
});

Deno.test("top --once with no monitor process: a frame all the same", async () => {
  await using server = await TestServer.start();
  const r = await runTop(["--once", "--server", server.url]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /no monitor answered/);
  assert.match(r.stdout, /NODES +none seen yet/);
});

Deno.test("top: --help, bad flags exit 2 naming the flag, no NATS exits 9", async () => {
  const help = await runTop(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: deno task top/);
  assert.match(help.stdout, /--interval/);

  const bad = await runTop(["--bogus"]);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /--bogus/);
  assert.match(bad.stderr, /deno task top --help/);

  const interval = await runTop(["--interval", "soon"]);
  assert.equal(interval.code, 2, interval.stderr);
  assert.match(interval.stderr, /--interval/);

  const prefix = await runTop(["--prefix", "a.b", "--once"]);
  assert.equal(prefix.code, 2, prefix.stderr);
  assert.match(prefix.stderr, /--prefix/);

  const closed = `nats://127.0.0.1:${freePort()}`;
  const gone = await runTop(["--server", closed, "--once"]);
  assert.equal(gone.code, 9, gone.stderr);
  assert.match(gone.stderr, /cannot connect to NATS at nats:\/\/127\.0\.0\.1:\d+/);
  assert.equal(gone.stdout, "");
});

// --- rendering ---------------------------------------------------------------

Deno.test("top rendering: bars, cells, clipping, sanitizing", () => {
  assert.equal(healthBar(50, 10), "█████░░░░░  50");
  assert.equal(healthBar(100, 4), "████ 100");
  assert.equal(healthBar(0, 4), "░░░░   0");
  assert.equal(healthBar(250, 4), "████ 100");
  assert.equal(healthBar(undefined, 4), "····   -");
  assert.equal(progressBar(0.4, 10), "████░░░░░░  40%");
  assert.equal(progressBar(0.999, 10), "██████████  99%");
  assert.equal(progressBar(-1, 5), "░░░░░   0%");
  assert.equal(progressBar(undefined, 5), "·····    -");
  assert.equal(clipCells("abcdef", 4), "abc…");
  assert.equal(clipCells("abcd", 4), "abcd");
  assert.equal(cellWidth("日本語"), 6);
  assert.equal(clipCells("日本語テキスト", 7), "日本語…");
  assert.ok(cellWidth(clipCells("日本語テキスト", 7)) <= 7);
  assert.equal(sanitize("a\x1b[2Jb\nc\u202ed"), "a [2Jb c d");
});

Deno.test("top rendering: every line fits the width and the frame the height", () => {
  let now = 1_800_000_000_000;
  const fold = new MonitorFold({ now: () => now });
  fold.apply("scheduler", LEADER, { id: LEADER, seq: 1, role: "leader", epoch: 1 });
  for (let i = 0; i < 30; i++) {
    fold.apply("worker", `node-with-a-rather-long-name-${i}`, heartbeat(`n${i}`, 1, i * 3, 1));
  }
  for (let i = 0; i < 50; i++) {
    fold.apply("task", `t${i}`, { id: `t${i}`, seq: 1, state: "running", type: "compute" });
    fold.apply("progress", `t${i}`, { progress: i / 50, message: `步骤 ${i} `.repeat(20) });
  }
  fold.apply("worker", "node-with-a-rather-long-name-3", { state: "lost", seq: 0 });
  now += 1_000;
  for (const [width, height] of [[40, 12], [80, 24], [120, 40], [200, 60]]) {
    const frame = renderFrame({
      fold,
      now,
      width,
      height,
      server: "nats://127.0.0.1:4222",
      connected: true,
    });
    assert.ok(frame.length <= height, `${frame.length} lines in ${height}`);
    for (const l of frame) assert.ok(cellWidth(l.text) <= width, `${width}: ${l.text}`);
    const text = plain(frame);
    if (height < 24) continue; // a tiny terminal shows what fits, no more
    const cut = height < 48;
    assert.match(text, cut ? /… \d+ more nodes/ : /…\S*name-29 /, "the nodes that fit, counted");
    assert.match(text, /RUNNING {2}50 \(newest \d+ shown\)/);
    assert.match(text, /t49 +compute +- +█+░* +98% +步骤 49/, "newest first");
    assert.match(text, /ALERTS {2}1 recent/);
    const drawn = inPlace(frame, true);
    assert.ok(drawn.startsWith("\x1b[H") && drawn.endsWith("\x1b[J"));
    assert.ok(!drawn.endsWith("\n\x1b[J"), "no newline after the last line");
  }
});
