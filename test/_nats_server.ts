/**
 * One nats-server per test file, as nats.js's own test launcher does: port
 * chosen by the server (`-1`) and read from its ports file, a fresh store
 * dir, cleanup on dispose. A server can be stopped, killed and restarted on
 * the same port and store (for restart tests), and three can form a cluster.
 */

import { connectNats } from "../src/transport/nats.ts";
import { freePort, type NatsServer, startNatsServer } from "../src/transport/nats_server.ts";

/** A test server that can be stopped, killed and started again. */
export class TestServer implements AsyncDisposable {
  #server: NatsServer;
  #dir: string;
  #owned: boolean;

  private constructor(server: NatsServer, dir: string, owned: boolean) {
    this.#server = server;
    this.#dir = dir;
    this.#owned = owned;
  }

  /** Start one in a fresh temp folder. */
  static async start(
    options: {
      jetstream?: boolean;
      extraConfig?: string;
      port?: number;
      dir?: string;
      /** JetStream's max_file_store, bytes (see NatsServerOptions). */
      maxFileStore?: number;
    } = {},
  ): Promise<TestServer> {
    const dir = options.dir ?? await Deno.makeTempDir({ prefix: "ts-nats-" });
    const server = await startNatsServer({
      dir,
      jetstream: options.jetstream,
      maxFileStore: options.maxFileStore,
      extraConfig: options.extraConfig,
      port: options.port ?? -1,
    });
    return new TestServer(server, dir, options.dir === undefined);
  }

  get url(): string {
    return this.#server.url;
  }

  get port(): number {
    return this.#server.port;
  }

  get pid(): number {
    return this.#server.pid;
  }

  get dir(): string {
    return this.#dir;
  }

  /** Stop gracefully (SIGTERM) or hard (SIGKILL). */
  stop(signal: Deno.Signal = "SIGTERM"): Promise<void> {
    return this.#server.stop(signal);
  }

  /**
   * Start again on the same port with the same store, after `downMs` without
   * a server; `jetstream: false` brings it back without JetStream.
   */
  async restart(downMs = 0, options: { jetstream?: boolean } = {}): Promise<void> {
    await this.#server.stop();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    this.#server = await startNatsServer({
      ...this.#server.options,
      ...options,
      port: this.#server.port,
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#server.stop("SIGKILL");
    if (this.#owned) await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}

/** The log of the server in folder `dir` so far (`""` before it is written). */
export function serverLog(dir: string): string {
  try {
    return Deno.readTextFileSync(`${dir}/server.log`);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return "";
    throw err;
  }
}

/** Has every server (by its folder) logged a JetStream meta leader within `timeoutMs`? */
async function metaLeaderKnown(dirs: string[], timeoutMs: number): Promise<boolean> {
  const logged = (d: string) => serverLog(d).includes("metadata leader");
  const t0 = Date.now();
  while (!dirs.every(logged)) {
    if (Date.now() - t0 > timeoutMs) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/** A cluster of nats-servers with routes on loopback. */
export class TestCluster implements AsyncDisposable {
  readonly servers: NatsServer[];
  readonly dir: string;

  private constructor(servers: NatsServer[], dir: string) {
    this.servers = servers;
    this.dir = dir;
  }

  static async start(size = 3): Promise<TestCluster> {
    // Ports are picked before the servers bind them; another test may take one meanwhile: try again.
    for (let attempt = 1;; attempt++) {
      const dir = await Deno.makeTempDir({ prefix: "ts-cluster-" });
      const routes = Array.from({ length: size }, () => freePort());
      const ports = Array.from({ length: size }, () => freePort());
      const started = await Promise.allSettled(routes.map((route, i) =>
        startNatsServer({
          dir: `${dir}/n${i}`,
          port: ports[i],
          serverName: `n${i}`,
          cluster: { name: "ts", port: route, routes: routes.filter((_, j) => j !== i) },
        })
      ));
      const servers = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
      const dirs = servers.map((_, i) => `${dir}/n${i}`);
      // nats-server 2.9.10 now and then forms a cluster in which one server never hears of the
      // JetStream meta leader (3 of 310 starts here; once it had not after 60 s): start again.
      const formed = servers.length === size && await metaLeaderKnown(dirs, 15_000);
      if (formed) return new TestCluster(servers, dir);
      await Promise.all(servers.map((s) => s.stop("SIGKILL")));
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      const failed = started.find((s) => s.status === "rejected") as PromiseRejectedResult;
      if (attempt >= 3) {
        throw failed?.reason ?? new Error(`no JetStream meta leader known to all ${size} servers`);
      }
    }
  }

  get urls(): string[] {
    return this.servers.map((s) => s.url);
  }

  /**
   * Wait until the cluster places a replicas-3 stream (every server has seen the meta leader
   * once `start` returns, but until they all take part a JetStream request may go unanswered,
   * and `connectNats` waits out its API timeout, 5 s, for it). Resolves how long it took.
   */
  async waitForJetStream(timeoutMs = 60_000): Promise<number> {
    const t0 = Date.now();
    let last: unknown;
    while (Date.now() - t0 < timeoutMs) {
      try {
        const t = await connectNats({ servers: this.urls, name: "js-ready", timeoutMs: 1_000 });
        try {
          await t.ensureStreams([{
            name: "READY_R3",
            subjects: ["ready.r3"],
            retention: "limits",
            replicas: 3,
          }]);
          return Date.now() - t0;
        } finally {
          await t.close();
        }
      } catch (err) {
        last = err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error(`JetStream never placed a replicas-3 stream within ${timeoutMs} ms: ${last}`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop("SIGKILL")));
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
