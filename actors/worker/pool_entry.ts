/**
 * The body of one pool thread (a Web Worker): loads handler modules by URL,
 * runs one attempt at a time with {@link runAttempt}, and posts progress and
 * the outcome back. Abort requests arrive as messages.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { silentLogger } from "../../src/internal_mod.ts";
import type { HandlerDefinition } from "../../src/internal_mod.ts";
import { AbortReason, runAttempt } from "./runner.ts";
import type { FromThread, ToThread } from "./pool.ts";

const modules = new Map<string, Promise<HandlerDefinition>>();
const running = new Map<number, AbortController>();

function load(url: string, type: string): Promise<HandlerDefinition> {
  let def = modules.get(url);
  if (!def) {
    def = import(url).then((mod) => {
      const found = [mod.definition, ...(Array.isArray(mod.definitions) ? mod.definitions : [])]
        .find((d: HandlerDefinition | undefined) => d?.type === type);
      if (!found) throw new Error(`module ${url} has no handler for type ${type}`);
      return found as HandlerDefinition;
    });
    modules.set(url, def);
  }
  return def;
}

function post(msg: FromThread): void {
  self.postMessage(msg);
}

self.onmessage = async (e: MessageEvent<ToThread>) => {
  const msg = e.data;
  if (msg.type === "abort") {
    running.get(msg.job)?.abort(new AbortReason(msg.kind, msg.message));
    return;
  }
  const controller = new AbortController();
  running.set(msg.job, controller);
  try {
    const def = await load(msg.module, msg.taskType);
    const result = await runAttempt({
      def,
      id: msg.id,
      payload: msg.payload,
      attempt: msg.attempt,
      maxAttempts: msg.maxAttempts,
      signal: controller.signal,
      log: silentLogger,
      maxResultBytes: msg.maxResultBytes,
      fsRoots: msg.fsRoots,
      httpAllow: msg.httpAllow,
      onProgress: (progress) => post({ type: "progress", job: msg.job, progress }),
    });
    post({ type: "done", job: msg.job, result });
  } catch (err) {
    post({
      type: "done",
      job: msg.job,
      result: {
        outcome: "failed",
        error: { code: "HANDLER_ERROR", message: (err as Error).message },
      },
    });
  } finally {
    running.delete(msg.job);
  }
};
