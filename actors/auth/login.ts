/**
 * The login actor: answers `auth.login` with a short-lived token for a user
 * name and password from the users bucket (see src/auth/users.ts).
 *
 * Every scheduler process runs one, in the NATS queue group `auth`, whether
 * or not its scheduler leads: users live in KV, so a login needs no leader
 * and keeps working through a leader change. One message at a time; the
 * password hash runs on scrypt's thread (`node:crypto`'s asynchronous
 * `scrypt`), so the event loop keeps going meanwhile.
 *
 * What a caller cannot learn: whether a name exists. An unknown name is
 * hashed against a dummy hash made with the same parameters, so it takes as
 * long as a wrong password, and gets the same message. The reply goes out
 * before a failure is written to KV, so that write does not show in the
 * time either. A locked user is refused without a password check.
 *
 * @module
 */

import {
  afterFailure,
  type Behavior,
  cleared,
  type Config,
  type ErrorCode,
  type ErrorInfo,
  hashPassword,
  isUserName,
  lockedUntil,
  type LockoutPolicy,
  type Logger,
  MAX_PASSWORD_CHARS,
  mintToken,
  needsRehash,
  SchedulerError,
  show,
  type Subjects,
  type Subscription,
  toErrorInfo,
  type Transport,
  type UserRecord,
  UserStore,
  verifyPassword,
} from "../../src/internal_mod.ts";
import type { Audit } from "../audit.ts";

/** The one message: a login request as it arrived. */
export interface LoginMsg {
  type: "auth.login";
  data: Uint8Array;
  reply: (body: LoginReply) => void;
}

/** The body of a reply on `auth.login`. */
export type LoginReply =
  | { ok: true; token: string; expiresAt: string; roles: string[]; types?: string[] }
  | { ok: false; error: ErrorInfo };

/** What the login actor needs from its process. */
export interface LoginDeps {
  transport: Transport;
  subjects: Subjects;
  config: Pick<Config, "replicas" | "loginTtlS" | "loginMaxFailures" | "loginLockoutS">;
  jwtSecret: string;
  /** The users (tests); default: the deployment's users bucket, opened on the first login. */
  store?: UserStore;
  /** Where refused logins are recorded (who tried, as which name, and why; never the password). */
  audit?: Audit;
}

interface State {
  sub: Subscription | null;
  store: UserStore | null;
  /** A hash no password matches, with the current parameters: what an unknown name is checked against. */
  dummy: string;
}

/** The name a login asked for, for the audit trail (never the password); null when unreadable. */
function claimedName(data: Uint8Array): string | null {
  try {
    const name = (JSON.parse(new TextDecoder().decode(data)) as { name?: unknown }).name;
    return typeof name === "string" ? name.slice(0, 64) : null;
  } catch {
    return null;
  }
}

/** The message of a wrong name or password: the same for both. */
export const WRONG = "wrong user name or password";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The request body: `{"name", "password"}`; anything else is INVALID_ARGUMENT. */
export function parseLogin(data: Uint8Array): { name: string; password: string } {
  let body: unknown;
  try {
    body = JSON.parse(decoder.decode(data));
  } catch (err) {
    throw new SchedulerError(
      "INVALID_ARGUMENT",
      `body is not valid JSON: ${(err as Error).message}`,
    );
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new SchedulerError(
      "INVALID_ARGUMENT",
      `body must be {"name": …, "password": …}: got ${show(body)}`,
    );
  }
  const b = body as Record<string, unknown>;
  const extra = Object.keys(b).filter((k) => k !== "name" && k !== "password");
  if (extra.length) {
    throw new SchedulerError(
      "INVALID_ARGUMENT",
      `unknown field ${extra.map((k) => show(k)).join(", ")}: the body is {"name", "password"}`,
    );
  }
  if (!isUserName(b.name)) {
    throw new SchedulerError(
      "INVALID_ARGUMENT",
      `name must be 1 to 64 letters, digits, "_", "-", "." or "@": got ${show(b.name)}`,
    );
  }
  if (
    typeof b.password !== "string" || b.password === "" ||
    [...b.password].length > MAX_PASSWORD_CHARS
  ) {
    throw new SchedulerError(
      "INVALID_ARGUMENT",
      `password must be a non-empty string of at most ${MAX_PASSWORD_CHARS} characters`,
    );
  }
  return { name: b.name, password: b.password };
}

/** One login's outcome: the reply, and what to write once it has gone out. */
export interface Attempt {
  reply: LoginReply;
  after?: () => Promise<void>;
}

/** Everything one login needs. */
export interface AttemptDeps {
  store: UserStore;
  jwtSecret: string;
  ttlS: number;
  policy: LockoutPolicy;
  dummy: string;
  log: Logger;
}

function refused(message: string, code: ErrorInfo["code"] = "UNAUTHENTICATED"): LoginReply {
  return { ok: false, error: { code, message } };
}

