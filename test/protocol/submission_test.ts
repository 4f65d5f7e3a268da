import assert from "node:assert/strict";
import fc from "fast-check";
import { type ErrorCode, ErrorCodes } from "../../src/errors.ts";
import {
  decodeBatch,
  type Decoded,
  decodeSubmission,
  DEFAULT_LIMITS,
  isBatchBody,
  MAX_BATCH,
  type SubmissionDraft,
  type SubmissionLimits,
} from "../../src/protocol/submission.ts";
import { lastToken, subjects } from "../../src/protocol/subjects.ts";

/** The id rule written out again: one NATS subject token, 1 to 128 characters. */
const ID_RULE = /^[A-Za-z0-9_-][A-Za-z0-9_:-]{0,127}$/;
const CAPABILITY_RULE = /^[A-Za-z0-9_:-]{1,64}$/;
const NOW = Date.UTC(2026, 0, 1);
const enc = new TextEncoder();

function bytes(body: unknown): Uint8Array {
  return enc.encode(typeof body === "string" ? body : JSON.stringify(body));
}

function decode(
  body: unknown,
  headerId?: string,
  type = "echo",
  limits: SubmissionLimits = DEFAULT_LIMITS,
): Decoded {
  return decodeSubmission(type, bytes(body), headerId, limits, NOW);
}

function ok(body: unknown, headerId?: string): SubmissionDraft {
  const d = decode(body, headerId);
  if (!d.ok) assert.fail(`expected ok, got ${d.error.code}: ${d.error.message}`);
  return d.draft;
}

/** Assert a rejection with `code` and exactly (or matching) `message`; returns it. */
function rejected(
  d: Decoded,
  code: ErrorCode,
  message: string | RegExp,
): Extract<Decoded, { ok: false }> {
  if (d.ok) assert.fail(`expected ${code}, got ok: ${JSON.stringify(d.draft)}`);
  assert.equal(d.error.code, code);
  if (typeof message === "string") assert.equal(d.error.message, message);
  else assert.match(d.error.message, message);
  assert.match(d.id, ID_RULE);
  return d;
}

function invalid(body: unknown, message: string | RegExp, headerId?: string) {
  return rejected(decode(body, headerId), "INVALID_ARGUMENT", message);
}

// ---------------------------------------------------------------- valid bodies

Deno.test("submission - a full body with every field decodes to a draft", () => {
  const draft = ok({
    id: "job-42:a",
    payload: { n: [1, 2, 3], nested: { ok: true } },
    priority: 9,
    deadline: "2026-11-22T10:00:00Z",
    timeoutMs: 5_000,
    maxAttempts: 7,
    requires: ["gpu", "cpu", "gpu"],
    dependsOn: ["other-1", "other-2", "other-1"],
  }, "header-id");
  assert.deepEqual(draft, {
    id: "job-42:a",
    type: "echo",
    payload: { n: [1, 2, 3], nested: { ok: true } },
    priority: 9,
    deadline: Date.UTC(2026, 10, 22, 10),
    timeoutMs: 5_000,
    maxAttempts: 7,
    requires: ["cpu", "gpu"],
    dependsOn: ["other-1", "other-2"],
    idSource: "body",
  });
});

Deno.test("submission - omitted fields take the defaults", () => {
  const draft = ok({ payload: null });
  assert.equal(draft.payload, null);
  assert.equal(draft.priority, DEFAULT_LIMITS.defaultPriority);
  assert.equal(draft.timeoutMs, DEFAULT_LIMITS.defaultTimeoutMs);
  assert.equal(draft.maxAttempts, DEFAULT_LIMITS.defaultMaxAttempts);
  assert.equal(draft.deadline, Infinity);
  assert.deepEqual(draft.requires, []);
  assert.deepEqual(draft.dependsOn, []);
  assert.equal(draft.type, "echo");
});

Deno.test("submission - the limits' defaults are used, not constants", () => {
  const limits = {
    ...DEFAULT_LIMITS,
    defaultPriority: 2,
    defaultTimeoutMs: 7,
    defaultMaxAttempts: 1,
  };
  const d = decode({ payload: {} }, undefined, "echo", limits);
  assert.ok(d.ok);
  assert.equal(d.draft.priority, 2);
  assert.equal(d.draft.timeoutMs, 7);
  assert.equal(d.draft.maxAttempts, 1);
});

Deno.test("submission - a null deadline means none", () => {
  assert.equal(ok({ payload: {}, deadline: null }).deadline, Infinity);
});

