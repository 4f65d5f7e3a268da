/**
 * `/metrics` and what `deploy/` builds on it: the rendered text passes
 * `promtool check metrics`, the alert rules and the example config pass
 * `promtool check rules|config` and fire as meant (`promtool test rules`),
 * and the alert rules and the Grafana dashboard name only metrics that exist.
 *
 * Needs `promtool`, from Debian's `prometheus` package (`deploy/run test`
 * installs it).
 */

import assert from "node:assert/strict";
import { METRICS, PREFIX, renderMetrics } from "../../actors/monitor/metrics.ts";
import { MonitorFold } from "../../actors/monitor/view.ts";

const ROOT = new URL("../../", import.meta.url);
const ALERTS = new URL("deploy/prometheus/alerts.yml", ROOT);
const CONFIG = new URL("deploy/prometheus/prometheus.yml", ROOT);
const DASHBOARD = new URL("deploy/grafana/task-scheduler.json", ROOT);

const WEIRD_TYPE = 'we"ird\\type\nx';
const WEIRD_SCHEDULE = 'a"b\\c\nd';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run promtool; a missing promtool fails the test with what to install. */
async function promtool(args: string[], stdin?: string): Promise<Run> {
  const cmd = new Deno.Command("promtool", {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  });
  let child: Deno.ChildProcess;
  try {
    child = cmd.spawn();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new Error(
        "promtool is not on PATH: install Debian's `prometheus` package " +
          "(`sudo apt-get install prometheus`; `deploy/run test` does it)",
      );
    }
    throw err;
  }
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function assertOk(r: Run, what: string): void {
  assert.equal(r.code, 0, `${what} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
}

/** A fold fed what a small cluster publishes: two nodes (one lost), two leaders, tasks, schedules. */
function feed(): MonitorFold {
  const f = new MonitorFold({ now: () => Date.now() });
  const inc1 = 1_795_852_518_383;
  const inc2 = 1_795_852_519_000;
  const node = (id: string, incarnation: number) => ({
    node: id,
    incarnation,
    state: "up",
    cpuLoad: 12.5,
    memoryUsed: 73_400_320,
    tasksProcessing: 0,
    tasksQueued: 0,
    capabilities: ["gpu"],
    types: ["echo", "sleep"],
    workers: 2,
    concurrency: 4,
    health: 97,
    recentFailures: 0,
    tasksSucceeded: 0,
    tasksFailed: 0,
    heartbeatAt: Date.now(),
    seq: 1,
  });
  f.apply("worker", "n1", node("n1", inc1));
  f.apply("worker", "n2", node("n2", inc2));
  f.apply("worker", "n1", {
    node: "n1",
    incarnation: inc1,
    state: "up",
    seq: 2,
    heartbeatAt: Date.now(),
    tasksProcessing: 1,
    health: 88,
  });

  f.apply("scheduler", "s1", { seq: 1, role: "leader", epoch: 1, node: "n1", previous: null });
  f.apply("scheduler", "s1", {
    seq: 2,
    held: 0,
    queued: 2,
    waiting: 0,
    retrying: 0,
    running: 1,
    accepted: 5,
    finished: 2,
    nodes: 2,
    workers: 4,
    queuedByPriority: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0],
  });
  f.apply("scheduler", "s1", {
    seq: 3,
    storage: "full",
    stream: "TASKS",
    code: "STREAM_FULL",
    reason: "holds 25 of 25 messages",
    full: ["TASKS"],
  });

  const task = (id: string, ...deltas: Record<string, unknown>[]) =>
    deltas.forEach((d, i) => f.apply("task", id, { id, seq: i + 1, ...d }));
  task(
    "t1",
    { state: "queued", type: "echo", priority: 5, attempt: 0 },
    { state: "dispatched", worker: "n1/w0", attempt: 1 },
    { state: "running", worker: "n1/w0", attempt: 1, type: "echo", waitMs: 12 },
    { state: "succeeded", attempts: 1, type: "echo", runMs: 40 },
  );
  task(
    "t2",
    { state: "queued", type: "echo", priority: 5, attempt: 0 },
    { state: "running", worker: "n1/w1", attempt: 1, type: "echo", waitMs: 3_000 },
    { state: "retrying", attempt: 1, retryInMs: 138, error: { code: "HANDLER_ERROR" } },
    { state: "queued", type: "echo", priority: 5, attempt: 1 },
    { state: "running", worker: "n1/w1", attempt: 2, type: "echo" },
    {
      state: "failed",
      attempts: 2,
      type: "echo",
      runMs: 1_500,
      error: { code: "HANDLER_ERROR", message: "boom" },
    },
  );
  task(
    "t3",
    { state: "queued", type: WEIRD_TYPE, priority: 0, attempt: 0 },
    { state: "running", worker: "n1/w0", attempt: 1, type: WEIRD_TYPE, waitMs: 0.5 },
    { state: "succeeded", attempts: 1, type: WEIRD_TYPE, runMs: 2 },
  );
  task("t4", { state: "queued", type: "sleep", priority: 0, attempt: 0 });
  task("t5", { state: "rejected", error: { code: "INVALID_ARGUMENT", message: "no type" } });

  f.apply("schedule", "nightly", { name: "nightly", seq: 1, epoch: 1, event: "created" });
  f.apply("schedule", "nightly", {
    name: "nightly",
    seq: 2,
    epoch: 1,
    event: "fired",
    id: "nightly-1",
    nominal: "2026-11-28T02:00:00.000Z",
    lateMs: 4,
    fired: 1,
    triggered: 0,
  });
  f.apply("schedule", "nightly", {
    name: "nightly",
    seq: 3,
    epoch: 1,
    event: "missed",
    count: 3,
    first: "2026-11-28T03:00:00.000Z",
    last: "2026-11-28T05:00:00.000Z",
    catchup: "one",
    missed: 3,
  });
  f.apply("schedule", "nightly", {
    name: "nightly",
    seq: 4,
    epoch: 1,
    event: "skipped",
    id: "nightly-5",
    reason: "overlap",
    active: ["nightly-4"],
    skipped: 1,
  });
  f.apply("schedule", WEIRD_SCHEDULE, {
    name: WEIRD_SCHEDULE,
    seq: 1,
    epoch: 1,
    event: "fired",
    id: "w-1",
    fired: 1,
    triggered: 0,
  });

  f.apply("supervisor", "n1", {
    node: "n1",
    seq: 1,
    type: "child.restarting",
    supervisor: "workers",
    children: ["w0"],
    delayMs: 100,
    restartsInWindow: 1,
  });

  // n2 falls silent; s2 takes over from s1.
  f.apply("worker", "n2", { node: "n2", incarnation: inc2, state: "lost", seq: 0 });
  f.apply("scheduler", "s2", { seq: 1, role: "follower", node: "n2" });
  f.apply("scheduler", "s2", { seq: 2, role: "leader", epoch: 2, previous: "s1" });
  f.apply("scheduler", "s1", { seq: 4, role: "follower", epoch: 1, reason: "lease lost" });
  f.apply("scheduler", "s2", {
    seq: 3,
    held: 0,
    queued: 3,
    waiting: 0,
    retrying: 0,
    running: 0,
    accepted: 5,
    finished: 3,
    nodes: 1,
    workers: 2,
    queuedByPriority: [2, 0, 0, 0, 0, 1, 0, 0, 0, 0],
  });
  f.apply("scheduler", "s2", {
    seq: 4,
    storage: "full",
    stream: "RESULTS",
    code: "STORAGE_FULL",
    reason: "insufficient resources",
    full: ["RESULTS"],
  });
  return f;
}

/** Sample lines as `name{labels}` -> value. */
function samples(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of text.split("\n")) {
    if (l === "" || l.startsWith("#")) continue;
    const at = l.lastIndexOf(" ");
    const key = l.slice(0, at);
    assert.ok(!out.has(key), `series written twice: ${key}`);
    out.set(key, l.slice(at + 1));
  }
  return out;
}

/** The value of a label in the text format, unescaped. */
function unescapeLabel(s: string): string {
  return s.replace(/\\(["\\n])/g, (_, c) => (c === "n" ? "\n" : c));
}

/** `task_scheduler_*` names in a text, and those METRICS does not have. */
function unknownMetrics(text: string): { names: Set<string>; unknown: string[] } {
  const names = new Set(text.match(/\btask_scheduler_[a-z0-9_]+/g) ?? []);
  const unknown = [...names].filter((n) => {
    const m = n.slice(PREFIX.length);
    if (m in METRICS) return false;
    const base = m.replace(/_(bucket|sum|count)$/, "");
    return !(base !== m && METRICS[base as keyof typeof METRICS]?.[0] === "histogram");
  });
  return { names, unknown };
}

Deno.test("renderMetrics - a fed fold passes promtool check metrics", async () => {
  const text = renderMetrics(feed(), { webhookFailures: 2 });
  const r = await promtool(["check", "metrics"], text);
  // promtool 2.42 exits 0 and prints nothing when the text is clean; lint problems go to stderr
  // with exit 3, a parse error with exit 1.
  assertOk(r, "promtool check metrics");
  assert.equal(r.stdout + r.stderr, "", "promtool check metrics reported problems");
});

Deno.test("renderMetrics - values of a fed fold", () => {
  const text = renderMetrics(feed(), { webhookFailures: 2 });
  const s = samples(text);
  const v = (series: string) => s.get(PREFIX + series);

  for (const [name, [type, help]] of Object.entries(METRICS)) {
    assert.ok(`\n${text}`.includes(`\n# HELP ${PREFIX}${name} ${help}\n`), `HELP of ${name}`);
    assert.equal(text.split(`# TYPE ${PREFIX}${name} ${type}\n`).length, 2, `TYPE of ${name}`);
  }
  assert.ok(text.endsWith("\n"));

  assert.equal(v('tasks_submitted_total{type="echo"}'), "2");
  assert.equal(v('tasks_submitted_total{type="sleep"}'), "1");
  assert.equal(v('tasks_finished_total{type="echo",state="succeeded"}'), "1");
  assert.equal(v('tasks_finished_total{type="echo",state="failed"}'), "1");
  assert.equal(v('tasks_finished_total{type="unknown",state="rejected"}'), "1");
  assert.equal(v('tasks{state="queued"}'), "3");
  assert.equal(v('tasks{state="running"}'), "0");

  // The new leader's counts, not the old one's.
  assert.equal(v('queue_depth{priority="0"}'), "2");
  assert.equal(v('queue_depth{priority="5"}'), "1");
  assert.equal(v('queue_depth{priority="9"}'), "0");
  assert.equal(text.match(/^task_scheduler_queue_depth\{/gm)?.length, 10);

  // Wait: 0.012 s and 3 s (the retry's attempt has no waitMs). Run: 0.04 s and 1.5 s.
  assert.equal(v('task_wait_seconds_bucket{type="echo",le="0.01"}'), "0");
  assert.equal(v('task_wait_seconds_bucket{type="echo",le="0.025"}'), "1");
  assert.equal(v('task_wait_seconds_bucket{type="echo",le="2.5"}'), "1");
  assert.equal(v('task_wait_seconds_bucket{type="echo",le="5"}'), "2");
  assert.equal(v('task_wait_seconds_bucket{type="echo",le="+Inf"}'), "2");
  assert.equal(v('task_wait_seconds_count{type="echo"}'), "2");
  assert.equal(v('task_wait_seconds_sum{type="echo"}'), String(0.012 + 3));
  assert.equal(v('task_run_seconds_bucket{type="echo",le="0.025"}'), "0");
  assert.equal(v('task_run_seconds_bucket{type="echo",le="0.05"}'), "1");
  assert.equal(v('task_run_seconds_bucket{type="echo",le="1"}'), "1");
  assert.equal(v('task_run_seconds_bucket{type="echo",le="2.5"}'), "2");
  assert.equal(v('task_run_seconds_count{type="echo"}'), "2");
  for (const [key, value] of s) {
    const m = key.match(/^(task_scheduler_\w+)_bucket\{type="((?:[^"\\]|\\.)*)",le="\+Inf"\}$/);
    if (m) assert.equal(value, s.get(`${m[1]}_count{type="${m[2]}"}`), `${key} equals _count`);
  }

  assert.equal(v('nodes{state="up"}'), "1");
  assert.equal(v('nodes{state="lost"}'), "1");
  assert.equal(v('nodes{state="draining"}'), "0");
  assert.equal(v('node_up{node="n1"}'), "1");
  assert.equal(v('node_up{node="n2"}'), "0");
  assert.equal(v('node_health{node="n1"}'), "88");
  assert.equal(v('node_health{node="n2"}'), "0");
  assert.equal(v('node_cpu_load_percent{node="n1"}'), "12.5");
  assert.equal(v('node_memory_bytes{node="n1"}'), "73400320");
  assert.equal(v('worker_slots{node="n1",state="busy"}'), "1");
  assert.equal(v('worker_slots{node="n1",state="free"}'), "3");
  assert.equal(v('worker_slots{node="n2",state="busy"}'), "0");
  assert.equal(v('worker_slots{node="n2",state="free"}'), "0");
  assert.equal(v('node_fenced_reports_total{node="n1"}'), "0");

  assert.equal(v("leader"), "1");
  assert.equal(v("leader_epoch"), "2");
  assert.equal(v("leader_changes_total"), "1");
  assert.equal(v('storage_full{stream="RESULTS"}'), "1");
  assert.equal(v('storage_full{stream="TASKS"}'), "0");

  assert.equal(v('schedule_ticks_total{schedule="nightly",result="fired"}'), "1");
  assert.equal(v('schedule_ticks_total{schedule="nightly",result="missed"}'), "3");
  assert.equal(v('schedule_ticks_total{schedule="nightly",result="skipped"}'), "1");
  assert.equal(v('actor_restarts_total{actor="w0"}'), "1");

  assert.equal(v('alerts_total{kind="task-failed"}'), "1");
  assert.equal(v('alerts_total{kind="schedule-missed"}'), "1");
  assert.equal(v('alerts_total{kind="schedule-skipped"}'), "1");
  assert.equal(v('alerts_total{kind="node-lost"}'), "1");
  assert.equal(v('alerts_total{kind="leader-change"}'), "1");
  assert.equal(v("alert_webhook_failures_total"), "2");
  assert.equal(v("monitor_gaps_total"), "0");
  assert.ok(Number(v("monitor_deltas_total")) > 20);

  // Quotes, backslashes and newlines in label values are escaped, and read back the same.
  assert.equal(v(String.raw`tasks_submitted_total{type="we\"ird\\type\nx"}`), "1");
  assert.equal(v(String.raw`tasks_finished_total{type="we\"ird\\type\nx",state="succeeded"}`), "1");
  assert.equal(v(String.raw`task_wait_seconds_bucket{type="we\"ird\\type\nx",le="0.001"}`), "1");
  assert.equal(
    v(String.raw`schedule_ticks_total{schedule="a\"b\\c\nd",result="fired"}`),
    "1",
  );
  const back = new Set<string>();
  for (const key of s.keys()) {
    for (const m of key.matchAll(/="((?:[^"\\]|\\.)*)"/g)) back.add(unescapeLabel(m[1]));
  }
  assert.ok(back.has(WEIRD_TYPE) && back.has(WEIRD_SCHEDULE));
  assert.ok(!text.split("\n").some((l) => l.startsWith("x") || l.startsWith("d")));
});

