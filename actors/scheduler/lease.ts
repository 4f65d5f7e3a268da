/**
 * Leadership among scheduler processes: a lease in a JetStream KV bucket.
 * The holder renews it by compare-and-set on the revision; a follower that
 * sees no change for a whole lease period takes it over with the epoch plus
 * one, also by compare-and-set, so two followers cannot both win. A leader
 * that cannot renew steps down before a follower can take over: it gives up
 * at 80 % of the lease since its last successful renewal, while followers wait
 * the full lease since they last saw a change.
 *
 * @module
 */

import type { Clock, KvBucket, Logger, TimerHandle } from "../../src/mod.ts";

/** What the lease holds. */
export interface LeaseValue {
  holder: string;
  node: string;
  epoch: number;
  renewedAt: number;
}

/** Options of {@link Lease}. */
export interface LeaseOptions {
  kv: KvBucket;
  key?: string;
  holder: string;
  node: string;
  leaseMs: number;
  clock: Clock;
  log: Logger;
  onAcquired(epoch: number, previous: LeaseValue | null): void;
  onLost(reason: string): void;
  /** The lease cannot work at all here (no JetStream): retrying will not help. */
  onFatal(error: Error): void;
}

/**
 * Nothing answers the JetStream API. nats.js reports this as "no responders"
 * or as "jetstream is not enabled" (it maps any no-responders answer to that,
 * also while a clustered stream elects a new leader), so neither is final on
 * its own: it becomes final when it lasts {@link NO_JETSTREAM_MS}.
 */
const SILENT = /no responders|jetstream (is )?not enabled|jetstream.*not available/i;
/** How long the JetStream API may stay silent before leadership is declared impossible. */
export const NO_JETSTREAM_MS = 10_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A lease loop: call `start`, and `stop` (which releases a held lease) at shutdown. */
export class Lease {
  #o: LeaseOptions;
  #key: string;
  #timer: TimerHandle | null = null;
  /** Fires when the lease would run out locally without a renewal: whatever a request is doing. */
  #deadline: TimerHandle | null = null;
  #leading = false;
  #revision = 0;
  #epoch = 0;
  #lastOk = 0;
  #seenRevision = -1;
  #seenAt = 0;
  #seenValue: LeaseValue | null = null;
  #stopped = false;
  #busy = false;
  #silentSince = 0;

  constructor(o: LeaseOptions) {
    this.#o = o;
    this.#key = o.key ?? "leader";
  }

  get leading(): boolean {
    return this.#leading;
  }

  get epoch(): number {
    return this.#epoch;
  }

  start(): void {
    this.#tick();
  }

