/**
 * The client: a NATS connection, a token, and the calls of the public
 * contract (`docs/PROTOCOL.md`) as typed methods.
 *
 * @module
 */

import { connect as natsConnect, type NatsConnection } from "@nats-io/transport-node";
import { ackedPublish, directGetLast, encode, jsonRequest, type PubAck, sleep } from "./_wire.ts";
import { PublishRefusedError, RequestRefusedError, SchedulerClientError } from "./errors.ts";
import { type MonitorFollower, startNodeStatus, startWatch } from "./monitor.ts";
import { type Baseline, Handle, type HandleHost, pooled } from "./task.ts";
import type {
  BatchItem,
  CancelReply,
  DeadLetter,
  DeadListQuery,
  HeldListQuery,
  ListQuery,
  LoginResult,
  MonitorWatch,
  NodeStatus,
  NodeStatusSubscription,
  RetryResult,
  Schedules,
  ScheduleSpec,
  ScheduleView,
  SubmitItem,
  SubmitOptions,
  TaskHandle,
  TaskPage,
  TaskResult,
  TaskStatus,
  TaskStatusView,
} from "./types.ts";

/** How to reach the scheduler, and who you are. */
export interface ConnectOptions {
  /** NATS URL(s), e.g. `nats://127.0.0.1:4222`. */
  servers: string | string[];
  /**
   * The JWT sent as `Authorization: Bearer <token>`. Default: the environment
   * variable `TASK_SCHEDULER_TOKEN` when it can be read (no prompt). Or call
   * `login()`.
   */
  token?: string;
  /** The deployment's subject prefix (`TASK_SCHEDULER_SUBJECT_PREFIX`), if any. */
  prefix?: string;
  /** Connection name the server shows. */
  name?: string;
  /** NATS user and password, for a server with authorization. */
  user?: string;
  /** NATS password of `user`. */
  pass?: string;
  /** TLS files (client certificate, key, CA). */
  tls?: { certFile?: string; keyFile?: string; caFile?: string };
  /** How long one request or PubAck may take (default 5,000 ms). */
  requestTimeoutMs?: number;
  /**
   * How long a request keeps trying while no scheduler leads ("no
   * responders", or a scheduler that stopped leading; default 5,000 ms).
   */
  leaderWaitMs?: number;
  /**
   * While `result()` waits, read `RESULTS` this often as well, in case a
   * live result was lost without a reconnect (default 30,000 ms; 0: never).
   */
  resultPollMs?: number;
  /** The deployment's body limit (`TASK_SCHEDULER_MAX_PAYLOAD_BYTES`, default 1,048,576). */
  maxPayloadBytes?: number;
  /** Ping the server this often, to notice a dead connection (default 10,000 ms). */
  pingIntervalMs?: number;
  /** First connection attempt timeout (default 5,000 ms). */
  connectTimeoutMs?: number;
}

/** What `submitMany` gives for one item: its handle, or why it was not stored. */
export type SubmitManyResult =
  | { ok: true; id: string; task: TaskHandle }
  | { ok: false; id: string | undefined; error: SchedulerClientError };

const TASK_ID = /^[A-Za-z0-9_-][A-Za-z0-9_:-]{0,127}$/;
/** Most tasks one batch may carry (the scheduler's limit). */
const MAX_BATCH = 1_000;
const TASK_TYPE = /^[A-Za-z0-9_-]{1,64}$/;
const SCHEDULE_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const NOT_LEADING = /not leading|no longer leading/i;

