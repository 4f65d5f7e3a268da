/**
 * The NATS JetStream transport: with `nats_msg.ts` (messages and headers),
 * `nats_out.ts` (outgoing frames), `nats_in.ts` (incoming deliveries),
 * `nats_streams.ts` (creating, reading and purging streams) and `nats_kv.ts`
 * (KV buckets), the only code of the server side that imports `@nats-io/*`.
 *
 * Durable publishes do not go through `js.publish`: each of those is a
 * request with its own timer and promise plumbing, which caps a connection at
 * about 10,000 acked publishes a second. Here a publish carries a reply
 * subject under one wildcard inbox subscription, the PubAck is matched by the
 * number that subject ends with (random: `reply_ids.ts`), and one sweep timer
 * expires the stragglers: the same semantics
 * (stream ack, duplicate detection, expected last subject sequence) at two to
 * three times the rate.
 *
 * @module
 */

import { connect, createInbox, type Msg, type NatsConnection } from "@nats-io/transport-node";
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
} from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { SchedulerError } from "../errors.ts";
import type {
  ConnectionEvent,
  ConsumerHandle,
  ConsumerSpec,
  DurableMsg,
  DurablePublishOptions,
  InMsg,
  KvBucket,
  PubAck,
  PublishOptions,
  StoredMsg,
  StreamSpec,
  StreamState,
  Subscription,
  Transport,
} from "./types.ts";
import { inMsg, JsDurable, MS, plainPubAck, pubAckError, toHeaders } from "./nats_msg.ts";
import { FrameWriter } from "./nats_out.ts";
import { useFastDeliveries } from "./nats_in.ts";
import { DirectGets } from "./nats_get.ts";
import { InboxRequests } from "./inbox_requests.ts";
import { kvBucket } from "./nats_kv.ts";
import { NatsStreams } from "./nats_streams.ts";

export { pubAckError } from "./nats_msg.ts";

/** How to reach NATS. */
export interface NatsOptions {
  servers: string | string[];
  name?: string;
  tls?: { certFile?: string; keyFile?: string; caFile?: string };
  /** First connection attempt timeout (default 2 s). */
  timeoutMs?: number;
  /** Keep trying at start instead of failing when nothing answers. */
  waitOnFirstConnect?: boolean;
  /** User and password, for a server with authorization (the embedded one has it). */
  user?: string;
  pass?: string;
}

/** Idle heartbeat of the pull consumer: two missed ones make it pull again (see consume). */
const PULL_HEARTBEAT_MS = 500;
/** Pull-loop notices that are routine (every pull, every heartbeat, a pull that expired). */
const QUIET = /^(next|heartbeat|debug|discard)$/;
const decoder = new TextDecoder();

/** Connect to NATS and return the transport. */
export async function connectNats(options: NatsOptions): Promise<NatsTransport> {
  const nc = await connect({
    servers: options.servers,
    name: options.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 100,
    timeout: options.timeoutMs ?? 2_000,
    waitOnFirstConnect: options.waitOnFirstConnect ?? false,
    pingInterval: 10_000,
    maxPingOut: 3,
    tls: options.tls?.certFile || options.tls?.caFile ? { ...options.tls } : undefined,
    user: options.user,
    pass: options.pass,
  });
  // Deliveries are read ahead of nats.js's parser (nats_in.ts); without its internals, they are not.
  useFastDeliveries(nc);
  try {
    // No API check here: a cluster still electing its JetStream leader is reached now and
    // answers later; callers retry what needs JetStream (see ensureStreams).
    const jsm = await jetstreamManager(nc, { timeout: 5_000, checkAPI: false });
    return new NatsTransport(nc, jsm, jetstream(nc, { timeout: 5_000 }));
  } catch (err) {
    await nc.close().catch(() => {});
    throw err;
  }
}

/** What a PubAck says: stored (its sequence, a duplicate or not), or why not. */
function readPubAck(m: Msg): PubAck {
  if (m.headers?.code === 503) {
    return { ok: false, code: "NO_STREAM", message: "no stream captures this subject" };
  }
  const plain = plainPubAck(m.data);
  if (plain) return { ok: true, seq: plain.seq, duplicate: plain.duplicate };
  try {
    const r = JSON.parse(decoder.decode(m.data)) as {
      seq?: number;
      duplicate?: boolean;
      error?: { err_code?: number; description?: string };
    };
    if (r.error) {
      const message = r.error.description ?? "stream error";
      return { ok: false, code: pubAckError(r.error.err_code, message), message };
    }
    return { ok: true, seq: r.seq ?? 0, duplicate: r.duplicate ?? false };
  } catch (err) {
    return { ok: false, code: "ERROR", message: `unreadable PubAck: ${(err as Error).message}` };
  }
}

