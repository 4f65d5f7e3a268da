import assert from "node:assert/strict";
import { SchedulerError } from "../../src/errors.ts";
import { authorize, bearer, mintToken, TokenVerifier } from "../../src/auth/jwt.ts";
import type { Principal } from "../../src/protocol/task.ts";

const SECRET = "test-secret-that-is-long-enough-for-hs256!";
const OTHER_SECRET = "another-secret-that-is-also-long-enough-x";
/** A fixed clock: 2026-01-01T00:00:00Z. */
const T0 = Date.UTC(2026, 0, 1);

/** Assert that `fn` rejects (or throws) a SchedulerError with `code` and a message matching `re`. */
async function rejectsWith(
  fn: () => Promise<unknown>,
  code: SchedulerError["code"],
  re: RegExp,
): Promise<void> {
  await assert.rejects(fn, (err: unknown) => {
    assert.ok(err instanceof SchedulerError, `expected a SchedulerError, got ${err}`);
    assert.equal(err.code, code);
    assert.match(err.message, re);
    return true;
  });
}

function throwsWith(fn: () => unknown, code: SchedulerError["code"], re: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof SchedulerError, `expected a SchedulerError, got ${err}`);
    assert.equal(err.code, code);
    assert.match(err.message, re);
    return true;
  });
}

