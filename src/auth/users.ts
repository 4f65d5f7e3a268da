/**
 * Users: one JetStream KV entry per user (bucket `sched_users`), holding the
 * password hash (see password.ts), the roles and task types its tokens carry,
 * and its lockout state. `auth.login` reads them on every scheduler process;
 * `deno task user` edits them. Every change is a compare-and-set on the
 * entry's revision, so two processes counting failures at once lose none.
 *
 * Lockout: `maxFailures` failed logins in a row lock the user for
 * `lockoutMs`; each further `maxFailures` in the same run lock it twice as
 * long as the time before (up to a day, or `lockoutMs` when that is longer).
 * A successful login, `deno task user unlock` and `deno task user passwd`
 * end the run.
 *
 * @module
 */

import { SchedulerError, show } from "../errors.ts";
import { isTaskType } from "../protocol/submission.ts";
import type { Subjects } from "../protocol/subjects.ts";
import type { KvBucket, Transport } from "../transport/types.ts";
import { type Role, ROLES } from "./jwt.ts";
import { checkNewPassword, hashPassword } from "./password.ts";

/** A user as stored. Times are ISO 8601 (UTC). */
export interface UserRecord {
  name: string;
  /** `$scrypt$ln=…,r=…,p=…$<salt>$<hash>` */
  hash: string;
  roles: Role[];
  /** Task types its tokens may submit; absent: any. */
  types?: string[];
  createdAt: string;
  updatedAt: string;
  /** Failed logins since the last successful one (or unlock). */
  failures: number;
  /** Refused without a password check until then. */
  lockedUntil?: string;
}

/** When users are locked. */
export interface LockoutPolicy {
  /** Failed logins in a row that lock the user. */
  maxFailures: number;
  /** The first lockout, ms. */
  lockoutMs: number;
}

/** The longest lockout doubling reaches (unless the first is longer). */
export const MAX_LOCKOUT_MS = 86_400_000;

const NAME = /^[A-Za-z0-9_.@-]{1,64}$/;

/** Is `value` a user name: 1 to 64 of letters, digits, `_ - . @`? */
export function isUserName(value: unknown): value is string {
  return typeof value === "string" && NAME.test(value);
}

/** A user name, or INVALID_ARGUMENT naming the rule. */
export function checkUserName(value: unknown): string {
  if (!isUserName(value)) {
    throw new SchedulerError(
      "INVALID_ARGUMENT",
      `user name must be 1 to 64 letters, digits, "_", "-", "." or "@": got ${show(value)}`,
    );
  }
  return value;
}

/** Roles from {@link ROLES}, at least one, no repeats; else INVALID_ARGUMENT. */
export function checkRoles(value: unknown): Role[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new SchedulerError(
      "INVALID_ARGUMENT",
      `roles must be a non-empty list of ${ROLES.join(", ")}: got ${show(value)}`,
    );
  }
  const unknown = value.filter((r) => !(ROLES as readonly unknown[]).includes(r));
  if (unknown.length) {
    throw new SchedulerError(
      "INVALID_ARGUMENT",
      `unknown role ${unknown.map((r) => show(r)).join(", ")}: roles are ${ROLES.join(", ")}`,
    );
  }
  return [...new Set(value as Role[])];
}

/** Task type names, or INVALID_ARGUMENT. */
export function checkTypes(value: unknown): string[] {
  if (!Array.isArray(value) || !value.every(isTaskType)) {
    throw new SchedulerError(
      "INVALID_ARGUMENT",
      `types must be a list of task type names: got ${show(value)}`,
    );
  }
  return [...new Set(value)];
}

/**
 * The KV key of a user. KV keys allow letters, digits and `-_=./` (dots only
 * between tokens), so `.` and `@` are written `=2E` and `=40`; `=` is not in
 * a user name, so the encoding is one-to-one.
 */
