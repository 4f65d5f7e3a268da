/**
 * A batch submission (one message, many tasks) seen as one message per task.
 * Each task gets a part that stands in for the message: the scheduler checks,
 * holds and settles it exactly as it would a message of its own, and the
 * message itself is acked once every part is settled (its task's result
 * stored, or it was a duplicate), so that a batch is never acked with a task
 * in it unfinished. A part that puts its task back (nak) puts the whole
 * message back: the redelivery is checked task by task again, and the tasks
 * already held or finished are recognised by id as any redelivery is.
 *
 * @module
 */

import type { DurableMsg } from "../../src/internal_mod.ts";

/**
 * A part's `seq` is the message's stream sequence plus its index over this:
 * tasks of one batch run in their order, after every earlier message and
 * before every later one. Exact in a double for any stream sequence below
 * 2^37 (a trillion messages a day for 300 years).
 */
export const PART_SEQ_SCALE = 65_536;

/** The stream sequence of a message or part (a part's `seq` is fractional). */
export function streamSeqOf(msg: { seq: number }): number {
  return Math.floor(msg.seq);
}

/** One delivery of a batch message, and its parts. */
export class BatchDelivery {
  readonly msg: DurableMsg;
  #settled: Uint8Array;
  #left: number;
  #over = false;

  constructor(msg: DurableMsg, count: number) {
    this.msg = msg;
    this.#settled = new Uint8Array(count);
    this.#left = count;
  }

  /** Parts not yet settled. */
  get left(): number {
    return this.#left;
  }

  /** The stand-in message of task `index`. */
  part(index: number): DurableMsg {
    return new BatchPart(this, index);
  }

  /** Task `index` is settled; the message is acked with the last one. */
  settle(index: number): void {
    if (this.#over || this.#settled[index]) return;
    this.#settled[index] = 1;
    if (--this.#left === 0) {
      this.#over = true;
      this.msg.ack();
    }
  }

  /** Put the whole message back (once): it comes again, and is checked task by task. */
  putBack(delayMs?: number): void {
    if (this.#over) return;
    this.#over = true;
    this.msg.nak(delayMs);
  }
}

class BatchPart implements DurableMsg {
  readonly #batch: BatchDelivery;
  readonly #index: number;
  readonly seq: number;

  constructor(batch: BatchDelivery, index: number) {
    this.#batch = batch;
    this.#index = index;
    this.seq = batch.msg.seq + index / PART_SEQ_SCALE;
  }
  get subject(): string {
    return this.#batch.msg.subject;
  }
  get data(): Uint8Array {
    return this.#batch.msg.data;
  }
  get deliveries(): number {
    return this.#batch.msg.deliveries;
  }
  get storedAt(): number {
    return this.#batch.msg.storedAt;
  }
  header(name: string): string | undefined {
    return this.#batch.msg.header(name);
  }
  ack(): void {
    this.#batch.settle(this.#index);
  }
  nak(delayMs?: number): void {
    this.#batch.putBack(delayMs);
  }
  working(): void {
    this.#batch.msg.working();
  }
  /** This task is never to be delivered again: settled, as far as the batch goes. */
  term(): void {
    this.#batch.settle(this.#index);
  }
}
