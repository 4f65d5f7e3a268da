/**
 * A node configured with a JWKS file (`jwks`) accepts an identity provider's
 * tokens on the task subjects and on `schedules.*`, besides HS256 ones.
 */

import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { rig } from "./_node.ts";

Deno.test("jwks e2e - RS256 and EdDSA tokens of the JWKS submit tasks and list schedules", async () => {
  const rsa = await generateKeyPair("RS256", { extractable: true });
  const ed = await generateKeyPair("EdDSA", { extractable: true });
  const dir = await Deno.makeTempDir({ prefix: "ts-jwks-" });
  const jwks = `${dir}/jwks.json`;
  await Deno.writeTextFile(
    jwks,
    JSON.stringify({
      keys: [
        { ...(await exportJWK(rsa.publicKey)), kid: "r1" },
        { ...(await exportJWK(ed.publicKey)), kid: "e1" },
      ],
    }),
  );
  const token = (alg: string, kid: string, key: CryptoKey, roles: string[]) =>
    new SignJWT({ roles })
      .setProtectedHeader({ alg, kid })
      .setSubject(`idp-${kid}`)
      .setIssuedAt()
      .setExpirationTime("10m")
      .sign(key);

  await using r = await rig({ config: { jwks } });
  const submitter = await token("RS256", "r1", rsa.privateKey, ["submitter"]);
  r.client.submit("echo", { id: "jwks-echo", payload: 7 }, {
    Authorization: `Bearer ${submitter}`,
  });
  const done = await r.client.result("jwks-echo");
  assert.equal(done.state, "succeeded", JSON.stringify(done));

  const stranger = await generateKeyPair("RS256");
  const unknown = await token("RS256", "r9", stranger.privateKey, ["admin"]);
  r.client.submit("echo", { id: "jwks-unknown", payload: 7 }, {
    Authorization: `Bearer ${unknown}`,
  });
  const refused = await r.client.result("jwks-unknown");
  assert.equal(refused.state, "rejected");
  assert.equal(refused.error?.code, "UNAUTHENTICATED");
  assert.match(refused.error!.message, /unknown key: no key in the JWKS for kid "r9"/);

  const viewer = await token("EdDSA", "e1", ed.privateKey, ["viewer"]);
  const reply = await r.client.t.request("schedules.list", new TextEncoder().encode("{}"), {
    timeoutMs: 5_000,
    headers: { Authorization: `Bearer ${viewer}` },
  });
  const body = JSON.parse(new TextDecoder().decode(reply.data));
  assert.equal(body.ok, true, JSON.stringify(body));
  await Deno.remove(dir, { recursive: true });
});
