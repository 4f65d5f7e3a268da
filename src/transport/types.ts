/**
 * What the system needs from a message broker, as one interface with two
 * implementations: NATS JetStream (`nats.ts`) and an in-memory twin
 * (`memory.ts`) for unit tests of actor logic.
 *
 * @module
 */

/** A message as received. */
export interface InMsg {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly reply?: string;
  header(name: string): string | undefined;
}

/** A message delivered from a durable stream; settle it with one of the methods. */
export interface DurableMsg extends InMsg {
  /** Stream sequence. */
  readonly seq: number;
  /** How often this message has been delivered (1 the first time). */
  readonly deliveries: number;
  /** When the stream stored it (ms since the epoch, the server's clock). */
  readonly storedAt: number;
  ack(): void;
  nak(delayMs?: number): void;
  /** Reset the redelivery timer: the work is still going on. */
  working(): void;
  /** Never redeliver. */
  term(): void;
  /**
   * What acks this message, holding no more than that needs (not the body or
   * headers): for whoever keeps it until the work is done. Without it, the
   * message itself.
   */
  settler?(): { ack(): void };
}

/** Publish options. */
export interface PublishOptions {
  headers?: Record<string, string>;
  reply?: string;
}

/** Options for a publish into a stream that waits for the stream's ack. */
export interface DurablePublishOptions {
  headers?: Record<string, string>;
  /** De-duplicates within the stream's duplicate window. */
  msgId?: string;
  /** Store only if the subject's last sequence is this (0: only if the subject is empty). */
  expectLastSubjectSeq?: number;
  timeoutMs?: number;
}

/** The stream's answer to a durable publish. */
export type PubAck =
  | { ok: true; seq: number; duplicate: boolean }
  | { ok: false; code: PubAckError; message: string };

/**
 * Why a stream did not store a message: `WRONG_LAST_SEQUENCE` (an expected
 * last sequence did not hold), `SUBJECT_FULL` (the subject already holds its
 * most messages and the stream discards new ones), `STREAM_FULL` (the stream
 * holds its most messages or bytes and discards new ones), `STORAGE_FULL`
 * (JetStream's storage is used up: its `max_file_store`, the account's limit
 * or the disk itself), `NO_STREAM`, `TIMEOUT`, or any other stream error.
 */
export type PubAckError =
  | "WRONG_LAST_SEQUENCE"
  | "SUBJECT_FULL"
  | "STREAM_FULL"
  | "STORAGE_FULL"
  | "NO_STREAM"
  | "TIMEOUT"
  | "ERROR";

/** A subscription. */
export interface Subscription {
  unsubscribe(): void;
}

/** A stream to create or update at start. */
export interface StreamSpec {
  name: string;
  subjects: string[];
  retention: "limits" | "workqueue";
  /** 0 means no limit. */
  maxAgeMs?: number;
  maxMsgsPerSubject?: number;
  /** Most messages held; 0 or absent: no limit. See {@link Transport.ensureStreams}. */
  maxMsgs?: number;
  /** Most bytes held; 0 or absent: no limit (JetStream's storage limit applies). */
  maxBytes?: number;
  duplicateWindowMs?: number;
  replicas?: number;
  storage?: "file" | "memory";
  /** Republish every stored message from `src` (ending in `>`) to `dest` (ending in `>`). */
  republish?: { src: string; dest: string };
  /**
   * What a full stream does: `old` drops its oldest message (the default),
   * `new` refuses the new one, `new-per-subject` also refuses a message for a
   * subject that holds `maxMsgsPerSubject` already: store-once without any
   * header (a header would be republished to subscribers).
   */
  discard?: "old" | "new" | "new-per-subject";
}

/** What a stream holds, and its limits (0: none). */
export interface StreamState {
  messages: number;
  bytes: number;
  lastSeq: number;
  maxMsgs: number;
  maxBytes: number;
}

/** A durable pull consumer. */
export interface ConsumerSpec {
  stream: string;
  durable: string;
  /** Most messages delivered and not yet acked: the bound on work held in memory. */
  maxAckPending: number;
  ackWaitMs: number;
  filterSubject?: string;
  /** Messages pulled per request. */
  batch?: number;
}

/** A running consume loop. */
export interface ConsumerHandle {
  stop(): Promise<void>;
}

/** A message read back from a stream. */
export interface StoredMsg {
  subject: string;
  seq: number;
  data: Uint8Array;
  time: number;
  header(name: string): string | undefined;
}

