/**
 * The soak's cluster: one nats-server of its own (free port, own data folder)
 * and split node processes (two schedulers, three workers), each connected
 * through its own {@link TcpProxy} so that any one of them can be cut off the
 * network. Members are addressed by name (`s1`, `s2`, `w1`..`w3`, and `nats`
 * for the server); the fault injector kills, restarts, stops, continues, cuts
 * and heals them through this class only.
 *
 * Processes run `actors/main.ts` through the test plumbing's
 * `startNodeProcess`, with a deployment's default timings (heartbeat 1 s,
 * node lost after 3.5 s, lease 1.5 s) rather than the fault suite's fast
 * ones; a process that does not start within a minute is killed.
 *
 * @module
 */

import { connectNats, type NatsTransport } from "../../src/internal_mod.ts";
import { type NodeProcess, startNodeProcess } from "../../test/_cluster.ts";
import { TestServer } from "../../test/_nats_server.ts";
import { kill } from "../../test/fault/_fault.ts";
import { TcpProxy } from "../../test/fault/_proxy.ts";

/** What a member runs. */
export type MemberRole = "scheduler" | "worker";

/** One node process and the proxy it reaches NATS through. */
export interface Member {
  readonly name: string;
  readonly role: MemberRole;
  readonly proxy: TcpProxy;
  /** The current incarnation. */
  proc: NodeProcess;
  /** Processes started under this name so far (1 + restarts). */
  starts: number;
  /** SIGSTOPped and not yet continued. */
  stopped: boolean;
  /** Its proxy drops every byte. */
  cut: boolean;
  /** ERROR lines of the current incarnation that were trimmed from its log (the last 100). */
  trimmedErrors: string[];
}

/** A process that exited without being killed by the soak (it was started again). */
export interface Crash {
  name: string;
  at: number;
  code: number;
  /** ERROR lines of that incarnation (the last 100). */
  errors: string[];
  logTail: string[];
}

/** How big the cluster is and how its workers run. */
export interface ClusterOptions {
  schedulers: number;
  workers: number;
  /** Worker actors per worker process. */
  workerActors: number;
  /** Tasks per worker actor at once. */
  concurrency: number;
  /** Log level of the node processes. */
  logLevel: string;
}

/** A deployment's default timings. */
const DEFAULT_TIMINGS: Record<string, string> = {
  TASK_SCHEDULER_HEARTBEAT_MS: "1000",
  TASK_SCHEDULER_HTTP: "127.0.0.1:0",
  TASK_SCHEDULER_NODE_LOST_MS: "3500",
  TASK_SCHEDULER_LEASE_MS: "1500",
  // Not a timing faults meet: only the final stop waits for it.
  TASK_SCHEDULER_SHUTDOWN_GRACE_MS: "3000",
};

/** Log lines kept per process (older ones are dropped so a long soak stays small). */
const LOG_KEEP = 2_000;

/** The soak's nats-server and node processes. */
export class SoakCluster implements AsyncDisposable {
  readonly members: Member[] = [];
  /** Logs of incarnations that were killed, newest last, for a failure report. */
  readonly pastLogs: { name: string; log: string[] }[] = [];
  /** Processes that exited on their own; each was started again, as systemd would. */
  readonly crashes: Crash[] = [];
  #trim: ReturnType<typeof setInterval>;
  /** Incarnations the soak ends itself (kill -9, the final stop): their exit is no crash. */
  #ending = new WeakSet<NodeProcess>();
  #disposing = false;

  private constructor(
    readonly server: TestServer,
    readonly options: ClusterOptions,
    private readonly control: NatsTransport,
  ) {
    this.#trim = setInterval(() => this.#trimLogs(), 10_000);
  }

  /** Start the nats-server; the nodes come with {@link startNodes}. */
  static async start(options: ClusterOptions): Promise<SoakCluster> {
    const server = await TestServer.start();
    try {
      const control = await connectNats({ servers: server.url, name: "soak-control" });
      return new SoakCluster(server, options, control);
    } catch (err) {
      await server[Symbol.asyncDispose]();
      throw err;
    }
  }

