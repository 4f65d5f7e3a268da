/**
 * Which task ids have a stored result, approximately: the leader's way to let
 * a new submission through without a look-up in the results stream when its
 * id never finished, which is nearly every submission.
 *
 * At each takeover the leader lists the subjects of the results stream into a
 * fresh {@link IdFilter} (in the background; a stream of a million results
 * takes a few seconds), and adds every id whose result it stores itself.
 * Until the listing is complete every submission is looked up, as it would be
 * without the filter. A "maybe" is always looked up; only a "no" skips the
 * look-up, and a "no" is exact for every id listed or added.
 *
 * What the listing can miss is a result another scheduler stores after it
 * (a deposed leader finishing a store in flight). That task's submission was
 * still in the tasks stream at the takeover, so it reaches this leader as a
 * redelivery, and redeliveries are always looked up (submissions.ts).
 *
 * @module
 */

import { IdFilter, type Transport } from "../../src/internal_mod.ts";

/** The ids with a stored result, for one scheduler; rebuilt at each takeover. */
export class StoredIds {
  #filter = new IdFilter();
  #complete = false;
  #generation = 0;
  /**
   * Ids added since the term began and until its listing completes, for the
   * filter the listing builds (the listing starts only when the term
   * dispatches, and a failed one is tried again).
   */
  #during: string[] | null = null;

  /** Is the listing of the current term complete (a "no" can be trusted)? */
  get complete(): boolean {
    return this.#complete;
  }

  /** A result for `id` is being stored. */
  add(id: string): void {
    this.#filter.add(id);
    this.#during?.push(id);
  }

  /** False only when `id` certainly has no stored result. */
  mayHave(id: string): boolean {
    return !this.#complete || this.#filter.mightHave(id);
  }

  /**
   * Start over for a new term: list every stored result's id. Resolves with
   * how many were listed, or rejects (then "maybe" stays the answer for every
   * id until a later rebuild). A rebuild started later makes this one moot.
   */
  async rebuild(transport: Transport, stream: string, prefix: string): Promise<number> {
    const generation = ++this.#generation;
    this.#complete = false;
    const during = this.#during ??= [];
    const info = await transport.streamInfo(stream);
    if (generation !== this.#generation) return 0;
    // Room for twice what is stored at ~1% false positives; a full filter grows a layer.
    const filter = new IdFilter(Math.max(65_536, info.messages * 2));
    for (const id of during) filter.add(id);
    this.#filter = filter;
    const listed = await transport.forEachSubject(
      stream,
      `${prefix}>`,
      (subject) => filter.add(subject.slice(prefix.length)),
    );
    if (generation === this.#generation) {
      this.#complete = true;
      this.#during = null; // from now on an id added goes into the complete filter alone
    }
    return listed;
  }

  /**
   * A term begins or ended: nothing is trusted until the next rebuild
   * completes, and every id added from now on goes into it.
   */
  reset(): void {
    this.#generation++;
    this.#complete = false;
    this.#filter = new IdFilter();
    this.#during = [];
  }
}
