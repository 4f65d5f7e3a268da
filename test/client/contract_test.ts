/**
 * The client's own copies of the contract stay in step with it: its wire
 * error codes are those of `docs/PROTOCOL.md` section 4.4 (and of
 * `src/errors.ts`), and the protocol's result and progress types fit the
 * client's. Also the declaration joiner of the Node.js build refuses what
 * would make a wrong `mod.d.ts`.
 */

import assert from "node:assert/strict";
import { ErrorCodes } from "../../src/errors.ts";
import type {
  ProgressEvent as WireProgress,
  TaskResult as WireResult,
} from "../../src/protocol/task.ts";
import {
  CLIENT_ERROR_CODES,
  type ProgressEvent,
  SchedulerClientError,
  TaskRejectedError,
  type TaskResult,
  WIRE_ERROR_CODES,
} from "../../src/client/mod.ts";
import { joinDeclarations } from "../../src/client/build.ts";

Deno.test("client contract - the wire error codes are PROTOCOL.md's section 4.4 and src/errors.ts's", async () => {
  const doc = await Deno.readTextFile(new URL("../../docs/PROTOCOL.md", import.meta.url));
  const section = doc.slice(doc.indexOf("### 4.4 Error codes"), doc.indexOf("### 4.5"));
  const documented = [...section.matchAll(/^\| `([A-Z_]+)` /gm)].map((m) => m[1]);
  assert.ok(documented.length >= 10, `codes found in 4.4: ${documented}`);
  assert.deepEqual([...WIRE_ERROR_CODES].sort(), [...new Set(documented)].sort());
  for (const code of WIRE_ERROR_CODES) {
    assert.ok((ErrorCodes as readonly string[]).includes(code), `${code} in src/errors.ts`);
  }
  for (const code of CLIENT_ERROR_CODES) {
    assert.ok(!(WIRE_ERROR_CODES as readonly string[]).includes(code), `${code} is the client's`);
  }
});

Deno.test("client contract - the protocol's result and progress fit the client's types", () => {
  const wire: WireResult = {
    id: "a1",
    type: "echo",
    state: "failed",
    attempts: 1,
    durationMs: 3,
    finishedAt: new Date().toISOString(),
    error: { code: "TIMEOUT", message: "too slow" },
    history: [{
      attempt: 1,
      worker: "n1/w0",
      startedAt: 1,
      endedAt: 2,
      outcome: "timeout",
      error: { code: "TIMEOUT", message: "too slow" },
    }],
  };
  // These assignments are the test: they fail type checking when the shapes part.
  const mine: TaskResult = wire;
  const progress: ProgressEvent = {} as WireProgress;
  assert.equal(mine.id, "a1");
  assert.equal(typeof progress, "object");
  const rejected = new TaskRejectedError({
    ...mine,
    state: "rejected",
    error: { code: "UNKNOWN_TYPE", message: "no worker runs task type" },
  });
  assert.ok(rejected instanceof SchedulerClientError);
  assert.equal(rejected.code, "UNKNOWN_TYPE");
  assert.deepEqual(JSON.parse(JSON.stringify(rejected)), {
    code: "UNKNOWN_TYPE",
    message: "task a1 rejected: no worker runs task type",
  });
});

Deno.test("client contract - the declaration joiner refuses foreign imports and names mod.ts does not export", () => {
  const mod = `export { connect } from "./client.ts";\nexport type { A } from "./types.ts";\n`;
  const types = { name: "types.ts", text: "export interface A {\n  x: number;\n}\n" };
  const client = {
    name: "client.ts",
    text: `import type { A } from "./types.ts";\nexport declare function connect(a: A): void;\n`,
  };
  const joined = joinDeclarations([types, client], mod);
  assert.doesNotMatch(joined, /^import/m);
  assert.match(joined, /export interface A/);
  assert.match(joined, /export declare function connect/);
  assert.throws(
    () =>
      joinDeclarations([{
        name: "client.ts",
        text: `import type { X } from "./task.ts";\nexport declare function connect(x: X): void;\n`,
      }], mod),
    /outside the public modules/,
  );
  assert.throws(
    () => joinDeclarations([{ name: "types.ts", text: "export type Hidden = 1;\n" }], mod),
    /Hidden, which mod.ts does not export/,
  );
  assert.throws(
    () =>
      joinDeclarations([{
        name: "types.ts",
        text: `import type { N } from "@nats-io/transport-node";\nexport type A = N;\n`,
      }], mod),
    /outside the public modules/,
  );
});
