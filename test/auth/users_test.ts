import assert from "node:assert/strict";
import { SchedulerError } from "../../src/errors.ts";
import {
  afterFailure,
  checkRoles,
  checkTypes,
  checkUserName,
  cleared,
  decodeUser,
  isUserName,
  lockedUntil,
  lockoutFor,
  MAX_LOCKOUT_MS,
  newUser,
  userKey,
  type UserRecord,
  UserStore,
} from "../../src/auth/users.ts";
import { verifyPassword } from "../../src/auth/password.ts";
import { MemoryBroker } from "../../src/transport/memory.ts";
import { subjects } from "../../src/protocol/subjects.ts";

const T0 = Date.UTC(2026, 0, 1);
const MIN = 60_000;
const policy = { maxFailures: 5, lockoutMs: 5 * MIN };

function throwsCode(fn: () => unknown, code: string, re: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof SchedulerError, `expected a SchedulerError, got ${err}`);
    assert.equal(err.code, code);
    assert.match(err.message, re);
    return true;
  });
}

function user(over: Partial<UserRecord> = {}): UserRecord {
  return {
    name: "alice",
    hash: "$scrypt$…",
    roles: ["submitter"],
    createdAt: new Date(T0).toISOString(),
    updatedAt: new Date(T0).toISOString(),
    failures: 0,
    ...over,
  };
}

Deno.test("users - names: 1 to 64 of letters, digits, _ - . @", () => {
  for (const ok of ["a", "alice", "alice@example.org", "a.b-c_d", "x".repeat(64), "007"]) {
    assert.equal(isUserName(ok), true, ok);
  }
  for (const bad of ["", "x".repeat(65), "a b", "a/b", "a*", "a>", "é", "a=b", 7, null]) {
    assert.equal(isUserName(bad), false, String(bad));
  }
  throwsCode(() => checkUserName("a b"), "INVALID_ARGUMENT", /user name must be 1 to 64/);
});

Deno.test("users - KV keys: one per name, only characters KV allows, no dot at either end", () => {
  const names = ["alice", "alice@example.org", ".hidden.", "a.b", "a=2Eb", "a-b_c", "a@b"];
  const keys = new Map<string, string>();
  for (const name of names.filter(isUserName)) {
    const key = userKey(name);
    assert.match(key, /^[A-Za-z0-9_=-]+$/, key);
    assert.ok(!keys.has(key), `${name} and ${keys.get(key)} share ${key}`);
    keys.set(key, name);
  }
  assert.equal(userKey("alice@example.org"), "alice=40example=2Eorg");
  assert.equal(userKey("alice"), "alice");
  throwsCode(() => userKey("a b"), "INVALID_ARGUMENT", /user name/);
});

Deno.test("users - roles come from ROLES, at least one; types are task type names", () => {
  assert.deepEqual(checkRoles(["admin", "viewer", "admin"]), ["admin", "viewer"]);
  throwsCode(() => checkRoles([]), "INVALID_ARGUMENT", /non-empty list of admin, submitter/);
  throwsCode(() => checkRoles(["root"]), "INVALID_ARGUMENT", /unknown role "root"/);
  assert.deepEqual(checkTypes(["echo", "sleep"]), ["echo", "sleep"]);
  throwsCode(() => checkTypes(["a b"]), "INVALID_ARGUMENT", /task type names/);
});

Deno.test("users - a new user has a hash that verifies, and no failures", async () => {
  const u = await newUser(
    { name: "bob", password: "long-enough", roles: ["viewer"], types: ["echo"] },
    T0,
  );
  assert.equal(u.name, "bob");
  assert.deepEqual(u.roles, ["viewer"]);
  assert.deepEqual(u.types, ["echo"]);
  assert.equal(u.failures, 0);
  assert.equal(u.lockedUntil, undefined);
  assert.equal(u.createdAt, "2026-01-01T00:00:00.000Z");
  assert.equal(await verifyPassword("long-enough", u.hash), true);
  const noTypes = await newUser({ name: "c", password: "long-enough", roles: ["admin"] }, T0);
  assert.equal("types" in noTypes, false);
  await assert.rejects(
    () => newUser({ name: "d", password: "short", roles: ["admin"] }, T0),
    /at least 8 characters/,
  );
});