Deno.test("renderMetrics - an empty fold passes promtool check metrics", async () => {
  const text = renderMetrics(new MonitorFold({ now: () => Date.now() }), { webhookFailures: 0 });
  const r = await promtool(["check", "metrics"], text);
  assertOk(r, "promtool check metrics");
  assert.equal(r.stdout + r.stderr, "");
  assert.ok(text.includes("\ntask_scheduler_leader 0\n"));
});

Deno.test("deploy/prometheus - promtool check rules and check config", async () => {
  const rules = await promtool(["check", "rules", ALERTS.pathname]);
  assertOk(rules, "promtool check rules");
  assert.match(rules.stdout, /SUCCESS: 11 rules found/);
  // Resolves rule_files relative to the config, so this checks alerts.yml once more.
  const config = await promtool(["check", "config", CONFIG.pathname]);
  assertOk(config, "promtool check config");
  assert.match(config.stdout, /SUCCESS: 1 rule files found/);
  assert.match(config.stdout, /SUCCESS: 11 rules found/);
});

Deno.test("deploy/prometheus/alerts.yml - shape, and only metrics that exist", async () => {
  const text = await Deno.readTextFile(ALERTS);
  assert.match(text, /^groups:\n {2}- name: task-scheduler\n/m);
  const alerts = text.split(/^ {6}- alert: /m).slice(1);
  assert.equal(alerts.length, 11);
  for (const a of alerts) {
    const name = a.slice(0, a.indexOf("\n"));
    assert.match(a, /\n {8}labels:\n {10}severity: (critical|warning)\n/, `${name}: severity`);
    assert.match(a, /\n {10}summary: "[^"]+"\n/, `${name}: summary`);
    assert.match(a, /\n {10}description: "[^"]+"\n/, `${name}: description`);
  }
  const { names, unknown } = unknownMetrics(text);
  assert.deepEqual(unknown, [], "alerts.yml names metrics that /metrics does not have");
  for (
    const m of [
      "tasks_finished_total",
      "nodes",
      "node_up",
      "leader",
      "leader_changes_total",
      "queue_depth",
      "task_wait_seconds_bucket",
      "schedule_ticks_total",
      "storage_full",
      "node_health",
    ]
  ) {
    assert.ok(names.has(PREFIX + m), `alerts.yml uses ${PREFIX}${m}`);
  }
  assert.match(text, /up\{job="task-scheduler"\} == 0/);
});

