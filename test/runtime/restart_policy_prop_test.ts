import assert from "node:assert/strict";
import fc from "fast-check";
import {
  backoffDelay,
  decide,
  RestartHistory,
  type RestartType,
  type Strategy,
  type SupervisionPolicy,
} from "../../src/runtime/restart_policy.ts";
import type { ChildSpec } from "../../src/runtime/supervisor.ts";
import { counters, Harness, probe, type ProbeMsg } from "./_harness.ts";

const strategy = fc.constantFrom<Strategy>("one-for-one", "one-for-all", "rest-for-one");
const restartType = fc.constantFrom<RestartType>("permanent", "transient", "temporary");
const policy = fc.record({
  strategy,
  maxRestarts: fc.integer({ min: 0, max: 5 }),
  periodMs: fc.integer({ min: 1, max: 5_000 }),
  backoff: fc.record({
    initialMs: fc.integer({ min: 0, max: 100 }),
    maxMs: fc.integer({ min: 100, max: 2_000 }),
    factor: fc.constantFrom(1, 1.5, 2, 3),
    jitter: fc.constant(0),
  }),
});

/** The rules written out plainly, as a reader of OTP's docs would. */
function model(
  p: SupervisionPolicy,
  types: RestartType[],
  failures: { child: number; at: number; abnormal: boolean }[],
) {
  const restartsAt: number[] = [];
  const out: string[] = [];
  for (const f of failures) {
    const t = types[f.child];
    if (t === "temporary" || (t === "transient" && !f.abnormal)) {
      out.push(`remove ${f.child}`);
      continue;
    }
    const recent = restartsAt.filter((x) => x > f.at - p.periodMs);
    if (recent.length >= p.maxRestarts) {
      out.push("escalate");
      break;
    }
    restartsAt.push(f.at);
    const k = recent.length + 1;
    const delay = Math.min(p.backoff.maxMs, p.backoff.initialMs * p.backoff.factor ** (k - 1));
    const all = types.map((_, i) => i);
    const set = p.strategy === "one-for-one"
      ? [f.child]
      : p.strategy === "one-for-all"
      ? all
      : all.filter((i) => i >= f.child);
    const restart = set.filter((i) => i === f.child || types[i] !== "temporary");
    const remove = set.filter((i) => i !== f.child && types[i] === "temporary");
    out.push(`restart [${restart}] remove [${remove}] after ${delay}`);
  }
  return out;
}

Deno.test("restart policy - any sequence of exits gets exactly the decisions the strategy and intensity say", () => {
  fc.assert(
    fc.property(
      policy,
      fc.array(restartType, { minLength: 1, maxLength: 5 }),
      fc.array(
        fc.record({
          child: fc.nat(),
          gap: fc.integer({ min: 0, max: 3_000 }),
          abnormal: fc.boolean(),
        }),
        { maxLength: 30 },
      ),
      (p, types, raw) => {
        let at = 0;
        const failures = raw.map((f) => ({
          child: f.child % types.length,
          at: at += f.gap,
          abnormal: f.abnormal,
        }));
        const history = new RestartHistory();
        const got: string[] = [];
        for (const f of failures) {
          const d = decide(
            p,
            history,
            types.map((restart) => ({ restart })),
            f.child,
            f.abnormal,
            f.at,
          );
          if (d.kind === "escalate") {
            got.push("escalate");
            break;
          }
          got.push(
            d.kind === "remove"
              ? `remove ${d.child}`
              : `restart [${d.restart}] remove [${d.remove}] after ${d.delayMs}`,
          );
        }
        assert.deepEqual(got, model(p, types, failures));
      },
    ),
    { numRuns: 2_000 },
  );
});

Deno.test("restart policy - backoff with jitter stays within its bounds", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 1_000 }),
      fc.integer({ min: 1_000, max: 10_000 }),
      fc.constantFrom(1, 2, 3),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.integer({ min: 1, max: 20 }),
      fc.double({ min: 0, max: 0.999, noNaN: true }),
      (initialMs, maxMs, factor, jitter, k, r) => {
        const base = Math.min(maxMs, initialMs * factor ** (k - 1));
        const d = backoffDelay({ initialMs, maxMs, factor, jitter }, k, () => r);
        assert.ok(
          d >= base * (1 - jitter) - 1e-9 && d <= Math.min(maxMs, base * (1 + jitter)) + 1e-9,
          `${d} vs ${base}`,
        );
      },
    ),
  );
});

Deno.test("supervisor - running actors restart and escalate exactly as the model says, no more, no fewer", async () => {
  await fc.assert(
    fc.asyncProperty(
      strategy,
      fc.integer({ min: 0, max: 4 }),
      fc.integer({ min: 100, max: 2_000 }),
      fc.array(
        fc.record({
          child: fc.integer({ min: 0, max: 2 }),
          gap: fc.integer({ min: 0, max: 1_500 }),
        }),
        {
          minLength: 1,
          maxLength: 12,
        },
      ),
      async (strat, maxRestarts, periodMs, failures) => {
        const p: SupervisionPolicy = {
          strategy: strat,
          maxRestarts,
          periodMs,
          backoff: { initialMs: 10, maxMs: 80, factor: 2, jitter: 0 },
        };
        const h = new Harness();
        const c = counters();
        const ids = ["a", "b", "c"];
        const children: ChildSpec[] = ids.map((id) => ({
          kind: "actor",
          id,
          behavior: probe(id, c),
        }));
        const root = await h.start({ kind: "supervisor", id: "root", policy: p, children });
        const expectedBoots = [1, 1, 1];
        const seen: { child: number; at: number; abnormal: boolean }[] = [];
        for (const f of failures) {
          h.clock.advance(f.gap);
          seen.push({ child: f.child, at: h.clock.now(), abnormal: true });
          const expected = model(p, ["permanent", "permanent", "permanent"], seen).at(-1)!;
          const outcome = h.next((e) =>
            e.type === "child.restarting" || e.type === "supervisor.escalated"
          );
          root.ref<ProbeMsg>(ids[f.child]).send({ type: "boom" });
          const ev = await outcome;
          if (expected === "escalate") {
            assert.equal(ev.type, "supervisor.escalated");
            await h.system.escalated;
            break;
          }
          assert.equal(ev.type, "child.restarting");
          if (ev.type !== "child.restarting") return;
          assert.equal(
            `restart [${ev.children.map((x) => ids.indexOf(x))}] remove [] after ${ev.delayMs}`,
            expected,
          );
          const last = h.next((e) => e.type === "child.started" && e.child === ev.children.at(-1));
          h.clock.advance(ev.delayMs);
          await last;
          for (const id of ev.children) expectedBoots[ids.indexOf(id)]++;
        }
        assert.deepEqual(ids.map((id) => c.boots.get(id)), expectedBoots);
        assert.equal(
          h.escalations.length,
          model(p, ["permanent", "permanent", "permanent"], seen).includes("escalate") ? 1 : 0,
        );
      },
    ),
    { numRuns: 300 },
  );
});
