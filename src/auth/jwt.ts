/**
 * Tokens: HS256 JWTs with `sub`, `roles` and `exp` (and optionally `types`,
 * the task types the token may submit), verified with `jose`. The one module
 * that imports jose.
 *
 * With a JWKS (an identity provider's public keys, {@link readJwksFile}),
 * RS256, ES256 and EdDSA tokens verify too: the header's `alg` and `kid`
 * pick the key. HS256 tokens keep verifying against the cluster secret.
 *
 * Verification is cached by token string (bounded, least recently used
 * first out), and a cached token is still checked against its `exp` on every
 * use, so a burst of tasks under one token costs one HMAC.
 *
 * @module
 */

import {
  createLocalJWKSet,
  decodeProtectedHeader,
  errors as joseErrors,
  type JSONWebKeySet,
  jwtVerify,
  SignJWT,
} from "jose";
import { SchedulerError } from "../errors.ts";
import type { Principal } from "../protocol/task.ts";
import { ChurnMap } from "../runtime/churn_map.ts";

/** The roles the system knows. */
export const ROLES = ["admin", "submitter", "viewer", "worker"] as const;
/** One role. */
export type Role = typeof ROLES[number];

/** What each action needs. */
export type Action =
  | "submit"
  | "cancel"
  | "status"
  | "schedules.read"
  | "schedules.manage"
  | "tasks.manage";

/** Options for {@link TokenVerifier}. */
export interface VerifierOptions {
  now?: () => number;
  /** Tokens kept verified in memory (default 10,000). */
  cacheSize?: number;
  /** Public keys (a JWKS, as {@link readJwksFile} returns) for RS256, ES256 and EdDSA tokens. */
  jwks?: Jwks;
}

/** A JSON Web Key Set: `{"keys": [<JWK>, …]}`. */
export interface Jwks {
  keys: Record<string, unknown>[];
}

/** The algorithms a JWKS key may sign with. */
export const JWKS_ALGORITHMS = ["RS256", "ES256", "EdDSA"] as const;

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
  #cache = new ChurnMap<string, { principal: Principal; exp: number }>();
  #cacheSize: number;
  #jwks: ReturnType<typeof createLocalJWKSet> | null;
  #algorithms: string[];

  constructor(secret: string, options: VerifierOptions = {}) {
    this.#key = key(secret);
    this.#now = options.now ?? Date.now;
    this.#cacheSize = options.cacheSize ?? 10_000;
    this.#jwks = options.jwks ? localJwks(options.jwks, "jwks") : null;
    this.#algorithms = this.#jwks ? ["HS256", ...JWKS_ALGORITHMS] : ["HS256"];
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
    const jwks = this.#jwks;
    try {
      // HS256 verifies with the cluster secret; the JWKS algorithms with the key `alg` and `kid` pick.
      ({ payload } = await jwtVerify(
        token,
        (header, input) => (header.alg === "HS256" || !jwks ? this.#key : jwks(header, input)),
        {
          algorithms: this.#algorithms,
          currentDate: new Date(this.#now()),
          requiredClaims: ["sub", "exp"],
        },
      ));
    } catch (err) {
      throw this.#rejection(err, token);
    }
    const principal = toPrincipal(payload);
    const exp = payload.exp as number;
    this.#cache.set(token, { principal, exp });
    if (this.#cache.size > this.#cacheSize) this.#cache.delete(this.#cache.firstKey()!);
    return principal;
  }

  /** What went wrong, as UNAUTHENTICATED naming the problem. */
  #rejection(err: unknown, token: string): SchedulerError {
    if (err instanceof SchedulerError) return err;
    if (err instanceof joseErrors.JWTExpired) return expired(Number(err.payload.exp));
    let header: { alg?: unknown; kid?: unknown } = {};
    try {
      header = decodeProtectedHeader(token);
    } catch {
      // a malformed token: jose's message says so
    }
    const alg = JSON.stringify(header.alg ?? null);
    const kid = typeof header.kid === "string" ? `kid ${JSON.stringify(header.kid)}` : "no kid";
    const fail = (message: string) => new SchedulerError("UNAUTHENTICATED", message);
    if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
      return fail(
        header.alg === "HS256"
          ? "token signature is invalid (wrong secret or altered token)"
          : `token signature is invalid (wrong key for ${kid} or altered token)`,
      );
    }
    if (err instanceof joseErrors.JOSEAlgNotAllowed) {
      return fail(
        `token rejected: algorithm ${alg} is not accepted: use ${this.#algorithms.join(", ")}`,
      );
    }
    if (err instanceof joseErrors.JWKSNoMatchingKey) {
      return fail(`token signed by an unknown key: no key in the JWKS for ${kid} and alg ${alg}`);
    }
    if (err instanceof joseErrors.JWKSMultipleMatchingKeys) {
      return fail(
        `token rejected: several keys in the JWKS fit ${kid} and alg ${alg}: the token must name its key with kid`,
      );
    }
    return fail(`token rejected: ${(err as Error).message}`);
  }
}

/** A JWKS as jose resolves keys from it; a malformed one is a CONFIG error naming `where`. */
function localJwks(jwks: Jwks, where: string): ReturnType<typeof createLocalJWKSet> {
  checkJwks(jwks, where);
  try {
    return createLocalJWKSet(jwks as unknown as JSONWebKeySet);
  } catch (err) {
    throw new SchedulerError("CONFIG", `${where}: ${(err as Error).message}`);
  }
}

/**
 * Check a JWKS: `{"keys": [...]}` of public keys. A private or symmetric key
 * (a `d` or `k` member) is refused: this file is for verification only, and an
 * HS key there would let anyone who reads it mint tokens.
 */
export function checkJwks(data: unknown, where: string): Jwks {
  const keys = (data as { keys?: unknown } | null)?.keys;
  if (
    typeof data !== "object" || data === null || !Array.isArray(keys) ||
    !keys.every((k) => typeof k === "object" && k !== null && !Array.isArray(k))
  ) {
    throw new SchedulerError("CONFIG", `${where} must be a JWKS: {"keys": [<JWK>, …]}`);
  }
  if (keys.length === 0) throw new SchedulerError("CONFIG", `${where} holds no keys`);
  for (const [i, k] of (keys as Record<string, unknown>[]).entries()) {
    if ("d" in k || "k" in k || k.kty === "oct") {
      throw new SchedulerError(
        "CONFIG",
        `${where}: key ${i}${
          typeof k.kid === "string" ? ` (kid ${JSON.stringify(k.kid)})` : ""
        } is private or symmetric: a JWKS for verification holds public keys only`,
      );
    }
  }
  return data as Jwks;
}

/** Read and check a JWKS file (config key `jwks`); CONFIG naming the file when it is no good. */
export function readJwksFile(path: string): Jwks {
  let data: unknown;
  try {
    data = JSON.parse(Deno.readTextFileSync(path));
  } catch (err) {
    throw new SchedulerError("CONFIG", `JWKS file ${path}: ${(err as Error).message}`);
  }
  const jwks = checkJwks(data, `JWKS file ${path}`);
  localJwks(jwks, `JWKS file ${path}`);
  return jwks;
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
    case "tasks.manage":
      deny(who, "retry tasks or purge dead letters", "admin");
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
