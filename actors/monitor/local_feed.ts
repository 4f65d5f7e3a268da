/**
 * Task deltas handed from this process's leading scheduler to its monitor in
 * process. They still go out on `monitor.task.<id>` for everyone else, but the
 * monitor beside the leader does not read its own process's messages back
 * through nats-server: that round trip (the server's delivery, the client's
 * parse, `JSON.parse`, a mailbox message per task) cost about as much as the
 * rest of an echo task's handling in one process.
 *
 * The leader says when it starts and stops leading ({@link setLeading}), and
 * hands over each window of deltas as it publishes it ({@link deliver}). The
 * monitor follows `monitor.task.*` over NATS only while no scheduler here
 * leads, so it folds each transition once. It follows the leader's words in
 * order, and checks {@link leading} once a second as well: a flooded mailbox
 * drops its oldest messages, and a word among them.
 *
 * - *Leading starts*: the leader says so before its first delta. The monitor
 *   then stops following; task deltas the old subscription still queued in its
 *   mailbox are dropped (they come from an earlier, deposed leader).
 * - *Leading ends*: the leader hands over its last window, then says so. The
 *   monitor follows again; it subscribes on the connection the leader
 *   published on, after those publishes, so the server does not send it that
 *   window again.
 *
 * @module
 */

/** One window of task deltas: each task's id and the message published for it. */
export type TaskBatch = readonly (readonly [id: string, body: Record<string, unknown>])[];

/** What the monitor hears from the leader in this process. */
export interface LocalTaskListener {
  /** The scheduler here started (`true`) or stopped leading. */
  leading(on: boolean): void;
  batch(batch: TaskBatch): void;
}

/** The in-process path for task deltas from this process's scheduler to its monitor. */
export class LocalTaskFeed {
  #leading = false;
  #listener: LocalTaskListener | null = null;

  /** Whether the scheduler in this process leads (and hands its task deltas over here). */
  get leading(): boolean {
    return this.#leading;
  }

  /** The scheduler here leads (`true`, before its first delta) or no longer does (after its last). */
  setLeading(on: boolean): void {
    if (on === this.#leading) return;
    this.#leading = on;
    this.#listener?.leading(on);
  }

  /** A window of task deltas, as published. Ignored when not leading. */
  deliver(batch: TaskBatch): void {
    if (this.#leading && batch.length > 0) this.#listener?.batch(batch);
  }

  /** The monitor listens (one at a time: a restarted monitor replaces the last); returns a stop. */
  listen(listener: LocalTaskListener): () => void {
    this.#listener = listener;
    return () => {
      if (this.#listener === listener) this.#listener = null;
    };
  }
}
