/**
 * `deno task top`: a live view of the cluster in the terminal, redrawn in
 * place, from `monitor.>` and `tasks.progress.*` alone (no token needed).
 *
 * ```
 * deno task top                      # until Ctrl-C
 * deno task top --once               # one frame, then exit
 * deno task top --interval 1s --server nats://10.0.0.5:4222
 * ```
 *
 * It connects as `deno task ctl` does (same flags and variables), folds
 * every message into a {@link MonitorFold}, seeds it from `monitor.snapshot`
 * (when a monitor process answers) and asks a node's own snapshot when the
 * fold wants one. On a terminal it draws on the alternate screen and
 * restores the screen and the cursor when it ends (Ctrl-C, SIGTERM); when
 * stdout is not a terminal it prints one plain frame per interval.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { connect as natsConnect, type NatsConnection } from "@nats-io/transport-node";
import { type Subjects, subjects } from "../../src/protocol/subjects.ts";
import { type FoldKind, MonitorFold } from "../monitor/view.ts";
import { EXIT, type Flags, natsOptions, parseDuration, str, Usage } from "./ctl_common.ts";
import { inPlace, plain, renderFrame } from "./top_render.ts";

const USAGE = `Usage: deno task top [options]

A live view of the cluster, redrawn in place: the leader and the task counts, rates and
latencies, the worker nodes (health, state, CPU, memory, slots; lost ones marked), the queue by
priority, the running tasks with their progress, and the last alerts. It reads monitor.> and
tasks.progress.* only, so it needs no token. Ctrl-C quits.

Options:
  --interval T         redraw at most this often (default 500ms; 250ms, 1s, or milliseconds)
  --once               print one frame, after the monitor snapshot (or none answered), and exit
  --server URL         NATS (default TASK_SCHEDULER_MESSAGE_BROKER, else nats://127.0.0.1:4222)
  --prefix P           subject prefix (default TASK_SCHEDULER_SUBJECT_PREFIX)
  --tlscert F --tlskey F --tlsca F   TLS files (default TASK_SCHEDULER_TLS_CERT, _KEY, _CA)
  --nats-user U        NATS user (default TASK_SCHEDULER_NATS_USER; password from
                       TASK_SCHEDULER_NATS_PASSWORD)
  -h, --help           this help

When stdout is not a terminal, each interval prints one plain frame (no escape codes).

Exit codes: 0 done (also after Ctrl-C), 1 other error, 2 bad usage, 9 NATS unreachable.`;

const OPTIONS = {
  server: { type: "string", short: "s" },
  prefix: { type: "string" },
  tlscert: { type: "string" },
  tlskey: { type: "string" },
  tlsca: { type: "string" },
  "nats-user": { type: "string" },
  interval: { type: "string" },
  once: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** How long the monitor snapshot and a node's snapshot may take. */
const SNAPSHOT_TIMEOUT_MS = 2_000;
/** Terminal size when it cannot be read (stdout is not a terminal). */
const FALLBACK = { columns: 100, rows: 30 };

const ENTER = "\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J";
const LEAVE = "\x1b[?1049l\x1b[?25h";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Write all of `text` to stdout (a write may take part of it). */
function write(text: string): void {
  const data = encoder.encode(text);
  let off = 0;
  while (off < data.length) off += Deno.stdout.writeSync(data.subarray(off));
}

function size(): { columns: number; rows: number } {
  try {
    const s = Deno.consoleSize();
    return s.columns > 0 && s.rows > 0 ? s : FALLBACK;
  } catch {
    return FALLBACK;
  }
}

/** The parsed command line. */
interface Options {
  flags: Flags;
  intervalMs: number;
  once: boolean;
  help: boolean;
}

function parse(argv: string[]): Options {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false });
  } catch (err) {
    throw new Usage((err as Error).message);
  }
  const flags = parsed.values as Flags;
  const text = str(flags, "interval");
  const intervalMs = text === undefined ? 500 : parseDuration(text, "--interval");
  if (intervalMs < 50 || intervalMs > 3_600_000) {
    throw new Usage(`--interval must be from 50ms to 1h: got ${JSON.stringify(text)}`);
  }
  return { flags, intervalMs, once: flags.once === true, help: flags.help === true };
}

