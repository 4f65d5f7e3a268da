/**
 * Authentication and authorisation: JWT verification (HS256, or a JWKS) and
 * minting, roles, users and their password hashes, and
 * the seals on messages between schedulers and worker nodes, and the
 * signatures on results.
 *
 * @module
 */

export { authorize, bearer, MIN_SECRET_BYTES, mintToken, ROLES, TokenVerifier } from "./jwt.ts";
export { checkJwks, JWKS_ALGORITHMS, readJwksFile } from "./jwt.ts";
export {
  checkNewPassword,
  hashPassword,
  MAX_PASSWORD_CHARS,
  MIN_PASSWORD_CHARS,
  needsRehash,
  SCRYPT_PARAMS,
  verifyPassword,
} from "./password.ts";
export {
  afterFailure,
  checkRoles,
  checkTypes,
  checkUserName,
  cleared,
  decodeUser,
  isUserName,
  lockedUntil,
  lockoutFor,
  MAX_LOCKOUT_MS,
  newUser,
  userKey,
  UserStore,
} from "./users.ts";
export { MAX_SKEW_MS, Opener, SEAL_HEADER, Sealer, sealKey } from "./seal.ts";
export { RESULT_SIGNATURE, resultKey, ResultSigner, ResultVerifier } from "./result_sig.ts";
export type { Action, MintOptions, Role, VerifierOptions } from "./jwt.ts";
export type { Jwks } from "./jwt.ts";
export type { ScryptParams } from "./password.ts";
export type { LockoutPolicy, UserRecord } from "./users.ts";
export type { Opened, SealProblem } from "./seal.ts";
export type { ResultProblem } from "./result_sig.ts";
