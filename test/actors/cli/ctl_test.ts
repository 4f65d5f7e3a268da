/**
 * `deno task ctl` run as a subprocess against a real nats-server with a node
 * running in process: submit (and --wait with its exit codes), status,
 * result, cancel, list, dlq, retry, purge, schedules, nodes, login and token,
 * `--json` output parsed, bad usage, a missing token and unreachable servers.
 */

import assert from "node:assert/strict";
import {
  type HandlerDefinition,
  mintToken,
  newUser,
  subjects,
  UserStore,
} from "../../../src/internal_mod.ts";
import { freePort } from "../../../src/transport/nats_server.ts";
import { SECRET } from "../../_cluster.ts";
import { TestServer } from "../../_nats_server.ts";
import { type Rig, rig } from "../../e2e/_node.ts";
import { ctl, type Run, show } from "./_ctl.ts";

/** Fails while `broken.now` is true: the fault an operator fixes before retrying. */
const broken = { now: true };
const fragile: HandlerDefinition = {
  type: "fragile",
  // deno-lint-ignore require-yield
  handler: async function* (payload) {
    if (broken.now) throw new Error("the disk is full");
    return { done: payload };
  },
};

/** The CLI against the rig with a token of `roles`. */
async function as(r: Rig, roles: string[], sub = "ops") {
  const token = await mintToken(SECRET, { sub, roles });
  return (args: string[], opts: { env?: Record<string, string>; stdin?: string } = {}) =>
    ctl(r.server.url, args, { ...opts, env: { TASK_SCHEDULER_TOKEN: token, ...opts.env } });
}