/** The live view: the connection, the fold, the timers and the screen. */
class Top {
  readonly fold: MonitorFold;
  #nc: NatsConnection;
  #subj: Subjects;
  #server: string;
  #connected = true;
  #note: string | undefined = "monitor snapshot: asking…";
  #stopped = false;

  constructor(nc: NatsConnection, subj: Subjects, server: string) {
    this.#nc = nc;
    this.#subj = subj;
    this.#server = server;
    this.fold = new MonitorFold({
      now: () => Date.now(),
      wantNodeSnapshot: (node) => void this.#askNode(node),
      // A scheduler's gap: the monitor's picture again.
      wantSnapshot: () => void this.resync(),
    });
  }

  /** Follow the deltas and the progress; resolves once the server has the subscriptions. */
  async subscribe(): Promise<void> {
    const s = this.#subj;
    const follow =
      (kind: FoldKind, start: string) =>
      (err: Error | null, m: { subject: string; data: Uint8Array }) => {
        if (err || this.#stopped) return;
        let d: unknown;
        try {
          d = JSON.parse(decoder.decode(m.data));
        } catch {
          return;
        }
        if (typeof d !== "object" || d === null || Array.isArray(d)) return;
        this.fold.apply(kind, m.subject.slice(start.length), d as Record<string, unknown>);
      };
    const kinds: [FoldKind, string][] = [
      ["worker", s.monitorWorker("")],
      ["scheduler", s.monitorScheduler("")],
      ["task", s.monitorTask("")],
      ["schedule", s.monitorSchedule("")],
      ["supervisor", s.monitorSupervisor("")],
      ["progress", s.progress("")],
    ];
    for (const [kind, start] of kinds) {
      this.#nc.subscribe(`${start}*`, { callback: follow(kind, start) });
    }
    await this.#nc.flush();
  }

  /** Ask `monitor.snapshot` and seed the fold with its nodes and schedulers. */
  async resync(): Promise<void> {
    let snap: Record<string, unknown> | null = null;
    try {
      const m = await this.#nc.request(this.#subj.monitorSnapshot, encoder.encode("{}"), {
        timeout: SNAPSHOT_TIMEOUT_MS,
      });
      const v = JSON.parse(decoder.decode(m.data));
      if (v && typeof v === "object" && !Array.isArray(v)) snap = v;
    } catch {
      snap = null; // no monitor process answers: deltas and node snapshots only
    }
    if (this.#stopped) return;
    if (!snap) {
      this.#note = "no monitor answered monitor.snapshot: live deltas only";
      return;
    }
    this.#note = undefined;
    this.fold.applySnapshot(snap);
  }

  async #askNode(node: string): Promise<void> {
    let snap: Record<string, unknown> | null = null;
    try {
      const m = await this.#nc.request(
        `${this.#subj.monitorSnapshot}.worker.${node}`,
        encoder.encode("{}"),
        { timeout: SNAPSHOT_TIMEOUT_MS },
      );
      const v = JSON.parse(decoder.decode(m.data));
      // An error reply ({code, message}) is no status.
      if (v && typeof v === "object" && !Array.isArray(v) && "incarnation" in v) snap = v;
    } catch {
      snap = null;
    }
    if (!this.#stopped) this.fold.applyNodeSnapshot(node, snap);
  }

  /** Follow the connection's state; a reconnect asks the snapshot again. */
  async watchStatus(): Promise<void> {
    for await (const s of this.#nc.status()) {
      if (this.#stopped) return;
      if (s.type === "disconnect") this.#connected = false;
      if (s.type === "reconnect") {
        this.#connected = true;
        void this.resync();
      }
    }
  }

  frame(columns: number, rows: number) {
    return renderFrame({
      fold: this.fold,
      now: Date.now(),
      width: columns,
      height: rows,
      server: this.#server,
      connected: this.#connected,
      note: this.#note,
    });
  }

  async close(): Promise<void> {
    this.#stopped = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#nc.close().catch(() => {}),
      new Promise((r) => (timer = setTimeout(r, 1_000))),
    ]);
    clearTimeout(timer);
  }
}