  /** Stop; a leader deletes the lease so a follower takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#deadline?.cancel();
    if (this.#leading) {
      this.#leading = false;
      // Hand over quickly: an expired-looking value lets a follower take over on its next check.
      const v: LeaseValue = { holder: "", node: "", epoch: this.#epoch, renewedAt: 0 };
      await this.#o.kv.update(this.#key, encoder.encode(JSON.stringify(v)), this.#revision).catch(
        () => null,
      );
    }
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = this.#o.clock.setTimer(ms, () => this.#tick());
  }

  async #tick(): Promise<void> {
    if (this.#stopped || this.#busy) return;
    this.#busy = true;
    try {
      if (this.#leading) await this.#renew();
      else await this.#contend();
      this.#silentSince = 0;
    } catch (err) {
      const message = String((err as Error)?.message);
      const now = this.#o.clock.now();
      const cause = String(((err as Error)?.cause as Error | undefined)?.message ?? "");
      if (SILENT.test(message) || SILENT.test(cause)) this.#silentSince ||= now;
      else this.#silentSince = 0;
      if (
        this.#silentSince && now - this.#silentSince >= NO_JETSTREAM_MS
      ) {
        this.#stepDown(`lease unusable: ${(err as Error).message}`);
        this.#stopped = true;
        this.#o.onFatal(err as Error);
        return;
      }
      this.#o.log.warn("lease check failed", {
        error: (err as Error).message,
        silentMs: this.#silentSince ? now - this.#silentSince : 0,
      });
      if (this.#leading && this.#o.clock.now() - this.#lastOk > this.#o.leaseMs * 0.8) {
        this.#stepDown(`could not renew the lease for ${this.#o.clock.now() - this.#lastOk} ms`);
      }
    } finally {
      this.#busy = false;
    }
    this.#schedule(
      this.#leading
        ? Math.max(50, Math.floor(this.#o.leaseMs / 3))
        : Math.max(50, Math.floor(this.#o.leaseMs / 5)),
    );
  }

  async #renew(): Promise<void> {
    const now = this.#o.clock.now();
    if (now - this.#lastOk > this.#o.leaseMs * 0.8) {
      this.#stepDown(`lease not renewed for ${now - this.#lastOk} ms`);
      return;
    }
    const v: LeaseValue = {
      holder: this.#o.holder,
      node: this.#o.node,
      epoch: this.#epoch,
      renewedAt: now,
    };
    const rev = await this.#o.kv.update(
      this.#key,
      encoder.encode(JSON.stringify(v)),
      this.#revision,
    );
    if (rev === null) {
      this.#stepDown("another scheduler holds the lease");
      return;
    }
    this.#revision = rev;
    this.#lastOk = now;
    this.#armDeadline();
  }

  #armDeadline(): void {
    this.#deadline?.cancel();
    const lastOk = this.#lastOk;
    this.#deadline = this.#o.clock.setTimer(Math.floor(this.#o.leaseMs * 0.8), () => {
      if (this.#leading && this.#lastOk === lastOk) {
        this.#stepDown(`lease not renewed for ${this.#o.clock.now() - lastOk} ms`);
      }
    });
  }

  async #contend(): Promise<void> {
    const now = this.#o.clock.now();
    const entry = await this.#o.kv.get(this.#key);
    if (!entry) {
      const v: LeaseValue = {
        holder: this.#o.holder,
        node: this.#o.node,
        epoch: 1,
        renewedAt: now,
      };
      const rev = await this.#o.kv.create(this.#key, encoder.encode(JSON.stringify(v)));
      if (rev !== null) this.#acquire(rev, 1, null, now);
      return;
    }
    let current: LeaseValue | null = null;
    try {
      current = JSON.parse(decoder.decode(entry.value)) as LeaseValue;
    } catch {
      current = null;
    }
    if (entry.revision !== this.#seenRevision) {
      this.#seenRevision = entry.revision;
      this.#seenAt = now;
      this.#seenValue = current;
    }
    const released = current?.holder === "";
    // Still our own last write (we stepped down while NATS was unreachable): nobody took it over.
    const ours = current?.holder === this.#o.holder && entry.revision === this.#revision;
    if (!released && !ours && now - this.#seenAt < this.#o.leaseMs) return;
    const epoch = (current?.epoch ?? 0) + 1;
    const v: LeaseValue = { holder: this.#o.holder, node: this.#o.node, epoch, renewedAt: now };
    const rev = await this.#o.kv.update(
      this.#key,
      encoder.encode(JSON.stringify(v)),
      entry.revision,
    );
    if (rev !== null) this.#acquire(rev, epoch, this.#seenValue, now);
  }

  #acquire(revision: number, epoch: number, previous: LeaseValue | null, now: number): void {
    this.#leading = true;
    this.#revision = revision;
    this.#epoch = epoch;
    this.#lastOk = now;
    this.#armDeadline();
    this.#o.log.info("became the leading scheduler", {
      epoch,
      previous: previous?.holder || undefined,
    });
    this.#o.onAcquired(epoch, previous);
  }

  #stepDown(reason: string): void {
    if (!this.#leading) return;
    this.#leading = false;
    this.#seenRevision = -1;
    this.#deadline?.cancel();
    this.#o.log.warn("stepped down as leader", { reason, epoch: this.#epoch });
    this.#o.onLost(reason);
  }
}
