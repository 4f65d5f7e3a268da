/**
 * A JetStream KV bucket of nats.js as the transport's {@link KvBucket}: only
 * live entries, and a compare-and-set that lost answers null instead of
 * throwing.
 *
 * @module
 */

import type { KV } from "@nats-io/kv";
import type { KvBucket, KvEntry } from "./types.ts";
import type { FrameWriter } from "./nats_out.ts";

/**
 * `kv` as a {@link KvBucket}. Each call first writes out the text frames
 * queued on the connection before it (a lease given up after the last
 * results, say), as every other call of the transport does.
 */
export function kvBucket(kv: KV, out: FrameWriter): KvBucket {
  const entry = (
    e: { key: string; value: Uint8Array; revision: number; operation: string },
  ): KvEntry => ({
    key: e.key,
    value: e.value,
    revision: e.revision,
    operation: e.operation as KvEntry["operation"],
  });
  const casMiss = (err: unknown) =>
    /wrong last sequence|key exists|10071|10164/i.test(String((err as Error)?.message));
  return {
    get: async (key) => {
      out.flush();
      const e = await kv.get(key);
      return e && e.operation === "PUT" ? entry(e) : null;
    },
    create: async (key, value) => {
      out.flush();
      try {
        return await kv.create(key, value);
      } catch (err) {
        if (casMiss(err)) return null;
        throw err;
      }
    },
    update: async (key, value, revision) => {
      out.flush();
      try {
        return await kv.update(key, value, revision);
      } catch (err) {
        if (casMiss(err)) return null;
        throw err;
      }
    },
    put: (key, value) => {
      out.flush();
      return kv.put(key, value);
    },
    delete: (key) => {
      out.flush();
      return kv.delete(key);
    },
    entries: async () => {
      out.flush();
      const all: KvEntry[] = [];
      const keys = await kv.keys();
      for await (const k of keys) {
        const e = await kv.get(k);
        if (e && e.operation === "PUT") all.push(entry(e));
      }
      return all;
    },
    watch: async (key, fn) => {
      out.flush();
      const it = await kv.watch({ key });
      void (async () => {
        for await (const e of it) fn(entry(e));
      })();
      return { unsubscribe: () => it.stop() };
    },
  };
}