function expect(r: Run, code: number): Run {
  assert.equal(r.code, code, show(r));
  return r;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

Deno.test("ctl - submit --wait exits with the result's code: succeeded 0, failed 3, cancelled 4, expired 5, rejected 6", async () => {
  broken.now = true;
  await using r = await rig({ handlers: [fragile] });
  const admin = await as(r, ["admin"]);

  const [echo, echoJson, sleep, failed, failedJson, expired, rejected] = await Promise.all([
    admin(["submit", "echo", '{"hello":"world"}', "--id", "e1", "--wait"]),
    admin(["submit", "echo", "[1,2]", "--wait", "--json", "--priority", "9"]),
    admin(["submit", "sleep", '{"ms":800}', "--id", "s1", "--wait", "--timeout", "10s"]),
    admin(["submit", "fragile", '"x"', "--id", "f1", "--attempts", "1", "--wait"]),
    admin(["submit", "fragile", "{}", "--attempts", "2", "--wait", "--json"]),
    admin(["submit", "echo", "{}", "--deadline", "2001-01-01T00:00:00Z", "--wait"]),
    admin(["submit", "nosuch", "{}", "--id", "n1", "--wait"]),
  ]);
  expect(echo, 0);
  assert.match(echo.stdout, /^e1 succeeded \(echo\) in .*1 attempt/);
  assert.deepEqual(JSON.parse(echo.stdout.slice(echo.stdout.indexOf("\n"))), { hello: "world" });
  const ej = expect(echoJson, 0).json<{ state: string; result: unknown; id: string }>();
  assert.equal(ej.state, "succeeded");
  assert.deepEqual(ej.result, [1, 2]);
  assert.equal(echoJson.stderr, "", "--json: nothing but the JSON");

  // Not a terminal: progress as plain lines on stderr, the result on stdout.
  expect(sleep, 0);
  assert.match(sleep.stderr, /^s1 submitted$/m);
  assert.match(sleep.stderr, /^s1 \d+% slept \d+ of 800 ms$/m);
  assert.match(sleep.stdout, /"sleptMs": 800/);

  expect(failed, 3);
  assert.match(failed.stdout, /^f1 failed \(fragile\)/);
  assert.match(failed.stdout, /HANDLER_ERROR: the disk is full/);
  const fj = expect(failedJson, 3).json<{ state: string; attempts: number }>();
  assert.deepEqual([fj.state, fj.attempts], ["failed", 2]);

  expect(expired, 5);
  assert.match(expired.stdout, /expired/);
  expect(rejected, 6);
  assert.match(rejected.stdout, /^n1 rejected \(nosuch\): UNKNOWN_TYPE/);

  // Without --wait: the id, once stored; --json: where it was stored.
  const plain = expect(await admin(["submit", "echo", "7", "--id", "e2"]), 0);
  assert.equal(plain.stdout, "e2\n");
  const stored = expect(await admin(["submit", "echo", "--json"]), 0).json<
    { id: string; stream: string; seq: number }
  >();
  assert.match(stored.id, /^c-/);
  assert.equal(stored.stream, "TASKS");
  assert.ok(stored.seq > 0);

  // Cancelled: a long sleep, cancelled while it runs; the cancel with --wait exits 4.
  expect(await admin(["submit", "sleep", '{"ms":30000}', "--id", "c1"]), 0);
  await until("c1 running", async () => {
    const s = await admin(["status", "c1", "--json"]);
    return s.code === 0 && s.json().state === "running" ? true : undefined;
  });
  const cancelled = expect(await admin(["cancel", "c1", "--wait"]), 4);
  assert.match(cancelled.stderr, /c1 cancelling \(was running\)/);
  assert.match(cancelled.stdout, /CANCELLED: cancelled by ops/);
  // A submission rejected for its token exits 8.
  const viewer = await as(r, ["viewer"], "vera");
  expect(await viewer(["submit", "echo", "{}", "--wait"]), 8);
});

Deno.test("ctl - status, result and cancel; list pages through held tasks; --json parses", async () => {
  await using r = await rig({ config: { workers: 1, concurrency: 1 } });
  const admin = await as(r, ["admin"]);
  expect(await admin(["submit", "sleep", '{"ms":30000}', "--id", "blocker"]), 0);
  for (let i = 0; i < 3; i++) {
    expect(await admin(["submit", "echo", String(i), "--id", `q${i}`, "--priority", "3"]), 0);
  }
  await until("three queued", async () => {
    const l = await admin(["list", "--state", "queued", "--json"]);
    return l.code === 0 && l.json<{ tasks: unknown[] }>().tasks.length === 3 ? true : undefined;
  });

  const [status, statusJson, missing, pending, waited, page1, table, byType] = await Promise.all([
    admin(["status", "q0"]),
    admin(["status", "blocker", "--json"]),
    admin(["status", "nope"]),
    admin(["result", "q1", "--no-wait"]),
    admin(["result", "q1", "--max-wait", "500ms", "--json"]),
    admin(["list", "--state", "queued", "--limit", "2", "--json"]),
    admin(["list"]),
    admin(["list", "--type", "sleep", "--json"]),
  ]);
  assert.match(expect(status, 0).stdout, /^state\s+queued$/m);
  assert.match(status.stdout, /^priority\s+3$/m);
  const sj = expect(statusJson, 0).json<{ state: string; worker: string }>();
  assert.equal(sj.state, "running");
  assert.ok(sj.worker);
  assert.match(expect(missing, 7).stderr, /no task nope/);
  assert.match(expect(pending, 10).stdout, /q1 has not ended: queued/);
  assert.equal(expect(waited, 10).json<{ error: { code: string } }>().error.code, "PENDING");
  const p1 = expect(page1, 0).json<{ tasks: { id: string }[]; next: string }>();
  assert.deepEqual(p1.tasks.map((t) => t.id), ["q0", "q1"]);
  assert.ok(p1.next);
  const p2 = expect(
    await admin(["list", "--state", "queued", "--limit", "2", "--after", p1.next, "--json"]),
    0,
  ).json<{ tasks: { id: string }[]; next?: string }>();
  assert.deepEqual(p2.tasks.map((t) => t.id), ["q2"]);
  assert.equal(p2.next, undefined);
  const all = expect(await admin(["list", "--all", "--limit", "1", "--json"]), 0).json<
    { tasks: { id: string }[] }
  >();
  assert.deepEqual(all.tasks.map((t) => t.id), ["blocker", "q0", "q1", "q2"]);
  const lines = expect(table, 0).stdout.trim().split("\n");
  assert.match(lines[0], /^ID\s+TYPE\s+STATE\s+ATTEMPTS\s+PRIO\s+WORKER\s+SUBMITTED$/);
  assert.match(lines[1], /^blocker\s+sleep\s+running\s+1\s+5\s+\S+\/w0\s+/);
  assert.equal(lines.length, 5);
  assert.deepEqual(
    expect(byType, 0).json<{ tasks: { id: string }[] }>().tasks.map((t) => t.id),
    ["blocker"],
  );

  // Cancel a queued task (ended at once) and the running one; cancelling again is refused.
  const cq = expect(await admin(["cancel", "q2", "--json"]), 0).json();
  assert.deepEqual([cq.state, cq.was], ["cancelled", "queued"]);
  assert.match(expect(await admin(["cancel", "blocker"]), 0).stdout, /blocker cancelling/);
  const [q0, q2] = await Promise.all([admin(["result", "q0"]), admin(["result", "q2", "--json"])]);
  assert.match(expect(q0, 0).stdout, /^q0 succeeded \(echo\)/);
  assert.equal(expect(q2, 4).json().state, "cancelled");
  expect(await admin(["cancel", "q2"]), 6);
  expect(await admin(["cancel", "nope"]), 7);
  // result waits: it ends when the cancelled blocker does.
  assert.match(expect(await admin(["result", "blocker"]), 4).stdout, /CANCELLED/);
});

Deno.test("ctl - dlq lists failed tasks; retry runs one again (admin only); dlq purge removes one or all", async () => {
  broken.now = true;
  await using r = await rig({ handlers: [fragile] });
  const admin = await as(r, ["admin"]);
  const viewer = await as(r, ["viewer"], "vera");
  await Promise.all(
    ["d1", "d2", "d3"].map(async (id) =>
      expect(
        await admin(["submit", "fragile", `"${id}"`, "--id", id, "--attempts", "1", "--wait"]),
        3,
      )
    ),
  );
  const dead = expect(await viewer(["dlq", "--json"]), 0).json<
    { tasks: { id: string; state: string; error: { code: string } }[] }
  >();
  assert.deepEqual(dead.tasks.map((d) => d.id).sort(), ["d1", "d2", "d3"]);
  assert.ok(dead.tasks.every((d) => d.state === "failed" && d.error.code === "HANDLER_ERROR"));
  const table = expect(await viewer(["dlq", "--type", "fragile"]), 0).stdout.trim().split("\n");
  assert.match(table[0], /^ID\s+TYPE\s+ATTEMPTS\s+FAILED\s+ERROR$/);
  assert.equal(table.length, 4);

  const denied = expect(await viewer(["retry", "d1"]), 8);
  assert.match(denied.stderr, /needs admin/);
  broken.now = false;
  const retried = expect(await admin(["retry", "d1", "--wait"]), 0);
  assert.match(retried.stderr, /d1 resubmitted \(replacing stored result #\d+\)/);
  assert.match(retried.stdout, /^d1 succeeded \(fragile\)/);
  assert.match(retried.stdout, /"done": "d1"/);
  const rj = expect(await admin(["retry", "d2", "--json"]), 0).json();
  assert.equal(rj.state, "resubmitted");
  assert.equal(expect(await admin(["result", "d2", "--json"]), 0).json().state, "succeeded");
  expect(await admin(["retry", "d1"]), 6); // it succeeded: only a failed task is retried
  expect(await admin(["retry", "nope"]), 7);

  broken.now = true;
  for (const id of ["d4", "d5"]) {
    expect(await admin(["submit", "fragile", "1", "--id", id, "--attempts", "1", "--wait"]), 3);
  }
  expect(await viewer(["dlq", "purge", "d3"]), 8);
  assert.equal(expect(await admin(["dlq", "purge", "d3"]), 0).stdout, "purged 1 dead letter\n");
  const left = expect(await admin(["dlq", "list", "--json"]), 0).json<
    { tasks: { id: string }[] }
  >();
  assert.deepEqual(left.tasks.map((d) => d.id).sort(), ["d4", "d5"]);
  assert.deepEqual(expect(await admin(["dlq", "purge", "--all", "--json"]), 0).json(), {
    purged: 2,
  });
  assert.match(expect(await admin(["dlq"]), 0).stderr, /no dead letters/);
  expect(await admin(["retry", "d4"]), 7); // its payload went with the dead letter
  expect(await admin(["dlq", "purge"]), 2);
  expect(await admin(["dlq", "purge", "d4", "--all"]), 2);
});

Deno.test("ctl - schedules put (inline and from a file), list, get, pause, resume, trigger --wait, delete", async () => {
  await using r = await rig();
  const admin = await as(r, ["admin"]);
  const viewer = await as(r, ["viewer"], "vera");
  const spec = { name: "beat", every: "1h", task: { type: "echo", payload: { beat: 1 } } };
  assert.equal(
    expect(await admin(["schedules", "put", JSON.stringify(spec)]), 0).stdout,
    "created beat\n",
  );
  const dir = await Deno.makeTempDir({ prefix: "ctl-schedules-" });
  try {
    const file = `${dir}/schedules.json`;
    await Deno.writeTextFile(
      file,
      JSON.stringify([spec, {
        name: "nightly",
        daily: "02:00",
        tz: "Europe/Berlin",
        task: spec.task,
      }]),
    );
    const put = expect(await admin(["schedules", "put", file, "--json"]), 0).json<
      { name: string; created: boolean; changed: boolean }[]
    >();
    assert.deepEqual(put, [
      { name: "beat", created: false, changed: false },
      { name: "nightly", created: true, changed: true },
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const list = expect(await viewer(["schedules", "list"]), 0).stdout.trim().split("\n");
  assert.match(list[0], /^NAME\s+WHEN\s+TASK\s+STATE\s+NEXT\s+LAST RUN$/);
  assert.match(list[1], /^beat\s+every 1h\s+echo\s+active\s+in /);
  assert.match(list[2], /^nightly\s+daily 02:00 Europe\/Berlin\s+echo\s+active/);
  const views = expect(await viewer(["schedules", "list", "--json", "--next", "1"]), 0).json<
    { name: string; next: unknown[] }[]
  >();
  assert.deepEqual(views.map((v) => [v.name, v.next.length]), [["beat", 1], ["nightly", 1]]);

  expect(await admin(["schedules", "pause", "beat", "--note", "maintenance"]), 0);
  const got = expect(await viewer(["schedules", "get", "beat", "--json"]), 0).json<
    { state: { paused: boolean; note: string } }
  >();
  assert.deepEqual([got.state.paused, got.state.note], [true, "maintenance"]);
  const trig = expect(await admin(["schedules", "trigger", "beat", "--wait"]), 0);
  assert.match(trig.stdout, /^beat:manual-\S+ succeeded \(echo\)/);
  assert.match(trig.stdout, /"beat": 1/);
  expect(await admin(["schedules", "resume", "beat"]), 0);
  const shown = expect(await viewer(["schedules", "get", "beat"]), 0).stdout;
  assert.match(shown, /^state\s+active$/m);
  assert.match(shown, /^counts\s+fired 0, triggered 1/m);
  assert.match(shown, /^RUN\s+STATE\s+FIRED\s+ERROR$/m);
  const id = expect(await admin(["schedules", "trigger", "beat"]), 0).stdout.trim();
  assert.match(id, /^beat:manual-/);
  assert.equal(expect(await admin(["result", id, "--json"]), 0).json().state, "succeeded");

  // Refusals: a bad spec 6, an unknown name 7, a viewer changing 8, a bad command 2.
  const bad = expect(
    await admin(["schedules", "put", '{"name":"x","every":"500ms","task":{"type":"echo"}}']),
    6,
  );
  assert.match(bad.stderr, /every must be whole seconds/);
  expect(await admin(["schedules", "get", "zz"]), 7);
  expect(await viewer(["schedules", "delete", "beat"]), 8);
  expect(await admin(["schedules", "nope"]), 2);
  expect(await admin(["schedules", "put", "{not json"]), 2);
  assert.deepEqual(expect(await admin(["schedules", "delete", "beat", "--json"]), 0).json(), {
    deleted: "beat",
  });
  expect(await admin(["schedules", "delete", "nightly"]), 0);
  assert.match(expect(await viewer(["schedules", "list"]), 0).stderr, /no schedules/);
});

Deno.test("ctl - nodes shows the worker node as a table and as JSON, without a token", async () => {
  await using r = await rig();
  const node = r.config.nodeId;
  const [table, json] = await Promise.all([
    ctl(r.server.url, ["nodes"]),
    ctl(r.server.url, ["nodes", "--json"]),
  ]);
  const lines = expect(table, 0).stdout.trim().split("\n");
  assert.match(lines[0], /^leader \S+ \(epoch \d+\); tasks: held \d+/);
  assert.match(lines[1], /^NODE\s+STATE\s+HEALTH\s+CPU\s+MEMORY\s+RUNNING\s+QUEUED\s+WORKERS/);
  assert.match(lines[2], new RegExp(`^${node}\\s+up\\s+\\d+\\s+\\d+%\\s+`));
  assert.match(lines[2], /echo/);
  const j = expect(json, 0).json<
    { leader: string; nodes: { node: string; state: string; workers: number }[] }
  >();
  assert.ok(j.leader);
  assert.deepEqual(j.nodes.map((n) => [n.node, n.state, n.workers]), [[node, "up", 2]]);
});

Deno.test("ctl - login saves the token to the login file (0600) that later commands use; token shows and mints; a wrong password exits 8", async () => {
  await using r = await rig({ config: { loginTtlS: 600 } });
  const store = await UserStore.open(r.client.t, subjects());
  assert.ok(
    await store.create(
      await newUser(
        { name: "alice", password: "alice-password", roles: ["submitter"] },
        Date.now(),
      ),
    ),
  );
  const dir = await Deno.makeTempDir({ prefix: "ctl-login-" });
  const file = `${dir}/conf/token`;
  const env = { TASK_SCHEDULER_LOGIN_FILE: file };
  const run = (args: string[], stdin = "", more: Record<string, string> = {}) =>
    ctl(r.server.url, args, { env: { ...env, ...more }, stdin });
  try {
    // No token anywhere: 8, before anything is sent.
    const none = expect(await run(["status", "x"]), 8);
    assert.match(none.stderr, /no token: pass --token, set TASK_SCHEDULER_TOKEN, or run/);
    expect(await run(["token"]), 8);

    const wrong = expect(await run(["login", "alice", "--password-stdin"], "nope-nope\n"), 8);
    assert.match(wrong.stderr, /wrong user name or password/);
    await assert.rejects(Deno.stat(file), Deno.errors.NotFound);

    const ok = expect(await run(["login", "alice"], "alice-password\n"), 0);
    assert.match(ok.stdout, /^logged in as alice \(roles submitter\) until \S+; token saved to /);
    assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${dir}/conf`)).mode! & 0o777, 0o700);

    const shown = expect(await run(["token"]), 0).stdout;
    assert.match(shown, new RegExp(`^source\\s+login file ${file}$`, "m"));
    assert.match(shown, /^sub\s+alice$/m);
    assert.match(shown, /^roles\s+submitter$/m);
    const claims = expect(await run(["token", "--json"]), 0).json<
      { claims: { sub: string }; expired: boolean }
    >();
    assert.deepEqual([claims.claims.sub, claims.expired], ["alice", false]);
    const raw = expect(await run(["token", "--raw"]), 0).stdout.trim();
    assert.equal(raw, (await Deno.readTextFile(file)).trim());

    // Later commands use it; alice is a submitter: she submits, may not purge.
    const sub = expect(await run(["submit", "echo", '"as alice"', "--wait"]), 0);
    assert.match(sub.stdout, /"as alice"/);
    expect(await run(["dlq", "purge", "--all"]), 8);
    // TASK_SCHEDULER_TOKEN wins over the file, --token over both.
    const viewer = await mintToken(SECRET, { sub: "vera", roles: ["viewer"] });
    assert.match(
      expect(await run(["token"], "", { TASK_SCHEDULER_TOKEN: viewer }), 0).stdout,
      /^sub\s+vera$/m,
    );
    assert.match(
      expect(await run(["token", "--token", raw], "", { TASK_SCHEDULER_TOKEN: viewer }), 0).stdout,
      /^source\s+--token$/m,
    );
    // --print gives the token instead of saving it.
    const printed = expect(await run(["login", "alice", "--print"], "alice-password\n"), 0);
    assert.match(printed.stdout, /^eyJ[\w-]+\.[\w-]+\.[\w-]+\n$/);

    // An expired token: `token` says so and exits 8, and the scheduler refuses it (8).
    const old = await mintToken(SECRET, { sub: "old", roles: ["admin"], ttlSec: -10 });
    const expired = expect(await run(["token"], "", { TASK_SCHEDULER_TOKEN: old }), 8);
    assert.match(expired.stdout, /expired/);
    const refused = expect(await run(["status", "x"], "", { TASK_SCHEDULER_TOKEN: old }), 8);
    assert.match(refused.stderr, /token expired/);
    assert.match(refused.stderr, /the token came from TASK_SCHEDULER_TOKEN/);

    // token mint: deno task token's flags and checks, with the secret.
    const minted = expect(
      await run(["token", "mint", "--sub", "bob", "--roles", "viewer", "--ttl", "60"], "", {
        TASK_SCHEDULER_JWT_SECRET: SECRET,
      }),
      0,
    ).stdout.trim();
    assert.match(
      expect(await run(["token", "--token", minted]), 0).stdout,
      /^roles\s+viewer$/m,
    );
    expect(
      await run(["token", "mint", "--roles", "king"], "", { TASK_SCHEDULER_JWT_SECRET: SECRET }),
      2,
    );
    expect(await run(["token", "mint"]), 2); // no secret
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ctl - bad usage exits 2, nothing reachable 9, with --json errors as JSON", async () => {
  const closed = `nats://127.0.0.1:${freePort()}`;
  const token = await mintToken(SECRET, { sub: "ops", roles: ["admin"] });
  const env = { TASK_SCHEDULER_TOKEN: token };
  const usage = await Promise.all([
    ctl(closed, [], { env }),
    ctl(closed, ["frobnicate"], { env }),
    ctl(closed, ["status"], { env }),
    ctl(closed, ["status", "a", "b"], { env }),
    ctl(closed, ["status", "a", "--bogus"], { env }),
    ctl(closed, ["status", "a", "--priority", "3"], { env }),
    ctl(closed, ["submit", "echo", "{not json"], { env }),
    ctl(closed, ["submit", "echo", "{}", "--priority", "12"], { env }),
    ctl(closed, ["submit", "echo", "{}", "--timeout", "soon"], { env }),
    ctl(closed, ["list", "--state", "dead"], { env }),
    ctl(closed, ["result", "x", "--no-wait", "--max-wait", "1s"], { env }),
  ]);
  for (const r of usage) {
    expect(r, 2);
    assert.match(r.stderr, /^ctl: .+\nRun `deno task ctl (\w+ )?--help`\.\n$/, show(r));
  }
  const j = expect(await ctl(closed, ["frobnicate", "--json"], { env }), 2);
  assert.deepEqual(j.json(), { error: { code: "USAGE", message: 'unknown verb "frobnicate"' } });
  assert.equal(j.stderr, "");
  // Help is not an error.
  assert.match(expect(await ctl(closed, ["--help"]), 0).stdout, /^Usage: deno task ctl <verb>/);
  assert.match(expect(await ctl(closed, ["submit", "--help"]), 0).stdout, /--depends-on/);
  assert.match(expect(await ctl(closed, ["help", "dlq"]), 0).stdout, /dlq purge/);

  // Nothing listens: 9, for reads and for submissions alike.
  const [down, downJson] = await Promise.all([
    ctl(closed, ["submit", "echo", "{}", "--wait"], { env }),
    ctl(closed, ["status", "x", "--json"], { env }),
  ]);
  assert.match(expect(down, 9).stderr, /cannot connect to nats:\/\/127\.0\.0\.1:\d+/);
  assert.equal(expect(downJson, 9).json<{ error: { code: string } }>().error.code, "UNREACHABLE");

  // NATS answers but no scheduler does (none runs): 9 as well.
  await using server = await TestServer.start();
  const [noLeader, noStream] = await Promise.all([
    ctl(server.url, ["status", "x"], { env }),
    ctl(server.url, ["submit", "echo", "{}"], { env }),
  ]);
  assert.match(expect(noLeader, 9).stderr, /nothing answers tasks\.status/);
  assert.match(expect(noStream, 9).stderr, /no stream stores tasks\.submit\.echo/);
});
