/**
 * An in-memory twin of the NATS transport for unit tests of actor logic:
 * subjects with `*` and `>` wildcards, request/reply, streams that capture
 * subjects (limits or work-queue retention, `Nats-Msg-Id` de-duplication,
 * expected last subject sequence), durable consumers with ack, nak and a bound
 * on unacknowledged messages, and KV buckets with compare-and-set. Delivery is
 * asynchronous (a microtask), as over a socket.
 *
 * It is a model, not a broker: no persistence, no ack timeouts, no clustering.
 *
 * @module
 */

import { SchedulerError } from "../errors.ts";
import type {
  ConnectionEvent,
  ConsumerHandle,
  ConsumerSpec,
  DurableMsg,
  DurablePublishOptions,
  InMsg,
  KvBucket,
  KvEntry,
  PubAck,
  PublishOptions,
  StoredMsg,
  StreamSpec,
  StreamState,
  Subscription,
  Transport,
} from "./types.ts";

/** Does `subject` match the NATS pattern `pattern`? */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== "*" && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

interface Stored {
  seq: number;
  subject: string;
  data: Uint8Array;
  headers: Record<string, string>;
  time: number;
}

interface MemStream {
  spec: StreamSpec;
  msgs: Map<number, Stored>;
  lastSeq: number;
  msgIds: Map<string, number>;
}

/** Bytes a stream holds (bodies only: the twin counts no overhead). */
function bytesOf(st: MemStream): number {
  let n = 0;
  for (const m of st.msgs.values()) n += m.data.length;
  return n;
}

interface MemConsumer {
  spec: ConsumerSpec;
  pending: Map<number, number>; // seq -> deliveries
  redeliver: number[];
  cursor: number; // last seq handed out in order
  fn?: (m: DurableMsg) => void;
}

interface MemBucket {
  entries: Map<string, KvEntry>;
  rev: number;
  watchers: Set<{ key: string; fn: (e: KvEntry) => void }>;
}

interface Sub {
  pattern: string;
  queue?: string;
  fn: (m: InMsg) => void;
}

function headerGetter(h: Record<string, string>): (n: string) => string | undefined {
  return (n) => h[n] ?? Object.entries(h).find(([k]) => k.toLowerCase() === n.toLowerCase())?.[1];
}

/** A shared in-memory broker; several {@link MemoryTransport}s may connect to one. */
export class MemoryBroker {
  /** @internal */
  readonly streams: Map<string, MemStream> = new Map();
  /** @internal */
  readonly consumers: Map<string, MemConsumer> = new Map();
  /** @internal */
  readonly buckets: Map<string, MemBucket> = new Map();
  #subs = new Set<Sub>();
  #inbox = 0;

  /** Connect a transport. */
  connect(name = "memory"): MemoryTransport {
    return new MemoryTransport(this, name);
  }

  /** @internal */
  nextInbox(): string {
    return `_INBOX.mem.${++this.#inbox}`;
  }

