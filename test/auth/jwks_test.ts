/**
 * Tokens of an identity provider: RS256, ES256 and EdDSA JWTs verified
 * against a JWKS file, beside the cluster's HS256 tokens.
 */

import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { SchedulerError } from "../../src/errors.ts";
import { type Jwks, mintToken, readJwksFile, TokenVerifier } from "../../src/auth/jwt.ts";

const SECRET = "test-secret-that-is-long-enough-for-hs256!";
const T0 = Date.UTC(2026, 0, 1);
const NOW = () => T0;

type Alg = "RS256" | "ES256" | "EdDSA";

interface Signer {
  kid: string;
  alg: Alg;
  jwk: JWK;
  sign(claims: Record<string, unknown>, o?: { ttl?: number; alg?: string; kid?: string }): Promise<
    string
  >;
}

/** A key pair of `alg`: its public JWK (with kid) and a signer of tokens. */
async function signer(alg: Alg, kid: string): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, use: "sig" };
  return {
    kid,
    alg,
    jwk,
    sign: (claims, o = {}) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: o.alg ?? alg, kid: o.kid ?? kid, typ: "JWT" })
        .setSubject("idp-user")
        .setIssuedAt(T0 / 1000)
        .setExpirationTime(T0 / 1000 + (o.ttl ?? 600))
        .sign(privateKey),
  };
}

/** A JWKS file of these keys in a temp folder, read back as the node reads it. */
async function jwksFile(keys: JWK[]): Promise<{ path: string; jwks: Jwks }> {
  const dir = await Deno.makeTempDir({ prefix: "ts-jwks-" });
  const path = `${dir}/jwks.json`;
  await Deno.writeTextFile(path, JSON.stringify({ keys }));
  return { path, jwks: readJwksFile(path) };
}

async function rejectsWith(fn: () => Promise<unknown>, code: string, re: RegExp): Promise<void> {
  await assert.rejects(fn, (err: unknown) => {
    assert.ok(err instanceof SchedulerError, `expected a SchedulerError, got ${err}`);
    assert.equal(err.code, code);
    assert.match(err.message, re);
    return true;
  });
}

const rsa = await signer("RS256", "rsa-1");
const ed = await signer("EdDSA", "ed-1");
const ec = await signer("ES256", "ec-1");
const { path, jwks } = await jwksFile([rsa.jwk, ed.jwk, ec.jwk]);
const verifier = new TokenVerifier(SECRET, { now: NOW, jwks });

Deno.test("jwks - RS256, EdDSA and ES256 tokens from the JWKS file verify, roles and types kept", async () => {
  for (const s of [rsa, ed, ec]) {
    const token = await s.sign({ roles: ["submitter"], types: ["echo"] });
    assert.deepEqual(await verifier.verifyHeader(`Bearer ${token}`), {
      sub: "idp-user",
      roles: ["submitter"],
      types: ["echo"],
    }, s.alg);
  }
});

Deno.test("jwks - HS256 tokens of the cluster secret keep working beside the JWKS", async () => {
  const token = await mintToken(SECRET, { sub: "alice", roles: ["viewer"], now: T0 });
  assert.deepEqual(await verifier.verify(token), {
    sub: "alice",
    roles: ["viewer"],
    types: undefined,
  });
  const other = await mintToken("another-secret-that-is-also-long-enough-x", {
    sub: "mallory",
    roles: ["admin"],
    now: T0,
  });
  await rejectsWith(
    () => verifier.verify(other),
    "UNAUTHENTICATED",
    /^token signature is invalid \(wrong secret or altered token\)$/,
  );
});

Deno.test("jwks - a token whose kid is not in the JWKS names the unknown key", async () => {
  const stranger = await signer("RS256", "rsa-unknown");
  const token = await stranger.sign({ roles: ["admin"] });
  await rejectsWith(
    () => verifier.verify(token),
    "UNAUTHENTICATED",
    /^token signed by an unknown key: no key in the JWKS for kid "rsa-unknown" and alg "RS256"$/,
  );
});

Deno.test("jwks - a token signed by another key under a known kid fails on its signature", async () => {
  const impostor = await signer("RS256", "rsa-1");
  const token = await impostor.sign({ roles: ["admin"] });
  await rejectsWith(
    () => verifier.verify(token),
    "UNAUTHENTICATED",
    /^token signature is invalid \(wrong key for kid "rsa-1" or altered token\)$/,
  );
});

