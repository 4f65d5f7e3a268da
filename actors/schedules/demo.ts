/**
 * The `--demo` plan: the Python job runner's `setup_schedule(quick_demo=True)`
 * as schedules, with short intervals (10 to 60 s), run against a real
 * temporary folder and a local web server so that every job has something to
 * do and nothing outside the folder or the loopback interface is touched.
 *
 * {@link startDemo} lays out the folder:
 *
 * ```text
 * task-scheduler-demo-XXXX/
 *   data/       a few small files and a subfolder   (demo-backup copies it)
 *   backups/    empty; backup_* folders appear here
 *   old/        files dated 10 days back             (demo-cleanup, maxAgeDays 7, removes them)
 *   logs/tasks.log  over 1 KB, and a line appended every second (demo-rotate-logs)
 * ```
 *
 * and serves `GET /` with 200 "ok" on 127.0.0.1 at a free port
 * (demo-http-check). `close()` stops the server and the log writer and
 * removes the folder.
 *
 * @module
 */

import { join } from "node:path";
import {
  type Logger,
  mintToken,
  type ScheduleJson,
  type Subjects,
  type Transport,
} from "../../src/internal_mod.ts";

const encoder = new TextEncoder();

/** A running demo. */
export interface Demo {
  /** The demo schedules, one per job of the job runner's quick demo. */
  schedules: ScheduleJson[];
  /** The folders the file-touching jobs work in: the demo folder, symlinks resolved. */
  roots: string[];
  /** The local web server's URL, `http://127.0.0.1:<port>/`. */
  url: string;
  /** Stop the server and the log writer, and remove the demo folder. Safe to call twice. */
  close(): Promise<void>;
}

/** How far back the files in `old/` are dated. */
export const OLD_FILE_AGE_DAYS = 10;
/** How often a line is appended to `logs/tasks.log`. */
export const LOG_APPEND_MS = 1_000;
const DAY_MS = 86_400_000;

/** `[2026-01-31 12:00:00] message`, the job runner's log line. */
function logLine(message: string, at = new Date()): string {
  return `[${at.toISOString().slice(0, 19).replace("T", " ")}] ${message}\n`;
}

/** The demo schedules for a demo folder `root` and a local `url`. */
export function demoSchedules(root: string, url: string): ScheduleJson[] {
  const common = { catchup: "skip", overlap: "skip" } as const;
  // A tick that has not started by the next one is dropped (deadline = interval), and a failure
  // is not retried: with intervals this short, the next tick is the retry.
  const task = (type: string, payload: unknown, every: string, timeoutMs: number) => ({
    type,
    payload,
    timeoutMs,
    maxAttempts: 1,
    deadline: every,
  });
  return [
    {
      name: "demo-system-check",
      every: "20s",
      ...common,
      task: task("system-check", {}, "20s", 10_000),
    },
    {
      name: "demo-backup",
      every: "30s",
      ...common,
      task: task(
        "backup",
        { source: join(root, "data"), target: join(root, "backups") },
        "30s",
        20_000,
      ),
    },
    {
      name: "demo-cleanup",
      every: "60s",
      ...common,
      task: task("cleanup", { dir: join(root, "old"), maxAgeDays: 7 }, "60s", 20_000),
    },
    {
      name: "demo-http-check",
      every: "15s",
      ...common,
      task: task("http-check", { url, timeoutMs: 5_000 }, "15s", 10_000),
    },
    {
      name: "demo-rotate-logs",
      every: "45s",
      ...common,
      task: task(
        "rotate-logs",
        { file: join(root, "logs", "tasks.log"), maxSizeKb: 1, keep: 3 },
        "45s",
        10_000,
      ),
    },
    {
      name: "demo-heartbeat",
      every: "10s",
      ...common,
      task: task("heartbeat", { message: "scheduler heartbeat (demo)" }, "10s", 5_000),
    },
  ];
}

/** Make `dir` (or a fresh temporary folder) and check that it holds nothing yet. */
async function demoFolder(dir: string | undefined): Promise<string> {
  if (dir === undefined) return await Deno.makeTempDir({ prefix: "task-scheduler-demo-" });
  await Deno.mkdir(dir, { recursive: true });
  for await (const entry of Deno.readDir(dir)) {
    // close() removes the folder: never one holding anything the demo did not put there.
    throw new Error(`startDemo: ${dir} must be empty or not exist: it holds ${entry.name}`);
  }
  return dir;
}