  /** @internal */
  addSub(sub: Sub): Subscription {
    this.#subs.add(sub);
    return { unsubscribe: () => void this.#subs.delete(sub) };
  }

  /** @internal Deliver to subscribers and capture in streams; returns the ack of the capturing stream. */
  deliver(
    subject: string,
    data: Uint8Array,
    headers: Record<string, string>,
    reply?: string,
    expect?: DurablePublishOptions,
  ): PubAck | null {
    let ack: PubAck | null = null;
    for (const st of this.streams.values()) {
      if (!st.spec.subjects.some((p) => subjectMatches(p, subject))) continue;
      ack = this.#store(st, subject, data, headers, expect);
      break;
    }
    const msg: InMsg = { subject, data, reply, header: headerGetter(headers) };
    const queues = new Map<string, Sub[]>();
    for (const sub of this.#subs) {
      if (!subjectMatches(sub.pattern, subject)) continue;
      if (sub.queue) {
        const q = queues.get(sub.queue) ?? [];
        q.push(sub);
        queues.set(sub.queue, q);
      } else queueMicrotask(() => sub.fn(msg));
    }
    for (const q of queues.values()) {
      const pick = q[Math.floor(Math.random() * q.length)];
      queueMicrotask(() => pick.fn(msg));
    }
    return ack;
  }

  #store(
    st: MemStream,
    subject: string,
    data: Uint8Array,
    headers: Record<string, string>,
    expect?: DurablePublishOptions,
  ): PubAck {
    const msgId = expect?.msgId ?? headers["Nats-Msg-Id"];
    if (msgId && st.msgIds.has(msgId)) {
      return { ok: true, seq: st.msgIds.get(msgId)!, duplicate: true };
    }
    if (expect?.expectLastSubjectSeq !== undefined) {
      let last = 0;
      for (const m of st.msgs.values()) if (m.subject === subject) last = Math.max(last, m.seq);
      if (last !== expect.expectLastSubjectSeq) {
        return { ok: false, code: "WRONG_LAST_SEQUENCE", message: `wrong last sequence: ${last}` };
      }
    }
    const perSubject = st.spec.maxMsgsPerSubject ?? 0;
    if (st.spec.discard === "new-per-subject" && perSubject > 0) {
      let held = 0;
      for (const m of st.msgs.values()) if (m.subject === subject) held++;
      if (held >= perSubject) {
        return {
          ok: false,
          code: "SUBJECT_FULL",
          message: "maximum messages per subject exceeded",
        };
      }
    }
    if (st.spec.discard && st.spec.discard !== "old") {
      const { maxMsgs = 0, maxBytes = 0 } = st.spec;
      if (maxMsgs > 0 && st.msgs.size >= maxMsgs) {
        return { ok: false, code: "STREAM_FULL", message: "maximum messages exceeded" };
      }
      if (maxBytes > 0 && bytesOf(st) + data.length > maxBytes) {
        return { ok: false, code: "STREAM_FULL", message: "maximum bytes exceeded" };
      }
    }
    const seq = ++st.lastSeq;
    st.msgs.set(seq, { seq, subject, data, headers, time: Date.now() });
    if (msgId) st.msgIds.set(msgId, seq);
    if (st.spec.maxMsgsPerSubject && st.spec.maxMsgsPerSubject > 0) {
      const same = [...st.msgs.values()].filter((m) => m.subject === subject);
      while (same.length > st.spec.maxMsgsPerSubject) st.msgs.delete(same.shift()!.seq);
    }
    for (const c of this.consumers.values()) if (c.spec.stream === st.spec.name) this.pump(c);
    const rp = st.spec.republish;
    if (rp && subjectMatches(rp.src, subject)) {
      const dest = rp.dest.slice(0, -1) + subject.slice(rp.src.length - 1);
      this.deliver(dest, data, {
        ...headers,
        "Nats-Stream": st.spec.name,
        "Nats-Sequence": String(seq),
      });
    }
    return { ok: true, seq, duplicate: false };
  }

  /** @internal Hand out messages up to the consumer's ack-pending bound. */
  pump(c: MemConsumer): void {
    const st = this.streams.get(c.spec.stream);
    if (!st || !c.fn) return;
    const fn = c.fn;
    while (c.pending.size < c.spec.maxAckPending) {
      let seq = c.redeliver.shift();
      if (seq === undefined) {
        seq = [...st.msgs.keys()].find((s) =>
          s > c.cursor &&
          (!c.spec.filterSubject || subjectMatches(c.spec.filterSubject, st.msgs.get(s)!.subject))
        );
        if (seq === undefined) return;
        c.cursor = seq;
      }
      const m = st.msgs.get(seq);
      if (!m) continue;
      const deliveries = (c.pending.get(seq) ?? 0) + 1;
      c.pending.set(seq, deliveries);
      const settle = (requeue: boolean) => {
        if (!c.pending.has(seq!)) return;
        c.pending.delete(seq!);
        if (requeue) c.redeliver.push(seq!);
        else if (st.spec.retention === "workqueue") st.msgs.delete(seq!);
        queueMicrotask(() => this.pump(c));
      };
      const dm: DurableMsg = {
        subject: m.subject,
        data: m.data,
        seq: m.seq,
        deliveries,
        storedAt: m.time,
        header: headerGetter(m.headers),
        ack: () => settle(false),
        nak: () => settle(true),
        working: () => {},
        term: () => settle(false),
      };
      queueMicrotask(() => fn(dm));
    }
  }
}