Deno.test("jwks - a token of another algorithm is refused naming it", async () => {
  // RS512 with a key of the JWKS: not an accepted algorithm.
  const { privateKey } = await generateKeyPair("RS512");
  const rs512 = await new SignJWT({ roles: ["admin"] })
    .setProtectedHeader({ alg: "RS512", kid: "rsa-1" })
    .setSubject("x")
    .setExpirationTime(T0 / 1000 + 60)
    .sign(privateKey);
  await rejectsWith(
    () => verifier.verify(rs512),
    "UNAUTHENTICATED",
    /^token rejected: algorithm "RS512" is not accepted: use HS256, RS256, ES256, EdDSA$/,
  );
  // An EdDSA kid asked for with RS256: no key of that kid fits that algorithm.
  const confused = await rsa.sign({ roles: ["admin"] }, { kid: "ed-1" });
  await rejectsWith(
    () => verifier.verify(confused),
    "UNAUTHENTICATED",
    /unknown key: no key in the JWKS for kid "ed-1" and alg "RS256"/,
  );
});

Deno.test("jwks - an expired JWKS token is refused naming when it expired", async () => {
  const token = await ed.sign({ roles: ["viewer"] }, { ttl: 60 });
  const late = new TokenVerifier(SECRET, { now: () => T0 + 61_000, jwks });
  await rejectsWith(
    () => late.verify(token),
    "UNAUTHENTICATED",
    /^token expired at 2026-01-01T00:01:00\.000Z$/,
  );
});

Deno.test("jwks - the roles claim is still required", async () => {
  const token = await rsa.sign({ groups: ["admin"] });
  await rejectsWith(() => verifier.verify(token), "UNAUTHENTICATED", /claim roles/);
});

Deno.test("jwks - without a JWKS, RS256 tokens are refused: only HS256 is accepted", async () => {
  const plain = new TokenVerifier(SECRET, { now: NOW });
  const token = await rsa.sign({ roles: ["admin"] });
  await rejectsWith(
    () => plain.verify(token),
    "UNAUTHENTICATED",
    /^token rejected: algorithm "RS256" is not accepted: use HS256$/,
  );
});

Deno.test("jwks - an HS256 token cannot pass for a JWKS token (no algorithm confusion)", async () => {
  // HMAC over the token with the RSA public key's modulus as the secret: refused, not verified.
  const fake = await new SignJWT({ roles: ["admin"] })
    .setProtectedHeader({ alg: "HS256", kid: "rsa-1" })
    .setSubject("x")
    .setExpirationTime(T0 / 1000 + 60)
    .sign(new TextEncoder().encode(String(rsa.jwk.n)));
  await rejectsWith(() => verifier.verify(fake), "UNAUTHENTICATED", /signature is invalid/);
});

Deno.test("jwks - several keys fitting a token without kid are refused", async () => {
  const second = await signer("RS256", "rsa-2");
  const { jwks: two } = await jwksFile([rsa.jwk, second.jwk]);
  const v = new TokenVerifier(SECRET, { now: NOW, jwks: two });
  const token = await new SignJWT({ roles: ["viewer"] })
    .setProtectedHeader({ alg: "RS256" })
    .setSubject("x")
    .setExpirationTime(T0 / 1000 + 60)
    .sign((await generateKeyPair("RS256")).privateKey);
  await rejectsWith(() => v.verify(token), "UNAUTHENTICATED", /several keys .* must name its key/);
  // With its kid it verifies.
  assert.equal((await v.verify(await second.sign({ roles: ["viewer"] }))).sub, "idp-user");
});

Deno.test("jwks - a bad JWKS file is a CONFIG error naming the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ts-jwks-" });
  const write = async (name: string, text: string) => {
    await Deno.writeTextFile(`${dir}/${name}`, text);
    return `${dir}/${name}`;
  };
  const cases: [string, string, RegExp][] = [
    ["missing.json", "", /JWKS file .*missing\.json: /],
    ["notjson.json", "{", /JWKS file .*notjson\.json: /],
    ["nokeys.json", "{}", /must be a JWKS: \{"keys": \[<JWK>, …\]\}/],
    ["empty.json", '{"keys": []}', /holds no keys/],
    [
      "private.json",
      JSON.stringify({ keys: [{ ...rsa.jwk, d: "secret" }] }),
      /key 0 \(kid "rsa-1"\) is private or symmetric/,
    ],
    ["oct.json", JSON.stringify({ keys: [{ kty: "oct", k: "c2VjcmV0" }] }), /private or symmetric/],
  ];
  for (const [name, text, re] of cases) {
    const file = name === "missing.json" ? `${dir}/missing.json` : await write(name, text);
    assert.throws(() => readJwksFile(file), (err: unknown) => {
      assert.ok(err instanceof SchedulerError);
      assert.equal(err.code, "CONFIG");
      assert.match(err.message, re);
      return true;
    }, name);
  }
  assert.deepEqual(readJwksFile(path).keys.map((k) => k.kid), ["rsa-1", "ed-1", "ec-1"]);
});