Deno.test("submission - deadlines with offsets, fractions and no seconds", () => {
  assert.equal(
    ok({ payload: {}, deadline: "2026-11-22T12:00:00+02:00" }).deadline,
    Date.UTC(2026, 10, 22, 10),
  );
  assert.equal(
    ok({ payload: {}, deadline: "2026-11-22T10:00Z" }).deadline,
    Date.UTC(2026, 10, 22, 10),
  );
  assert.equal(
    ok({ payload: {}, deadline: "2026-11-22T10:00:00.250Z" }).deadline,
    Date.UTC(2026, 10, 22, 10, 0, 0, 250),
  );
  assert.equal(
    ok({ payload: {}, deadline: "2028-02-29T00:00:00Z" }).deadline,
    Date.UTC(2028, 1, 29),
  );
});

Deno.test("submission - the bounds of priority, timeoutMs and maxAttempts are inclusive", () => {
  assert.equal(ok({ payload: {}, priority: 0 }).priority, 0);
  assert.equal(ok({ payload: {}, priority: 9 }).priority, 9);
  assert.equal(ok({ payload: {}, timeoutMs: 1 }).timeoutMs, 1);
  assert.equal(
    ok({ payload: {}, timeoutMs: DEFAULT_LIMITS.maxTimeoutMs }).timeoutMs,
    DEFAULT_LIMITS.maxTimeoutMs,
  );
  assert.equal(ok({ payload: {}, maxAttempts: 1 }).maxAttempts, 1);
  assert.equal(ok({ payload: {}, maxAttempts: 100 }).maxAttempts, 100);
  assert.equal(
    ok({ payload: {}, requires: Array.from({ length: 32 }, (_, i) => `c${i}`) }).requires.length,
    32,
  );
  assert.equal(
    ok({ payload: {}, dependsOn: Array.from({ length: 100 }, (_, i) => `d${i}`) }).dependsOn.length,
    100,
  );
});

// ------------------------------------------------------------------------ ids

Deno.test("submission - the id comes from the body first", () => {
  const draft = ok({ id: "from-body", payload: {} }, "from-header");
  assert.equal(draft.id, "from-body");
  assert.equal(draft.idSource, "body");
});

Deno.test("submission - without a body id, the Nats-Msg-Id header names the task", () => {
  const draft = ok({ payload: {} }, "from-header");
  assert.equal(draft.id, "from-header");
  assert.equal(draft.idSource, "header");
});

Deno.test("submission - without either, an id is generated, unique and subject-safe", () => {
  const a = ok({ payload: {} });
  const b = ok({ payload: {} }, "not a valid id");
  for (const d of [a, b]) {
    assert.equal(d.idSource, "generated");
    assert.match(d.id, ID_RULE);
  }
  assert.notEqual(a.id, b.id);
});

Deno.test("submission - ids at the edges of the rule", () => {
  assert.equal(ok({ id: "a".repeat(128), payload: {} }).id, "a".repeat(128));
  assert.equal(ok({ id: "_x:y-z", payload: {} }).id, "_x:y-z");
  assert.equal(ok({ id: "7", payload: {} }).id, "7");
});

Deno.test("submission - an invalid body id is rejected, answered on the header id when valid", () => {
  const rule = `id must be 1 to 128 letters, digits, "_", "-" or ":" (not starting with ":")`;
  for (const id of ["a.b", "a b", "a".repeat(129), ":x", "", "a*", "a>", 42, null]) {
    const r = invalid({ id, payload: {} }, new RegExp(`^${escape(rule)}: got `), "hdr-1");
    assert.equal(r.id, "hdr-1", `rejection of ${JSON.stringify(id)} answered on the header id`);
  }
  invalid({ id: "a.b", payload: {} }, `${rule}: got "a.b"`);
  invalid({ id: "a b", payload: {} }, `${rule}: got "a b"`);
  // Without a valid header id, the rejection still carries a usable id.
  const r = invalid({ id: "a.b", payload: {} }, /^id must be/, "bad header");
  assert.notEqual(r.id, "bad header");
  assert.match(r.id, ID_RULE);
});

