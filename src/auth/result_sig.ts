/**
 * Signatures on results. Every result a scheduler stores carries a header
 * `Ts-Signature: v1.<HMAC-SHA256 of the body, base64url>` with a key derived
 * from the cluster secret, and the results stream republishes it with the
 * result on `tasks.result.<id>`. A client that holds the cluster secret, or
 * just the result key derived from it (`deno task token --result-key`), can
 * tell a result a scheduler stored from one somebody else published:
 *
 * ```ts
 * const verifier = ResultVerifier.fromSecret(secret);
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

import { createHmac, hkdfSync, timingSafeEqual } from "node:crypto";

/** The header that carries a result's signature. */
export const RESULT_SIGNATURE = "Ts-Signature";

/** The result key, derived from the cluster secret (never the secret itself). */
export function resultKey(secret: string): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", secret, "task-scheduler", "results v1", 32));
}

function mac(key: Uint8Array, body: Uint8Array): Buffer {
  return createHmac("sha256", key).update(body).digest();
}

/** Signs results (schedulers). */
export class ResultSigner {
  #key: Uint8Array;
  constructor(secret: string) {
    this.#key = resultKey(secret);
  }

  /** The header value for a result body. */
  sign(body: Uint8Array): string {
    return `v1.${mac(this.#key, body).toString("base64url")}`;
  }
}

/** Why a result is not believed. */
export type ResultProblem = "unsigned" | "forged" | "wrong-id" | "unreadable";

/** Checks result signatures (clients, and schedulers meeting a result already stored). */
export class ResultVerifier {
  #key: Uint8Array;

  /** With the result key itself (32 bytes, or its base64url form). */
  constructor(key: Uint8Array | string) {
    this.#key = typeof key === "string" ? new Uint8Array(Buffer.from(key, "base64url")) : key;
    if (this.#key.length !== 32) throw new Error("a result key is 32 bytes");
  }

  /** With the cluster secret. */
  static fromSecret(secret: string): ResultVerifier {
    return new ResultVerifier(resultKey(secret));
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
    if (!header?.startsWith("v1.")) return { ok: false, reason: "unsigned" };
    const given = Buffer.from(header.slice(3), "base64url");
    const expected = mac(this.#key, body);
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
