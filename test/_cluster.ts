/**
 * Bench and test plumbing: a nats-server of its own, node processes started
 * with `deno run actors/main.ts`, and a client that waits for results.
 *
 * @module
 */

import {
  connectNats,
  mintToken,
  type NatsTransport,
  type TaskResult,
} from "../src/internal_mod.ts";

/** A node process. */
export interface NodeProcess {
  child: Deno.ChildProcess;
  log: string[];
  exited: Promise<Deno.CommandStatus>;
  /** Resolves when the log shows `line` (a substring). */
  waitFor(line: string, timeoutMs?: number): Promise<void>;
  kill(signal?: Deno.Signal): void;
}

/** The secret benches and tests sign tokens with. */
export const SECRET = "bench-and-test-secret-of-at-least-32-bytes";

const MAIN = new URL("../actors/main.ts", import.meta.url).pathname;

/** The lines of a child's output, as they come (the last, unended one is not given). */
export async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += dec.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, i);
      buf = buf.slice(i + 1);
    }
  }
}

/** Start `deno run actors/main.ts` with these args and env. */
export function startNodeProcess(args: string[], env: Record<string, string>): NodeProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-worker-options",
      ...(Deno.env.get("NODE_V8_FLAGS") ? [`--v8-flags=${Deno.env.get("NODE_V8_FLAGS")}`] : []),
      // Extra flags for deno itself (bench/profile.ts passes --inspect), not for the node.
      ...(env.NODE_DENO_FLAGS ? env.NODE_DENO_FLAGS.split(" ") : []),
      MAIN,
      ...args,
    ],
    env: {
      TASK_SCHEDULER_JWT_SECRET: SECRET,
      TASK_SCHEDULER_LOG_LEVEL: "info",
      // Any free port: test processes never take the default dashboard address.
      TASK_SCHEDULER_HTTP: "127.0.0.1:0",
      NO_COLOR: "1",
      ...env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const log: string[] = [];
  const waiters: { line: string; resolve: () => void }[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const line of lines(stream)) {
      log.push(line);
      if (Deno.env.get("BENCH_NODE_LOG")) console.error(`[node] ${line}`);
      for (const w of [...waiters]) {
        if (line.includes(w.line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    }
  };
  void pump(child.stdout).catch(() => {});
  void pump(child.stderr).catch(() => {});
  const exited = child.status;
  return {
    child,
    log,
    exited,
    waitFor(line, timeoutMs = 20_000) {
      if (log.some((l) => l.includes(line))) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `node never logged ${JSON.stringify(line)}; log:\n${log.slice(-20).join("\n")}`,
              ),
            ),
          timeoutMs,
        );
        waiters.push({
          line,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
        exited.then((s) => {
          clearTimeout(timer);
          reject(
            new Error(
              `node exited with ${s.code} before logging ${JSON.stringify(line)}; log:\n${
                log.slice(-20).join("\n")
              }`,
            ),
          );
        });
      });
    },
    kill(signal: Deno.Signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
    },
  };
}

/** A client that submits tasks and collects results by id. */
export class Client implements AsyncDisposable {
  readonly results = new Map<string, TaskResult>();
  /** Every result message, duplicates included. */
  readonly received: TaskResult[] = [];
  #waiters = new Map<string, (r: TaskResult) => void>();
  #onResult: ((r: TaskResult, at: number) => void) | null = null;
  readonly enc = new TextEncoder();

  private constructor(readonly t: NatsTransport, readonly token: string) {}

  static async connect(url: string | string[], roles = ["admin"]): Promise<Client> {
    const t = await connectNats({ servers: url, name: "client" });
    const token = await mintToken(SECRET, { sub: "client", roles });
    const c = new Client(t, token);
    const dec = new TextDecoder();
    t.subscribe("tasks.result.>", (m) => {
      const at = Date.now();
      const r = JSON.parse(dec.decode(m.data)) as TaskResult;
      c.received.push(r);
      c.results.set(r.id, r);
      c.#onResult?.(r, at);
      const w = c.#waiters.get(r.id);
      if (w) {
        c.#waiters.delete(r.id);
        w(r);
      }
    });
    await t.flush();
    return c;
  }

  /** Call `fn` for every result as it arrives. */
  onResult(fn: (r: TaskResult, at: number) => void): void {
    this.#onResult = fn;
  }

  /** Publish a task (core NATS, as a client would). */
  submit(type: string, body: Record<string, unknown>, headers?: Record<string, string>): void {
    this.t.publish(`tasks.submit.${type}`, this.enc.encode(JSON.stringify(body)), {
      headers: headers ?? { Authorization: `Bearer ${this.token}` },
    });
  }

  /**
   * Wait until a node answers: an echo every 2 s until one comes back (a
   * leader leads and a worker runs), for at most `timeoutMs`.
   */
  async waitForNode(timeoutMs = 20_000): Promise<void> {
    const t0 = Date.now();
    for (;;) {
      const id = `hello-${t0}`;
      this.submit("echo", { id, payload: {} });
      try {
        await this.result(id, 2_000);
        return;
      } catch {
        if (Date.now() - t0 > timeoutMs) throw new Error("the node never answered");
      }
    }
  }

  /** Wait for the result of `id`. */
  result(id: string, timeoutMs = 20_000): Promise<TaskResult> {
    const have = this.results.get(id);
    if (have) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(id);
        reject(new Error(`no result for ${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.t.close();
  }
}