/** Run `top` with `argv`; resolves to the exit code once it ends. */
export async function main(argv: string[]): Promise<number> {
  let opts: Options;
  let access: ReturnType<typeof natsOptions>;
  let subj: Subjects;
  try {
    opts = parse(argv);
    if (opts.help) {
      console.log(USAGE);
      return EXIT.ok;
    }
    access = natsOptions(opts.flags);
    try {
      subj = subjects(access.prefix ?? "");
    } catch (err) {
      throw new Usage(`--prefix: ${(err as Error).message}`);
    }
  } catch (err) {
    console.error(`top: ${(err as Error).message}`);
    if (err instanceof Usage) {
      console.error("Run `deno task top --help`.");
      return EXIT.usage;
    }
    return EXIT.error;
  }
  const server = access.servers.join(",");
  let nc: NatsConnection;
  try {
    nc = await natsConnect({
      servers: access.servers,
      name: "task-scheduler-top",
      user: access.user,
      pass: access.pass,
      tls: access.tls ? { ...access.tls } : undefined,
      timeout: 5_000,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      reconnectJitter: 100,
      pingInterval: 10_000,
      maxPingOut: 2,
    });
  } catch (err) {
    console.error(`top: cannot connect to NATS at ${server}: ${(err as Error).message}`);
    return EXIT.unreachable;
  }
  const top = new Top(nc, subj, server);
  await top.subscribe();
  const ticker = setInterval(() => top.fold.tick(), 1_000);
  try {
    if (opts.once) {
      await top.resync();
      const { columns, rows } = size();
      write(`${plain(top.frame(columns, rows))}\n`);
      return EXIT.ok;
    }
    return await live(top, opts.intervalMs);
  } finally {
    clearInterval(ticker);
    await top.close();
  }
}

/** Draw until a signal ends it. */
async function live(top: Top, intervalMs: number): Promise<number> {
  const tty = Deno.stdout.isTerminal();
  const color = tty && !Deno.env.get("NO_COLOR");
  let entered = false;
  const restore = () => {
    if (!entered) return;
    entered = false;
    try {
      write(LEAVE);
    } catch {
      // stdout is gone: nothing to restore
    }
  };
  let finish!: (code: number) => void;
  const done = new Promise<number>((r) => (finish = r));
  const onSignal = () => finish(EXIT.ok);
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  let resized = false;
  const onResize = () => (resized = true);
  if (tty) Deno.addSignalListener("SIGWINCH", onResize);
  // Whatever ends the process, the terminal gets its screen and cursor back.
  const exits = ["unload", "error", "unhandledrejection"];
  for (const e of exits) globalThis.addEventListener(e, restore);

  let failure: unknown;
  let version = -1;
  let drawnAt = 0;
  const draw = () => {
    const now = Date.now();
    try {
      if (!tty) {
        const { columns, rows } = size();
        write(`${plain(top.frame(columns, rows))}\n\n`);
        return;
      }
      // Redraw on a change, a resize, or each second (the clock, ages and rates move).
      if (top.fold.version === version && !resized && now - drawnAt < 1_000) return;
      version = top.fold.version;
      resized = false;
      drawnAt = now;
      const { columns, rows } = size();
      write(inPlace(top.frame(columns, rows), color));
    } catch (err) {
      // A closed pipe or terminal ends the view; anything else is a bug: show it once restored.
      if (!(err instanceof Deno.errors.BrokenPipe)) failure = err;
      finish(failure ? EXIT.error : EXIT.ok);
    }
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    if (tty) {
      write(ENTER);
      entered = true;
    }
    draw();
    void top.resync();
    void top.watchStatus().catch(() => {});
    timer = setInterval(draw, intervalMs);
    return await done;
  } finally {
    clearInterval(timer);
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
    if (tty) Deno.removeSignalListener("SIGWINCH", onResize);
    restore();
    if (failure) console.error(`top: ${(failure as Error)?.stack ?? failure}`);
    for (const e of exits) globalThis.removeEventListener(e, restore);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