Deno.test("submission - a rejection after a valid body id is answered on the body id", () => {
  const r = invalid({ id: "mine", payload: {}, priority: 11 }, /^priority/, "hdr");
  assert.equal(r.id, "mine");
  assert.equal(r.type, "echo");
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// ------------------------------------------------------------ malformed bodies

Deno.test("submission - malformed JSON is INVALID_ARGUMENT", () => {
  for (const body of ["{", "{payload: 1}", "", "\u0000", '{"payload": 1,}']) {
    invalid(body, /^body is not valid JSON: /);
  }
  const d = decodeSubmission("echo", new Uint8Array([0xff, 0xfe, 0x00]), "h1", DEFAULT_LIMITS, NOW);
  assert.equal(rejected(d, "INVALID_ARGUMENT", /^body is not valid JSON/).id, "h1");
});

Deno.test("submission - a body that is not an object names what it is", () => {
  invalid("[]", "body must be a JSON object: got an array");
  invalid("null", "body must be a JSON object: got null");
  invalid("42", "body must be a JSON object: got number");
  invalid('"text"', "body must be a JSON object: got string");
  invalid("true", "body must be a JSON object: got boolean");
});

Deno.test("submission - payload is required", () => {
  invalid({}, "payload is required (use {} when the task needs none)");
  invalid({ priority: 1 }, "payload is required (use {} when the task needs none)");
});

Deno.test("submission - an unknown field is named", () => {
  invalid(
    { payload: {}, color: "red" },
    'unknown field "color": allowed are id, payload, priority, deadline, timeoutMs, maxAttempts, requires, dependsOn',
  );
  invalid('{"payload": {}, "__proto__": {"priority": 1}}', /^unknown field "__proto__"/);
  invalid({ payload: {}, Priority: 1 }, /^unknown field "Priority"/);
});

// ------------------------------------------------------------ numeric fields

Deno.test("submission - priority must be an integer from 0 to 9", () => {
  const cases: [unknown, string][] = [
    [1.5, "1.5"],
    [-1, "-1"],
    [10, "10"],
    ["5", '"5"'],
    [null, "null"],
    [true, "true"],
    [[5], "[5]"],
    [{}, "{}"],
  ];
  for (const [value, shown] of cases) {
    invalid(
      { payload: {}, priority: value },
      `priority must be an integer from 0 to 9: got ${shown}`,
    );
  }
});

Deno.test("submission - timeoutMs must be an integer from 1 to the limit", () => {
  const max = DEFAULT_LIMITS.maxTimeoutMs;
  for (const value of [0, -1, -5000, max + 1, 1.25]) {
    invalid(
      { payload: {}, timeoutMs: value },
      `timeoutMs must be an integer from 1 to ${max}: got ${value}`,
    );
  }
  invalid(
    { payload: {}, timeoutMs: "100" },
    `timeoutMs must be an integer from 1 to ${max}: got "100"`,
  );
  const small = decode({ payload: {}, timeoutMs: 1001 }, undefined, "echo", {
    ...DEFAULT_LIMITS,
    maxTimeoutMs: 1000,
  });
  rejected(small, "INVALID_ARGUMENT", "timeoutMs must be an integer from 1 to 1000: got 1001");
});

Deno.test("submission - maxAttempts must be an integer from 1 to the limit", () => {
  for (const value of [0, -1, 101, 2.5]) {
    invalid(
      { payload: {}, maxAttempts: value },
      `maxAttempts must be an integer from 1 to 100: got ${value}`,
    );
  }
  invalid(
    { payload: {}, maxAttempts: "3" },
    'maxAttempts must be an integer from 1 to 100: got "3"',
  );
});

// ------------------------------------------------------------------ deadline

Deno.test("submission - deadline must be a string", () => {
  invalid(
    { payload: {}, deadline: 1_780_000_000_000 },
    "deadline must be an ISO 8601 date-time string: got 1780000000000",
  );
  invalid(
    { payload: {}, deadline: true },
    "deadline must be an ISO 8601 date-time string: got true",
  );
  invalid({ payload: {}, deadline: {} }, "deadline must be an ISO 8601 date-time string: got {}");
});

Deno.test("submission - deadline must be a full date-time with a zone", () => {
  const rule =
    'deadline must be an ISO 8601 date-time with a time zone, e.g. "2026-11-22T10:00:00Z"';
  for (
    const value of [
      "tomorrow",
      "2026-11-22T10:00:00", // missing zone
      "2026-11-22",
      "2026-11-22 10:00:00Z",
      "22/11/2026 10:00",
      "",
      "2026-11-22T10:00:00+0200",
    ]
  ) {
    invalid({ payload: {}, deadline: value }, `${rule}: got ${JSON.stringify(value)}`);
  }
});

Deno.test("submission - deadline must be a real date", () => {
  for (
    const value of [
      "2026-13-45T00:00:00Z",
      "2026-02-30T00:00:00Z",
      "2026-02-29T00:00:00Z",
      "2026-04-31T10:00:00Z",
      "2026-00-10T10:00:00Z",
      "2026-01-00T10:00:00Z",
      "2026-01-01T25:00:00Z",
      "2026-01-01T10:60:00Z",
      "2026-01-01T10:00:00+25:00",
    ]
  ) {
    invalid(
      { payload: {}, deadline: value },
      `deadline is not a real date: got ${JSON.stringify(value)}`,
    );
  }
});

// --------------------------------------------------------------------- lists

Deno.test("submission - requires must be an array of capability names", () => {
  invalid(
    { payload: {}, requires: "gpu" },
    'requires must be an array of capability names: got "gpu"',
  );
  invalid(
    { payload: {}, requires: { gpu: true } },
    'requires must be an array of capability names: got {"gpu":true}',
  );
  invalid({ payload: {}, requires: ["gpu", 3] }, "requires must hold only capability names: got 3");
  invalid(
    { payload: {}, requires: ["a b"] },
    'requires must hold only capability names: got "a b"',
  );
  invalid(
    { payload: {}, requires: ["a.b"] },
    'requires must hold only capability names: got "a.b"',
  );
  invalid({ payload: {}, requires: [""] }, 'requires must hold only capability names: got ""');
  invalid(
    { payload: {}, requires: ["x".repeat(65)] },
    /^requires must hold only capability names: got "x+…$/,
  );
  invalid(
    { payload: {}, requires: Array.from({ length: 33 }, (_, i) => `c${i}`) },
    "requires may hold at most 32 entries: got 33",
  );
});

Deno.test("submission - dependsOn must be an array of task ids", () => {
  invalid(
    { payload: {}, dependsOn: "other" },
    'dependsOn must be an array of task ids: got "other"',
  );
  invalid({ payload: {}, dependsOn: null }, "dependsOn must be an array of task ids: got null");
  invalid(
    { payload: {}, dependsOn: ["ok", "not.ok"] },
    'dependsOn must hold only task ids: got "not.ok"',
  );
  invalid({ payload: {}, dependsOn: [null] }, "dependsOn must hold only task ids: got null");
  invalid(
    { payload: {}, dependsOn: Array.from({ length: 101 }, (_, i) => `d${i}`) },
    "dependsOn may hold at most 100 entries: got 101",
  );
});

Deno.test("submission - dependsOn must not name the task itself", () => {
  invalid(
    { id: "t1", payload: {}, dependsOn: ["t0", "t1"] },
    'dependsOn must not name the task itself: got "t1"',
  );
  invalid(
    { payload: {}, dependsOn: ["h1"] },
    'dependsOn must not name the task itself: got "h1"',
    "h1",
  );
});

// -------------------------------------------------------------- size and type

Deno.test("submission - a body over the limit is PAYLOAD_TOO_LARGE, before parsing", () => {
  const max = DEFAULT_LIMITS.maxPayloadBytes;
  const big = new Uint8Array(max + 1).fill(0x20); // not even JSON: size is checked first
  const d = decodeSubmission("echo", big, "big-1", DEFAULT_LIMITS, NOW);
  const r = rejected(d, "PAYLOAD_TOO_LARGE", `body is ${max + 1} bytes: the limit is ${max}`);
  assert.equal(r.id, "big-1");
  // Exactly at the limit is fine.
  const filler = max - bytes({ payload: "" }).byteLength;
  const edge = decode({ payload: "x".repeat(filler) });
  assert.ok(edge.ok, "a body of exactly maxPayloadBytes is accepted");
});

Deno.test("submission - an invalid type name is UNKNOWN_TYPE", () => {
  for (const type of ["", "a.b", "*", ">", "has space", "x".repeat(65)]) {
    const d = decode({ payload: {} }, "h2", type);
    const r = rejected(
      d,
      "UNKNOWN_TYPE",
      `task type ${JSON.stringify(type).slice(0, 60)}${
        type.length > 58 ? "…" : ""
      } is not a valid type name`,
    );
    assert.equal(r.id, "h2");
  }
  assert.ok(decode({ payload: {} }, undefined, "system-check").ok);
  assert.ok(decode({ payload: {} }, undefined, "x".repeat(64)).ok);
});

// ------------------------------------------------------------------ property

const errorCodes: readonly string[] = ErrorCodes;
const DECODE_CODES = new Set(["INVALID_ARGUMENT", "UNKNOWN_TYPE", "PAYLOAD_TOO_LARGE"]);

/** Every rule a decoded draft must satisfy, and every rule a rejection must. */
function checkDecoded(d: Decoded, type: string, limits: SubmissionLimits): void {
  if (!d.ok) {
    assert.match(d.id, ID_RULE, "a rejection's id is a subject token");
    assert.ok(errorCodes.includes(d.error.code), `known code ${d.error.code}`);
    assert.ok(DECODE_CODES.has(d.error.code), `decode code ${d.error.code}`);
    assert.equal(typeof d.error.message, "string");
    assert.ok(d.error.message.length > 0, "non-empty message");
    assert.equal(d.type, type);
    return;
  }
  const t = d.draft;
  assert.match(t.id, ID_RULE);
  assert.equal(t.type, type);
  assert.ok(
    Number.isInteger(t.priority) && t.priority >= 0 && t.priority <= 9,
    `priority ${t.priority}`,
  );
  assert.ok(
    Number.isInteger(t.timeoutMs) && t.timeoutMs >= 1 && t.timeoutMs <= limits.maxTimeoutMs,
  );
  assert.ok(
    Number.isInteger(t.maxAttempts) && t.maxAttempts >= 1 && t.maxAttempts <= limits.maxAttempts,
  );
  assert.ok(t.deadline === Infinity || Number.isFinite(t.deadline), `deadline ${t.deadline}`);
  assert.ok(Array.isArray(t.requires) && t.requires.length <= 32);
  assert.ok(t.requires.every((c) => typeof c === "string" && CAPABILITY_RULE.test(c)));
  assert.deepEqual(t.requires, [...new Set(t.requires)].sort(), "requires sorted and unique");
  assert.ok(Array.isArray(t.dependsOn) && t.dependsOn.length <= 100);
  assert.ok(t.dependsOn.every((x) => typeof x === "string" && ID_RULE.test(x)));
  assert.equal(new Set(t.dependsOn).size, t.dependsOn.length, "dependsOn unique");
  assert.ok(!t.dependsOn.includes(t.id), "no self-dependency");
  assert.ok(["body", "header", "generated"].includes(t.idSource));
}

const idArb = fc.stringMatching(/^[A-Za-z0-9_-][A-Za-z0-9_:-]{0,40}$/);
const headerArb = fc.option(fc.oneof(idArb, fc.string({ maxLength: 140 })), { nil: undefined });
const typeArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("echo", "sleep", "system-check") },
  { weight: 1, arbitrary: fc.string({ maxLength: 70 }) },
);

