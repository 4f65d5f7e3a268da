/**
 * Remote actor refs: an {@link ActorRef} whose mailbox is a NATS subject.
 * Messages travel as JSON; a ref inside a message (such as an ask's
 * `replyTo`) travels as `{"$ref": "<subject>"}` and comes back to life as a
 * remote ref on the other side, so `ask` works across processes unchanged.
 *
 * @module
 */

import { SchedulerError } from "../errors.ts";
import type { ActorRef } from "../runtime/actor.ts";
import type { InMsg, Subscription, Transport } from "./types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encode a message, turning refs into `{"$ref": subject}`. */
export function encodeMessage(msg: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(msg, (_k, v) => {
    if (v instanceof RemoteRef) return { $ref: v.path };
    if (v && typeof v === "object" && typeof v.send === "function" && typeof v.path === "string") {
      throw new SchedulerError(
        "INVALID_ARGUMENT",
        `a local ref (${v.path}) cannot be sent over NATS`,
      );
    }
    return v;
  }));
}

/** Decode a message, turning `{"$ref": subject}` back into remote refs. */
export function decodeMessage<M>(data: Uint8Array, transport: Transport): M {
  return JSON.parse(decoder.decode(data), (_k, v) => {
    if (v && typeof v === "object" && typeof v.$ref === "string" && Object.keys(v).length === 1) {
      return new RemoteRef(transport, v.$ref);
    }
    return v;
  }) as M;
}

/** A ref to an actor reachable on a subject. */
export class RemoteRef<M> implements ActorRef<M> {
  constructor(readonly transport: Transport, readonly path: string) {}

  send(msg: M): boolean {
    try {
      this.transport.publish(this.path, encodeMessage(msg));
      return true;
    } catch {
      return false;
    }
  }

  async ask<R>(build: (replyTo: ActorRef<R>) => M, timeoutMs = 5_000): Promise<R> {
    const inbox = this.transport.inbox();
    const reply = Promise.withResolvers<R>();
    const sub = this.transport.subscribe(inbox, (m) => {
      try {
        reply.resolve(decodeMessage<R>(m.data, this.transport));
      } catch (err) {
        reply.reject(err);
      }
    });
    const timer = setTimeout(
      () =>
        reply.reject(
          new SchedulerError("TIMEOUT", `no reply from ${this.path} within ${timeoutMs} ms`),
        ),
      timeoutMs,
    );
    try {
      this.transport.publish(
        this.path,
        encodeMessage(build(new RemoteRef<R>(this.transport, inbox))),
      );
      return await reply.promise;
    } finally {
      clearTimeout(timer);
      sub.unsubscribe();
    }
  }
}

/** Serve a local ref on a subject: what arrives there is decoded and sent to `target`. */
export function serveRef<M>(
  transport: Transport,
  subject: string,
  target: ActorRef<M>,
  opts?: { queue?: string },
): Subscription {
  return transport.subscribe(subject, (m: InMsg) => {
    let msg: M;
    try {
      msg = decodeMessage<M>(m.data, transport);
    } catch {
      return; // not ours to interpret: the sender used the wrong codec
    }
    target.send(msg);
  }, opts);
}