/** Handle one login at `now`. Never throws: every problem becomes a reply. */
export async function attempt(d: AttemptDeps, data: Uint8Array, now: number): Promise<Attempt> {
  let name: string, password: string;
  try {
    ({ name, password } = parseLogin(data));
  } catch (err) {
    return { reply: { ok: false, error: toErrorInfo(err, "INVALID_ARGUMENT") } };
  }
  let found: { user: UserRecord; revision: number } | null;
  try {
    found = await d.store.get(name);
  } catch (err) {
    // A corrupt entry answers as a wrong password would (its name must not show), and is logged.
    if (err instanceof SchedulerError && err.code === "INTERNAL") {
      d.log.error("unreadable user entry", { user: name, error: err.message });
      await verifyPassword(password, d.dummy);
      return { reply: refused(WRONG) };
    }
    return { reply: refused(`the user store is not available: ${String(err)}`, "INTERNAL") };
  }
  if (found) {
    const until = lockedUntil(found.user, now);
    if (until !== null) {
      d.log.info("login refused", { user: name, reason: "locked" });
      return {
        reply: refused(
          `user ${JSON.stringify(name)} is locked until ${
            new Date(until).toISOString()
          } after ${found.user.failures} failed logins`,
        ),
      };
    }
  }
  let ok = false;
  try {
    ok = await verifyPassword(password, found ? found.user.hash : d.dummy);
  } catch (err) {
    d.log.error("unreadable password hash", { user: name, error: (err as Error).message });
  }
  if (!found || !ok) {
    d.log.info("login refused", { user: name, reason: found ? "wrong password" : "unknown user" });
    if (!found) return { reply: refused(WRONG) };
    return {
      reply: refused(WRONG),
      after: async () => {
        const user = await d.store.change(name, (u) => afterFailure(u, now, d.policy));
        const until = user && lockedUntil(user, now);
        if (until) {
          d.log.warn("user locked after failed logins", {
            user: name,
            failures: user.failures,
            until: new Date(until).toISOString(),
          });
        }
      },
    };
  }
  const user = found.user;
  const token = await mintToken(d.jwtSecret, {
    sub: user.name,
    roles: user.roles,
    types: user.types,
    ttlSec: d.ttlS,
    now,
  });
  const expiresAt = new Date((Math.floor(now / 1000) + d.ttlS) * 1000).toISOString();
  const reply: LoginReply = { ok: true, token, expiresAt, roles: user.roles };
  if (user.types) reply.types = user.types;
  d.log.info("login", { user: name });
  const clear = user.failures > 0 || user.lockedUntil !== undefined;
  const rehash = needsRehash(user.hash);
  if (!clear && !rehash) return { reply };
  return {
    reply,
    after: async () => {
      // Hashes made with older parameters are made again now that the password is known.
      const fresh = rehash ? await hashPassword(password) : null;
      await d.store.change(name, (u) => {
        let next: UserRecord | null = u.failures > 0 || u.lockedUntil !== undefined
          ? cleared(u, now)
          : null;
        if (fresh && u.hash === user.hash) {
          next = { ...(next ?? u), hash: fresh, updatedAt: new Date(now).toISOString() };
        }
        return next;
      });
    },
  };
}

/** Build the login behavior. */
export function loginBehavior(deps: LoginDeps): Behavior<LoginMsg, State> {
  const { transport, subjects, config } = deps;
  const policy: LockoutPolicy = {
    maxFailures: config.loginMaxFailures,
    lockoutMs: config.loginLockoutS * 1000,
  };
  return {
    async init(ctx) {
      const random = crypto.getRandomValues(new Uint8Array(24));
      const dummy = await hashPassword(Array.from(random, (b) => b.toString(16)).join(""));
      const sub = transport.subscribe(subjects.authLogin, (m) => {
        const reply = (body: LoginReply) =>
          transport.respond(m, encoder.encode(JSON.stringify(body)));
        const accepted = ctx.self.send({ type: "auth.login", data: m.data, reply });
        if (!accepted) {
          reply(refused("too many logins at once: try again in a moment", "RESOURCE_EXHAUSTED"));
        }
      }, { queue: "auth" });
      return { sub, store: deps.store ?? null, dummy };
    },

    async receive(state, msg, ctx) {
      let store = state.store;
      if (!store) {
        try {
          store = await UserStore.open(transport, subjects, config.replicas);
        } catch (err) {
          msg.reply(refused(`the user store is not available: ${String(err)}`, "INTERNAL"));
          return state;
        }
      }
      const done = await attempt(
        {
          store,
          jwtSecret: deps.jwtSecret,
          ttlS: config.loginTtlS,
          policy,
          dummy: state.dummy,
          log: ctx.log,
        },
        msg.data,
        ctx.clock.now(),
      );
      msg.reply(done.reply);
      const reply = done.reply as { ok?: boolean; error?: { code?: ErrorCode; message?: string } };
      if (!reply.ok) {
        const name = claimedName(msg.data);
        deps.audit?.record({
          who: null,
          action: "auth.login",
          target: name,
          outcome: "denied",
          code: reply.error?.code,
          message: reply.error?.message,
        });
      }
      await done.after?.().catch((err) =>
        ctx.log.warn("recording a login in the users bucket failed", { error: String(err) })
      );
      return { ...state, store };
    },

    postStop(state) {
      state.sub?.unsubscribe();
    },
  };
}