/** An entry of a KV bucket. */
export interface KvEntry {
  key: string;
  value: Uint8Array;
  revision: number;
  /** Put (`PUT`) or a delete marker. */
  operation: "PUT" | "DEL" | "PURGE";
}

/** A KV bucket with compare-and-set. */
export interface KvBucket {
  get(key: string): Promise<KvEntry | null>;
  /** Create only if absent; returns the revision, or null when the key exists. */
  create(key: string, value: Uint8Array): Promise<number | null>;
  /** Update only if the last revision is `revision`; null on a mismatch. */
  update(key: string, value: Uint8Array, revision: number): Promise<number | null>;
  put(key: string, value: Uint8Array): Promise<number>;
  delete(key: string): Promise<void>;
  /** Every live entry. */
  entries(): Promise<KvEntry[]>;
  /** Changes to `key`, current value first. */
  watch(key: string, fn: (e: KvEntry) => void): Promise<Subscription>;
}

/** Connection events. */
export type ConnectionEvent =
  | { type: "disconnected" }
  | { type: "reconnected" }
  | { type: "closed"; error?: string };

/** The broker, as the actors see it. */
export interface Transport {
  /** A name for logs: the server URL or `memory`. */
  readonly name: string;
  /** Publish `data`; a string is sent as its UTF-8 (the cheaper form for text: see nats_out.ts). */
  publish(subject: string, data: Uint8Array | string, opts?: PublishOptions): void;
  subscribe(subject: string, fn: (msg: InMsg) => void, opts?: { queue?: string }): Subscription;
  request(
    subject: string,
    data: Uint8Array,
    opts?: { timeoutMs?: number; headers?: Record<string, string> },
  ): Promise<InMsg>;
  /** Answer a request. */
  respond(msg: InMsg, data: Uint8Array, headers?: Record<string, string>): void;
  /** A fresh subject for replies. */
  inbox(): string;
  flush(): Promise<void>;

  /**
   * Create missing streams and, unless `update` is false, bring existing ones
   * to their spec (idempotent). A message or byte limit below what a stream
   * holds now is not applied as such, since JetStream would drop its oldest
   * messages to fit: the limit becomes what it holds (full until it drains),
   * and the returned notes say so.
   */
  ensureStreams(specs: StreamSpec[], opts?: { update?: boolean }): Promise<string[]>;
  /** Publish into a stream, pipelined: many may be awaiting their ack at once. */
  publishDurable(
    subject: string,
    data: Uint8Array | string,
    opts?: DurablePublishOptions,
  ): Promise<PubAck>;
  /**
   * Pull from a durable consumer, creating it if missing. `onLost` hears when
   * the consumer or its stream disappears (deleted, or JetStream gone): the
   * consume loop has stopped then. `onStatus` hears what the pull loop does
   * about a silent or leaderless consumer (missed heartbeats, pulling again,
   * no responders), for the log.
   */
  consume(
    spec: ConsumerSpec,
    fn: (msg: DurableMsg) => void,
    onLost?: (reason: string) => void,
    onStatus?: (event: string) => void,
  ): Promise<ConsumerHandle>;
  /** Delete and recreate a consumer so that everything it had not acked is delivered again now. */
  resetConsumer(spec: ConsumerSpec): Promise<void>;
  /** How many messages and bytes a stream holds, its last sequence and its limits. */
  streamInfo(stream: string): Promise<StreamState>;
  /** The last message on `subject` in `stream`, or null. */
  lastMessage(stream: string, subject: string): Promise<StoredMsg | null>;
  /**
   * Every subject that holds a message in `stream` and matches `filter`,
   * handed to `fn` a page at a time (the server sends up to 100,000 a page),
   * so that a stream of millions of subjects is never one object in memory.
   */
  forEachSubject(stream: string, filter: string, fn: (subject: string) => void): Promise<number>;
  /** Remove a subject's messages (wildcards allowed); resolves with how many went. */
  purgeSubject(stream: string, subject: string): Promise<number>;
  /** Messages in a stream, in order, optionally filtered (for rebuilds and inspection). */
  readStream(
    stream: string,
    opts?: { filterSubject?: string; fromSeq?: number; limit?: number },
  ): Promise<StoredMsg[]>;
  /** Open (creating if missing) a KV bucket. */
  kv(
    bucket: string,
    opts?: { historyTtlMs?: number; replicas?: number; timeoutMs?: number },
  ): Promise<KvBucket>;

  onConnection(fn: (e: ConnectionEvent) => void): void;
  close(): Promise<void>;
}