/** Read `TASK_SCHEDULER_TOKEN` where that needs no prompt: Deno with env access, or Node.js. */
function tokenFromEnv(): string | undefined {
  const g = globalThis as {
    Deno?: {
      permissions?: { querySync?(d: { name: "env"; variable: string }): { state: string } };
      env?: { get(k: string): string | undefined };
    };
    process?: { env?: Record<string, string | undefined> };
  };
  try {
    if (g.Deno) {
      const state = g.Deno.permissions?.querySync?.({
        name: "env",
        variable: "TASK_SCHEDULER_TOKEN",
      }).state;
      return state === "granted" ? g.Deno.env?.get("TASK_SCHEDULER_TOKEN") || undefined : undefined;
    }
    return g.process?.env?.TASK_SCHEDULER_TOKEN || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Connect to NATS and return a {@link SchedulerClient}.
 *
 * @example
 * ```ts
 * import { connect } from "./mod.ts";
 * const c = await connect({ servers: "nats://127.0.0.1:4222", token: "eyJ…" });
 * const t = await c.submit("echo", { hello: "world" });
 * console.log((await t.result()).result);
 * await c.close();
 * ```
 */
export async function connect(options: ConnectOptions): Promise<SchedulerClient> {
  if (options.prefix !== undefined && options.prefix !== "" && !TASK_TYPE.test(options.prefix)) {
    throw new SchedulerClientError(
      "INVALID_ARGUMENT",
      `prefix must be letters, digits, "_" or "-": got ${JSON.stringify(options.prefix)}`,
    );
  }
  let nc: NatsConnection;
  try {
    nc = await natsConnect({
      servers: options.servers,
      name: options.name ?? "task-scheduler-client",
      user: options.user,
      pass: options.pass,
      tls: options.tls?.certFile || options.tls?.caFile ? { ...options.tls } : undefined,
      timeout: options.connectTimeoutMs ?? 5_000,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      reconnectJitter: 100,
      pingInterval: options.pingIntervalMs ?? 10_000,
      maxPingOut: 2,
    });
  } catch (err) {
    throw new SchedulerClientError(
      "TRANSPORT",
      `cannot connect to ${[options.servers].flat().join(", ")}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return makeClient(nc, options);
}

/** The way to the client's private constructor (set by its static block). */
let makeClient: (nc: NatsConnection, options: ConnectOptions) => SchedulerClient;

/** Request retry rules: what may be sent again after a timeout. */
type Retry = "read" | "write";

/**
 * A connected client. Every call sends the token as
 * `Authorization: Bearer <token>`; errors are {@link SchedulerClientError}s.
 */
export class SchedulerClient implements AsyncDisposable {
  #nc: NatsConnection;
  #token: string | undefined;
  #prefix: string;
  #requestTimeoutMs: number;
  #leaderWaitMs: number;
  #maxPayloadBytes: number;
  #handles = new Set<Handle>();
  #followers = new Set<MonitorFollower>();
  #closed = false;
  #reconnects = 0;
  #host: HandleHost;
  /** Schedules: put, get, list, pause, resume, trigger, delete (`docs/PROTOCOL.md`, 8). */
  readonly schedules: Schedules;

  static {
    makeClient = (nc, options) => new SchedulerClient(nc, options);
  }

  private constructor(nc: NatsConnection, options: ConnectOptions) {
    this.#nc = nc;
    this.#token = options.token ?? tokenFromEnv();
    this.#prefix = options.prefix ?? "";
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 5_000;
    this.#leaderWaitMs = options.leaderWaitMs ?? 5_000;
    this.#maxPayloadBytes = options.maxPayloadBytes ?? 1_048_576;
    const p = this.#p;
    const isClosed = () => this.#closed;
    this.#host = {
      nc,
      resultSubject: (id) => `${p}tasks.result.${id}`,
      progressSubject: (id) => `${p}tasks.progress.${id}`,
      outcomeSubject: (id) => `${p}tasks.outcome.${id}`,
      resultsStream: this.#stream("RESULTS"),
      requestTimeoutMs: this.#requestTimeoutMs,
      resultPollMs: options.resultPollMs ?? 30_000,
      get closed() {
        return isClosed();
      },
      track: (h) => this.#handles.add(h),
      untrack: (h) => this.#handles.delete(h),
      cancel: (id) => this.cancel(id),
      status: (id, submitted) => this.#status(id, submitted),
    };
    this.schedules = new ScheduleRequests(
      (op, body, retry) => this.#request(`${p}schedules.${op}`, body, retry),
      (id) => this.task(id),
    );
    void this.#watchStatus();
  }

  get #p(): string {
    return this.#prefix ? `${this.#prefix}.` : "";
  }

  #stream(name: string): string {
    return this.#prefix ? `${this.#prefix.toUpperCase().replaceAll("-", "_")}_${name}` : name;
  }

  /** The token in use (from `connect`, the environment or `login`). */
  get token(): string | undefined {
    return this.#token;
  }

  /** Use another token from now on. */
  set token(token: string | undefined) {
    this.#token = token;
  }

  /** Reconnections since connect: each made the waiting handles read `RESULTS`. */
  get reconnects(): number {
    return this.#reconnects;
  }

  /** Is the client closed? */
  get isClosed(): boolean {
    return this.#closed;
  }

  async #watchStatus(): Promise<void> {
    for await (const s of this.#nc.status()) {
      if (s.type !== "reconnect") continue;
      this.#reconnects++;
      // Whatever was published while the connection was down is in RESULTS (and the monitor
      // snapshots): every handle not settled reads it. The subscriptions are back already.
      void pooled([...this.#handles], 32, (h) => h.readStored(true));
      for (const f of this.#followers) void f.resync();
    }
  }

  #auth(): Record<string, string> {
    return this.#token ? { Authorization: `Bearer ${this.#token}` } : {};
  }

  #checkOpen(): void {
    if (this.#closed) throw new SchedulerClientError("CONNECTION_CLOSED", "the client is closed");
  }

  /**
   * A request to the leading scheduler, tried again while none leads (no
   * responders; "not leading") for up to `leaderWaitMs`, and after a timeout
   * only when it changes nothing (`read`).
   */
  async #request(
    subject: string,
    body: unknown,
    retry: Retry,
    auth = true,
  ): Promise<Record<string, unknown>> {
    this.#checkOpen();
    const until = Date.now() + this.#leaderWaitMs;
    for (let attempt = 1;; attempt++) {
      try {
        return await jsonRequest(this.#nc, subject, body, {
          timeoutMs: this.#requestTimeoutMs,
          headers: auth ? this.#auth() : undefined,
        });
      } catch (err) {
        const e = err as SchedulerClientError;
        const again = e.code === "NO_RESPONDERS" ||
          (e instanceof RequestRefusedError && e.code === "INTERNAL" &&
            NOT_LEADING.test(e.message)) ||
          (e.code === "REQUEST_TIMEOUT" && retry === "read");
        if (!again || Date.now() >= until || this.#closed) throw err;
        await sleep(Math.min(1_000, 100 * 2 ** attempt));
      }
    }
  }

  /**
   * Submit a task with an acked publish: resolves once JetStream stored it
   * (a full or missing stream throws a {@link PublishRefusedError}), with a
   * handle whose `result()` cannot miss the outcome.
   *
   * @param type task type (`echo`, `backup`, or a handler's)
   * @param payload the handler's input: any JSON value
   * @param opts id, priority, deadline, timeoutMs, maxAttempts, requires, dependsOn
   */
  async submit(type: string, payload: unknown, opts: SubmitOptions = {}): Promise<TaskHandle> {
    this.#checkOpen();
    const { id, body } = this.#body(type, payload, opts);
    const h = new Handle(this.#host, id, type, opts.id === undefined ? null : "unknown");
    // Listen before publishing: the result cannot come before the subscription.
    h.listen(opts.progress === true);
    try {
      if (opts.id !== undefined) h.setBaseline(await this.#baseline(id));
      h.stored = await this.#publish(type, id, body);
    } catch (err) {
      h.abandon();
      throw err;
    }
    return h;
  }

  /**
   * Submit many tasks, up to `concurrency` acked publishes in flight (default
   * 64). Results are in the order of `items`, each a handle or the error that
   * item met; one item's failure does not stop the others.
   */
  submitMany(
    items: readonly SubmitItem[],
    opts: { concurrency?: number } = {},
  ): Promise<SubmitManyResult[]> {
    return pooled(items, opts.concurrency ?? 64, async (item): Promise<SubmitManyResult> => {
      const { type, payload, ...rest } = item;
      try {
        const task = await this.submit(type, payload, rest);
        return { ok: true, id: task.id, task };
      } catch (err) {
        const error = err instanceof SchedulerClientError
          ? err
          : new SchedulerClientError("TRANSPORT", String((err as Error)?.message ?? err), {
            cause: err,
          });
        return { ok: false, id: item.id, error };
      }
    });
  }

  /**
   * Submit up to 1,000 tasks of one type in one message (a batch,
   * `docs/PROTOCOL.md` 3.1.1): one stored message and one acked publish for
   * all of them, each still its own task with its own handle, result and
   * rejection. Every item needs an `id`, unique in the batch. Checked here
   * first (ids, payloads, the body limit): a bad item throws before anything
   * is published. The handles' `stored` is the batch message's.
   *
   * A batch task's handle believes a rejection only live (on
   * `tasks.result.<id>`), not one read later from `RESULTS`, which may be an
   * earlier submission's of the same id (no per-task look-up is made first).
   */
  async submitBatch(type: string, items: readonly BatchItem[]): Promise<TaskHandle[]> {
    this.#checkOpen();
    if (items.length === 0 || items.length > MAX_BATCH) {
      throw new SchedulerClientError(
        "INVALID_ARGUMENT",
        `a batch holds 1 to ${MAX_BATCH} tasks: got ${items.length}`,
      );
    }
    const seen = new Set<string>();
    const parts = items.map((item, i) => {
      const { payload, ...opts } = item;
      if (typeof opts.id !== "string") {
        throw new SchedulerClientError(
          "INVALID_ARGUMENT",
          `task ${i} of the batch has no id: every task of a batch needs one`,
        );
      }
      if (seen.has(opts.id)) {
        throw new SchedulerClientError(
          "INVALID_ARGUMENT",
          `id ${JSON.stringify(opts.id)} appears twice in the batch (task ${i})`,
        );
      }
      seen.add(opts.id);
      return this.#body(type, payload, opts);
    });
    // One JSON array of the bodies, byte for byte.
    let size = 1 + parts.length;
    for (const p of parts) size += p.body.byteLength;
    const body = new Uint8Array(size);
    body[0] = 0x5b; // [
    let at = 1;
    for (const [i, p] of parts.entries()) {
      if (i > 0) body[at++] = 0x2c; // ,
      body.set(p.body, at);
      at += p.body.byteLength;
    }
    body[at] = 0x5d; // ]
    const limit = Math.min(this.#maxPayloadBytes, this.#nc.info?.max_payload ?? Infinity);
    if (body.byteLength > limit) {
      throw new SchedulerClientError(
        "PAYLOAD_TOO_LARGE",
        `the batch is ${body.byteLength} bytes: the limit is ${limit} (send fewer tasks a batch)`,
      );
    }
    const handles = parts.map((p) => new Handle(this.#host, p.id, type, "unknown"));
    // Listen before publishing: no result can come before its subscription.
    handles.forEach((h, i) => h.listen(items[i].progress === true));
    try {
      const stored = await this.#publish(type, `batch-${crypto.randomUUID()}`, body);
      for (const h of handles) h.stored = stored;
    } catch (err) {
      for (const h of handles) h.abandon();
      throw err;
    }
    return handles;
  }

  #body(
    type: string,
    payload: unknown,
    opts: SubmitOptions,
  ): { id: string; body: Uint8Array } {
    if (!TASK_TYPE.test(type)) {
      throw new SchedulerClientError(
        "UNKNOWN_TYPE",
        `task type ${JSON.stringify(type)} is not a valid type name`,
      );
    }
    if (opts.id !== undefined && !TASK_ID.test(opts.id)) {
      throw new SchedulerClientError(
        "INVALID_ARGUMENT",
        `id must be 1 to 128 letters, digits, "_", "-" or ":" (not starting with ":"): got ${
          JSON.stringify(opts.id)
        }`,
      );
    }
    if (payload === undefined) {
      throw new SchedulerClientError(
        "INVALID_ARGUMENT",
        "payload is required (use {} when the task needs none)",
      );
    }
    const id = opts.id ?? `c-${crypto.randomUUID()}`;
    const fields: Record<string, unknown> = { id, payload };
    if (opts.priority !== undefined) fields.priority = opts.priority;
    if (opts.deadline !== undefined) {
      fields.deadline = opts.deadline instanceof Date ? opts.deadline.toISOString() : opts.deadline;
    }
    if (opts.timeoutMs !== undefined) fields.timeoutMs = opts.timeoutMs;
    if (opts.maxAttempts !== undefined) fields.maxAttempts = opts.maxAttempts;
    if (opts.requires !== undefined) fields.requires = opts.requires;
    if (opts.dependsOn !== undefined) fields.dependsOn = opts.dependsOn;
    const body = encode(fields);
    const limit = Math.min(this.#maxPayloadBytes, this.#nc.info?.max_payload ?? Infinity);
    if (body.byteLength > limit) {
      throw new SchedulerClientError(
        "PAYLOAD_TOO_LARGE",
        `body is ${body.byteLength} bytes: the limit is ${limit}`,
      );
    }
    return { id, body };
  }

  /** What `RESULTS` holds for `id` before this submission: see {@link Baseline}. */
  async #baseline(id: string): Promise<Baseline> {
    try {
      const stored = await directGetLast(
        this.#nc,
        this.#host.resultsStream,
        this.#host.outcomeSubject(id),
        Math.min(this.#requestTimeoutMs, 2_000),
      );
      if (!stored) return null;
      let rejected = false;
      try {
        rejected = (JSON.parse(new TextDecoder().decode(stored.data)) as TaskResult).state ===
          "rejected";
      } catch {
        // unreadable: not a rejection
      }
      return { seq: stored.seq, rejected };
    } catch {
      return "unknown";
    }
  }

  /**
   * The acked publish. `Nats-Msg-Id` is the task id, so a rejection of a
   * body the scheduler cannot read still reaches `tasks.result.<id>`, and a
   * publish sent again after a lost PubAck is dropped by the stream. When the
   * stream drops the very first publish as a repeat (the same id was
   * submitted within its 2-minute window: a rejected id used again, say), it
   * is sent once more under a fresh `Nats-Msg-Id`, and the scheduler's own
   * rules for an id it knows apply (`docs/PROTOCOL.md`, 3.3).
   */
  async #publish(type: string, id: string, body: Uint8Array): Promise<PubAck> {
    const subject = `${this.#p}tasks.submit.${type}`;
    let msgId = id;
    let fresh = true;
    for (let attempt = 1;; attempt++) {
      try {
        const ack = await ackedPublish(this.#nc, subject, id, body, {
          timeoutMs: this.#requestTimeoutMs,
          headers: { ...this.#auth(), "Nats-Msg-Id": msgId },
        });
        if (ack.duplicate && fresh && msgId === id) {
          msgId = `${id}~${crypto.randomUUID()}`;
          continue;
        }
        return ack;
      } catch (err) {
        // No PubAck: it may be stored. The same Nats-Msg-Id again is safe; give up after three.
        if (
          err instanceof PublishRefusedError && err.code === "REQUEST_TIMEOUT" && attempt < 3 &&
          !this.#closed
        ) {
          fresh = false;
          continue;
        }
        throw err;
      }
    }
  }

  /**
   * A handle for a task this client did not submit (or submitted before):
   * `result()` reads the stored outcome from `RESULTS`, or waits for it.
   */
  task(id: string): TaskHandle {
    if (!TASK_ID.test(id)) {
      throw new SchedulerClientError("INVALID_ARGUMENT", `not a task id: ${JSON.stringify(id)}`);
    }
    return new Handle(this.#host, id, undefined, undefined);
  }

  /** The stored result of `id` from `RESULTS` (kept 7 days), or null when there is none yet. */
  async storedResult(id: string): Promise<TaskResult | null> {
    this.#checkOpen();
    const stored = await directGetLast(
      this.#nc,
      this.#host.resultsStream,
      this.#host.outcomeSubject(id),
      this.#requestTimeoutMs,
    );
    return stored ? JSON.parse(new TextDecoder().decode(stored.data)) as TaskResult : null;
  }

  /** `tasks.status`: the leader's view of a held task, or the stored result of one that ended. */
  status(id: string): Promise<TaskStatus> {
    return this.#status(id, false);
  }

  /**
   * A task this client stored may not have reached the leader yet (it reads the stream in
   * order): its NOT_FOUND is asked again for up to `leaderWaitMs`.
   */
  async #status(id: string, submitted: boolean): Promise<TaskStatus> {
    const until = Date.now() + this.#leaderWaitMs;
    for (let attempt = 1;; attempt++) {
      try {
        return await this.#request(
          `${this.#p}tasks.status`,
          { id },
          "read",
        ) as unknown as TaskStatus;
      } catch (err) {
        const notYet = submitted && err instanceof RequestRefusedError && err.code === "NOT_FOUND";
        if (!notYet || Date.now() >= until || this.#closed) throw err;
        await sleep(Math.min(500, 25 * 2 ** attempt));
      }
    }
  }

  /**
   * `tasks.cancel`: a queued task ends `cancelled` now, a running one is told
   * to stop (`cancelling`). A task that ended or is unknown throws a
   * {@link RequestRefusedError} (`INVALID_ARGUMENT`, `NOT_FOUND`).
   */
  async cancel(id: string): Promise<CancelReply> {
    return await this.#request(`${this.#p}tasks.cancel`, { id }, "write") as unknown as CancelReply;
  }

  /**
   * `tasks.list`: one page of the tasks the leader holds (status views), by
   * state and type, oldest submission first; with `state: "dead"` the dead
   * letters (failed tasks) instead. Pass the page's `next` as `after` for the
   * next page. Needs viewer, submitter or admin; a bad query throws a
   * {@link RequestRefusedError} (`INVALID_ARGUMENT`) naming the field.
   *
   * @example
   * ```ts
   * import { connect } from "./mod.ts";
   * const c = await connect({ servers: "nats://127.0.0.1:4222", token: "eyJ…" });
   * let page = await c.list({ state: "queued", limit: 50 });
   * for (;;) {
   *   for (const t of page.tasks) console.log(t.id, t.type, t.priority);
   *   if (!page.next) break;
   *   page = await c.list({ state: "queued", limit: 50, after: page.next });
   * }
   * const dead = await c.list({ state: "dead" });
   * console.log(dead.tasks.map((d) => `${d.id}: ${d.error?.message}`));
   * await c.close();
   * ```
   */
  list(query: DeadListQuery): Promise<TaskPage<DeadLetter>>;
  /** `tasks.list` of held tasks: see the overload above. */
  list(query?: HeldListQuery): Promise<TaskPage<TaskStatusView>>;
  /** `tasks.list`, held tasks or dead letters as `query.state` says. */
  list(query?: ListQuery): Promise<TaskPage<TaskStatusView | DeadLetter>>;
  async list(query: ListQuery = {}): Promise<TaskPage<TaskStatusView | DeadLetter>> {
    const body: Record<string, unknown> = {};
    for (const k of ["state", "type", "limit", "after"] as const) {
      if (query[k] !== undefined) body[k] = query[k];
    }
    const r = await this.#request(`${this.#p}tasks.list`, body, "read");
    if (!Array.isArray(r.tasks)) {
      throw new SchedulerClientError("BAD_REPLY", "tasks.list answered without tasks");
    }
    const page: TaskPage<TaskStatusView | DeadLetter> = {
      tasks: r.tasks as (TaskStatusView | DeadLetter)[],
    };
    if (typeof r.next === "string") page.next = r.next;
    return page;
  }

  /**
   * `tasks.retry` (admin): run a `failed` task again with a fresh attempt
   * budget. The leader submits its dead letter again; the returned `task`
   * follows the new run, whose outcome replaces the failed result (its
   * `history` keeps the earlier attempts and a `retried` mark). A task still
   * held or not failed throws a {@link RequestRefusedError} with
   * `INVALID_ARGUMENT`; one without a stored result or dead letter, `NOT_FOUND`.
   *
   * @example
   * ```ts
   * import { connect } from "./mod.ts";
   * const c = await connect({ servers: "nats://127.0.0.1:4222", token: "eyJ…" });
   * const { task } = await c.retry("report-42");
   * console.log((await task.result()).state);
   * await c.close();
   * ```
   */
  async retry(id: string): Promise<RetryResult> {
    if (!TASK_ID.test(id)) {
      throw new SchedulerClientError("INVALID_ARGUMENT", `not a task id: ${JSON.stringify(id)}`);
    }
    const r = await this.#request(`${this.#p}tasks.retry`, { id }, "write");
    if (typeof r.replaces !== "number") {
      throw new SchedulerClientError("BAD_REPLY", "tasks.retry answered without replaces");
    }
    // Results up to the one replaced are the old run's: the handle waits for a newer one.
    const task = new Handle(this.#host, id, undefined, {
      seq: r.replaces,
      rejected: false,
      replaced: true,
    });
    return {
      id,
      state: "resubmitted",
      replaces: r.replaces,
      duplicate: r.duplicate === true,
      task,
    };
  }

  /**
   * `tasks.purge` (admin): remove the dead letter of one task (`{ id }`) or
   * every dead letter (`{ all: true }`); resolves with how many were removed.
   * A purged task can no longer be retried.
   */
  async purge(target: { id: string } | { all: true }): Promise<number> {
    const body = "id" in target ? { id: target.id } : { all: target.all };
    const r = await this.#request(`${this.#p}tasks.purge`, body, "write");
    if (typeof r.purged !== "number") {
      throw new SchedulerClientError("BAD_REPLY", "tasks.purge answered without a count");
    }
    return r.purged;
  }

  /**
   * `auth.login`: a user name and password for a token, which this client
   * then uses. A wrong password throws a {@link RequestRefusedError} with
   * `UNAUTHENTICATED`.
   */
  async login(name: string, password: string): Promise<LoginResult> {
    const r = await this.#request(`${this.#p}auth.login`, { name, password }, "write", false);
    if (typeof r.token !== "string") {
      throw new SchedulerClientError("BAD_REPLY", "auth.login answered without a token");
    }
    this.#token = r.token;
    const out: LoginResult = {
      token: r.token,
      expiresAt: String(r.expiresAt),
      roles: (r.roles ?? []) as string[],
    };
    if (Array.isArray(r.types)) out.types = r.types as string[];
    return out;
  }

  /**
   * Follow `monitor.>` folded into full snapshots: each update carries the
   * whole view (nodes, schedulers, the leader's task counts, and with
   * `tasks: true` the tasks not ended). A gap in a sequence asks for a
   * snapshot. Keeps up to `buffer` updates (default 10,000) for a slow reader,
   * dropping the oldest: each holds the whole view, so the latest suffices.
   */
  watch(opts: { tasks?: boolean; buffer?: number } = {}): MonitorWatch {
    this.#checkOpen();
    return startWatch(
      this.#monitorHost(),
      opts,
      (f) => this.#followers.delete(f),
      (f) => this.#followers.add(f),
    );
  }

  /**
   * Call `cb` with a node's full status (section 7.3) whenever it changes,
   * and for every node once a snapshot arrives; `nodes` holds them all.
   */
  onNodeStatus(
    cb: (status: NodeStatus, nodes: Record<string, NodeStatus>) => void,
  ): NodeStatusSubscription {
    this.#checkOpen();
    return startNodeStatus(
      this.#monitorHost(),
      cb,
      (f) => this.#followers.delete(f),
      (f) => this.#followers.add(f),
    );
  }

  #monitorHost() {
    return { nc: this.#nc, prefix: this.#prefix, requestTimeoutMs: this.#requestTimeoutMs };
  }

  /** Close the connection; waits still pending end with `CONNECTION_CLOSED`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const err = new SchedulerClientError("CONNECTION_CLOSED", "the client is closed");
    for (const h of this.#handles) h.closeWith(err);
    this.#handles.clear();
    for (const f of this.#followers) f.stop();
    this.#followers.clear();
    await this.#nc.close().catch(() => {});
  }

  /** Same as {@link SchedulerClient.close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

class ScheduleRequests implements Schedules {
  #send: (op: string, body: unknown, retry: Retry) => Promise<Record<string, unknown>>;
  #task: (id: string) => TaskHandle;

  constructor(
    send: (op: string, body: unknown, retry: Retry) => Promise<Record<string, unknown>>,
    task: (id: string) => TaskHandle,
  ) {
    this.#send = send;
    this.#task = task;
  }

  async put(
    spec: ScheduleSpec,
  ): Promise<{ created: boolean; changed: boolean; schedule: ScheduleView }> {
    const r = await this.#send("put", spec, "read");
    return {
      created: r.created === true,
      changed: r.changed === true,
      schedule: r.schedule as ScheduleView,
    };
  }

  async get(name: string, opts: { next?: number } = {}): Promise<ScheduleView> {
    const r = await this.#send("get", { name: checkName(name), ...opts }, "read");
    return r.schedule as ScheduleView;
  }

  async list(opts: { next?: number } = {}): Promise<ScheduleView[]> {
    const r = await this.#send("list", { ...opts }, "read");
    return (r.schedules ?? []) as ScheduleView[];
  }

  async pause(name: string, note?: string): Promise<ScheduleView> {
    const body = note === undefined ? { name: checkName(name) } : { name: checkName(name), note };
    return (await this.#send("pause", body, "read")).schedule as ScheduleView;
  }

  async resume(name: string, note?: string): Promise<ScheduleView> {
    const body = note === undefined ? { name: checkName(name) } : { name: checkName(name), note };
    return (await this.#send("resume", body, "read")).schedule as ScheduleView;
  }

  async trigger(name: string): Promise<TaskHandle> {
    const r = await this.#send("trigger", { name: checkName(name) }, "write");
    if (typeof r.id !== "string") {
      throw new SchedulerClientError("BAD_REPLY", "schedules.trigger answered without an id");
    }
    return this.#task(r.id);
  }

  async delete(name: string): Promise<void> {
    await this.#send("delete", { name: checkName(name) }, "write");
  }
}

function checkName(name: string): string {
  if (!SCHEDULE_NAME.test(name)) {
    throw new SchedulerClientError(
      "INVALID_ARGUMENT",
      `name must be a schedule name (1 to 64 letters, digits, "_" or "-"): got ${
        JSON.stringify(name)
      }`,
    );
  }
  return name;
}
