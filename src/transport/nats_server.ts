/**
 * Run a nats-server child process: for the embedded server of `deno task
 * start` and for tests. It writes a config with the port left to the server
 * (`-1`) or fixed, a ports file directory and a JetStream store dir, then
 * waits for the ports file while watching for an early exit, and confirms
 * with a TCP connect.
 *
 * @module
 */

/** Options for {@link startNatsServer}. */
export interface NatsServerOptions {
  /** Folder for the config, ports file and JetStream store (created if missing). */
  dir: string;
  /** Client port; `-1` (default) lets the server choose a free one. */
  port?: number;
  host?: string;
  serverName?: string;
  /** JetStream with file storage under `dir/jetstream` (default true). */
  jetstream?: boolean;
  /**
   * JetStream's `max_file_store` in bytes: what all its file streams may hold
   * together (default: the server's own, 75 % of the disk's free space at start).
   */
  maxFileStore?: number;
  /** Cluster settings for a multi-node test cluster. */
  cluster?: { name: string; port: number; routes: number[] };
  /** Extra lines appended to the config. */
  extraConfig?: string;
  /** The nats-server binary (default: `nats-server` on PATH, then /usr/sbin). */
  binary?: string;
  /** Give up after this long (default 10 s). */
  startTimeoutMs?: number;
  /** Where the server log goes (default `dir/server.log`). */
  logFile?: string;
  /**
   * Threads running the server's Go code at once (its `GOMAXPROCS`). By
   * default one fewer than the machine's cores, at least one, unless
   * `GOMAXPROCS` is set in this process's environment (then that): the node
   * beside it needs a whole core for its JavaScript thread: on two cores, with
   * the server on one, 17–39 % more echo tasks a second one task a message
   * (docs/ARCHITECTURE.md, "Performance design").
   */
  procs?: number;
}

/** The `GOMAXPROCS` a nats-server started here gets (see {@link NatsServerOptions.procs}). */
export function natsProcs(given?: number): number {
  if (given !== undefined && Number.isFinite(given)) return Math.max(1, Math.floor(given));
  const env = Deno.env.get("GOMAXPROCS")?.trim() ?? "";
  if (/^[1-9][0-9]{0,5}$/.test(env)) return Number(env);
  return Math.max(1, (navigator.hardwareConcurrency ?? 1) - 1);
}

/** A running nats-server. */
export interface NatsServer extends AsyncDisposable {
  readonly port: number;
  readonly url: string;
  readonly pid: number;
  readonly dir: string;
  readonly options: NatsServerOptions;
  /** Resolves with the exit status when the process ends. */
  readonly exited: Promise<Deno.CommandStatus>;
  /** Stop it: SIGTERM then wait (or SIGKILL with `kill`). */
  stop(signal?: Deno.Signal): Promise<void>;
}

/** Find the nats-server binary, or undefined. */
export async function findNatsServer(preferred?: string): Promise<string | undefined> {
  const candidates = preferred ? [preferred] : [];
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir) candidates.push(`${dir}/nats-server`);
  }
  candidates.push("/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server");
  for (const c of candidates) {
    try {
      const info = await Deno.stat(c);
      if (info.isFile) return c;
    } catch {
      // not here; try the next
    }
  }
  return undefined;
}

/** A free TCP port on 127.0.0.1 (the OS picks; there is a small race until it is used). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Start a nats-server and wait until it accepts connections. */
export async function startNatsServer(options: NatsServerOptions): Promise<NatsServer> {
  const binary = await findNatsServer(options.binary);
  if (!binary) {
    throw new Error(
      "nats-server was not found on PATH or in /usr/sbin: install it (apt-get install -y nats-server)",
    );
  }
  const dir = options.dir;
  const portsDir = `${dir}/ports`;
  await Deno.mkdir(portsDir, { recursive: true });
  for await (const e of Deno.readDir(portsDir)) await Deno.remove(`${portsDir}/${e.name}`);
  const host = options.host ?? "127.0.0.1";
  const lines = [
    `listen: "${host}:${options.port ?? -1}"`,
    `ports_file_dir: "${portsDir}"`,
    `server_name: "${options.serverName ?? "ts-" + crypto.randomUUID().slice(0, 8)}"`,
    `max_payload: 8MB`,
  ];
  if (options.jetstream ?? true) {
    const max = options.maxFileStore ? `, max_file_store: ${options.maxFileStore}` : "";
    lines.push(`jetstream { store_dir: "${dir}/jetstream"${max} }`);
  }
  if (options.cluster) {
    const c = options.cluster;
    lines.push(
      `cluster { name: "${c.name}", listen: "127.0.0.1:${c.port}", routes: [${
        c.routes.map((p) => `"nats-route://127.0.0.1:${p}"`).join(", ")
      }] }`,
    );
  }
  if (options.extraConfig) lines.push(options.extraConfig);
  const conf = `${dir}/server.conf`;
  await Deno.writeTextFile(conf, lines.join("\n") + "\n");
  const logFile = options.logFile ?? `${dir}/server.log`;
  const child = new Deno.Command(binary, {
    args: ["-c", conf, "-l", logFile],
    env: { GOMAXPROCS: String(natsProcs(options.procs)) },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const exited = child.status;
  const timeoutMs = options.startTimeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  let port: number | undefined;
  let early: Deno.CommandStatus | undefined;
  exited.then((s) => (early = s));
  while (port === undefined) {
    if (early) {
      const log = await Deno.readTextFile(logFile).catch(() => "");
      throw new Error(
        `nats-server exited with code ${early.code} before it was ready: ${(await stderr).trim()} ${
          log.split("\n").slice(-5).join(" ")
        }`,
      );
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`nats-server did not write its ports file within ${timeoutMs} ms`);
    }
    port = await readPort(portsDir, child.pid);
    if (port === undefined) await new Promise((r) => setTimeout(r, 20));
  }
  await waitForTcp(host, port, deadline);
  let stopped: Promise<void> | undefined;
  const server: NatsServer = {
    port,
    url: `nats://${host}:${port}`,
    pid: child.pid,
    dir,
    options: { ...options, port },
    exited,
    stop(signal: Deno.Signal = "SIGTERM") {
      if (!stopped) {
        stopped = (async () => {
          try {
            child.kill(signal);
          } catch {
            // already gone
          }
          await exited;
          await stderr.catch(() => "");
        })();
      }
      return stopped;
    },
    async [Symbol.asyncDispose]() {
      await server.stop();
    },
  };
  return server;
}

async function readPort(portsDir: string, pid: number): Promise<number | undefined> {
  try {
    for await (const e of Deno.readDir(portsDir)) {
      if (!e.name.endsWith(`_${pid}.ports`)) continue;
      const text = await Deno.readTextFile(`${portsDir}/${e.name}`);
      const info = JSON.parse(text) as { nats?: string[] };
      const url = info.nats?.[0];
      if (!url) return undefined;
      return Number(new URL(url.replace(/^nats:/, "http:")).port);
    }
  } catch {
    // the file is being written; try again
  }
  return undefined;
}

async function waitForTcp(host: string, port: number, deadline: number): Promise<void> {
  for (;;) {
    try {
      const conn = await Deno.connect({ hostname: host, port });
      conn.close();
      return;
    } catch (err) {
      if (Date.now() > deadline) {
        throw new Error(`nats-server port ${port} never accepted a connection: ${err}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