/** A value tagged with whether the rules accept it. */
type Tagged = { v: unknown; good: boolean };
const good = (a: fc.Arbitrary<unknown>) => a.map((v): Tagged => ({ v, good: true }));
const bad = (a: fc.Arbitrary<unknown>) => a.map((v): Tagged => ({ v, good: false }));
const notInteger = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Number.isInteger(x)),
  fc.string(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 2 }),
);
function intArb(min: number, max: number): fc.Arbitrary<Tagged> {
  return fc.oneof(
    { weight: 6, arbitrary: good(fc.integer({ min, max })) },
    {
      weight: 1,
      arbitrary: bad(
        fc.oneof(fc.integer({ max: min - 1 }), fc.integer({ min: max + 1 }), notInteger),
      ),
    },
  );
}
const dateArb = fc.date({
  min: new Date("1970-01-01T00:00:00Z"),
  max: new Date("2200-01-01T00:00:00Z"),
  noInvalidDate: true,
});
const deadlineArb = fc.oneof(
  { weight: 6, arbitrary: good(fc.oneof(dateArb.map((d) => d.toISOString()), fc.constant(null))) },
  {
    weight: 1,
    arbitrary: bad(fc.oneof(
      fc.constantFrom(
        "tomorrow",
        "2026-13-45T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-11-22T10:00:00",
      ),
      fc.string().filter((s) => !/^\d{4}-/.test(s)),
      fc.integer(),
      fc.boolean(),
      fc.dictionary(fc.string(), fc.integer(), { maxKeys: 1 }),
    )),
  },
);
const badEntry = fc.oneof(
  fc.constantFrom("", "a.b", "a b", ">", "*", "x".repeat(129)),
  fc.integer(),
  fc.constant(null),
);
function listArb(entry: fc.Arbitrary<string>, max: number): fc.Arbitrary<Tagged> {
  return fc.oneof(
    { weight: 12, arbitrary: good(fc.array(entry, { maxLength: 6 })) },
    { weight: 1, arbitrary: good(fc.array(entry, { minLength: max, maxLength: max })) },
    {
      weight: 1,
      arbitrary: bad(
        fc.tuple(fc.array(entry, { maxLength: 3 }), badEntry, fc.array(entry, { maxLength: 3 }))
          .map(([a, x, b]) => [...a, x, ...b]),
      ),
    },
    { weight: 1, arbitrary: bad(fc.array(entry, { minLength: max + 1, maxLength: max + 3 })) },
    {
      weight: 1,
      arbitrary: bad(
        fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.object({ maxDepth: 1 })),
      ),
    },
  );
}
const capArb = fc.stringMatching(/^[A-Za-z0-9_:-]{1,20}$/);
const bodyIdArb = fc.oneof(
  { weight: 6, arbitrary: good(idArb) },
  {
    weight: 1,
    arbitrary: bad(fc.oneof(
      fc.constantFrom("a.b", "a b", ":x", "", "x".repeat(129)),
      fc.string().filter((s) => !ID_RULE.test(s)),
      fc.integer(),
      fc.constant(null),
    )),
  },
);
const FIELD_NAMES = [
  "id",
  "payload",
  "priority",
  "deadline",
  "timeoutMs",
  "maxAttempts",
  "requires",
  "dependsOn",
];

