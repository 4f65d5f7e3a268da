/**
 * Tokens: HS256 JWTs with `sub`, `roles` and `exp` (and optionally `types`,
 * the task types the token may submit), verified with `jose`. The one module
 * that imports jose.
 *
 * Verification is cached by token string (bounded, least recently used
 * first out), and a cached token is still checked against its `exp` on every
 * use, so a burst of tasks under one token costs one HMAC.
 *
 * @module
 */

import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import { SchedulerError } from "../errors.ts";
import type { Principal } from "../protocol/task.ts";

/** The roles the system knows. */
export const ROLES = ["admin", "submitter", "viewer", "worker"] as const;
/** One role. */
export type Role = typeof ROLES[number];

/** What each action needs. */
export type Action = "submit" | "cancel" | "status" | "schedules.read" | "schedules.manage";

/** Options for {@link TokenVerifier}. */
export interface VerifierOptions {
  now?: () => number;
  /** Tokens kept verified in memory (default 10,000). */
  cacheSize?: number;
}

const encoder = new TextEncoder();

/** Smallest secret accepted, in bytes: HS256 wants at least the hash size. */
export const MIN_SECRET_BYTES = 32;

function key(secret: string): Uint8Array {
  const k = encoder.encode(secret);
  if (k.byteLength < MIN_SECRET_BYTES) {
    throw new SchedulerError(
      "CONFIG",
      `JWT secret must be at least ${MIN_SECRET_BYTES} bytes: got ${k.byteLength}`,
    );
  }
  return k;
}

/** Take the token out of an `Authorization: Bearer <jwt>` header value. */
export function bearer(header: string | undefined): string {
  if (header === undefined || header.trim() === "") {
    throw new SchedulerError(
      "UNAUTHENTICATED",
      "missing Authorization header: send `Authorization: Bearer <JWT>`",
    );
  }
  const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) {
    throw new SchedulerError("UNAUTHENTICATED", "Authorization header must be `Bearer <JWT>`");
  }
  return m[1];
}

/** Verifies tokens and caches the verdicts. */
export class TokenVerifier {
  #key: Uint8Array;
  #now: () => number;
  #cache = new Map<string, { principal: Principal; exp: number }>();
  #cacheSize: number;

  constructor(secret: string, options: VerifierOptions = {}) {
    this.#key = key(secret);
    this.#now = options.now ?? Date.now;
    this.#cacheSize = options.cacheSize ?? 10_000;
  }

  /** Verify an `Authorization` header value and return who it names. */
  verifyHeader(header: string | undefined): Promise<Principal> {
    let token: string;
    try {
      token = bearer(header);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.verify(token);
  }

  /** Verify a token; rejects with UNAUTHENTICATED naming the problem. */
  async verify(token: string): Promise<Principal> {
    const hit = this.#cache.get(token);
    if (hit) {
      if (hit.exp * 1000 <= this.#now()) {
        this.#cache.delete(token);
        throw expired(hit.exp);
      }
      this.#cache.delete(token);
      this.#cache.set(token, hit);
      return hit.principal;
    }
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.#key, {
        algorithms: ["HS256"],
        currentDate: new Date(this.#now()),
        requiredClaims: ["sub", "exp"],
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw expired(Number(err.payload.exp));
      if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
        throw new SchedulerError(
          "UNAUTHENTICATED",
          "token signature is invalid (wrong secret or altered token)",
        );
      }
      throw new SchedulerError("UNAUTHENTICATED", `token rejected: ${(err as Error).message}`);
    }
    const principal = toPrincipal(payload);
    const exp = payload.exp as number;
    this.#cache.set(token, { principal, exp });
    if (this.#cache.size > this.#cacheSize) this.#cache.delete(this.#cache.keys().next().value!);
    return principal;
  }
}

function expired(exp: number): SchedulerError {
  const when = Number.isFinite(exp) ? new Date(exp * 1000).toISOString() : "an unknown time";
  return new SchedulerError("UNAUTHENTICATED", `token expired at ${when}`);
}

function toPrincipal(p: Record<string, unknown>): Principal {
  if (typeof p.sub !== "string" || p.sub === "") {
    throw new SchedulerError("UNAUTHENTICATED", "token claim sub must be a non-empty string");
  }
  const roles = p.roles;
  if (!Array.isArray(roles) || !roles.every((r) => typeof r === "string")) {
    throw new SchedulerError("UNAUTHENTICATED", "token claim roles must be an array of strings");
  }
  const types = p.types;
  if (
    types !== undefined && (!Array.isArray(types) || !types.every((t) => typeof t === "string"))
  ) {
    throw new SchedulerError(
      "UNAUTHENTICATED",
      "token claim types must be an array of task type names",
    );
  }
  return { sub: p.sub, roles, types: types as string[] | undefined };
}

/**
 * Check that `who` may do `action` (on a task of `type`, or owned by `owner`).
 * Throws PERMISSION_DENIED naming the missing role.
 */
export function authorize(
  who: Principal,
  action: Action,
  target: { type?: string; owner?: string } = {},
): void {
  const has = (r: Role) => who.roles.includes(r);
  if (has("admin")) return;
  switch (action) {
    case "submit":
      if (!has("submitter")) deny(who, "submit tasks", "submitter or admin");
      if (who.types && target.type !== undefined && !who.types.includes(target.type)) {
        throw new SchedulerError(
          "PERMISSION_DENIED",
          `token of ${JSON.stringify(who.sub)} may submit only ${who.types.join(", ")}: not ${
            JSON.stringify(target.type)
          }`,
        );
      }
      return;
    case "cancel":
      if (!has("submitter")) deny(who, "cancel tasks", "submitter (own tasks) or admin");
      if (target.owner !== undefined && target.owner !== who.sub) {
        throw new SchedulerError(
          "PERMISSION_DENIED",
          `${JSON.stringify(who.sub)} may cancel only its own tasks`,
        );
      }
      return;
    case "status":
      if (!has("viewer") && !has("submitter")) {
        deny(who, "read task status", "viewer, submitter or admin");
      }
      return;
    case "schedules.read":
      if (!has("viewer") && !has("submitter")) {
        deny(who, "read schedules", "viewer, submitter or admin");
      }
      return;
    case "schedules.manage":
      deny(who, "change schedules", "admin");
      return;
    default: {
      const never: never = action;
      throw new Error(`unknown action ${never}`);
    }
  }
}

function deny(who: Principal, what: string, needs: string): never {
  throw new SchedulerError(
    "PERMISSION_DENIED",
    `${JSON.stringify(who.sub)} with roles [${
      who.roles.join(", ")
    }] may not ${what}: needs ${needs}`,
  );
}

/** Options for {@link mintToken}. */
export interface MintOptions {
  sub: string;
  roles: string[];
  types?: string[];
  /** Lifetime in seconds (default 24 h). */
  ttlSec?: number;
  now?: number;
}

/** Mint a token: for `deno task token`, for tests and for the session token. */
export function mintToken(secret: string, o: MintOptions): Promise<string> {
  const iat = Math.floor((o.now ?? Date.now()) / 1000);
  const claims: Record<string, unknown> = { roles: o.roles };
  if (o.types) claims.types = o.types;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(o.sub)
    .setIssuedAt(iat)
    .setExpirationTime(iat + (o.ttlSec ?? 86_400))
    .sign(key(secret));
}
