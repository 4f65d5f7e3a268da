/**
 * The broker layer: the {@link Transport} interface, its NATS JetStream
 * implementation, an in-memory twin, remote refs and the nats-server launcher.
 *
 * @module
 */

export { connectNats, NatsTransport, pubAckError } from "./nats.ts";
export { MemoryBroker, MemoryTransport, subjectMatches } from "./memory.ts";
export { decodeMessage, encodeMessage, RemoteRef, serveRef } from "./remote_ref.ts";
export { findNatsServer, freePort, natsProcs, startNatsServer } from "./nats_server.ts";

export type { NatsOptions } from "./nats.ts";
export type { NatsServer, NatsServerOptions } from "./nats_server.ts";
export type {
  ConnectionEvent,
  ConsumerHandle,
  ConsumerSpec,
  DurableMsg,
  DurablePublishOptions,
  InMsg,
  KvBucket,
  KvEntry,
  PubAck,
  PubAckError,
  PublishOptions,
  StoredMsg,
  StreamSpec,
  StreamState,
  Subscription,
  Transport,
} from "./types.ts";