/** An object mixing valid and invalid fields, with whether the rules accept it. */
const mixedArb = fc.record({
  fields: fc.record({
    id: bodyIdArb,
    payload: good(fc.jsonValue({ maxDepth: 3 })),
    priority: intArb(0, 9),
    deadline: deadlineArb,
    timeoutMs: intArb(1, DEFAULT_LIMITS.maxTimeoutMs),
    maxAttempts: intArb(1, DEFAULT_LIMITS.maxAttempts),
    requires: listArb(capArb, 32),
    dependsOn: listArb(idArb, 100),
  }, {
    requiredKeys: ["payload"],
  }),
  /** Drop the payload one time in ten. */
  dropPayload: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
  extra: fc.oneof(
    { weight: 5, arbitrary: fc.constant({}) },
    {
      weight: 1,
      arbitrary: fc.dictionary(
        fc.string().filter((k) => !FIELD_NAMES.includes(k)),
        fc.jsonValue({ maxDepth: 1 }),
        { minKeys: 1, maxKeys: 2 },
      ),
    },
  ),
  header: headerArb,
});

Deno.test("submission - property: arbitrary bytes never throw and always answer on a valid id", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), headerArb, typeArb, (body, header, type) => {
      checkDecoded(decodeSubmission(type, body, header, DEFAULT_LIMITS, NOW), type, DEFAULT_LIMITS);
    }),
    { numRuns: 3000 },
  );
});