function base64url(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** Sign arbitrary claims with HS256 by hand, for tokens mintToken will not make. */
async function signRaw(secret: string, claims: Record<string, unknown>): Promise<string> {
  const enc = new TextEncoder();
  const head = base64url(enc.encode(JSON.stringify({ alg: "HS256", typ: "JWT" })));
  const body = base64url(enc.encode(JSON.stringify(claims)));
  const key = await crypto.subtle.importKey(
    "raw",
    enc.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const sig = await crypto.subtle.sign("HMAC", key, enc.encode(`${head}.${body}`));
  return `${head}.${body}.${base64url(new Uint8Array(sig))}`;
}

/** A clock the test moves by hand. */
function clock(start = T0) {
  const c = { ms: start, now: () => c.ms };
  return c;
}

Deno.test("jwt - a valid token yields its principal: sub, roles and types", async () => {
  const c = clock();
  const verifier = new TokenVerifier(SECRET, { now: c.now });
  const token = await mintToken(SECRET, {
    sub: "alice",
    roles: ["submitter", "viewer"],
    types: ["echo", "sleep"],
    now: T0,
  });
  const who = await verifier.verifyHeader(`Bearer ${token}`);
  assert.deepEqual(who, { sub: "alice", roles: ["submitter", "viewer"], types: ["echo", "sleep"] });
});

Deno.test("jwt - a token without types claim has types undefined (any type)", async () => {
  const verifier = new TokenVerifier(SECRET, { now: () => T0 });
  const token = await mintToken(SECRET, { sub: "bob", roles: ["admin"], now: T0 });
  const who = await verifier.verify(token);
  assert.equal(who.sub, "bob");
  assert.deepEqual(who.roles, ["admin"]);
  assert.equal(who.types, undefined);
});

Deno.test("jwt - the Bearer scheme is case-insensitive and tolerates surrounding spaces", async () => {
  const verifier = new TokenVerifier(SECRET, { now: () => T0 });
  const token = await mintToken(SECRET, { sub: "carol", roles: ["viewer"], now: T0 });
  assert.equal((await verifier.verifyHeader(`  bearer   ${token}  `)).sub, "carol");
  assert.equal(bearer(`BEARER ${token}`), token);
});

Deno.test("jwt - a missing or blank Authorization header is UNAUTHENTICATED", async () => {
  const verifier = new TokenVerifier(SECRET, { now: () => T0 });
  await rejectsWith(
    () => verifier.verifyHeader(undefined),
    "UNAUTHENTICATED",
    /missing Authorization/,
  );
  await rejectsWith(() => verifier.verifyHeader("   "), "UNAUTHENTICATED", /missing Authorization/);
});

Deno.test("jwt - a header that is not `Bearer <JWT>` is UNAUTHENTICATED", async () => {
  const verifier = new TokenVerifier(SECRET, { now: () => T0 });
  for (const header of ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "Token abc"]) {
    await rejectsWith(
      () => verifier.verifyHeader(header),
      "UNAUTHENTICATED",
      /Authorization header must be `Bearer <JWT>`/,
    );
  }
});

Deno.test("jwt - a malformed token is UNAUTHENTICATED", async () => {
  const verifier = new TokenVerifier(SECRET, { now: () => T0 });
  for (const token of ["not-a-jwt", "a.b.c", "a.b", "...."]) {
    await rejectsWith(
      () => verifier.verifyHeader(`Bearer ${token}`),
      "UNAUTHENTICATED",
      /^token rejected: (Invalid Compact JWS|JWS Protected Header is invalid)/,
    );
  }
});

Deno.test("jwt - an unsigned token (alg none) is UNAUTHENTICATED naming the algorithm", async () => {
  const verifier = new TokenVerifier(SECRET, { now: () => T0 });
  const enc = new TextEncoder();
  const head = base64url(enc.encode(JSON.stringify({ alg: "none" })));
  const body = base64url(
    enc.encode(JSON.stringify({ sub: "x", roles: ["admin"], exp: T0 / 1000 + 60 })),
  );
  await rejectsWith(() => verifier.verify(`${head}.${body}.`), "UNAUTHENTICATED", /alg/);
});

Deno.test("jwt - a token signed with another secret fails on its signature", async () => {
  const verifier = new TokenVerifier(SECRET, { now: () => T0 });
  const token = await mintToken(OTHER_SECRET, { sub: "mallory", roles: ["admin"], now: T0 });
  await rejectsWith(() => verifier.verify(token), "UNAUTHENTICATED", /signature is invalid/);
});

Deno.test("jwt - an altered payload fails on its signature", async () => {
  const verifier = new TokenVerifier(SECRET, { now: () => T0 });
  const token = await mintToken(SECRET, { sub: "eve", roles: ["viewer"], now: T0 });
  const [head, , sig] = token.split(".");
  const forged = base64url(
    new TextEncoder().encode(JSON.stringify({ sub: "eve", roles: ["admin"], exp: T0 / 1000 + 60 })),
  );
  await rejectsWith(
    () => verifier.verify(`${head}.${forged}.${sig}`),
    "UNAUTHENTICATED",
    /signature is invalid/,
  );
});

Deno.test("jwt - an expired token is UNAUTHENTICATED naming when it expired", async () => {
  const token = await mintToken(SECRET, { sub: "dave", roles: ["viewer"], ttlSec: 60, now: T0 });
  const late = new TokenVerifier(SECRET, { now: () => T0 + 61_000 });
  await rejectsWith(
    () => late.verify(token),
    "UNAUTHENTICATED",
    /token expired at 2026-01-01T00:01:00\.000Z/,
  );
  // One millisecond before exp it is still good.
  const early = new TokenVerifier(SECRET, { now: () => T0 + 59_999 });
  assert.equal((await early.verify(token)).sub, "dave");
});

Deno.test("jwt - a token without exp is UNAUTHENTICATED naming exp", async () => {
  const verifier = new TokenVerifier(SECRET, { now: () => T0 });
  const token = await signRaw(SECRET, { sub: "frank", roles: ["viewer"] });
  await rejectsWith(() => verifier.verify(token), "UNAUTHENTICATED", /exp/);
});

Deno.test("jwt - a token without sub is UNAUTHENTICATED naming sub", async () => {
  const verifier = new TokenVerifier(SECRET, { now: () => T0 });
  const token = await signRaw(SECRET, { roles: ["viewer"], exp: T0 / 1000 + 60 });
  await rejectsWith(() => verifier.verify(token), "UNAUTHENTICATED", /sub/);
});

Deno.test("jwt - roles that are not an array of strings are UNAUTHENTICATED naming roles", async () => {
  const verifier = new TokenVerifier(SECRET, { now: () => T0 });
  const asString = await mintToken(SECRET, {
    sub: "gina",
    roles: "admin" as unknown as string[],
    now: T0,
  });
  await rejectsWith(
    () => verifier.verify(asString),
    "UNAUTHENTICATED",
    /claim roles must be an array of strings/,
  );
  const missing = await signRaw(SECRET, { sub: "gina", exp: T0 / 1000 + 60 });
  await rejectsWith(() => verifier.verify(missing), "UNAUTHENTICATED", /claim roles/);
  const numbers = await signRaw(SECRET, { sub: "gina", roles: [1], exp: T0 / 1000 + 60 });
  await rejectsWith(() => verifier.verify(numbers), "UNAUTHENTICATED", /claim roles/);
});

Deno.test("jwt - a types claim that is not an array of strings is UNAUTHENTICATED", async () => {
  const verifier = new TokenVerifier(SECRET, { now: () => T0 });
  const token = await signRaw(SECRET, {
    sub: "hal",
    roles: ["submitter"],
    types: "echo",
    exp: T0 / 1000 + 60,
  });
  await rejectsWith(() => verifier.verify(token), "UNAUTHENTICATED", /claim types/);
});

Deno.test("jwt - a cached token is refused once its exp has passed", async () => {
  const c = clock();
  const verifier = new TokenVerifier(SECRET, { now: c.now });
  const token = await mintToken(SECRET, { sub: "ivy", roles: ["viewer"], ttlSec: 60, now: T0 });
  const first = await verifier.verify(token);
  c.ms = T0 + 30_000;
  // Served from the cache: the very same principal object.
  assert.equal(await verifier.verify(token), first);
  c.ms = T0 + 60_000;
  await rejectsWith(
    () => verifier.verify(token),
    "UNAUTHENTICATED",
    /token expired at 2026-01-01T00:01:00\.000Z/,
  );
  // And it stays refused: the entry was dropped, not revived.
  await rejectsWith(() => verifier.verify(token), "UNAUTHENTICATED", /token expired/);
});

Deno.test("jwt - the verification cache holds at most cacheSize tokens, least recently used out", async () => {
  const verifier = new TokenVerifier(SECRET, { now: () => T0, cacheSize: 2 });
  const [a, b, c] = await Promise.all(
    ["a", "b", "c"].map((sub) => mintToken(SECRET, { sub, roles: ["viewer"], now: T0 })),
  );
  const pa = await verifier.verify(a);
  const pb = await verifier.verify(b);
  assert.equal(await verifier.verify(a), pa, "a is cached");
  // Adding c evicts b, the least recently used.
  const pc = await verifier.verify(c);
  assert.equal(await verifier.verify(a), pa, "a is still cached");
  assert.equal(await verifier.verify(c), pc, "c is cached");
  const pb2 = await verifier.verify(b);
  assert.notEqual(pb2, pb, "b was evicted and verified afresh");
  assert.deepEqual(pb2, pb);
});

Deno.test("jwt - cacheSize 0 caches nothing but still verifies", async () => {
  const verifier = new TokenVerifier(SECRET, { now: () => T0, cacheSize: 0 });
  const token = await mintToken(SECRET, { sub: "jo", roles: ["viewer"], now: T0 });
  const p1 = await verifier.verify(token);
  const p2 = await verifier.verify(token);
  assert.notEqual(p1, p2);
  assert.deepEqual(p1, p2);
});

Deno.test("jwt - a secret shorter than 32 bytes is a CONFIG error", async () => {
  throwsWith(
    () => new TokenVerifier("x".repeat(31)),
    "CONFIG",
    /JWT secret must be at least 32 bytes: got 31/,
  );
  await rejectsWith(
    async () => await mintToken("short", { sub: "k", roles: [] }),
    "CONFIG",
    /at least 32 bytes: got 5/,
  );
  // Bytes, not characters: 16 two-byte characters are enough.
  new TokenVerifier("é".repeat(16));
});

const admin: Principal = { sub: "root", roles: ["admin"] };
const submitter: Principal = { sub: "alice", roles: ["submitter"] };
const viewer: Principal = { sub: "vic", roles: ["viewer"] };
const worker: Principal = { sub: "w1", roles: ["worker"] };

function denied(fn: () => void, re: RegExp): void {
  throwsWith(fn, "PERMISSION_DENIED", re);
}

Deno.test("authorize - admin may do everything", () => {
  authorize(admin, "submit", { type: "echo" });
  authorize(admin, "cancel", { owner: "someone-else" });
  authorize(admin, "status");
  // Even with a types claim, admin is not restricted.
  authorize({ ...admin, types: ["echo"] }, "submit", { type: "backup" });
});

Deno.test("authorize - submitter may submit, cancel its own tasks and read status", () => {
  authorize(submitter, "submit", { type: "echo" });
  authorize(submitter, "cancel", { owner: "alice" });
  authorize(submitter, "cancel");
  authorize(submitter, "status");
});

Deno.test("authorize - submitter may not cancel another's task", () => {
  denied(
    () => authorize(submitter, "cancel", { owner: "bob" }),
    /"alice" may cancel only its own tasks/,
  );
});

Deno.test("authorize - viewer may read status only", () => {
  authorize(viewer, "status");
  denied(
    () => authorize(viewer, "submit", { type: "echo" }),
    /"vic" with roles \[viewer\] may not submit tasks: needs submitter or admin/,
  );
  denied(() => authorize(viewer, "cancel", { owner: "vic" }), /may not cancel tasks/);
});

Deno.test("authorize - worker role may not submit, cancel or read status", () => {
  denied(() => authorize(worker, "submit", { type: "echo" }), /\[worker\] may not submit/);
  denied(() => authorize(worker, "cancel"), /may not cancel/);
  denied(() => authorize(worker, "status"), /may not read task status/);
});

Deno.test("authorize - no roles at all is denied", () => {
  denied(() => authorize({ sub: "nobody", roles: [] }, "status"), /roles \[\] may not/);
});

Deno.test("authorize - a types claim restricts submit to those types, naming the type", () => {
  const limited: Principal = { sub: "ci", roles: ["submitter"], types: ["echo", "sleep"] };
  authorize(limited, "submit", { type: "echo" });
  authorize(limited, "submit", { type: "sleep" });
  denied(
    () => authorize(limited, "submit", { type: "backup" }),
    /"ci" may submit only echo, sleep: not "backup"/,
  );
  // An empty list allows no type.
  denied(
    () => authorize({ ...limited, types: [] }, "submit", { type: "echo" }),
    /not "echo"/,
  );
});
