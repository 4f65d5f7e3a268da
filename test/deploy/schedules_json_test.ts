import assert from "node:assert/strict";
import { isAbsolute } from "node:path";
import { parseBackupPayload } from "../../actors/handlers/backup.ts";
import { parseCleanupPayload } from "../../actors/handlers/cleanup.ts";
import { parseHeartbeatPayload } from "../../actors/handlers/heartbeat.ts";
import { parseHttpCheckPayload } from "../../actors/handlers/http_check.ts";
import { builtinHandlers } from "../../actors/handlers/mod.ts";
import { parseRotateLogsPayload } from "../../actors/handlers/rotate_logs.ts";
import { parseSystemCheckPayload } from "../../actors/handlers/system_check.ts";
import { decodeSchedule, type ScheduleSpec } from "../../src/schedule/spec.ts";

const FILE = new URL("../../deploy/schedules.json", import.meta.url);

/** The payload checker of each job type the plan uses: the handlers' own. */
const PARSERS: Record<string, (payload: unknown) => unknown> = {
  "system-check": parseSystemCheckPayload,
  backup: parseBackupPayload,
  cleanup: parseCleanupPayload,
  "http-check": parseHttpCheckPayload,
  "rotate-logs": parseRotateLogsPayload,
  heartbeat: parseHeartbeatPayload,
};

async function load(): Promise<{ raw: unknown[]; specs: ScheduleSpec[] }> {
  const raw = JSON.parse(await Deno.readTextFile(FILE));
  assert.ok(Array.isArray(raw), "deploy/schedules.json must be a JSON array");
  const specs = raw.map((entry, i) => {
    try {
      return decodeSchedule(entry);
    } catch (err) {
      assert.fail(`entry ${i} (${JSON.stringify(entry?.name)}): ${(err as Error).message}`);
    }
  });
  return { raw, specs };
}

Deno.test("deploy/schedules.json - every entry passes decodeSchedule", async () => {
  const { raw, specs } = await load();
  assert.equal(specs.length, raw.length);
  assert.ok(specs.length > 0);
});

Deno.test("deploy/schedules.json - names are unique", async () => {
  const { specs } = await load();
  const names = specs.map((s) => s.name);
  assert.equal(new Set(names).size, names.length, `duplicate names in ${names.join(", ")}`);
});

Deno.test("deploy/schedules.json - the job runner's six jobs are there, as planned", async () => {
  const { specs } = await load();
  const types = new Set(specs.map((s) => s.task.type));
  assert.deepEqual([...types].sort(), Object.keys(PARSERS).sort());
  const byName = new Map(specs.map((s) => [s.name, s]));
  const timing = (name: string) => byName.get(name)?.timing;
  assert.deepEqual(timing("system-check"), { kind: "every", everyMs: 15 * 60_000, offsetMs: 0 });
  assert.deepEqual(timing("backup"), { kind: "daily", at: { hour: 2, minute: 0, second: 0 } });
  assert.deepEqual(timing("cleanup"), {
    kind: "weekly",
    days: ["sun"],
    at: { hour: 3, minute: 0, second: 0 },
  });
  assert.deepEqual(timing("website-check"), { kind: "every", everyMs: 3_600_000, offsetMs: 0 });
  assert.deepEqual(timing("rotate-logs"), { kind: "daily", at: { hour: 0, minute: 0, second: 0 } });
  assert.deepEqual(timing("heartbeat"), { kind: "every", everyMs: 3_600_000, offsetMs: 0 });
  assert.equal(byName.get("website-check")?.task.type, "http-check");
  assert.equal((byName.get("cleanup")?.task.payload as { maxAgeDays: number }).maxAgeDays, 7);
  assert.equal(byName.get("backup")?.catchup, "one");
  assert.equal(byName.get("backup")?.catchupWindowMs, 6 * 3_600_000);
});

Deno.test("deploy/schedules.json - payloads pass their handler's own checks", async () => {
  const { specs } = await load();
  const builtin = new Set(builtinHandlers.map((d) => d.type));
  for (const s of specs) {
    assert.ok(builtin.has(s.task.type), `${s.name}: ${s.task.type} is not a built-in type`);
    const parse = PARSERS[s.task.type];
    assert.ok(parse, `${s.name}: no payload check for ${s.task.type}`);
    try {
      parse(s.task.payload);
    } catch (err) {
      assert.fail(`${s.name}: ${(err as Error).message}`);
    }
  }
});

Deno.test("deploy/schedules.json - file paths are absolute; the website check stays on loopback", async () => {
  const { specs } = await load();
  for (const s of specs) {
    const p = s.task.payload as Record<string, unknown>;
    for (const key of ["source", "target", "dir", "file", "path"]) {
      if (p[key] !== undefined) {
        assert.ok(isAbsolute(p[key] as string), `${s.name}: payload.${key} is not absolute`);
      }
    }
    if (s.task.type === "http-check") {
      assert.equal(new URL(p.url as string).hostname, "127.0.0.1");
    }
  }
});

Deno.test("deploy/schedules.json - an http-check's own timeout fits inside its task timeout", async () => {
  const { specs } = await load();
  for (const s of specs.filter((s) => s.task.type === "http-check")) {
    const { timeoutMs } = parseHttpCheckPayload(s.task.payload);
    assert.ok(
      s.task.timeoutMs === undefined || timeoutMs < s.task.timeoutMs,
      `${s.name}: payload.timeoutMs ${timeoutMs} >= task timeoutMs ${s.task.timeoutMs}`,
    );
  }
});
