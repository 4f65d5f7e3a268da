/**
 * The leader's filter of ids with a stored result (actors/scheduler/stored_ids.ts):
 * "maybe" until the listing completes, exact "no" after it for every id listed
 * or added, including ids added while the listing is under way.
 */

import assert from "node:assert/strict";
import { MemoryBroker, MemoryTransport, subjects } from "../../../src/internal_mod.ts";
import { StoredIds } from "../../../actors/scheduler/stored_ids.ts";
import { streamSpecs } from "../../../actors/streams.ts";

const enc = new TextEncoder();

async function setup() {
  const subj = subjects("");
  const transport = new MemoryTransport(new MemoryBroker(), "test");
  await transport.ensureStreams(streamSpecs(subj, 1));
  for (let i = 0; i < 500; i++) {
    await transport.publishDurable(subj.outcome(`old-${i}`), enc.encode("{}"));
  }
  return { subj, transport, ids: new StoredIds() };
}

Deno.test("stored ids - every id is a maybe until the listing completes, then only stored ones", async () => {
  const { subj, transport, ids } = await setup();
  assert.equal(ids.mayHave("never"), true);
  const building = ids.rebuild(transport, subj.resultsStream, subj.outcome(""));
  assert.equal(ids.complete, false);
  assert.equal(ids.mayHave("never"), true);
  // Stored while the listing runs: kept in the new filter.
  ids.add("during");
  assert.equal(await building, 500);
  assert.equal(ids.complete, true);
  for (let i = 0; i < 500; i++) assert.equal(ids.mayHave(`old-${i}`), true);
  assert.equal(ids.mayHave("during"), true);
  let maybes = 0;
  for (let i = 0; i < 1_000; i++) if (ids.mayHave(`new-${i}`)) maybes++;
  assert.ok(maybes < 50, `${maybes} of 1,000 never-stored ids were maybes`);
  ids.add("later");
  assert.equal(ids.mayHave("later"), true);
});

Deno.test("stored ids - a reset (the term ended) or a failed listing trusts nothing", async () => {
  const { subj, transport, ids } = await setup();
  await ids.rebuild(transport, subj.resultsStream, subj.outcome(""));
  assert.equal(ids.mayHave("new-1") && ids.mayHave("new-2") && ids.mayHave("new-3"), false);
  ids.reset();
  assert.equal(ids.complete, false);
  assert.equal(ids.mayHave("new-1"), true);
  await assert.rejects(ids.rebuild(transport, "NO_SUCH_STREAM", subj.outcome("")));
  assert.equal(ids.complete, false);
  assert.equal(ids.mayHave("new-1"), true);
});

Deno.test("stored ids - a rebuild started later makes an earlier one moot", async () => {
  const { subj, transport, ids } = await setup();
  const first = ids.rebuild(transport, subj.resultsStream, subj.outcome(""));
  ids.reset();
  await first;
  assert.equal(ids.complete, false, "the first listing must not mark the reset filter complete");
  await ids.rebuild(transport, subj.resultsStream, subj.outcome(""));
  assert.equal(ids.complete, true);
});

Deno.test("stored ids - ids stored after the term began and before its listing, or while a failed one ran, are kept", async () => {
  const { subj, transport, ids } = await setup();
  ids.reset(); // the term begins
  ids.add("before-listing"); // stored during the sync, before the term dispatches
  await assert.rejects(ids.rebuild(transport, "NO_SUCH_STREAM", subj.outcome("")));
  ids.add("after-a-failed-listing");
  await ids.rebuild(transport, subj.resultsStream, subj.outcome(""));
  assert.equal(ids.complete, true);
  assert.equal(ids.mayHave("before-listing"), true);
  assert.equal(ids.mayHave("after-a-failed-listing"), true);
  assert.equal(ids.mayHave("old-7"), true);
});
