/**
 * `deno task user` as a subprocess against a test nats-server: add, list,
 * passwd, unlock, remove, and its exit codes (0 done, 1 not found or error,
 * 2 usage). The users it writes are read back from the KV bucket.
 */

import assert from "node:assert/strict";
import {
  connectNats,
  subjects,
  type UserRecord,
  UserStore,
  verifyPassword,
} from "../../src/internal_mod.ts";
import { TestServer } from "../_nats_server.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `deno task user ...args` with `stdin` piped in, against `broker`. */
async function user(
  broker: string,
  args: string[],
  stdin = "",
  env: Record<string, string> = {},
): Promise<Run> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "user", ...args],
    cwd: ROOT,
    env: {
      TASK_SCHEDULER_MESSAGE_BROKER: broker,
      // No embedded server's credentials from a .data folder in the tree.
      TASK_SCHEDULER_DATA_DIR: "/nonexistent/task-scheduler-test",
      NO_COLOR: "1",
      ...env,
    },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin)).catch(() => {});
  await writer.close().catch(() => {});
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("user cli - add, list, passwd, unlock and remove users in the KV bucket", async () => {
  await using server = await TestServer.start();
  const url = server.url;
  const t = await connectNats({ servers: url, name: "check" });
  try {
    const store = await UserStore.open(t, subjects());
    const get = async (name: string): Promise<UserRecord | undefined> =>
      (await store.get(name))?.user;

    let r = await user(
      url,
      ["add", "alice@example.org", "--roles", "submitter,viewer", "--types", "echo"],
      "alice-password\nignored second line\n",
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /added "alice@example.org" with roles submitter, viewer, types echo/);
    const alice = (await get("alice@example.org"))!;
    assert.deepEqual(alice.roles, ["submitter", "viewer"]);
    assert.deepEqual(alice.types, ["echo"]);
    assert.equal(await verifyPassword("alice-password", alice.hash), true);
    assert.ok(!JSON.stringify(alice).includes("alice-password"), "no plain password stored");

    // --password-stdin reads the first line too; a CRLF line end is not part of the password.
    r = await user(url, ["add", "bob", "--roles", "admin", "--password-stdin"], "bob-password\r\n");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await verifyPassword("bob-password", (await get("bob"))!.hash), true);

    // An existing name: 1.
    r = await user(url, ["add", "bob", "--roles", "viewer"], "another-password\n");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /user "bob" exists/);

    // Lock bob as failed logins would, then list: no hash shown, the lock is.
    const until = new Date(Date.now() + 3_600_000).toISOString();
    await store.change("bob", (u) => ({ ...u, failures: 5, lockedUntil: until }));
    r = await user(url, ["list"]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.match(lines[0], /^NAME\s+ROLES\s+TYPES\s+FAILURES\s+LOCKED$/);
    assert.match(lines[1], /^alice@example\.org\s+submitter,viewer\s+echo\s+0\s+no$/);
    assert.match(lines[2], new RegExp(`^bob\\s+admin\\s+any\\s+5\\s+until ${until}$`));
    assert.ok(!r.stdout.includes("$scrypt$"), "list never shows a hash");

    r = await user(url, ["unlock", "bob"]);
    assert.equal(r.code, 0, r.stderr);
    const unlocked = (await get("bob"))!;
    assert.equal(unlocked.failures, 0);
    assert.equal(unlocked.lockedUntil, undefined);

    r = await user(url, ["passwd", "bob"], "new-bob-password\n");
    assert.equal(r.code, 0, r.stderr);
    const changed = (await get("bob"))!;
    assert.equal(await verifyPassword("new-bob-password", changed.hash), true);
    assert.equal(await verifyPassword("bob-password", changed.hash), false);

    r = await user(url, ["remove", "bob"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await get("bob"), undefined);

    // Not found: 1.
    for (const args of [["remove", "bob"], ["unlock", "bob"]]) {
      r = await user(url, args);
      assert.equal(r.code, 1, args.join(" "));
      assert.match(r.stderr, /no user "bob"/);
    }
    r = await user(url, ["passwd", "bob"], "whatever-password\n");
    assert.equal(r.code, 1);
  } finally {
    await t.close();
  }
});

Deno.test("user cli - usage errors exit 2 and write nothing; no NATS exits 1", async () => {
  await using server = await TestServer.start();
  const url = server.url;
  const cases: [string[], string, RegExp][] = [
    [[], "", /no command/],
    [["frob"], "", /unknown command "frob"/],
    [["add", "carol"], "carol-password\n", /add needs --roles/],
    [["add", "carol", "--roles", "root"], "carol-password\n", /unknown role "root"/],
    [["add", "bad name", "--roles", "admin"], "carol-password\n", /user name must be/],
    [["add", "carol", "--roles", "admin"], "short\n", /at least 8 characters: got 5/],
    [["add", "carol", "--roles", "admin"], "\n", /password must not be empty/],
    [["add", "carol", "--roles", "admin"], "", /password must not be empty/],
    [["add", "carol", "--roles", "admin", "--bogus"], "carol-password\n", /bogus/],
    [["remove"], "", /remove needs a user NAME/],
    [["list", "extra"], "", /unexpected argument "extra"/],
    [["unlock", "carol", "--roles", "admin"], "", /--roles and --types go with add/],
  ];
  for (const [args, stdin, re] of cases) {
    const r = await user(url, args, stdin);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(" "));
  }
  const t = await connectNats({ servers: url, name: "check" });
  try {
    const store = await UserStore.open(t, subjects());
    assert.equal((await store.list()).users.length, 0, "nothing was written");
  } finally {
    await t.close();
  }
  // Flags of the node are taken, and a bad one is a usage error.
  const bad = await user(url, ["list", "--broker", "http://x"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--broker must be a nats:\/\/ URL/);

  const help = await user(url, ["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: deno task user <command>/);

  await server.stop();
  const down = await user(url, ["list"]);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /cannot reach NATS at nats:\/\//);
});

Deno.test("user cli - the subject prefix names the bucket", async () => {
  await using server = await TestServer.start();
  const r = await user(server.url, ["add", "dora", "--roles", "viewer"], "dora-password\n", {
    TASK_SCHEDULER_SUBJECT_PREFIX: "prod",
  });
  assert.equal(r.code, 0, r.stderr);
  const t = await connectNats({ servers: server.url, name: "check" });
  try {
    const prod = await UserStore.open(t, subjects("prod"));
    assert.equal((await prod.get("dora"))?.user.name, "dora");
    const plain = await UserStore.open(t, subjects());
    assert.equal(await plain.get("dora"), null);
  } finally {
    await t.close();
  }
});
