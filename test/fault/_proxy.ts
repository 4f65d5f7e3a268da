/**
 * A TCP proxy on loopback that stands between one process and its
 * nats-server, so a test can cut that process off the network without
 * touching either side: {@link TcpProxy.blackhole} drops every byte in both
 * directions and closes nothing (no FIN, no RST: what a dead switch or a
 * firewall rule looks like), {@link TcpProxy.heal} forwards again.
 *
 * Bytes dropped mid-stream may leave a connection out of step with the NATS
 * protocol after the heal; one side then sees a parse error and closes it, the
 * proxy closes the other half, and the client reconnects through the proxy.
 */

/** Where the proxy forwards to. */
export interface ProxyTarget {
  hostname?: string;
  port: number;
}

/** A silent-cut TCP proxy; see the module comment. */
export class TcpProxy implements AsyncDisposable {
  #listener: Deno.TcpListener;
  #target: Required<ProxyTarget>;
  #conns = new Set<Deno.TcpConn>();
  #pumps = new Set<Promise<void>>();
  #dropping = false;
  #accepting: Promise<void>;
  /** Bytes thrown away while cut, both directions. */
  dropped = 0;
  /** Connections accepted so far (a client reconnecting adds one). */
  accepted = 0;

  private constructor(listener: Deno.TcpListener, target: Required<ProxyTarget>) {
    this.#listener = listener;
    this.#target = target;
    this.#accepting = this.#accept();
  }

  /**
   * Listen on 127.0.0.1 on a port the OS picks.
   *
   * @example
   * ```ts
   * await using proxy = TcpProxy.start({ port: server.port });
   * // point the process at proxy.url, then proxy.blackhole() ... proxy.heal()
   * ```
   */
  static start(target: ProxyTarget): TcpProxy {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    return new TcpProxy(listener, { hostname: target.hostname ?? "127.0.0.1", port: target.port });
  }

  /** The port clients connect to. */
  get port(): number {
    return this.#listener.addr.port;
  }

  /** `nats://127.0.0.1:<port>`. */
  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Drop all bytes both ways from now on, keeping every socket open. */
  blackhole(): void {
    this.#dropping = true;
  }

  /** Forward again. */
  heal(): void {
    this.#dropping = false;
  }

  /** Stop listening and close every connection. */
  async close(): Promise<void> {
    this.#listener.close();
    for (const c of this.#conns) closeConn(c);
    this.#conns.clear();
    await this.#accepting;
    await Promise.all(this.#pumps);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #accept(): Promise<void> {
    try {
      for await (const client of this.#listener) {
        this.accepted++;
        const p = this.#pipe(client).finally(() => this.#pumps.delete(p));
        this.#pumps.add(p);
      }
    } catch (err) {
      // Closing the listener ends the loop with BadResource; anything else is a real failure.
      if (!(err instanceof Deno.errors.BadResource)) throw err;
    }
  }

  async #pipe(client: Deno.TcpConn): Promise<void> {
    let server: Deno.TcpConn;
    try {
      server = await Deno.connect(this.#target);
    } catch {
      // The server is down: refuse the client the way the server itself would.
      closeConn(client);
      return;
    }
    this.#conns.add(client);
    this.#conns.add(server);
    await Promise.all([this.#pump(client, server), this.#pump(server, client)]);
    this.#conns.delete(client);
    this.#conns.delete(server);
  }

  /** Copy `from` to `to` until either side ends; then close both, so the peer of each sees it. */
  async #pump(from: Deno.TcpConn, to: Deno.TcpConn): Promise<void> {
    const buf = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await from.read(buf);
        if (n === null) break;
        if (this.#dropping) {
          this.dropped += n;
          continue;
        }
        for (let off = 0; off < n;) off += await to.write(buf.subarray(off, n));
      }
    } catch (err) {
      // A socket closed under us (by the other pump, close() or the peer) ends the copy.
      if (!isClosedError(err)) throw err;
    } finally {
      closeConn(from);
      closeConn(to);
    }
  }
}

function isClosedError(err: unknown): boolean {
  return err instanceof Deno.errors.BadResource ||
    err instanceof Deno.errors.Interrupted ||
    err instanceof Deno.errors.ConnectionReset ||
    err instanceof Deno.errors.BrokenPipe ||
    err instanceof Deno.errors.NotConnected;
}

function closeConn(c: Deno.TcpConn): void {
  try {
    c.close();
  } catch (err) {
    // Closed already by the other direction's pump.
    if (!(err instanceof Deno.errors.BadResource)) throw err;
  }
}