Deno.test("submission - property: arbitrary JSON values never throw; non-objects are rejected", () => {
  fc.assert(
    fc.property(fc.jsonValue(), headerArb, typeArb, (value, header, type) => {
      const d = decodeSubmission(type, bytes(JSON.stringify(value)), header, DEFAULT_LIMITS, NOW);
      checkDecoded(d, type, DEFAULT_LIMITS);
      const isObject = typeof value === "object" && value !== null && !Array.isArray(value);
      if (!isObject) assert.equal(d.ok, false);
    }),
    { numRuns: 3000 },
  );
});

Deno.test("submission - property: mixed valid and invalid fields are accepted exactly when every rule holds", () => {
  let accepted = 0;
  fc.assert(
    fc.property(mixedArb, typeArb, ({ fields: all, dropPayload, extra, header }, type) => {
      const fields: Partial<typeof all> = { ...all };
      if (dropPayload) delete fields.payload;
      const obj: Record<string, unknown> = Object.fromEntries([
        ...Object.entries(fields).map(([k, t]) => [k, (t as Tagged).v]),
        ...Object.entries(extra),
      ]);
      const d = decodeSubmission(type, bytes(obj), header, DEFAULT_LIMITS, NOW);
      checkDecoded(d, type, DEFAULT_LIMITS);

      const headerValid = header !== undefined && ID_RULE.test(header);
      const typeValid = /^[A-Za-z0-9_-]{1,64}$/.test(type);
      const bodyId = fields.id?.good ? fields.id.v as string : undefined;
      // The body's id answers every rejection it can (an invalid type too); else the header's.
      const expectedId = bodyId !== undefined ? bodyId : headerValid ? header : undefined;
      const allGood = typeValid && "payload" in fields && Object.keys(extra).length === 0 &&
        Object.values(fields).every((t) => (t as Tagged).good);
      const selfDep = expectedId !== undefined && fields.dependsOn?.good === true &&
        (fields.dependsOn.v as string[]).includes(expectedId);
      assert.equal(d.ok, allGood && !selfDep, d.ok ? "accepted" : `rejected: ${d.error.message}`);

      const id = d.ok ? d.draft.id : d.id;
      if (expectedId !== undefined) assert.equal(id, expectedId);
      if (d.ok) {
        accepted++;
        const source = bodyId !== undefined ? "body" : headerValid ? "header" : "generated";
        assert.equal(d.draft.idSource, source);
        // Compared through JSON: the wire has no -0.
        assert.deepEqual(d.draft.payload, JSON.parse(JSON.stringify(obj.payload)));
        const deadline = fields.deadline?.v;
        if (typeof deadline === "string") assert.equal(d.draft.deadline, Date.parse(deadline));
      }
    }),
    { numRuns: 3000 },
  );
  // Guard against a generator that only ever makes rejections.
  assert.ok(accepted >= 300, `only ${accepted} of 3000 runs were accepted`);
});

