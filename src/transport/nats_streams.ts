/**
 * Streams of the NATS JetStream transport (`nats.ts`): creating and updating
 * them to their spec, their state, the subjects they hold, and reading,
 * purging and listing what they store.
 *
 * @module
 */

import type { NatsConnection } from "@nats-io/transport-node";
import {
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamClient,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import { SchedulerError } from "../errors.ts";
import type { StoredMsg, StreamSpec, StreamState } from "./types.ts";
import { firstValues, headerIn, jsHeaders, MS } from "./nats_msg.ts";

/** The stream calls of one connection (the transport writes out its queued frames first). */
export class NatsStreams {
  readonly #nc: NatsConnection;
  readonly #jsm: JetStreamManager;
  readonly #js: JetStreamClient;

  constructor(nc: NatsConnection, jsm: JetStreamManager, js: JetStreamClient) {
    this.#nc = nc;
    this.#jsm = jsm;
    this.#js = js;
  }

  /** Create or update each stream to its spec; notes on limits kept above the spec (see `Transport`). */
  async ensure(specs: StreamSpec[], opts?: { update?: boolean }): Promise<string[]> {
    const notes: string[] = [];
    for (const spec of specs) {
      const config: Partial<StreamConfig> & { name: string } = {
        name: spec.name,
        subjects: spec.subjects,
        retention: spec.retention === "workqueue"
          ? RetentionPolicy.Workqueue
          : RetentionPolicy.Limits,
        storage: spec.storage === "memory" ? StorageType.Memory : StorageType.File,
        max_age: (spec.maxAgeMs ?? 0) * MS,
        max_msgs_per_subject: spec.maxMsgsPerSubject ?? -1,
        max_msgs: spec.maxMsgs || -1,
        max_bytes: spec.maxBytes || -1,
        duplicate_window: (spec.duplicateWindowMs ?? 120_000) * MS,
        num_replicas: spec.replicas ?? 1,
        discard: spec.discard && spec.discard !== "old" ? DiscardPolicy.New : DiscardPolicy.Old,
        ...(spec.discard === "new-per-subject" ? { discard_new_per_subject: true } : {}),
        allow_direct: true,
        ...(spec.republish
          ? { republish: { src: spec.republish.src, dest: spec.republish.dest } }
          : {}),
      };
      let held: { messages: number; bytes: number } | null = null;
      try {
        held = (await this.#jsm.streams.info(spec.name)).state;
      } catch {
        held = null;
      }
      if (held && opts?.update === false) continue;
      if (held) {
        // Lowering a limit below what the stream holds makes JetStream drop its oldest
        // messages, even with discard new: hold at what it has instead (full until it drains).
        for (
          const [key, now] of [["max_msgs", held.messages], ["max_bytes", held.bytes]] as const
        ) {
          const limit = config[key]!;
          if (limit > 0 && now > limit) {
            config[key] = now;
            notes.push(
              `stream ${spec.name} holds ${now} (${key}), more than its new limit ${limit}: ` +
                `kept at ${now} so that nothing stored is dropped; the next update lowers it`,
            );
          }
        }
      }
      try {
        if (held) await this.#jsm.streams.update(spec.name, config);
        else await this.#jsm.streams.add(config);
      } catch (err) {
        const message = String((err as Error).message);
        // Two processes starting at once may both try to add: a second add of the same config is fine.
        if (!held && /already in use|exists/i.test(message)) continue;
        const hint = /insufficient storage/i.test(message) && (config.max_bytes ?? -1) > 0
          ? ` (its byte limit, ${config.max_bytes}, is more than JetStream's storage can reserve)`
          : "";
        throw new SchedulerError(
          "TRANSPORT",
          `cannot create stream ${spec.name}: ${message}${hint}`,
          { cause: err },
        );
      }
    }
    return notes;
  }

  /** How many messages and bytes `stream` holds, its last sequence and its limits. */
  async info(stream: string): Promise<StreamState> {
    const { state, config } = await this.#jsm.streams.info(stream);
    return {
      messages: state.messages,
      bytes: state.bytes,
      lastSeq: state.last_seq,
      maxMsgs: Math.max(0, config.max_msgs),
      maxBytes: Math.max(0, config.max_bytes),
    };
  }

  async forEachSubject(
    stream: string,
    filter: string,
    fn: (subject: string) => void,
  ): Promise<number> {
    // The stream-info request pages subjects (offset, total); the client's own
    // info() gathers every page into one object first.
    let seen = 0;
    for (;;) {
      const reply = await this.#nc.request(
        `$JS.API.STREAM.INFO.${stream}`,
        JSON.stringify({ subjects_filter: filter, offset: seen }),
        { timeout: 10_000 },
      );
      const page = reply.json<{
        error?: { description: string };
        total?: number;
        state?: { subjects?: Record<string, number> };
      }>();
      if (page.error) {
        throw new SchedulerError(
          "TRANSPORT",
          `cannot list the subjects of ${stream}: ${page.error.description}`,
        );
      }
      const subjects = Object.keys(page.state?.subjects ?? {});
      for (const s of subjects) fn(s);
      seen += subjects.length;
      if (subjects.length === 0 || seen >= (page.total ?? 0)) return seen;
    }
  }

  async purgeSubject(stream: string, subject: string): Promise<number> {
    try {
      return (await this.#jsm.streams.purge(stream, { filter: subject })).purged;
    } catch (err) {
      throw new SchedulerError(
        "TRANSPORT",
        `cannot purge ${subject} from ${stream}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  async lastMessage(stream: string, subject: string): Promise<StoredMsg | null> {
    try {
      const m = await this.#jsm.streams.getMessage(stream, { last_by_subj: subject });
      if (!m) return null;
      return {
        subject: m.subject,
        seq: m.seq,
        data: m.data,
        time: m.time.getTime(),
        // nats.js reads these headers itself, and throws on a name it would not send: such a
        // stored message has no headers here (a result without its signature is not believed).
        header: (n) => {
          try {
            return headerIn(firstValues(m.header), n);
          } catch {
            return undefined;
          }
        },
      };
    } catch (err) {
      if (/no message found|not found/i.test(String((err as Error).message))) return null;
      throw new SchedulerError(
        "TRANSPORT",
        `cannot read ${subject} from ${stream}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  async readStream(
    stream: string,
    opts: { filterSubject?: string; fromSeq?: number; limit?: number } = {},
  ): Promise<StoredMsg[]> {
    const info = await this.#jsm.streams.info(stream);
    const out: StoredMsg[] = [];
    if (info.state.messages === 0) return out;
    const consumer = await this.#js.consumers.get(stream, {
      // A plain string goes out as `filter_subject`, which nats-server 2.9 knows; an array does not.
      filter_subjects: opts.filterSubject,
      opt_start_seq: opts.fromSeq,
      deliver_policy: opts.fromSeq ? DeliverPolicy.StartSequence : DeliverPolicy.All,
    });
    const limit = opts.limit ?? Infinity;
    while (out.length < limit) {
      const batch = await consumer.fetch({
        max_messages: Math.min(1_000, limit - out.length),
        expires: 1_000,
      });
      let got = 0;
      for await (const m of batch) {
        got++;
        let h: ReadonlyMap<string, string> | undefined;
        out.push({
          subject: m.subject,
          seq: m.seq,
          data: m.data,
          time: m.info.timestampNanos / MS,
          header: (n) => headerIn(h ??= jsHeaders(m), n),
        });
        if (m.info.pending === 0) return out;
      }
      if (got === 0) break;
    }
    return out;
  }
}
