import assert from "node:assert/strict";
import { builtinHandlers } from "../../../actors/handlers/mod.ts";

Deno.test("builtin handlers - one per design type, and only compute runs in the pool", () => {
  assert.deepEqual(builtinHandlers.map((d) => d.type).sort(), [
    "backup",
    "cleanup",
    "compute",
    "echo",
    "heartbeat",
    "http-check",
    "rotate-logs",
    "sleep",
    "system-check",
  ]);
  assert.deepEqual(builtinHandlers.filter((d) => d.pool).map((d) => d.type), ["compute"]);
});
