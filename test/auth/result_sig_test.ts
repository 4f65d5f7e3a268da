import assert from "node:assert/strict";
import fc from "fast-check";
import { Buffer } from "node:buffer";
import { base64url, ResultSigner, ResultVerifier } from "../../src/auth/result_sig.ts";

const enc = new TextEncoder();

Deno.test("result_sig - a text's signature is its UTF-8 bytes' signature, and verifies", async () => {
  const signer = await ResultSigner.create("s3cret");
  const verifier = await ResultVerifier.fromSecret("s3cret");
  const other = await ResultVerifier.fromSecret("other");
  const unit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
  fc.assert(
    fc.property(
      fc.oneof(fc.string({ unit: "grapheme" }), fc.string({ unit })),
      fc.string({ maxLength: 20 }),
      (text, id) => {
        // Raw text too: lone surrogates reach the encoder (JSON.stringify escapes them).
        assert.equal(signer.signText(text), signer.sign(enc.encode(text)));
        const body = JSON.stringify({ id, text });
        const sig = signer.signText(body);
        assert.equal(sig, signer.sign(enc.encode(body)));
        assert.deepEqual(verifier.verify(enc.encode(body), sig, id), {
          ok: true,
          result: JSON.parse(body),
        });
        assert.deepEqual(other.verify(enc.encode(body), sig), { ok: false, reason: "forged" });
      },
    ),
    { numRuns: 500 },
  );
  // Past the scratch buffer (64 KiB of UTF-8): encoded on its own, the same signature.
  const long = JSON.stringify({ id: "x", text: "ü".repeat(40_000) });
  assert.equal(signer.signText(long), signer.sign(enc.encode(long)));
  // One bit of the body changed: no longer believed.
  const body = enc.encode(JSON.stringify({ id: "a", n: 1 }));
  const sig = signer.sign(body);
  body[body.length - 2] ^= 1;
  assert.deepEqual(verifier.verify(body, sig, "a"), { ok: false, reason: "forged" });
});

Deno.test("result_sig - base64url writes what Buffer writes, for every length", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 70 }), (bytes) => {
      assert.equal(base64url(bytes), Buffer.from(bytes).toString("base64url"));
    }),
    { numRuns: 2_000 },
  );
});
