import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import { SchedulerError } from "../src/errors.ts";
import { createLogger, type LogLevel, type LogSink } from "../src/log.ts";
import { RotatingFileSink } from "../src/log_file.ts";

/** A fresh folder, removed at the end of the scope. */
function tempDir(): { path: string } & Disposable {
  const path = Deno.makeTempDirSync({ prefix: "log_file_test_" });
  return { path, [Symbol.dispose]: () => Deno.removeSync(path, { recursive: true }) };
}

function names(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

function read(path: string): string {
  return Deno.readTextFileSync(path);
}

/** A line of exactly `n` bytes with its newline, starting with its number. */
function line(i: number, n: number): string {
  const head = `line-${String(i).padStart(3, "0")}`;
  return head + ".".repeat(n - 1 - head.length);
}

Deno.test("rotating file - rotation by size keeps exactly `keep` copies, newest first", () => {
  using dir = tempDir();
  const file = join(dir.path, "app.log");
  // 25-byte lines and 100-byte files: four lines a file.
  using sink = new RotatingFileSink(file, { maxBytes: 100, keep: 3 });
  for (let i = 0; i < 30; i++) sink.write(line(i, 25), "info");
  // Files held 0-3, 4-7, ..., 24-27, 28-29: the last three full ones survive.
  assert.deepEqual(names(dir.path), ["app.log", "app.log.1", "app.log.2", "app.log.3"]);
  const expect = (from: number, to: number) =>
    Array.from({ length: to - from + 1 }, (_, k) => line(from + k, 25) + "\n").join("");
  assert.equal(read(file), expect(28, 29));
  assert.equal(read(`${file}.1`), expect(24, 27));
  assert.equal(read(`${file}.2`), expect(20, 23));
  assert.equal(read(`${file}.3`), expect(16, 19));
  assert.equal(sink.size, 50);
});

Deno.test("rotating file - a line that would pass maxBytes starts a new file; one that fits does not", () => {
  using dir = tempDir();
  const file = join(dir.path, "a.log");
  using sink = new RotatingFileSink(file, { maxBytes: 10, keep: 2 });
  sink.write("12345", "info"); // 6 bytes
  sink.write("123", "info"); // 4 more: exactly 10, no rotation
  assert.deepEqual(names(dir.path), ["a.log"]);
  sink.write("x", "info"); // 12 would pass 10
  assert.deepEqual(names(dir.path), ["a.log", "a.log.1"]);
  assert.equal(read(`${file}.1`), "12345\n123\n");
  assert.equal(read(file), "x\n");
});

Deno.test("rotating file - a line longer than maxBytes goes whole into a file of its own", () => {
  using dir = tempDir();
  const file = join(dir.path, "a.log");
  using sink = new RotatingFileSink(file, { maxBytes: 10, keep: 5 });
  sink.write("short", "info");
  sink.write("x".repeat(30), "info");
  sink.write("y".repeat(30), "info");
  sink.write("tail", "info");
  assert.equal(read(`${file}.3`), "short\n");
  assert.equal(read(`${file}.2`), "x".repeat(30) + "\n");
  assert.equal(read(`${file}.1`), "y".repeat(30) + "\n");
  assert.equal(read(file), "tail\n");
});

Deno.test("rotating file - property: lines are never split and none is lost while copies last", () => {
  using dir = tempDir();
  let run = 0;
  fc.assert(
    fc.property(
      fc.array(fc.string({ unit: "grapheme", maxLength: 40 }), { minLength: 1, maxLength: 60 }),
      fc.integer({ min: 1, max: 64 }),
      (lines, maxBytes) => {
        const file = join(dir.path, `p${run++}.log`);
        const keep = lines.length; // at most one rotation per write: enough to lose nothing
        const sink = new RotatingFileSink(file, { maxBytes, keep });
        try {
          for (const l of lines) sink.write(l.replaceAll("\n", " "), "info");
        } finally {
          sink.close();
        }
        const copies: string[] = [];
        for (let i = keep; i >= 1; i--) {
          try {
            copies.push(read(`${file}.${i}`));
          } catch (err) {
            if (!(err instanceof Deno.errors.NotFound)) throw err;
          }
        }
        copies.push(read(file));
        const enc = new TextEncoder();
        for (const [k, text] of copies.entries()) {
          const last = k === copies.length - 1;
          if (!last) assert.ok(text.endsWith("\n"), "a rotated file ends on a whole line");
          const size = enc.encode(text).byteLength;
          const count = text.split("\n").length - 1;
          assert.ok(size <= maxBytes || count === 1, `${size} bytes in ${count} lines`);
        }
        const expected = lines.map((l) => l.replaceAll("\n", " ") + "\n").join("");
        assert.equal(copies.join(""), expected, "oldest to newest, the files hold every line");
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("rotating file - reopening an existing file appends and counts its size", () => {
  using dir = tempDir();
  const file = join(dir.path, "old.log");
  Deno.writeTextFileSync(file, "a".repeat(89) + "\n"); // 90 bytes from before
  {
    using sink = new RotatingFileSink(file, { maxBytes: 100, keep: 2 });
    assert.equal(sink.size, 90);
    sink.write("1234", "info"); // 95: fits
    assert.deepEqual(names(dir.path), ["old.log"]);
    assert.equal(read(file), "a".repeat(89) + "\n1234\n");
  }
  {
    using sink = new RotatingFileSink(file, { maxBytes: 100, keep: 2 });
    assert.equal(sink.size, 95);
    sink.write("123456789", "info"); // 105 would pass 100
    assert.equal(sink.size, 10);
  }
  assert.equal(read(`${file}.1`), "a".repeat(89) + "\n1234\n");
  assert.equal(read(file), "123456789\n");
});

Deno.test("rotating file - sizes count bytes, not characters", () => {
  using dir = tempDir();
  const file = join(dir.path, "utf8.log");
  using sink = new RotatingFileSink(file, { maxBytes: 8, keep: 1 });
  sink.write("ééé", "info"); // 7 bytes with the newline
  assert.equal(sink.size, 7);
  sink.write("é", "info"); // 3 more: rotate
  assert.equal(read(`${file}.1`), "ééé\n");
  assert.equal(read(file), "é\n");
});

Deno.test("rotating file - keep 0 starts afresh without copies", () => {
  using dir = tempDir();
  const file = join(dir.path, "k0.log");
  using sink = new RotatingFileSink(file, { maxBytes: 10, keep: 0 });
  sink.write("12345678", "info");
  sink.write("next", "info");
  assert.deepEqual(names(dir.path), ["k0.log"]);
  assert.equal(read(file), "next\n");
});

Deno.test("rotating file - copies missing from the middle are tolerated", () => {
  using dir = tempDir();
  const file = join(dir.path, "gap.log");
  Deno.writeTextFileSync(`${file}.2`, "old two\n");
  using sink = new RotatingFileSink(file, { maxBytes: 5, keep: 3 });
  sink.write("one", "info");
  sink.write("two", "info"); // rotate: no .1 to shift, .2 moves to .3
  assert.deepEqual(names(dir.path), ["gap.log", "gap.log.1", "gap.log.3"]);
  assert.equal(read(`${file}.1`), "one\n");
  assert.equal(read(`${file}.3`), "old two\n");
});

Deno.test("rotating file - close is idempotent and a write after it throws", () => {
  using dir = tempDir();
  const sink = new RotatingFileSink(join(dir.path, "c.log"), { maxBytes: 100, keep: 1 });
  sink.write("before", "info");
  sink.close();
  sink.close();
  assert.throws(() => sink.write("after", "info"), /is closed/);
  assert.equal(read(join(dir.path, "c.log")), "before\n");
});

Deno.test("rotating file - bad options are refused naming the option and value", () => {
  using dir = tempDir();
  const file = join(dir.path, "x.log");
  const refused = (opts: { maxBytes?: number; keep?: number }, re: RegExp) =>
    assert.throws(() => new RotatingFileSink(file, opts), (err: unknown) => {
      assert.ok(err instanceof SchedulerError);
      assert.equal(err.code, "INVALID_ARGUMENT");
      assert.match(err.message, re);
      return true;
    });
  refused({ maxBytes: 0 }, /^maxBytes must be a positive integer: got 0$/);
  refused({ maxBytes: 1.5 }, /^maxBytes must be a positive integer: got 1.5$/);
  refused({ keep: -1 }, /^keep must be an integer from 0 to 1000: got -1$/);
  refused({ keep: 2.5 }, /^keep must be an integer from 0 to 1000: got 2.5$/);
  assert.deepEqual(names(dir.path), [], "nothing was created");
});

Deno.test("rotating file - works as a logger sink", () => {
  using dir = tempDir();
  const file = join(dir.path, "json.log");
  using sink = new RotatingFileSink(file, { maxBytes: 1024, keep: 1 });
  const log = createLogger({ format: "json", sinks: [sink], now: () => 0 });
  log.info("hello", { actor: "monitor" });
  assert.deepEqual(JSON.parse(read(file)), {
    ts: "1970-01-01T00:00:00.000Z",
    level: "info",
    msg: "hello",
    actor: "monitor",
  });
});

// ------------------------------------------------------------------- logger

/** A sink that keeps what it was given. */
function capture(): LogSink & { lines: { line: string; level: LogLevel }[] } {
  const lines: { line: string; level: LogLevel }[] = [];
  return { lines, write: (line, level) => lines.push({ line, level }) };
}

const T = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
const TS = "2026-01-02T03:04:05.678Z";

Deno.test("logger - JSON lines carry timestamp, level, message, actor, task and fields", () => {
  const sink = capture();
  const log = createLogger({ format: "json", sinks: [sink], now: () => T, level: "debug" })
    .with({ actor: "worker-1" });
  log.with({ task: "t-42" }).warn("slow", { ms: 1200, err: new Error("boom") });
  log.debug("tick");
  assert.equal(sink.lines.length, 2);
  assert.equal(sink.lines[0].level, "warn");
  assert.deepEqual(JSON.parse(sink.lines[0].line), {
    ts: TS,
    level: "warn",
    msg: "slow",
    actor: "worker-1",
    task: "t-42",
    ms: 1200,
    err: { name: "Error", message: "boom" },
  });
  assert.deepEqual(JSON.parse(sink.lines[1].line), {
    ts: TS,
    level: "debug",
    msg: "tick",
    actor: "worker-1",
  });
  assert.ok(!sink.lines[0].line.includes("\n"), "one line per event");
});

Deno.test("logger - text lines: [ts] LEVEL actor task=<id> message key=value", () => {
  const sink = capture();
  const log = createLogger({ format: "text", sinks: [sink], now: () => T })
    .with({ actor: "scheduler" });
  log.info("assigned", { task: "t-1", node: "n1", attempt: 2, tags: ["a"] });
  log.error("lost node");
  assert.deepEqual(sink.lines.map((l) => l.line), [
    `[${TS}] INFO  scheduler task=t-1 assigned node=n1 attempt=2 tags=["a"]`,
    `[${TS}] ERROR scheduler lost node`,
  ]);
  assert.deepEqual(sink.lines.map((l) => l.level), ["info", "error"]);
});

Deno.test("logger - the timestamp is present and ISO 8601 with the real clock", () => {
  const sink = capture();
  createLogger({ sinks: [sink] }).info("now");
  assert.match(sink.lines[0].line, /^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] INFO {2}now$/);
});

Deno.test("logger - levels below the minimum are dropped", () => {
  const emitted = (level: LogLevel | undefined) => {
    const sink = capture();
    const log = createLogger({ level, sinks: [sink], now: () => T });
    log.debug("d");
    log.info("i");
    log.warn("w");
    log.error("e");
    return sink.lines.map((l) => l.level);
  };
  assert.deepEqual(emitted("debug"), ["debug", "info", "warn", "error"]);
  assert.deepEqual(emitted(undefined), ["info", "warn", "error"], "info by default");
  assert.deepEqual(emitted("warn"), ["warn", "error"]);
  assert.deepEqual(emitted("error"), ["error"]);
});

Deno.test("logger - fields given per call override bound ones; every sink gets every line", () => {
  const a = capture();
  const b = capture();
  const log = createLogger({
    format: "json",
    sinks: [a, b],
    now: () => T,
    fields: { actor: "root", node: "n1" },
  });
  log.with({ actor: "child" }).info("x", { node: "n2" });
  assert.equal(a.lines.length, 1);
  assert.deepEqual(a.lines, b.lines);
  const parsed = JSON.parse(a.lines[0].line);
  assert.equal(parsed.actor, "child");
  assert.equal(parsed.node, "n2");
});
