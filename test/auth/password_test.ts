import assert from "node:assert/strict";
import { SchedulerError } from "../../src/errors.ts";
import {
  checkNewPassword,
  hashPassword,
  needsRehash,
  SCRYPT_PARAMS,
  verifyPassword,
} from "../../src/auth/password.ts";

const PHC = /^\$scrypt\$ln=14,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/;

function throwsCode(fn: () => unknown, code: string, re: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof SchedulerError, `expected a SchedulerError, got ${err}`);
    assert.equal(err.code, code);
    assert.match(err.message, re);
    return true;
  });
}

Deno.test("password - a hash holds its parameters, a 16-byte salt and a 32-byte hash", async () => {
  const stored = await hashPassword("correct horse battery staple");
  assert.match(stored, PHC);
  assert.deepEqual(SCRYPT_PARAMS, { ln: 14, r: 8, p: 1 });
  assert.ok(!stored.includes("correct horse"));
});

Deno.test("password - the right password verifies, a wrong one does not", async () => {
  const stored = await hashPassword("s3cret-passw0rd");
  assert.equal(await verifyPassword("s3cret-passw0rd", stored), true);
  assert.equal(await verifyPassword("s3cret-passw0rd ", stored), false);
  assert.equal(await verifyPassword("S3cret-passw0rd", stored), false);
  assert.equal(await verifyPassword("", stored), false);
});

Deno.test("password - each hash has its own salt", async () => {
  const [a, b] = await Promise.all([hashPassword("same-password"), hashPassword("same-password")]);
  assert.notEqual(a, b);
  assert.notEqual(a.split("$")[3], b.split("$")[3]);
  assert.equal(await verifyPassword("same-password", a), true);
  assert.equal(await verifyPassword("same-password", b), true);
});

Deno.test("password - a hash made with other parameters still verifies, and wants a rehash", async () => {
  const old = await hashPassword("older-password", { ln: 10, r: 8, p: 1 });
  assert.match(old, /^\$scrypt\$ln=10,r=8,p=1\$/);
  assert.equal(await verifyPassword("older-password", old), true);
  assert.equal(await verifyPassword("other-password", old), false);
  assert.equal(needsRehash(old), true);
  assert.equal(needsRehash(await hashPassword("newer-password")), false);
  assert.equal(needsRehash("garbage"), true);
});

Deno.test("password - composed and decomposed accents are the same password (NFC)", async () => {
  const stored = await hashPassword("caf\u00e9-au-lait");
  assert.equal(await verifyPassword("cafe\u0301-au-lait", stored), true);
});

Deno.test("password - a stored hash that cannot be read is INTERNAL, not a wrong password", async () => {
  for (
    const bad of [
      "",
      "plain-text",
      "$scrypt$ln=14,r=8,p=1$c2FsdA$aGFzaA", // salt and hash too short
      "$scrypt$ln=30,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", // 2^30
      "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g",
    ]
  ) {
    await assert.rejects(() => verifyPassword("x", bad), (err: unknown) => {
      assert.ok(err instanceof SchedulerError);
      assert.equal(err.code, "INTERNAL");
      return true;
    });
  }
});

Deno.test("password - new passwords: not empty, at least 8 and at most 1024 characters", () => {
  throwsCode(() => checkNewPassword(""), "INVALID_ARGUMENT", /must not be empty/);
  throwsCode(() => checkNewPassword("1234567"), "INVALID_ARGUMENT", /at least 8 characters: got 7/);
  checkNewPassword("12345678");
  // Characters, not bytes or UTF-16 units: 8 emoji are 8 characters.
  checkNewPassword("🔑".repeat(8));
  throwsCode(() => checkNewPassword("🔑".repeat(7)), "INVALID_ARGUMENT", /got 7/);
  throwsCode(() => checkNewPassword("x".repeat(1025)), "INVALID_ARGUMENT", /at most 1024/);
});

Deno.test("password - hashing runs off the event loop and stays under a few hundred ms", async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const started = performance.now();
  try {
    await hashPassword("timing-the-hash");
  } finally {
    clearInterval(timer);
  }
  const ms = performance.now() - started;
  // About 75 ms on the project's machine; generous bounds for a loaded test run.
  assert.ok(ms < 1_500, `hashing took ${ms.toFixed(0)} ms`);
  if (ms > 30) assert.ok(ticks >= 1, `no timer ran during a ${ms.toFixed(0)} ms hash`);
});
