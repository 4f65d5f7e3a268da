/**
 * Password hashes: scrypt from `node:crypto`, a random 16-byte salt per hash,
 * and the parameters stored with the hash, so that they can change later
 * without invalidating the passwords hashed before.
 *
 * The stored form is the PHC string format,
 * `$scrypt$ln=14,r=8,p=1$<salt>$<hash>` (salt and hash in unpadded base64).
 * Hashing runs the asynchronous `scrypt`, off the event loop; a comparison is
 * constant-time (`timingSafeEqual`).
 *
 * @module
 */

import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { SchedulerError } from "../errors.ts";

/** scrypt's cost parameters: N = 2^ln, block size r, parallelism p. */
export interface ScryptParams {
  ln: number;
  r: number;
  p: number;
}

/**
 * The parameters of new hashes: N = 2^14, r = 8, p = 1, 16 MiB per hash
 * (about 75 ms on this project's 2-core machine; 2^15 took 170 ms).
 */
export const SCRYPT_PARAMS: Readonly<ScryptParams> = Object.freeze({ ln: 14, r: 8, p: 1 });

/** Shortest password accepted for a new one, in characters. */
export const MIN_PASSWORD_CHARS = 8;
/** Longest password accepted, in characters (a login with a longer one is refused unhashed). */
export const MAX_PASSWORD_CHARS = 1_024;

const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** Stored parameters are trusted only within these bounds (a corrupt entry must not cost a GiB). */
const LIMITS = { ln: [10, 20], r: [1, 32], p: [1, 16] } as const;

const PHC = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

/** A stored hash, read. */
interface Parsed {
  params: ScryptParams;
  salt: Uint8Array;
  hash: Uint8Array;
}

function b64(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/=+$/, "");
}

function unb64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** Passwords are compared as Unicode NFC, so that one typed on another keyboard still matches. */
function normalized(password: string): string {
  return password.normalize("NFC");
}

function derive(password: string, salt: Uint8Array, params: ScryptParams, length: number) {
  const N = 2 ** params.ln;
  const maxmem = 256 * N * params.r * params.p + 1024 * 1024;
  return new Promise<Uint8Array>((resolve, reject) =>
    scrypt(
      normalized(password),
      salt,
      length,
      { N, r: params.r, p: params.p, maxmem },
      (err, key) => (err ? reject(err) : resolve(new Uint8Array(key))),
    )
  );
}

function checkParams(params: ScryptParams): void {
  for (const name of ["ln", "r", "p"] as const) {
    const [lo, hi] = LIMITS[name];
    const v = params[name];
    if (!Number.isInteger(v) || v < lo || v > hi) {
      throw new SchedulerError(
        "INTERNAL",
        `scrypt parameter ${name} must be an integer from ${lo} to ${hi}: got ${v}`,
      );
    }
  }
}

function parse(stored: string): Parsed {
  const m = typeof stored === "string" ? PHC.exec(stored) : null;
  if (!m) {
    throw new SchedulerError(
      "INTERNAL",
      "stored password hash is not `$scrypt$ln=…,r=…,p=…$<salt>$<hash>`",
    );
  }
  const params = { ln: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  checkParams(params);
  let salt: Uint8Array, hash: Uint8Array;
  try {
    [salt, hash] = [unb64(m[4]), unb64(m[5])];
  } catch {
    throw new SchedulerError(
      "INTERNAL",
      "stored password hash has a salt or hash that is not base64",
    );
  }
  if (salt.byteLength < 8 || hash.byteLength < 16) {
    throw new SchedulerError("INTERNAL", "stored password hash has a too short salt or hash");
  }
  return { params, salt, hash };
}

/** Hash a password with a fresh salt; the result holds everything {@link verifyPassword} needs. */
export async function hashPassword(
  password: string,
  params: ScryptParams = SCRYPT_PARAMS,
): Promise<string> {
  checkParams(params);
  const salt = new Uint8Array(randomBytes(SALT_BYTES));
  const hash = await derive(password, salt, params, KEY_BYTES);
  return `$scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${b64(salt)}$${b64(hash)}`;
}

/**
 * Does `password` match the stored hash? Compared in constant time. A stored
 * hash that cannot be read throws INTERNAL (a corrupt entry, not a wrong
 * password).
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const { params, salt, hash } = parse(stored);
  const got = await derive(password, salt, params, hash.byteLength);
  return timingSafeEqual(got, hash);
}

/** Was `stored` made with other parameters than `params` (so a login may hash it again)? */
export function needsRehash(stored: string, params: ScryptParams = SCRYPT_PARAMS): boolean {
  try {
    const p = parse(stored).params;
    return p.ln !== params.ln || p.r !== params.r || p.p !== params.p;
  } catch {
    return true;
  }
}

/** Is this a password a user may be given? Throws INVALID_ARGUMENT naming the rule. */
export function checkNewPassword(password: string): void {
  const chars = [...password].length;
  if (chars === 0) throw new SchedulerError("INVALID_ARGUMENT", "password must not be empty");
  if (chars < MIN_PASSWORD_CHARS) {
    throw new SchedulerError(
      "INVALID_ARGUMENT",
      `password must be at least ${MIN_PASSWORD_CHARS} characters: got ${chars}`,
    );
  }
  if (chars > MAX_PASSWORD_CHARS) {
    throw new SchedulerError(
      "INVALID_ARGUMENT",
      `password must be at most ${MAX_PASSWORD_CHARS} characters: got ${chars}`,
    );
  }
}