Deno.test("submission - property: a small byte limit rejects exactly the bodies over it", () => {
  const limits = { ...DEFAULT_LIMITS, maxPayloadBytes: 48 };
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 2 }), headerArb, (value, header) => {
      const body = bytes({ payload: value });
      const d = decodeSubmission("echo", body, header, limits, NOW);
      checkDecoded(d, "echo", limits);
      assert.equal(d.ok, body.byteLength <= 48);
      if (!d.ok) assert.equal(d.error.code, "PAYLOAD_TOO_LARGE");
    }),
    { numRuns: 2000 },
  );
});

// ------------------------------------------------------------------ subjects

Deno.test("subjects - without a prefix the public names are as documented", () => {
  const s = subjects();
  assert.equal(s.prefix, "");
  assert.equal(s.submit("echo"), "tasks.submit.echo");
  assert.equal(s.submitAll, "tasks.submit.>");
  assert.equal(s.result("t1"), "tasks.result.t1");
  assert.equal(s.resultAll, "tasks.result.>");
  assert.equal(s.progress("t1"), "tasks.progress.t1");
  assert.equal(s.cancel, "tasks.cancel");
  assert.equal(s.status, "tasks.status");
  assert.equal(s.monitorWorker("n1"), "monitor.worker.n1");
  assert.equal(s.monitorTask("t1"), "monitor.task.t1");
  assert.equal(s.monitorScheduler("s1"), "monitor.scheduler.s1");
  assert.equal(s.monitorSupervisor("n1"), "monitor.supervisor.n1");
  assert.equal(s.monitorAll, "monitor.>");
  assert.equal(s.monitorSnapshot, "monitor.snapshot");
  assert.equal(s.deadLetter("t1"), "tasks.dead.t1");
  assert.equal(s.tasksStream, "TASKS");
  assert.equal(s.resultsStream, "RESULTS");
  assert.equal(s.deadLetterStream, "DEAD_LETTER");
  assert.equal(s.leaseBucket, "sched_lease");
  assert.equal(subjects("").result("t1"), "tasks.result.t1");
});

Deno.test("subjects - a prefix goes in front of every subject and names the streams", () => {
  const s = subjects("prod-eu");
  assert.equal(s.prefix, "prod-eu");
  assert.equal(s.submit("echo"), "prod-eu.tasks.submit.echo");
  assert.equal(s.submitAll, "prod-eu.tasks.submit.>");
  assert.equal(s.result("t1"), "prod-eu.tasks.result.t1");
  assert.equal(s.progress("t1"), "prod-eu.tasks.progress.t1");
  assert.equal(s.cancel, "prod-eu.tasks.cancel");
  assert.equal(s.status, "prod-eu.tasks.status");
  assert.equal(s.monitorAll, "prod-eu.monitor.>");
  assert.equal(s.monitorWorker("n1"), "prod-eu.monitor.worker.n1");
  assert.equal(s.deadLetter("t1"), "prod-eu.tasks.dead.t1");
  // Stream and bucket names may not hold "-" in every tool: it becomes "_".
  assert.equal(s.tasksStream, "PROD_EU_TASKS");
  assert.equal(s.resultsStream, "PROD_EU_RESULTS");
  assert.equal(s.deadLetterStream, "PROD_EU_DEAD_LETTER");
  assert.equal(s.leaseBucket, "PROD_EU_sched_lease");
});