async function layOut(root: string): Promise<void> {
  for (const sub of ["data/reports", "backups", "old/reports", "logs"]) {
    await Deno.mkdir(join(root, sub), { recursive: true });
  }
  await Deno.writeTextFile(
    join(root, "data", "customers.csv"),
    "id,name,city\n1,Ada,London\n2,Grace,Arlington\n3,Linus,Helsinki\n",
  );
  await Deno.writeTextFile(
    join(root, "data", "settings.json"),
    JSON.stringify({ retention: 7, notify: ["ops@localhost"] }, null, 2) + "\n",
  );
  await Deno.writeTextFile(
    join(root, "data", "reports", "summary.txt"),
    "Demo data for the backup job.\n",
  );

  const old = new Date(Date.now() - OLD_FILE_AGE_DAYS * DAY_MS);
  const oldFiles = ["old/app-1.log", "old/app-2.log", "old/reports/weekly.txt"];
  for (const rel of oldFiles) {
    await Deno.writeTextFile(join(root, rel), logLine(`written by ${rel}`, old));
    await Deno.utime(join(root, rel), old, old);
  }
  await Deno.utime(join(root, "old", "reports"), old, old);

  let log = "";
  for (let i = 1; log.length <= 1536; i++) {
    log += logLine(`demo: task log line ${i}, so that rotate-logs has something to rotate`);
  }
  await Deno.writeTextFile(join(root, "logs", "tasks.log"), log);
}

function serve(): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) => {
      const path = new URL(req.url).pathname;
      if (path !== "/") return new Response("not found\n", { status: 404 });
      return new Response("ok", { status: 200, headers: { "content-type": "text/plain" } });
    },
  );
}

/**
 * Lay out a demo folder, start the local web server and the log writer, and
 * return the demo schedules that use them.
 *
 * @param dir The demo folder: made if missing, refused unless empty. Default:
 *   a new temporary folder `task-scheduler-demo-*`. Either way `close()`
 *   removes it.
 *
 * @example
 * ```ts
 * const demo = await startDemo();
 * for (const s of demo.schedules) await schedules.create(s);
 * // ... later
 * await demo.close();
 * ```
 */
export async function startDemo(dir?: string): Promise<Demo> {
  const made = await demoFolder(dir);
  let server: Deno.HttpServer<Deno.NetAddr> | undefined;
  try {
    const root = await Deno.realPath(made);
    await layOut(root);
    server = serve();
    const url = `http://127.0.0.1:${server.addr.port}/`;

    const logFile = join(root, "logs", "tasks.log");
    let lines = 0;
    let writing: Promise<void> | undefined;
    const timer = setInterval(() => {
      if (writing) return;
      lines++;
      writing = Deno.writeTextFile(
        logFile,
        logLine(`demo: still running, line ${lines} since start`),
        { append: true },
      ).catch(() => {
        // rotate-logs may be between its rename and the new file; the next line goes through.
      }).finally(() => writing = undefined);
    }, LOG_APPEND_MS);

    let closing: Promise<void> | undefined;
    const running = server;
    const close = (): Promise<void> =>
      closing ??= (async () => {
        clearInterval(timer);
        await writing;
        await running.shutdown();
        await Deno.remove(root, { recursive: true });
      })();
    return { schedules: demoSchedules(root, url), roots: [root], url, close };
  } catch (err) {
    await server?.shutdown();
    await Deno.remove(made, { recursive: true }).catch(() => {});
    throw err;
  }
}

/** `schedules.<op>` for one demo schedule, as an admin; the reply, or the error as a reply. */
async function ask(
  transport: Transport,
  subj: Subjects,
  token: string,
  op: string,
  name: string,
): Promise<{ ok: boolean; error?: { message: string } }> {
  try {
    const m = await transport.request(
      subj.schedules(op),
      encoder.encode(JSON.stringify({ name })),
      {
        headers: { Authorization: `Bearer ${token}` },
        timeoutMs: 2_000,
      },
    );
    return JSON.parse(new TextDecoder().decode(m.data));
  } catch (err) {
    return { ok: false, error: { message: String(err) } };
  }
}

const adminToken = (secret: string) =>
  mintToken(secret, { sub: "demo", roles: ["admin"], ttlSec: 60 });

/** Trigger every demo schedule once, retrying while no scheduler leads yet (up to 20 s). */
export async function triggerDemo(
  transport: Transport,
  subj: Subjects,
  secret: string,
  demo: Demo,
  log: Logger,
): Promise<void> {
  const token = await adminToken(secret);
  const until = Date.now() + 20_000;
  for (const s of demo.schedules) {
    for (let delay = 100;; delay = Math.min(2_000, delay * 2)) {
      const answer = await ask(transport, subj, token, "trigger", s.name);
      if (answer.ok) break;
      if (Date.now() > until) {
        log.warn("demo job not triggered", { name: s.name, error: answer.error?.message });
        break;
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** The demo's folder goes away with it: so do its schedules, or they would fire at nothing. */
export async function removeDemoSchedules(
  transport: Transport,
  subj: Subjects,
  secret: string,
  demo: Demo,
  log: Logger,
): Promise<void> {
  const token = await adminToken(secret);
  const answers = await Promise.all(
    demo.schedules.map((s) => ask(transport, subj, token, "delete", s.name)),
  );
  answers.forEach((a, i) => {
    if (!a.ok) {
      log.warn("demo schedule not removed", {
        name: demo.schedules[i].name,
        error: a.error?.message,
      });
    }
  });
  log.info("demo schedules removed", { schedules: answers.filter((a) => a.ok).length });
}
