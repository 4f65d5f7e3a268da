/**
 * Leadership among scheduler processes: a lease in a JetStream KV bucket.
 * The holder renews it by compare-and-set on the revision; a follower that
 * sees no change for a whole lease period takes it over with the epoch plus
 * one, also by compare-and-set, so two followers cannot both win. A leader
 * that cannot renew stops acting before a follower can take over: at 80 % of
 * the lease since its last successful renewal, while followers wait the full
 * lease since they last saw a change. With `onPaused`, that leader keeps its
 * state and goes on trying to renew under the same epoch, by compare-and-set
 * on its own last revision: if that succeeds nobody wrote the lease meanwhile
 * (a bucket electing a new leader, a stalled event loop) and it leads on
 * (`onResumed`); if another scheduler wrote it, it has lost (`onLost`).
 *
 * @module
 */

import type { Clock, KvBucket, Logger, TimerHandle } from "../../src/internal_mod.ts";

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
  /** The leader missed its renewal and stopped acting; the lease may still be its own. */
  onPaused?(reason: string): void;
  /** A paused leader renewed its own lease under the same epoch: it leads on. */
  onResumed?(pausedMs: number): void;
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
  /** Missed a renewal, not acting; the lease still holds our last write as far as we know. */
  #paused = false;
  #pausedAt = 0;
  /** A follower's read failed: the next one that works gives the holder time to renew. */
  #readFailed = false;
  #graceFor = -1;
  #revision = 0;
  #epoch = 0;
  #lastOk = 0;
  #seenRevision = -1;
  #seenAt = 0;
  #seenValue: LeaseValue | null = null;
  #stopped = false;
  #busy = false;
  #silentSince = 0;
  /** Why the last check failed (empty after a success): named when the leader steps down. */
  #lastError = "";

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

  /** Missed a renewal and stopped acting, but the lease may still be its own. */
  get paused(): boolean {
    return this.#paused;
  }

  start(): void {
    this.#tick();
  }

  /** Stop; a leader deletes the lease so a follower takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#deadline?.cancel();
    if (this.#leading || this.#paused) {
      this.#leading = false;
      this.#paused = false;
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
      else if (this.#paused) await this.#resume();
      else await this.#contend();
      this.#silentSince = 0;
      this.#lastError = "";
    } catch (err) {
      const message = String((err as Error)?.message);
      this.#lastError = message;
      if (!this.#leading && !this.#paused) this.#readFailed = true;
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
        this.#pause(
          `could not renew the lease for ${this.#o.clock.now() - this.#lastOk} ms${this.#why()}`,
        );
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
      this.#pause(`lease not renewed for ${now - this.#lastOk} ms`);
      return;
    }
    const rev = await this.#writeOwn(now);
    if (rev === null) {
      this.#stepDown("another scheduler holds the lease");
      return;
    }
    this.#revision = rev;
    this.#lastOk = now;
    this.#armDeadline();
  }

  /**
   * Write the lease again under our holder and epoch, compare-and-set on our
   * last revision. A renewal whose answer was lost (timed out, yet stored)
   * moved the revision on: if the entry still holds our holder and epoch,
   * nobody else wrote it since, and we set on that revision instead.
   */
  async #writeOwn(now: number): Promise<number | null> {
    const v: LeaseValue = {
      holder: this.#o.holder,
      node: this.#o.node,
      epoch: this.#epoch,
      renewedAt: now,
    };
    const value = encoder.encode(JSON.stringify(v));
    const rev = await this.#o.kv.update(this.#key, value, this.#revision);
    if (rev !== null) return rev;
    const entry = await this.#o.kv.get(this.#key);
    if (!entry) return null;
    let current: LeaseValue | null = null;
    try {
      current = JSON.parse(decoder.decode(entry.value)) as LeaseValue;
    } catch {
      return null;
    }
    if (current?.holder !== this.#o.holder || current.epoch !== this.#epoch) return null;
    return await this.#o.kv.update(this.#key, value, entry.revision);
  }

  #armDeadline(): void {
    this.#deadline?.cancel();
    const lastOk = this.#lastOk;
    this.#deadline = this.#o.clock.setTimer(Math.floor(this.#o.leaseMs * 0.8), () => {
      if (this.#leading && this.#lastOk === lastOk) {
        this.#pause(`lease not renewed for ${this.#o.clock.now() - lastOk} ms${this.#why()}`);
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
    if (this.#readFailed) {
      // We could not see the lease for a while (nor, perhaps, could its holder renew it: the
      // bucket was electing a leader). Give the holder half a lease to renew first, once.
      this.#readFailed = false;
      if (this.#graceFor !== entry.revision) {
        this.#graceFor = entry.revision;
        this.#seenAt = Math.max(this.#seenAt, now - Math.floor(this.#o.leaseMs / 2));
      }
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

  /** The last failure, for a step-down reason (a full JetStream says "insufficient resources"). */
  #why(): string {
    return this.#lastError ? `: ${this.#lastError}` : "";
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

  /**
   * A paused leader renews under the same epoch, compare-and-set on its own
   * last revision: success means nobody wrote the lease since.
   */
  async #resume(): Promise<void> {
    const now = this.#o.clock.now();
    const rev = await this.#writeOwn(now);
    if (rev === null) {
      this.#stepDown("another scheduler took the lease over");
      return;
    }
    this.#paused = false;
    this.#leading = true;
    this.#revision = rev;
    this.#lastOk = now;
    this.#armDeadline();
    this.#o.log.info("lease renewed again; leading on", {
      epoch: this.#epoch,
      pausedMs: now - this.#pausedAt,
    });
    this.#o.onResumed?.(now - this.#pausedAt);
  }

  /** Stop acting; keep trying to renew (see {@link Lease}), or step down without `onPaused`. */
  #pause(reason: string): void {
    if (!this.#o.onPaused) return this.#stepDown(reason);
    if (!this.#leading) return;
    this.#leading = false;
    this.#paused = true;
    this.#pausedAt = this.#o.clock.now();
    this.#deadline?.cancel();
    this.#o.log.warn("paused as leader", { reason, epoch: this.#epoch });
    this.#o.onPaused(reason);
  }

  #stepDown(reason: string): void {
    if (!this.#leading && !this.#paused) return;
    this.#leading = false;
    this.#paused = false;
    this.#seenRevision = -1;
    this.#deadline?.cancel();
    this.#o.log.warn("stepped down as leader", { reason, epoch: this.#epoch });
    this.#o.onLost(reason);
  }
}