  /** Start the schedulers and the workers, each through a proxy of its own. */
  async startNodes(): Promise<void> {
    const o = this.options;
    const names: [string, MemberRole][] = [
      ...Array.from({ length: o.schedulers }, (_, i) => [`s${i + 1}`, "scheduler"]),
      ...Array.from({ length: o.workers }, (_, i) => [`w${i + 1}`, "worker"]),
    ] as [string, MemberRole][];
    const started = await Promise.allSettled(names.map(async ([name, role]) => {
      const proxy = TcpProxy.start({ port: this.server.port });
      try {
        return { name, role, proxy, proc: await this.#spawn(name, role, proxy) };
      } catch (err) {
        await proxy.close();
        throw err;
      }
    }));
    for (const s of started) {
      if (s.status === "fulfilled") {
        this.members.push({ ...s.value, starts: 1, stopped: false, cut: false, trimmedErrors: [] });
      }
    }
    const failed = started.find((s) => s.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  /** The member called `name`. */
  member(name: string): Member {
    const m = this.members.find((x) => x.name === name);
    if (!m) throw new Error(`no member ${name}`);
    return m;
  }

  /** Names of the members of a role. */
  names(role: MemberRole): string[] {
    return this.members.filter((m) => m.role === role).map((m) => m.name);
  }

  /**
   * The node name of the scheduler that holds the leader lease now, read from
   * the lease itself (KV `sched_lease`, key `leader`; an internal name, see
   * docs/PROTOCOL.md section 9), or undefined while it is released or
   * unreadable. The `role` deltas on `monitor.scheduler.>` would do, but a
   * takeover during a nats-server restart is never seen there.
   */
  async leader(): Promise<string | undefined> {
    const entry = await this.control.lastMessage("KV_sched_lease", "$KV.sched_lease.leader")
      .catch(() => null);
    if (!entry) return undefined;
    try {
      const { node } = JSON.parse(new TextDecoder().decode(entry.data)) as { node?: unknown };
      return typeof node === "string" && node !== "" ? node : undefined;
    } catch {
      return undefined; // a delete marker, or not the shape expected
    }
  }

  /**
   * Submissions still in the `TASKS` stream (stored, their result not yet
   * stored): for telling a task that is stuck from one that is gone, never
   * for a verdict.
   */
  async submissionsWaiting(): Promise<number | undefined> {
    return await this.control.streamInfo("TASKS").then((i) => i.messages).catch(() => undefined);
  }

  /** Every process now running, by name, for RSS sampling. */
  pids(): { name: string; pid: number }[] {
    return [
      { name: "nats", pid: this.server.pid },
      ...this.members.map((m) => ({ name: m.name, pid: m.proc.child.pid })),
    ];
  }

  /** kill -9 the member's process and wait until it is gone. */
  async kill9(name: string): Promise<void> {
    const m = this.member(name);
    this.#ending.add(m.proc);
    await kill(m.proc, "SIGKILL");
    m.stopped = false;
    this.pastLogs.push({ name: `${name}#${m.starts}`, log: m.proc.log.slice(-200) });
    if (this.pastLogs.length > 20) this.pastLogs.shift();
  }

  /** Start the member again (after {@link kill9}), through the same proxy; resolves once it runs. */
  async restart(name: string): Promise<void> {
    const m = this.member(name);
    m.proc = await this.#spawn(m.name, m.role, m.proxy);
    m.starts++;
    m.trimmedErrors = [];
  }

  /** SIGSTOP a member, or the nats-server (`nats`). */
  pause(name: string): void {
    this.#signal(name, "SIGSTOP");
    if (name !== "nats") this.member(name).stopped = true;
  }

  /** SIGCONT what {@link pause} stopped. */
  resume(name: string): void {
    this.#signal(name, "SIGCONT");
    if (name !== "nats") this.member(name).stopped = false;
  }

  /** Drop every byte between the member and NATS. */
  cut(name: string): void {
    const m = this.member(name);
    m.proxy.blackhole();
    m.cut = true;
  }

  /** Forward again after {@link cut}. */
  heal(name: string): void {
    const m = this.member(name);
    m.proxy.heal();
    m.cut = false;
  }

  /** Stop the nats-server (SIGTERM), keep it down `downMs`, start it on the same port and store. */
  restartServer(downMs: number): Promise<void> {
    return this.server.restart(downMs);
  }

  /** Undo whatever is still in effect: continue stopped processes and the server, heal cuts. */
  healAll(): void {
    this.#signal("nats", "SIGCONT");
    for (const m of this.members) {
      if (m.stopped) this.resume(m.name);
      if (m.cut) this.heal(m.name);
    }
  }

  /** Stop every node (SIGTERM, SIGKILL after 15 s), then the proxies and the server. */
  async [Symbol.asyncDispose](): Promise<void> {
    clearInterval(this.#trim);
    this.#disposing = true;
    this.healAll();
    await Promise.all(this.members.map(async (m) => {
      this.#ending.add(m.proc);
      const timer = setTimeout(() => m.proc.kill("SIGKILL"), 15_000);
      await kill(m.proc, "SIGTERM");
      clearTimeout(timer);
    }));
    await Promise.all(this.members.map((m) => m.proxy.close()));
    await this.control.close();
    await this.server[Symbol.asyncDispose]();
  }

  async #spawn(name: string, role: MemberRole, proxy: TcpProxy): Promise<NodeProcess> {
    const o = this.options;
    const args = role === "scheduler" ? ["--role", "scheduler", "--node-id", name] : [
      "--role",
      "worker",
      "--node-id",
      name,
      "--workers",
      String(o.workerActors),
      "--concurrency",
      String(o.concurrency),
    ];
    const proc = startNodeProcess(args, {
      ...DEFAULT_TIMINGS,
      TASK_SCHEDULER_MESSAGE_BROKER: proxy.url,
      TASK_SCHEDULER_LOG_LEVEL: o.logLevel,
    });
    try {
      await proc.waitFor("node started", 60_000);
    } catch (err) {
      this.#ending.add(proc);
      await kill(proc, "SIGKILL");
      throw err;
    }
    void proc.exited.then((status) => this.#exited(name, proc, status));
    return proc;
  }

  /** A process ended: unless the soak ended it, record a crash and start it again. */
  async #exited(name: string, proc: NodeProcess, status: Deno.CommandStatus): Promise<void> {
    const m = this.members.find((x) => x.name === name);
    if (this.#disposing || this.#ending.has(proc) || !m || m.proc !== proc) return;
    this.crashes.push({
      name,
      at: Date.now(),
      code: status.code,
      errors: [...m.trimmedErrors, ...proc.log.filter(isError)].slice(-100),
      logTail: proc.log.slice(-200),
    });
    m.stopped = false;
    await new Promise((r) => setTimeout(r, 1_000)); // systemd's RestartSec
    if (this.#disposing || m.proc !== proc) return;
    try {
      await this.restart(name);
    } catch (err) {
      this.crashes.push({ name, at: Date.now(), code: -1, errors: [String(err)], logTail: [] });
    }
  }

  #signal(name: string, signal: Deno.Signal): void {
    try {
      if (name === "nats") Deno.kill(this.server.pid, signal);
      else this.member(name).proc.kill(signal);
    } catch {
      // already gone
    }
  }

  #trimLogs(): void {
    for (const m of this.members) {
      const extra = m.proc.log.length - LOG_KEEP;
      if (extra <= 0) continue;
      const dropped = m.proc.log.splice(0, extra);
      m.trimmedErrors.push(...dropped.filter(isError));
      m.trimmedErrors.splice(0, m.trimmedErrors.length - 100);
    }
  }
}

function isError(line: string): boolean {
  return line.includes(" ERROR ");
}