/** Every subject of a set, functions called with a sample token; stream and bucket names left out. */
function allSubjects(prefix: string): string[] {
  const names = new Set([
    "prefix",
    "tasksStream",
    "resultsStream",
    "deadLetterStream",
    "leaseBucket",
    "schedulesBucket",
    "usersBucket",
  ]);
  return Object.entries(subjects(prefix))
    .filter(([k]) => !names.has(k))
    .map(([, v]) => typeof v === "function" ? v("x1") : v);
}

Deno.test("subjects - every subject, internal ones too, carries the prefix and no empty token", () => {
  for (const prefix of ["", "p", "prod-eu", "a_b"]) {
    const all = allSubjects(prefix);
    assert.ok(all.length >= 15);
    for (const subject of all) {
      if (prefix) assert.ok(subject.startsWith(`${prefix}.`), `${subject} starts with ${prefix}.`);
      assert.ok(subject.split(".").every((t) => t.length > 0 && !/\s/.test(t)), subject);
    }
    assert.equal(new Set(all).size, all.length, "no two subjects collide");
  }
});

Deno.test("subjects - a prefix that is not one token throws naming it", () => {
  for (const prefix of ["a.b", "a b", "*", ">", "prod.", "é"]) {
    assert.throws(() => subjects(prefix), {
      message: `subject prefix must be letters, digits, "_" or "-": got ${JSON.stringify(prefix)}`,
    });
  }
});

Deno.test("subjects - lastToken takes the type out of a submit subject", () => {
  assert.equal(lastToken(subjects("p").submit("rotate-logs")), "rotate-logs");
  assert.equal(lastToken("plain"), "plain");
});

Deno.test("submission - a batch is decoded task by task; what cannot be answered per task refuses it whole; nothing throws", () => {
  const good = decodeBatch(
    "echo",
    bytes([{ id: "a", payload: 1 }, { id: "b", payload: 2, priority: 12 }]),
    undefined,
    DEFAULT_LIMITS,
    NOW,
  );
  assert.ok(good.ok);
  assert.equal(good.parts.length, 2);
  assert.ok(
    good.parts[0].ok && good.parts[0].draft.id === "a" && good.parts[0].draft.payload === 1,
  );
  assert.ok(!good.parts[1].ok && good.parts[1].id === "b");
  assert.match(!good.parts[1].ok ? good.parts[1].error.message : "", /priority .* got 12/);
  const whole = (body: unknown) => {
    const d = decodeBatch("echo", bytes(body), "hdr", DEFAULT_LIMITS, NOW);
    assert.ok(!d.ok, JSON.stringify(body));
    assert.equal(d.id, "hdr");
    return d.error.message;
  };
  assert.match(whole([]), /at least one task/);
  assert.match(
    whole([{ id: "a", payload: 1 }, 7]),
    /task 1 of the batch must be a JSON object: got number/,
  );
  assert.match(whole([{ payload: 1 }]), /task 0 of the batch has no id/);
  assert.match(whole([{ id: "a b", payload: 1 }]), /task 0 of the batch: id must be/);
  assert.match(whole([{ id: "a", payload: 1 }, { id: "a", payload: 1 }]), /appears twice/);
  const many = Array.from({ length: MAX_BATCH + 1 }, (_, i) => ({ id: `t${i}`, payload: 0 }));
  assert.match(whole(many), new RegExp(`at most ${MAX_BATCH} tasks: got ${MAX_BATCH + 1}`));
  assert.equal(isBatchBody(enc.encode(" \n\t[1]")), true);
  assert.equal(isBatchBody(enc.encode('{"a":[1]}')), false);
  assert.equal(isBatchBody(new Uint8Array()), false);
  fc.assert(
    fc.property(
      fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.jsonValue().map((v) => bytes([v, v]))),
      (b) => {
        const d = decodeBatch("echo", b, undefined, DEFAULT_LIMITS, NOW);
        if (d.ok) {
          for (const p of d.parts) {
            assert.ok(p.ok ? ID_RULE.test(p.draft.id) : ID_RULE.test(p.id));
          }
        } else assert.ok(ID_RULE.test(d.id) && d.error.message.length > 0);
      },
    ),
  );
});
