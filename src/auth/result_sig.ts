/**
 * Signatures on results. Every result a scheduler stores carries a header
 * `Ts-Signature: b3.<BLAKE3 keyed hash of the body, base64url>` with a key
 * derived from the cluster secret, and the results stream republishes it with
 * the result on `tasks.result.<id>`. BLAKE3's keyed mode is a MAC; it is used
 * rather than HMAC-SHA256 because it costs about 3 µs a result here against
 * 16 µs, on the path every task takes (hash-wasm; BLAKE3 libraries exist for
 * every language a client may be written in). A client that holds the cluster secret, or
 * just the result key derived from it (`deno task token --result-key`), can
 * tell a result a scheduler stored from one somebody else published:
 *
 * ```ts
 * const verifier = await ResultVerifier.fromSecret(secret);
 * nc.subscribe("tasks.result.>", (m) => {
 *   const v = verifier.verify(m.data, m.headers?.get(RESULT_SIGNATURE), lastToken(m.subject));
 *   if (!v.ok) return; // forged, altered or unsigned: not from a scheduler
 * });
 * ```
 *
 * The key is symmetric: whoever holds it could also sign. Hand it only to
 * clients trusted that far; on a locked-down NATS (the embedded server, the
 * shipped permissions) nobody but a scheduler can store a result anyway.
 *
 * @module
 */

import { hkdfSync, timingSafeEqual } from "node:crypto";
import { createBLAKE3, type IHasher } from "hash-wasm";

/** The header that carries a result's signature. */
export const RESULT_SIGNATURE = "Ts-Signature";

/** The result key, derived from the cluster secret (never the secret itself). */
export function resultKey(secret: string): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", secret, "task-scheduler", "results v1", 32));
}

const textEncoder = new TextEncoder();

/** The header value for a MAC. */
const signatureOf = (mac: Uint8Array) => `b3.${base64url(mac)}`;

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * Base64url without padding, as `Buffer#toString("base64url")` writes it: a
 * table and a loop, since making a `Buffer` for 32 bytes cost more than
 * hashing the result (0.3–1.0 µs a result).
 */
export function base64url(b: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < b.length; i += 3) {
    const v = (b[i] << 16) | (b[i + 1] << 8) | b[i + 2];
    out += B64URL[v >> 18] + B64URL[(v >> 12) & 63] + B64URL[(v >> 6) & 63] + B64URL[v & 63];
  }
  if (i + 1 === b.length) {
    const v = b[i] << 16;
    out += B64URL[v >> 18] + B64URL[(v >> 12) & 63];
  } else if (i + 2 === b.length) {
    const v = (b[i] << 16) | (b[i + 1] << 8);
    out += B64URL[v >> 18] + B64URL[(v >> 12) & 63] + B64URL[(v >> 6) & 63];
  }
  return out;
}

/** A keyed BLAKE3 of one body at a time (the hasher is reused: no allocation per result). */
class Mac {
  private readonly scratch = new Uint8Array(64 * 1024);
  private constructor(private readonly hasher: IHasher) {}

  static async create(key: Uint8Array): Promise<Mac> {
    return new Mac(await createBLAKE3(256, key));
  }

  of(body: Uint8Array): Uint8Array {
    this.hasher.init();
    this.hasher.update(body);
    return this.hasher.digest("binary");
  }

  /** The MAC of `text`'s UTF-8, encoded into a buffer kept for the purpose (no garbage). */
  ofText(text: string): Uint8Array {
    if (text.length * 3 > this.scratch.length) return this.of(textEncoder.encode(text));
    const { written } = textEncoder.encodeInto(text, this.scratch);
    return this.of(this.scratch.subarray(0, written));
  }
}

/** Signs results (schedulers). */
export class ResultSigner {
  private constructor(private readonly mac: Mac) {}

  /** A signer for the cluster secret. */
  static async create(secret: string): Promise<ResultSigner> {
    return new ResultSigner(await Mac.create(resultKey(secret)));
  }

  /** The header value for a result body. */
  sign(body: Uint8Array): string {
    return signatureOf(this.mac.of(body));
  }

  /** The signature of `text` as it is sent: its UTF-8 (the same as `sign` of those bytes). */
  signText(text: string): string {
    return signatureOf(this.mac.ofText(text));
  }
}

/** Why a result is not believed. */
export type ResultProblem = "unsigned" | "forged" | "wrong-id" | "unreadable";

/** Checks result signatures (clients, and schedulers meeting a result already stored). */
export class ResultVerifier {
  private constructor(private readonly mac: Mac) {}

  /** With the result key itself (32 bytes, or its base64url form). */
  static async create(key: Uint8Array | string): Promise<ResultVerifier> {
    const bytes = typeof key === "string" ? new Uint8Array(Buffer.from(key, "base64url")) : key;
    if (bytes.length !== 32) throw new Error("a result key is 32 bytes");
    return new ResultVerifier(await Mac.create(bytes));
  }

  /** With the cluster secret. */
  static fromSecret(secret: string): Promise<ResultVerifier> {
    return ResultVerifier.create(resultKey(secret));
  }

  /**
   * Was this result stored by a scheduler? With `id`, the result must also be
   * that task's (a real result replayed on another task's subject is refused).
   */
  verify(
    body: Uint8Array,
    header: string | undefined,
    id?: string,
  ): { ok: true; result: Record<string, unknown> } | { ok: false; reason: ResultProblem } {
    if (!header?.startsWith("b3.")) return { ok: false, reason: "unsigned" };
    const given = Buffer.from(header.slice(3), "base64url");
    const expected = this.mac.of(body);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return { ok: false, reason: "forged" };
    }
    let result: Record<string, unknown>;
    try {
      result = JSON.parse(new TextDecoder().decode(body));
    } catch {
      return { ok: false, reason: "unreadable" };
    }
    if (id !== undefined && result?.id !== id) return { ok: false, reason: "wrong-id" };
    return { ok: true, result };
  }
}