/** {@link Transport} over a NATS connection. */
export class NatsTransport implements Transport {
  readonly name: string;
  readonly nc: NatsConnection;
  #jsm: JetStreamManager;
  #js: JetStreamClient;
  /** Durable publishes waiting for their PubAcks. */
  #acks: InboxRequests<PubAck>;
  #listeners: ((e: ConnectionEvent) => void)[] = [];
  #consumers = new Set<ConsumerHandle>();
  /**
   * Text messages, written once a microtask; written out before any other call of this transport
   * (what nats.js sends by itself, such as a consumer's pull requests, is not ordered with them).
   */
  #out: FrameWriter;
  /** Creating, inspecting, reading and purging streams. */
  #streams: NatsStreams;
  /** Last messages read by direct get, for the streams that allow it with one replica. */
  #gets: DirectGets;

  constructor(nc: NatsConnection, jsm: JetStreamManager, js: JetStreamClient) {
    this.nc = nc;
    this.#out = new FrameWriter(nc);
    this.#jsm = jsm;
    this.#js = js;
    this.#streams = new NatsStreams(nc, jsm, js);
    this.#gets = new DirectGets(
      nc,
      (subject, data, reply) => this.#out.send(subject, data, reply),
      jsm.getOptions().apiPrefix,
    );
    this.name = nc.getServer();
    this.#acks = new InboxRequests<PubAck>(nc, readPubAck, () => ({
      ok: false,
      code: "TIMEOUT",
      message: "no PubAck in time",
    }));
    void this.#watchStatus();
    void nc.closed().then((err) =>
      this.#emit({ type: "closed", error: err ? String(err) : undefined })
    );
  }

  publish(subject: string, data: Uint8Array | string, opts?: PublishOptions): void {
    this.#out.send(subject, data, opts?.reply, opts?.headers);
  }

  subscribe(subject: string, fn: (msg: InMsg) => void, opts?: { queue?: string }): Subscription {
    this.#out.flush();
    const sub = this.nc.subscribe(subject, {
      queue: opts?.queue,
      callback: (err, m) => {
        if (err) return;
        fn(inMsg(m));
      },
    });
    return { unsubscribe: () => sub.unsubscribe() };
  }

  async request(
    subject: string,
    data: Uint8Array,
    opts?: { timeoutMs?: number; headers?: Record<string, string> },
  ): Promise<InMsg> {
    try {
      this.#out.flush();
      const m = await this.nc.request(subject, data, {
        timeout: opts?.timeoutMs ?? 5_000,
        headers: toHeaders(opts?.headers),
      });
      return inMsg(m);
    } catch (err) {
      throw new SchedulerError(
        "TRANSPORT",
        `request to ${subject} failed: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  respond(msg: InMsg, data: Uint8Array, headers?: Record<string, string>): void {
    if (msg.reply) this.#out.send(msg.reply, data, undefined, headers);
  }

  inbox(): string {
    return createInbox();
  }

  flush(): Promise<void> {
    this.#out.flush();
    return this.nc.flush();
  }

  async ensureStreams(specs: StreamSpec[], opts?: { update?: boolean }): Promise<string[]> {
    // A configuration read while a stream is being changed may be the old one: ask again after.
    this.#gets.forget();
    try {
      return await this.#streams.ensure(specs, opts);
    } finally {
      this.#gets.forget();
    }
  }

  publishDurable(
    subject: string,
    data: Uint8Array | string,
    opts?: DurablePublishOptions,
  ): Promise<PubAck> {
    let headers = opts?.headers;
    if (opts?.msgId || opts?.expectLastSubjectSeq !== undefined) {
      headers = { ...headers };
      if (opts.msgId) headers["Nats-Msg-Id"] = opts.msgId;
      if (opts.expectLastSubjectSeq !== undefined) {
        headers["Nats-Expected-Last-Subject-Sequence"] = String(opts.expectLastSubjectSeq);
      }
    }
    try {
      return this.#acks.request(
        opts?.timeoutMs ?? 5_000,
        (reply) => this.#out.send(subject, data, reply, headers),
      );
    } catch (err) {
      return Promise.resolve({ ok: false, code: "ERROR", message: (err as Error).message });
    }
  }

  async consume(
    spec: ConsumerSpec,
    fn: (msg: DurableMsg) => void,
    onLost?: (reason: string) => void,
    onStatus?: (event: string) => void,
  ): Promise<ConsumerHandle> {
    this.#out.flush();
    await this.#ensureConsumer(spec);
    const consumer = await this.#js.consumers.get(spec.stream, spec.durable);
    // A pull request lives on the consumer's leader. When that leader changes (its server died),
    // nats.js hears "409 Leadership Change" or nothing, and pulls again only after two missed
    // idle heartbeats (15 s each by default); on a reconnect it first asks for the consumer's
    // info and, if that times out during the election, waits 15-45 s before asking again.
    // Heartbeats every 500 ms and no info call (bind) make it pull again within 1-1.5 s of
    // silence, at once after a reconnect. A deleted consumer still ends the loop (its pending
    // pulls hear "409 Consumer Deleted").
    const messages = await consumer.consume({
      max_messages: spec.batch ?? 1_000,
      callback: (m) => fn(new JsDurable(m, this.#out)),
      abort_on_missing_resource: true,
      bind: true,
      idle_heartbeat: PULL_HEARTBEAT_MS,
    });
    let stopping = false;
    void messages.closed().then((err) => {
      if (!stopping && onLost) onLost(err ? err.message : "consumer closed");
    });
    void (async () => {
      for await (const s of messages.status()) {
        if (s.type === "consumer_deleted" && !stopping && onLost) {
          onLost(`consumer ${spec.durable} was deleted`);
          break;
        }
        // Missed heartbeats are reported again every interval while silent: say it once.
        if (stopping || (s.type === "heartbeats_missed" ? s.count !== 2 : QUIET.test(s.type))) {
          continue;
        }
        onStatus?.(s.type === "heartbeats_missed" ? "heartbeats missed; pulling again" : s.type);
      }
    })().catch(() => {});
    const handle: ConsumerHandle = {
      stop: async () => {
        stopping = true;
        this.#consumers.delete(handle);
        await messages.close();
      },
    };
    this.#consumers.add(handle);
    return handle;
  }

  async #ensureConsumer(spec: ConsumerSpec): Promise<void> {
    const config = {
      durable_name: spec.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      max_ack_pending: spec.maxAckPending,
      ack_wait: spec.ackWaitMs * MS,
      max_deliver: -1,
      filter_subject: spec.filterSubject,
    };
    try {
      await this.#jsm.consumers.info(spec.stream, spec.durable);
      await this.#jsm.consumers.update(spec.stream, spec.durable, {
        max_ack_pending: config.max_ack_pending,
        ack_wait: config.ack_wait,
      });
    } catch (err) {
      if (!/not found/i.test(String((err as Error).message))) throw err;
      await this.#jsm.consumers.add(spec.stream, config);
    }
  }

  async resetConsumer(spec: ConsumerSpec): Promise<void> {
    try {
      await this.#jsm.consumers.delete(spec.stream, spec.durable);
    } catch (err) {
      if (!/not found/i.test(String((err as Error).message))) throw err;
    }
    await this.#ensureConsumer(spec);
  }

  streamInfo(stream: string): Promise<StreamState> {
    this.#out.flush();
    return this.#streams.info(stream);
  }

  forEachSubject(stream: string, filter: string, fn: (subject: string) => void): Promise<number> {
    this.#out.flush();
    return this.#streams.forEachSubject(stream, filter, fn);
  }

  purgeSubject(stream: string, subject: string): Promise<number> {
    this.#out.flush();
    return this.#streams.purgeSubject(stream, subject);
  }

  async lastMessage(stream: string, subject: string): Promise<StoredMsg | null> {
    this.#out.flush();
    try {
      return await this.#gets.read(
        stream,
        subject,
        async (name) => (await this.#jsm.streams.info(name)).config,
        () => this.#streams.lastMessage(stream, subject),
      );
    } catch (err) {
      if (err instanceof SchedulerError) throw err;
      throw new SchedulerError(
        "TRANSPORT",
        `cannot read ${subject} from ${stream}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  readStream(
    stream: string,
    opts: { filterSubject?: string; fromSeq?: number; limit?: number } = {},
  ): Promise<StoredMsg[]> {
    this.#out.flush();
    return this.#streams.readStream(stream, opts);
  }

  async kv(
    bucket: string,
    opts?: { historyTtlMs?: number; replicas?: number; timeoutMs?: number },
  ): Promise<KvBucket> {
    this.#out.flush();
    const kvm = new Kvm(
      opts?.timeoutMs ? jetstream(this.nc, { timeout: opts.timeoutMs }) : this.nc,
    );
    const kv = await kvm.create(bucket, {
      history: 1,
      ttl: opts?.historyTtlMs ?? 0,
      replicas: opts?.replicas ?? 1,
    });
    return kvBucket(kv, this.#out);
  }

  onConnection(fn: (e: ConnectionEvent) => void): void {
    this.#listeners.push(fn);
  }

  #emit(e: ConnectionEvent): void {
    for (const l of this.#listeners) l(e);
  }

  async #watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === "disconnect" || s.type === "reconnect") {
        this.#gets.abandon();
        // PubAcks for what went to the old connection may never come: let the publishers retry now
        // (a durable publish is made safe to repeat with a message id or an expected sequence).
        this.#acks.abandon({
          ok: false,
          code: "TIMEOUT",
          message: `connection ${
            s.type === "disconnect" ? "lost" : "re-established"
          } before the PubAck`,
        });
      }
      if (s.type === "disconnect") this.#emit({ type: "disconnected" });
      else if (s.type === "reconnect") this.#emit({ type: "reconnected" });
    }
  }

  async close(): Promise<void> {
    this.#out.flush();
    for (const c of [...this.#consumers]) await c.stop().catch(() => {});
    this.#gets.close();
    this.#acks.close({ ok: false, code: "ERROR", message: "connection closed" });
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
  }
}