Deno.test("users - lockout: at every maxFailures, doubling, capped at a day", () => {
  assert.equal(lockoutFor(4, policy), 0);
  assert.equal(lockoutFor(5, policy), 5 * MIN);
  assert.equal(lockoutFor(6, policy), 0);
  assert.equal(lockoutFor(10, policy), 10 * MIN);
  assert.equal(lockoutFor(15, policy), 20 * MIN);
  assert.equal(lockoutFor(5 * 20, policy), MAX_LOCKOUT_MS);
  assert.equal(lockoutFor(5 * 2000, policy), MAX_LOCKOUT_MS);
  // A first lockout longer than a day is not shortened by the cap.
  assert.equal(
    lockoutFor(2, { maxFailures: 1, lockoutMs: 2 * MAX_LOCKOUT_MS }),
    2 * MAX_LOCKOUT_MS,
  );
});

Deno.test("users - failures count up, lock at the fifth, and the lock ends on time", () => {
  let u = user();
  for (let i = 1; i <= 4; i++) {
    u = afterFailure(u, T0 + i, policy);
    assert.equal(u.failures, i);
    assert.equal(lockedUntil(u, T0 + i), null);
  }
  u = afterFailure(u, T0 + 5, policy);
  assert.equal(u.failures, 5);
  assert.equal(u.lockedUntil, new Date(T0 + 5 + 5 * MIN).toISOString());
  assert.equal(lockedUntil(u, T0 + 5 * MIN), T0 + 5 + 5 * MIN);
  assert.equal(lockedUntil(u, T0 + 5 + 5 * MIN), null, "unlocked at lockedUntil");
  const ok = cleared(u, T0 + 6 * MIN);
  assert.equal(ok.failures, 0);
  assert.equal("lockedUntil" in ok, false);
  assert.equal(ok.updatedAt, new Date(T0 + 6 * MIN).toISOString());
});

Deno.test("users - a corrupt entry is INTERNAL naming its key and what is wrong", () => {
  const enc = new TextEncoder();
  throwsCode(() => decodeUser(enc.encode("{"), "k1"), "INTERNAL", /user entry k1 is not JSON/);
  throwsCode(
    () => decodeUser(enc.encode(JSON.stringify({ ...user(), failures: -1 })), "k2"),
    "INTERNAL",
    /user entry k2 is corrupt: failures/,
  );
  throwsCode(
    () => decodeUser(enc.encode(JSON.stringify({ ...user(), roles: "admin" })), "k3"),
    "INTERNAL",
    /corrupt: roles/,
  );
  assert.deepEqual(decodeUser(enc.encode(JSON.stringify(user()))), user());
});

Deno.test("users - the store: create once, change by compare-and-set, remove, list by name", async () => {
  const t = new MemoryBroker().connect("test");
  const store = await UserStore.open(t, subjects());
  assert.equal(await store.create(user({ name: "zed@x.org" })), true);
  assert.equal(await store.create(user({ name: "zed@x.org" })), false, "a second create");
  assert.equal(await store.create(user({ name: "amy" })), true);
  const got = await store.get("zed@x.org");
  assert.equal(got?.user.name, "zed@x.org");
  assert.equal(await store.get("nobody"), null);

  // Two changes from the same read: the second one's update misses and reads again.
  const [a, b] = await Promise.all([
    store.change("amy", (u) => afterFailure(u, T0, policy)),
    store.change("amy", (u) => afterFailure(u, T0, policy)),
  ]);
  assert.ok(a && b);
  assert.equal((await store.get("amy"))?.user.failures, 2, "no failure lost");
  assert.equal(await store.change("nobody", (u) => u), null);
  // A change that returns null writes nothing.
  const rev = (await store.get("amy"))!.revision;
  await store.change("amy", () => null);
  assert.equal((await store.get("amy"))!.revision, rev);

  const { users, bad } = await store.list();
  assert.deepEqual(users.map((u) => u.name), ["amy", "zed@x.org"]);
  assert.deepEqual(bad, []);
  assert.equal(await store.remove("amy"), true);
  assert.equal(await store.remove("amy"), false);
  assert.equal(await store.get("amy"), null);
});

Deno.test("users - the bucket name follows the subject prefix", () => {
  assert.equal(subjects().usersBucket, "sched_users");
  assert.equal(subjects("prod").usersBucket, "PROD_sched_users");
  assert.equal(subjects().authLogin, "auth.login");
  assert.equal(subjects("prod").authLogin, "prod.auth.login");
});
