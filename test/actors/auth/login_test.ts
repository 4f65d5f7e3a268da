/**
 * The login actor's logic on the memory transport, with time given by the
 * test: tokens, the same answer for unknown names and wrong passwords,
 * lockout and its end, compare-and-set of failures, and the actor answering
 * `auth.login` as a queue group.
 */

import assert from "node:assert/strict";
import { attempt, type AttemptDeps, loginBehavior, WRONG } from "../../../actors/auth/login.ts";
import {
  ActorSystem,
  hashPassword,
  ManualClock,
  MemoryBroker,
  newUser,
  silentLogger,
  subjects,
  TokenVerifier,
  UserStore,
} from "../../../src/internal_mod.ts";

const SECRET = "login-test-secret-0123456789abcdef-xyz";
const T0 = Date.UTC(2026, 0, 1);
const S = 1_000;
const enc = new TextEncoder();
const dec = new TextDecoder();

type Reply = {
  ok: boolean;
  token?: string;
  expiresAt?: string;
  roles?: string[];
  types?: string[];
  error?: { code: string; message: string };
};

async function world(o: { maxFailures?: number; lockoutS?: number } = {}) {
  const transport = new MemoryBroker().connect("test");
  const store = await UserStore.open(transport, subjects());
  await store.create(
    await newUser({
      name: "alice@example.org",
      password: "alice-password",
      roles: ["submitter"],
      types: ["echo"],
    }, T0),
  );
  await store.create(
    await newUser({ name: "root", password: "root-password", roles: ["admin"] }, T0),
  );
  const deps: AttemptDeps = {
    store,
    jwtSecret: SECRET,
    ttlS: 3_600,
    policy: { maxFailures: o.maxFailures ?? 5, lockoutMs: (o.lockoutS ?? 300) * S },
    dummy: await hashPassword("no-password-matches-this"),
    log: silentLogger,
  };
  /** Log in at `now`, and wait for what the attempt writes afterwards. */
  const login = async (name: unknown, password: unknown, now = T0): Promise<Reply> => {
    const a = await attempt(deps, enc.encode(JSON.stringify({ name, password })), now);
    await a.after?.();
    return a.reply as Reply;
  };
  return { transport, store, deps, login };
}

Deno.test("login - the right password gets a token that verifies and carries roles and types", async () => {
  const w = await world();
  const r = await w.login("alice@example.org", "alice-password");
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.deepEqual(r.roles, ["submitter"]);
  assert.deepEqual(r.types, ["echo"]);
  assert.equal(r.expiresAt, "2026-01-01T01:00:00.000Z");
  const who = await new TokenVerifier(SECRET, { now: () => T0 + 10 * S }).verify(r.token!);
  assert.deepEqual(who, { sub: "alice@example.org", roles: ["submitter"], types: ["echo"] });
  // Short-lived: refused after loginTtlS.
  await assert.rejects(
    () => new TokenVerifier(SECRET, { now: () => T0 + 3_600 * S }).verify(r.token!),
    /token expired at 2026-01-01T01:00:00\.000Z/,
  );
  const admin = await w.login("root", "root-password");
  assert.equal(admin.ok, true);
  assert.equal("types" in admin, false);
});

Deno.test("login - a wrong password and an unknown user get the same answer", async () => {
  const w = await world();
  const wrong = await w.login("alice@example.org", "not-her-password");
  const unknown = await w.login("nobody", "not-her-password");
  assert.deepEqual(wrong, { ok: false, error: { code: "UNAUTHENTICATED", message: WRONG } });
  assert.deepEqual(unknown, wrong);
  // The failure is counted for the user who exists; nothing is written for the name that does not.
  assert.equal((await w.store.get("alice@example.org"))!.user.failures, 1);
  assert.equal(await w.store.get("nobody"), null);
});

Deno.test("login - an unknown user takes as long as a wrong password (hashed against a dummy)", async () => {
  const w = await world();
  const time = async (name: string) => {
    const started = performance.now();
    await attempt(w.deps, enc.encode(JSON.stringify({ name, password: "wrong-password" })), T0);
    return performance.now() - started;
  };
  const wrong: number[] = [];
  const unknown: number[] = [];
  // The fastest of seven each: under the parallel tests' load one of three was not enough (in
  // one CI run the fastest wrong password took 87 ms and the fastest unknown user 39).
  for (let i = 0; i < 7; i++) {
    wrong.push(await time("root"));
    unknown.push(await time(`ghost${i}`));
  }
  const [a, b] = [Math.min(...wrong), Math.min(...unknown)];
  assert.ok(
    b > a * 0.5 && b < a * 2,
    `wrong password ${a.toFixed(1)} ms, unknown user ${b.toFixed(1)} ms`,
  );
});