export function userKey(name: string): string {
  return checkUserName(name).replace(
    /[.@]/g,
    (c) => `=${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** A new user's record: name, roles and types checked, the password checked and hashed. */
export async function newUser(
  o: { name: string; password: string; roles: string[]; types?: string[] },
  now: number,
): Promise<UserRecord> {
  const name = checkUserName(o.name);
  const roles = checkRoles(o.roles);
  const types = o.types === undefined ? undefined : checkTypes(o.types);
  checkNewPassword(o.password);
  const at = new Date(now).toISOString();
  const user: UserRecord = {
    name,
    hash: await hashPassword(o.password),
    roles,
    createdAt: at,
    updatedAt: at,
    failures: 0,
  };
  if (types) user.types = types;
  return user;
}

/** Until when `user` is locked, or null when it is not (any more) at `now`. */
export function lockedUntil(user: UserRecord, now: number): number | null {
  if (user.lockedUntil === undefined) return null;
  const until = Date.parse(user.lockedUntil);
  return Number.isFinite(until) && until > now ? until : null;
}

/** How long the lockout after `failures` failures lasts (0: no lockout at this count). */
export function lockoutFor(failures: number, policy: LockoutPolicy): number {
  if (failures < policy.maxFailures || failures % policy.maxFailures !== 0) return 0;
  const nth = failures / policy.maxFailures; // 1 for the first lockout of this run
  const cap = Math.max(policy.lockoutMs, MAX_LOCKOUT_MS);
  return Math.min(cap, policy.lockoutMs * 2 ** Math.min(nth - 1, 40));
}

/** The record after one more failed login at `now`: counted, and locked at each `maxFailures`. */
export function afterFailure(user: UserRecord, now: number, policy: LockoutPolicy): UserRecord {
  const failures = user.failures + 1;
  const next: UserRecord = { ...user, failures, updatedAt: new Date(now).toISOString() };
  const ms = lockoutFor(failures, policy);
  if (ms > 0) next.lockedUntil = new Date(now + ms).toISOString();
  return next;
}

/** The record with no failures and no lock. */
export function cleared(user: UserRecord, now: number): UserRecord {
  const next: UserRecord = { ...user, failures: 0, updatedAt: new Date(now).toISOString() };
  delete next.lockedUntil;
  return next;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Read a stored entry; throws INTERNAL naming what is wrong with a corrupt one. */
export function decodeUser(value: Uint8Array, key = "?"): UserRecord {
  let u: Record<string, unknown>;
  try {
    u = JSON.parse(decoder.decode(value));
  } catch (err) {
    throw new SchedulerError(
      "INTERNAL",
      `user entry ${key} is not JSON: ${(err as Error).message}`,
    );
  }
  const bad = (what: string) => {
    throw new SchedulerError("INTERNAL", `user entry ${key} is corrupt: ${what}`);
  };
  if (typeof u !== "object" || u === null || Array.isArray(u)) bad("not an object");
  if (!isUserName(u.name)) bad("name");
  if (typeof u.hash !== "string") bad("hash");
  if (!Array.isArray(u.roles) || !u.roles.every((r) => typeof r === "string")) bad("roles");
  if (u.types !== undefined && (!Array.isArray(u.types) || !u.types.every(isTaskType))) {
    bad("types");
  }
  if (typeof u.failures !== "number" || !Number.isInteger(u.failures) || u.failures < 0) {
    bad("failures");
  }
  if (u.lockedUntil !== undefined && typeof u.lockedUntil !== "string") bad("lockedUntil");
  return u as unknown as UserRecord;
}

/** The users in their KV bucket. */
export class UserStore {
  constructor(readonly kv: KvBucket) {}

  /** Open (creating if missing) the deployment's users bucket. */
  static async open(transport: Transport, subjects: Subjects, replicas = 1): Promise<UserStore> {
    return new UserStore(await transport.kv(subjects.usersBucket, { replicas }));
  }

  /** A user and its entry's revision, or null when there is none. */
  async get(name: string): Promise<{ user: UserRecord; revision: number } | null> {
    const key = userKey(name);
    const e = await this.kv.get(key);
    return e ? { user: decodeUser(e.value, key), revision: e.revision } : null;
  }

  /** Store a new user; false when one of that name exists. */
  async create(user: UserRecord): Promise<boolean> {
    return (await this.kv.create(userKey(user.name), encode(user))) !== null;
  }

  /** Replace a user if its entry is still at `revision`; false when it changed meanwhile. */
  async update(user: UserRecord, revision: number): Promise<boolean> {
    return (await this.kv.update(userKey(user.name), encode(user), revision)) !== null;
  }

  /**
   * Change a user by compare-and-set: read, apply `fn`, write if unchanged
   * meanwhile, else read again (up to `tries` times). `fn` returning null
   * writes nothing. Returns the record written (or read, when nothing was),
   * or null when there is no such user.
   */
  async change(
    name: string,
    fn: (user: UserRecord) => UserRecord | null,
    tries = 10,
  ): Promise<UserRecord | null> {
    for (let i = 0; i < tries; i++) {
      const got = await this.get(name);
      if (!got) return null;
      const next = fn(got.user);
      if (next === null) return got.user;
      if (await this.update(next, got.revision)) return next;
    }
    throw new SchedulerError(
      "INTERNAL",
      `user ${show(name)} kept changing meanwhile: gave up after ${tries} tries`,
    );
  }

  /** Remove a user; false when there was none. */
  async remove(name: string): Promise<boolean> {
    const key = userKey(name);
    if (!(await this.kv.get(key))) return false;
    await this.kv.delete(key);
    return true;
  }

  /** Every user by name, and the keys whose entries could not be read. */
  async list(): Promise<{ users: UserRecord[]; bad: string[] }> {
    const users: UserRecord[] = [];
    const bad: string[] = [];
    for (const e of await this.kv.entries()) {
      try {
        users.push(decodeUser(e.value, e.key));
      } catch {
        bad.push(e.key);
      }
    }
    users.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { users, bad };
  }
}

function encode(user: UserRecord): Uint8Array {
  return encoder.encode(JSON.stringify(user));
}