Deno.test("deploy/prometheus/alerts.yml - the alerts fire (promtool test rules)", async () => {
  // Annotations are left out: exp_alerts would have to repeat their wording.
  const full = await Deno.readTextFile(ALERTS);
  const bare = full.replace(/^ {8}annotations:\n(?: {10}.*\n)+/gm, "");
  assert.equal(
    bare.match(/annotations:/g),
    null,
    "alerts.yml annotations not in the expected shape",
  );
  const dir = await Deno.makeTempDir({ prefix: "monitoring_test_" });
  try {
    await Deno.writeTextFile(`${dir}/alerts.yml`, bare);
    const L = 'job="task-scheduler",instance="m:8090"';
    const at = { job: "task-scheduler", instance: "m:8090" };
    const series = (s: string, values: string) => ({ series: s, values });
    const expect = (eval_time: string, alertname: string, ...labels: Record<string, string>[]) => ({
      eval_time,
      alertname,
      exp_alerts: labels.map((l) => ({ exp_labels: { ...at, ...l } })),
    });
    const tests = {
      rule_files: ["alerts.yml"],
      evaluation_interval: "1m",
      tests: [{
        interval: "1m",
        input_series: [
          series(`up{${L}}`, "1 1 0 0 0 0"),
          series(`task_scheduler_nodes{${L},state="lost"}`, "0 0 1 1 1 1"),
          series(`task_scheduler_leader{${L}}`, "1 1 0 0 0 0"),
          series(`task_scheduler_leader_changes_total{${L}}`, "0 1 2 3 4 5"),
          series(`task_scheduler_storage_full{${L},stream="TASKS"}`, "0 1 1 1 1 1"),
          series(`task_scheduler_storage_full{${L},stream="RESULTS"}`, "0 0 0 0 0 0"),
          // A task type's first failure: a series that starts at 1.
          series(
            `task_scheduler_tasks_finished_total{${L},type="echo",state="failed"}`,
            "_ _ 1x20",
          ),
          // One that was there: alerts when it grows.
          series(
            `task_scheduler_tasks_finished_total{${L},type="sleep",state="failed"}`,
            "1x12 2x10",
          ),
          series(
            `task_scheduler_tasks_finished_total{${L},type="sleep",state="succeeded"}`,
            "0+5x22",
          ),
          series(
            `task_scheduler_schedule_ticks_total{${L},schedule="nightly",result="missed"}`,
            "_ _ 3x20",
          ),
          series(
            `task_scheduler_schedule_ticks_total{${L},schedule="nightly",result="fired"}`,
            "0+1x22",
          ),
          series(`task_scheduler_queue_depth{${L},priority="0"}`, "600x20"),
          series(`task_scheduler_queue_depth{${L},priority="5"}`, "600x20"),
          series(`task_scheduler_task_wait_seconds_bucket{${L},type="echo",le="60"}`, "0x20"),
          series(`task_scheduler_task_wait_seconds_bucket{${L},type="echo",le="300"}`, "0+10x20"),
          series(`task_scheduler_task_wait_seconds_bucket{${L},type="echo",le="+Inf"}`, "0+10x20"),
          // n1 unhealthy, n2 lost (health 0), n3 draining, n4 left.
          series(`task_scheduler_node_health{${L},node="n1"}`, "40x10"),
          series(`task_scheduler_node_up{${L},node="n1"}`, "1x10"),
          series(`task_scheduler_node_health{${L},node="n2"}`, "0x10"),
          series(`task_scheduler_node_up{${L},node="n2"}`, "0x10"),
          series(`task_scheduler_node_up{${L},node="n3"}`, "0x10"),
          series(`task_scheduler_worker_slots{${L},node="n3",state="busy"}`, "1x10"),
          series(`task_scheduler_worker_slots{${L},node="n3",state="free"}`, "3x10"),
          series(`task_scheduler_node_up{${L},node="n4"}`, "0x10"),
          series(`task_scheduler_worker_slots{${L},node="n4",state="busy"}`, "0x10"),
          series(`task_scheduler_worker_slots{${L},node="n4",state="free"}`, "0x10"),
        ],
        alert_rule_test: [
          expect("1m", "TaskSchedulerMonitorDown"),
          expect("4m", "TaskSchedulerMonitorDown", { severity: "critical" }),
          expect("1m", "TaskSchedulerNodeLost"),
          expect("2m", "TaskSchedulerNodeLost", { severity: "critical", state: "lost" }),
          expect("2m", "TaskSchedulerNoLeader"), // pending for 30 s
          expect("3m", "TaskSchedulerNoLeader", { severity: "critical" }),
          expect("5m", "TaskSchedulerLeaderFlapping", { severity: "warning" }),
          expect("1m", "TaskSchedulerStorageFull", { severity: "critical", stream: "TASKS" }),
          expect("1m", "TaskSchedulerTasksFailed", { severity: "warning", type: "sleep" }),
          expect("3m", "TaskSchedulerTasksFailed", { severity: "warning", type: "echo" }, {
            severity: "warning",
            type: "sleep",
          }),
          expect("12m", "TaskSchedulerTasksFailed"),
          expect("14m", "TaskSchedulerTasksFailed", { severity: "warning", type: "sleep" }),
          expect("3m", "TaskSchedulerScheduleTicksMissed", {
            severity: "warning",
            schedule: "nightly",
          }),
          expect("20m", "TaskSchedulerScheduleTicksMissed"),
          expect("9m", "TaskSchedulerQueueBacklog"),
          expect("11m", "TaskSchedulerQueueBacklog", { severity: "warning" }),
          expect("16m", "TaskSchedulerWaitP99High", { severity: "warning" }),
          expect("6m", "TaskSchedulerNodeUnhealthy", { severity: "warning", node: "n1" }),
          expect("6m", "TaskSchedulerNodeStuckDraining", { severity: "warning", node: "n3" }),
        ],
      }],
    };
    // JSON is YAML.
    await Deno.writeTextFile(`${dir}/alerts_test.yml`, JSON.stringify(tests, null, 1));
    const r = await promtool(["test", "rules", `${dir}/alerts_test.yml`]);
    assertOk(r, "promtool test rules");
    assert.match(r.stdout, /SUCCESS/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

interface Panel {
  id: number;
  title: string;
  type: string;
  datasource?: { type?: string; uid?: string };
  gridPos?: { x: number; y: number; w: number; h: number };
  targets?: { expr?: string; refId?: string; datasource?: { uid?: string } }[];
}

Deno.test("deploy/grafana/task-scheduler.json - parses, panels have data, metrics exist", async () => {
  const text = await Deno.readTextFile(DASHBOARD);
  const d = JSON.parse(text);
  assert.equal(d.schemaVersion, 39);
  assert.ok(
    d.__inputs.some((i: Record<string, string>) =>
      i.name === "DS_PROMETHEUS" && i.type === "datasource" && i.pluginId === "prometheus"
    ),
    "__inputs has DS_PROMETHEUS",
  );
  const panels = d.panels as Panel[];
  assert.ok(panels.length >= 11);
  assert.equal(new Set(panels.map((p) => p.id)).size, panels.length, "panel ids unique");
  const exprs: string[] = [];
  for (const p of panels) {
    assert.equal(p.datasource?.uid, "${DS_PROMETHEUS}", `${p.title}: datasource`);
    assert.ok(p.gridPos && p.gridPos.x + p.gridPos.w <= 24, `${p.title}: gridPos`);
    assert.ok(p.targets && p.targets.length >= 1, `${p.title}: a target`);
    for (const t of p.targets) {
      assert.ok(t.expr && t.refId, `${p.title}: target with expr and refId`);
      assert.equal(t.datasource?.uid ?? p.datasource?.uid, "${DS_PROMETHEUS}");
      exprs.push(t.expr);
    }
  }
  const { names, unknown } = unknownMetrics(text);
  assert.deepEqual(unknown, [], "the dashboard names metrics that /metrics does not have");
  for (
    const m of [
      "tasks_submitted_total",
      "tasks_finished_total",
      "queue_depth",
      "task_wait_seconds_bucket",
      "task_run_seconds_bucket",
      "nodes",
      "node_health",
      "worker_slots",
      "leader_epoch",
      "leader_changes_total",
      "schedule_ticks_total",
      "actor_restarts_total",
      "storage_full",
    ]
  ) {
    assert.ok(names.has(PREFIX + m), `the dashboard shows ${PREFIX}${m}`);
  }

  // Every query is valid PromQL once Grafana's variables are filled in.
  const rules = {
    groups: [{
      name: "dashboard",
      rules: exprs.map((e, i) => ({
        record: `dashboard_query_${i}`,
        expr: e.replaceAll("$__rate_interval", "1m").replaceAll("$instance", "m:8090"),
      })),
    }],
  };
  assert.ok(!rules.groups[0].rules.some((r) => r.expr.includes("$")), "unknown variable");
  const dir = await Deno.makeTempDir({ prefix: "monitoring_test_" });
  try {
    await Deno.writeTextFile(`${dir}/dashboard.yml`, JSON.stringify(rules));
    assertOk(await promtool(["check", "rules", `${dir}/dashboard.yml`]), "dashboard queries");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
