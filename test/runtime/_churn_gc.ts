// Run by churn_map_test.ts with --v8-flags=--expose-gc,--trace-gc-nvp: churn a map of 20
// live entries (insert one, delete one) after a full collection made its table old, and
// print the bytes young collections promoted.
import { ChurnMap } from "../../src/runtime/churn_map.ts";

const gc = (globalThis as unknown as { gc: () => void }).gc;
const kind = Deno.args[0];
const m = kind === "map" ? new Map<number, unknown>() : new ChurnMap<number, unknown>();
for (let i = 0; i < 20; i++) m.set(i, { payload: new Array(64).fill(i) });
gc();
gc();
for (let i = 20; i < 200_000; i++) {
  m.set(i, { payload: new Array(64).fill(i) });
  m.delete(i - 20);
}
console.log(`done ${m.size}`);
