/**
 * `deno task bench`: every benchmark, one after the other. Each prints its
 * own figures; none fails on time.
 *
 * @module
 */

import { run as heap } from "./heap_bench.ts";
import { run as dispatch } from "./dispatch_bench.ts";
import { run as core } from "./core_bench.ts";
import { run as e2e } from "./e2e_bench.ts";
import { run as schedules } from "./schedules_bench.ts";
import { run as monitor } from "./monitor_bench.ts";
import { run as burst } from "./burst_bench.ts";
import { run as backlog } from "./backlog_bench.ts";

for (
  const [name, fn] of [
    ["heap", heap],
    ["dispatch", dispatch],
    ["core", core],
    ["e2e", e2e],
    ["schedules", schedules],
    ["monitor", monitor],
    ["burst", () => burst({ tasks: 30_000, bursts: 2 })],
    ["backlog", () => backlog()],
  ] as const
) {
  console.log(`\n=== ${name} ===`);
  await fn();
}
