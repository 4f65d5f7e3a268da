/**
 * Authentication and authorisation: JWT verification and minting, roles.
 *
 * @module
 */

export { authorize, bearer, MIN_SECRET_BYTES, mintToken, ROLES, TokenVerifier } from "./jwt.ts";
export type { Action, MintOptions, Role, VerifierOptions } from "./jwt.ts";