Deno.test("login - maxFailures failed logins lock the user; the lock ends on time, and doubles", async () => {
  const w = await world({ maxFailures: 3, lockoutS: 60 });
  const name = "alice@example.org";
  for (let i = 0; i < 3; i++) assert.equal((await w.login(name, "bad-guess", T0 + i)).ok, false);
  // Locked: even the right password is refused, without a password check.
  const locked = await w.login(name, "alice-password", T0 + 10 * S);
  assert.deepEqual(locked.error, {
    code: "UNAUTHENTICATED",
    message:
      `user "alice@example.org" is locked until 2026-01-01T00:01:00.002Z after 3 failed logins`,
  });
  assert.equal((await w.store.get(name))!.user.failures, 3, "a locked attempt is not counted");
  // Other users are not affected.
  assert.equal((await w.login("root", "root-password", T0 + 10 * S)).ok, true);
  // Three more failures after the lock ends: locked twice as long.
  for (let i = 0; i < 3; i++) await w.login(name, "bad-guess", T0 + 61 * S + i);
  const again = await w.login(name, "alice-password", T0 + 62 * S);
  assert.match(
    again.error!.message,
    /locked until 2026-01-01T00:03:01\.002Z after 6 failed logins/,
  );
  // After that, the right password works and clears the count.
  const ok = await w.login(name, "alice-password", T0 + 182 * S);
  assert.equal(ok.ok, true, JSON.stringify(ok));
  const u = (await w.store.get(name))!.user;
  assert.equal(u.failures, 0);
  assert.equal(u.lockedUntil, undefined);
});

Deno.test("login - failures recorded at once on two processes are both counted (compare-and-set)", async () => {
  const w = await world();
  const body = enc.encode(JSON.stringify({ name: "root", password: "wrong-password" }));
  const [a, b] = await Promise.all([attempt(w.deps, body, T0), attempt(w.deps, body, T0)]);
  await Promise.all([a.after!(), b.after!()]);
  assert.equal((await w.store.get("root"))!.user.failures, 2);
});

Deno.test("login - a hash with older parameters is made again at a successful login", async () => {
  const w = await world();
  const old = await newUser({ name: "old", password: "old-password", roles: ["viewer"] }, T0);
  old.hash = await hashPassword("old-password", { ln: 10, r: 8, p: 1 });
  await w.store.create(old);
  assert.equal((await w.login("old", "old-password")).ok, true);
  const now = (await w.store.get("old"))!.user;
  assert.match(now.hash, /^\$scrypt\$ln=14,r=8,p=1\$/);
  assert.equal((await w.login("old", "old-password")).ok, true);
});

Deno.test("login - a malformed body is INVALID_ARGUMENT naming the problem", async () => {
  const w = await world();
  const cases: [unknown, RegExp][] = [
    ["not an object", /body must be \{"name": …, "password": …\}/],
    [{ name: "root" }, /password must be a non-empty string/],
    [{ name: "root", password: "" }, /password must be a non-empty string/],
    [{ name: "a b", password: "x" }, /name must be 1 to 64/],
    [{ name: "root", password: "root-password", ttl: 5 }, /unknown field "ttl"/],
  ];
  for (const [body, re] of cases) {
    const a = await attempt(w.deps, enc.encode(JSON.stringify(body)), T0);
    assert.equal(a.reply.ok, false);
    if (!a.reply.ok) {
      assert.equal(a.reply.error.code, "INVALID_ARGUMENT");
      assert.match(a.reply.error.message, re);
    }
  }
  const raw = await attempt(w.deps, enc.encode("{"), T0);
  assert.equal(!raw.reply.ok && raw.reply.error.code, "INVALID_ARGUMENT");
});

Deno.test("login - the actor answers auth.login once per request, in a queue group of two", async () => {
  const broker = new MemoryBroker();
  const transport = broker.connect("node");
  const store = await UserStore.open(transport, subjects());
  await store.create(
    await newUser({ name: "bob", password: "bob-password", roles: ["viewer"] }, T0),
  );
  const config = { replicas: 1, loginTtlS: 600, loginMaxFailures: 5, loginLockoutS: 300 };
  const clock = new ManualClock(T0);
  const system = new ActorSystem({ name: "t", log: silentLogger, clock });
  await system.start({
    kind: "supervisor",
    id: "root",
    children: ["a1", "a2"].map((id) => ({
      kind: "actor" as const,
      id,
      behavior: loginBehavior({ transport, subjects: subjects(), config, jwtSecret: SECRET }),
    })),
  });
  try {
    const client = broker.connect("client");
    let replies = 0;
    const replyCounter = client.subscribe("_INBOX.>", () => replies++);
    const ask = async (password: string) =>
      JSON.parse(dec.decode(
        (await client.request(
          "auth.login",
          enc.encode(JSON.stringify({ name: "bob", password })),
          { timeoutMs: 5_000 },
        )).data,
      )) as Reply;
    const answers = await Promise.all([ask("bob-password"), ask("bob-password"), ask("nope-nope")]);
    assert.deepEqual(answers.map((a) => a.ok), [true, true, false]);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(replies, 3, "one reply per request");
    replyCounter.unsubscribe();
    const who = await new TokenVerifier(SECRET, { now: () => T0 }).verify(answers[0].token!);
    assert.deepEqual(who.roles, ["viewer"]);
  } finally {
    await system.stop();
  }
});
