/**
 * An in-process node against a test nats-server, and a client: for
 * integration tests of the public contract.
 */

import {
  type Config,
  connectNats,
  defaultConfig,
  type HandlerDefinition,
  type NatsTransport,
  silentLogger,
} from "../../src/internal_mod.ts";
import { loadHandlers, type RunningNode, startNode } from "../../actors/node.ts";
import { Client, SECRET } from "../_cluster.ts";
import { TestServer } from "../_nats_server.ts";

/** A server, a node and a client, disposed together. */
export interface Rig extends AsyncDisposable {
  server: TestServer;
  node: RunningNode;
  transport: NatsTransport;
  client: Client;
  config: Config;
  /** Start the node if it was created with `startNode: false`. */
  start(): Promise<void>;
}

/** Options of {@link rig}. */
export interface RigOptions {
  config?: Partial<Config>;
  /** Extra handlers (test-only task types). */
  handlers?: HandlerDefinition[];
  /** Start the node now (default true). */
  startNode?: boolean;
}

/** Start a server, a node with fast timings and a client. */
export async function rig(o: RigOptions = {}): Promise<Rig> {
  const server = await TestServer.start();
  const config: Config = {
    ...defaultConfig(),
    nodeId: `n${crypto.randomUUID().slice(0, 6)}`,
    workers: 2,
    concurrency: 4,
    heartbeatMs: 200,
    nodeLostMs: 1_000,
    leaseMs: 600,
    retryBaseMs: 50,
    retryMaxMs: 400,
    abortGraceMs: 300,
    shutdownGraceMs: 2_000,
    broker: server.url,
    brokerExplicit: true,
    http: "127.0.0.1:0",
    ...o.config,
  };
  const handlers = await loadHandlers([], silentLogger);
  for (const def of o.handlers ?? []) handlers.set(def.type, { def });
  const client = await Client.connect(server.url);
  let transport: NatsTransport | null = null;
  let node: RunningNode | null = null;
  const r: Rig = {
    server,
    client,
    config,
    get node() {
      if (!node) throw new Error("node not started");
      return node;
    },
    get transport() {
      if (!transport) throw new Error("node not started");
      return transport;
    },
    async start() {
      transport = await connectNats({ servers: server.url, name: config.nodeId });
      node = await startNode({ config, transport, log: silentLogger, jwtSecret: SECRET, handlers });
      // Ready when the scheduler leads and the node said hello: an echo round trip proves both.
      const id = `ready-${crypto.randomUUID().slice(0, 8)}`;
      client.submit("echo", { id, payload: null });
      await client.result(id, 15_000);
    },
    async [Symbol.asyncDispose]() {
      await node?.shutdown(500).catch(() => {});
      await transport?.close().catch(() => {});
      await client[Symbol.asyncDispose]();
      await server[Symbol.asyncDispose]();
    },
  };
  if (o.startNode !== false) await r.start();
  return r;
}
