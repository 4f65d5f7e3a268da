/**
 * The task types every worker runs out of the box: the "Built-in task types"
 * of the design. Each module exports a `definition` and its payload and
 * result types.
 *
 * @module
 */

import type { HandlerDefinition } from "../../src/mod.ts";
import { definition as backup } from "./backup.ts";
import { definition as cleanup } from "./cleanup.ts";
import { definition as compute } from "./compute.ts";
import { definition as echo } from "./echo.ts";
import { definition as heartbeat } from "./heartbeat.ts";
import { definition as httpCheck } from "./http_check.ts";
import { definition as rotateLogs } from "./rotate_logs.ts";
import { definition as sleep } from "./sleep.ts";
import { definition as systemCheck } from "./system_check.ts";

/** The built-in handlers, one per task type. */
export const builtinHandlers: HandlerDefinition[] = [
  echo,
  sleep,
  compute,
  systemCheck,
  backup,
  cleanup,
  httpCheck,
  rotateLogs,
  heartbeat,
];

export type { BackupPayload, BackupResult } from "./backup.ts";
export type { CleanupPayload, CleanupResult } from "./cleanup.ts";
export type { ComputePayload, ComputeResult } from "./compute.ts";
export type { EchoPayload, EchoResult } from "./echo.ts";
export type { HeartbeatNode, HeartbeatPayload, HeartbeatResult } from "./heartbeat.ts";
export type { HttpCheckPayload, HttpCheckResult } from "./http_check.ts";
export type { RotateLogsPayload, RotateLogsResult } from "./rotate_logs.ts";
export type { SleepPayload, SleepResult } from "./sleep.ts";
export type { DiskUse, MemoryUse, SystemCheckPayload, SystemCheckResult } from "./system_check.ts";