const textEncoder = new TextEncoder();
const bytes = (data: Uint8Array | string) =>
  typeof data === "string" ? textEncoder.encode(data) : data;

/** A connection to a {@link MemoryBroker}. */
export class MemoryTransport implements Transport {
  readonly name: string;
  #broker: MemoryBroker;
  #listeners: ((e: ConnectionEvent) => void)[] = [];
  #closed = false;

  constructor(broker: MemoryBroker, name: string) {
    this.#broker = broker;
    this.name = name;
  }

  publish(subject: string, data: Uint8Array | string, opts?: PublishOptions): void {
    if (this.#closed) throw new SchedulerError("TRANSPORT", "connection closed");
    this.#broker.deliver(subject, bytes(data), opts?.headers ?? {}, opts?.reply);
  }

  subscribe(subject: string, fn: (msg: InMsg) => void, opts?: { queue?: string }): Subscription {
    return this.#broker.addSub({ pattern: subject, queue: opts?.queue, fn });
  }

  request(
    subject: string,
    data: Uint8Array,
    opts?: { timeoutMs?: number; headers?: Record<string, string> },
  ): Promise<InMsg> {
    const inbox = this.#broker.nextInbox();
    return new Promise<InMsg>((resolve, reject) => {
      const timer = setTimeout(() => {
        sub.unsubscribe();
        reject(new SchedulerError("TRANSPORT", `request to ${subject} failed: timeout`));
      }, opts?.timeoutMs ?? 5_000);
      const sub = this.#broker.addSub({
        pattern: inbox,
        fn: (m) => {
          clearTimeout(timer);
          sub.unsubscribe();
          resolve(m);
        },
      });
      this.#broker.deliver(subject, data, opts?.headers ?? {}, inbox);
    });
  }

  respond(msg: InMsg, data: Uint8Array, headers?: Record<string, string>): void {
    if (msg.reply) this.#broker.deliver(msg.reply, data, headers ?? {});
  }

  inbox(): string {
    return this.#broker.nextInbox();
  }

  flush(): Promise<void> {
    return new Promise((r) => setTimeout(r, 0));
  }

  ensureStreams(specs: StreamSpec[], opts?: { update?: boolean }): Promise<string[]> {
    for (const spec of specs) {
      const st = this.#broker.streams.get(spec.name);
      if (st) {
        if (opts?.update !== false) st.spec = spec;
      } else {
        this.#broker.streams.set(spec.name, {
          spec,
          msgs: new Map(),
          lastSeq: 0,
          msgIds: new Map(),
        });
      }
    }
    return Promise.resolve([]);
  }

  publishDurable(
    subject: string,
    data: Uint8Array | string,
    opts?: DurablePublishOptions,
  ): Promise<PubAck> {
    const ack = this.#broker.deliver(subject, bytes(data), opts?.headers ?? {}, undefined, opts);
    return Promise.resolve(
      ack ?? { ok: false, code: "NO_STREAM", message: "no stream captures this subject" },
    );
  }

  consume(
    spec: ConsumerSpec,
    fn: (msg: DurableMsg) => void,
    _onLost?: (reason: string) => void,
  ): Promise<ConsumerHandle> {
    const key = `${spec.stream}/${spec.durable}`;
    let c = this.#broker.consumers.get(key);
    if (!c) {
      c = { spec, pending: new Map(), redeliver: [], cursor: 0 };
      this.#broker.consumers.set(key, c);
    }
    c.spec = spec;
    c.fn = fn;
    const consumer = c;
    this.#broker.pump(c);
    return Promise.resolve({
      stop: () => {
        consumer.fn = undefined;
        return Promise.resolve();
      },
    });
  }

  resetConsumer(spec: ConsumerSpec): Promise<void> {
    this.#broker.consumers.delete(`${spec.stream}/${spec.durable}`);
    return Promise.resolve();
  }

  streamInfo(stream: string): Promise<StreamState> {
    const st = this.#broker.streams.get(stream);
    if (!st) return Promise.reject(new SchedulerError("TRANSPORT", `no stream ${stream}`));
    return Promise.resolve({
      messages: st.msgs.size,
      bytes: bytesOf(st),
      lastSeq: st.lastSeq,
      maxMsgs: st.spec.maxMsgs ?? 0,
      maxBytes: st.spec.maxBytes ?? 0,
    });
  }

  forEachSubject(stream: string, filter: string, fn: (subject: string) => void): Promise<number> {
    const subjects = new Set<string>();
    for (const m of this.#broker.streams.get(stream)?.msgs.values() ?? []) {
      if (subjectMatches(filter, m.subject)) subjects.add(m.subject);
    }
    for (const s of subjects) fn(s);
    return Promise.resolve(subjects.size);
  }

  purgeSubject(stream: string, subject: string): Promise<number> {
    const st = this.#broker.streams.get(stream);
    let purged = 0;
    for (const m of [...(st?.msgs.values() ?? [])]) {
      if (subjectMatches(subject, m.subject)) {
        st!.msgs.delete(m.seq);
        purged++;
      }
    }
    return Promise.resolve(purged);
  }

  lastMessage(stream: string, subject: string): Promise<StoredMsg | null> {
    const st = this.#broker.streams.get(stream);
    let last: Stored | undefined;
    for (const m of st?.msgs.values() ?? []) {
      if (m.subject === subject && (!last || m.seq > last.seq)) last = m;
    }
    return Promise.resolve(
      last
        ? {
          subject: last.subject,
          seq: last.seq,
          data: last.data,
          time: last.time,
          header: headerGetter(last.headers),
        }
        : null,
    );
  }

  readStream(
    stream: string,
    opts: { filterSubject?: string; fromSeq?: number; limit?: number } = {},
  ): Promise<StoredMsg[]> {
    const st = this.#broker.streams.get(stream);
    const out = [...st?.msgs.values() ?? []]
      .filter((m) =>
        m.seq >= (opts.fromSeq ?? 0) &&
        (!opts.filterSubject || subjectMatches(opts.filterSubject, m.subject))
      )
      .sort((a, b) => a.seq - b.seq)
      .slice(0, opts.limit ?? Infinity)
      .map((m) => ({
        subject: m.subject,
        seq: m.seq,
        data: m.data,
        time: m.time,
        header: headerGetter(m.headers),
      }));
    return Promise.resolve(out);
  }

  kv(bucket: string): Promise<KvBucket> {
    let b = this.#broker.buckets.get(bucket);
    if (!b) {
      b = { entries: new Map(), rev: 0, watchers: new Set() };
      this.#broker.buckets.set(bucket, b);
    }
    const store = b;
    const write = (key: string, value: Uint8Array, operation: KvEntry["operation"]): number => {
      const e: KvEntry = { key, value, revision: ++store.rev, operation };
      if (operation === "PUT") store.entries.set(key, e);
      else store.entries.delete(key);
      for (const w of store.watchers) if (w.key === key) queueMicrotask(() => w.fn(e));
      return e.revision;
    };
    return Promise.resolve({
      get: (key) => Promise.resolve(store.entries.get(key) ?? null),
      create: (key, value) =>
        Promise.resolve(store.entries.has(key) ? null : write(key, value, "PUT")),
      update: (key, value, revision) =>
        Promise.resolve(
          store.entries.get(key)?.revision === revision ? write(key, value, "PUT") : null,
        ),
      put: (key, value) => Promise.resolve(write(key, value, "PUT")),
      delete: (key) => {
        write(key, new Uint8Array(), "DEL");
        return Promise.resolve();
      },
      entries: () => Promise.resolve([...store.entries.values()]),
      watch: (key, fn) => {
        const w = { key, fn };
        store.watchers.add(w);
        const current = store.entries.get(key);
        if (current) queueMicrotask(() => fn(current));
        return Promise.resolve({ unsubscribe: () => void store.watchers.delete(w) });
      },
    });
  }

  onConnection(fn: (e: ConnectionEvent) => void): void {
    this.#listeners.push(fn);
  }

  close(): Promise<void> {
    this.#closed = true;
    for (const l of this.#listeners) l({ type: "closed" });
    return Promise.resolve();
  }
}
