/**
 * The monitor's HTTP face (`docs/PROTOCOL.md`, section 10): the dashboard
 * page and its assets, `/metrics`, the health probes, the JSON API over the
 * folded view, server-sent events, and the actions, each forwarded as the
 * NATS request the CLI would send, with the signed-in user's token. The
 * scheduler decides what a token may do; this face only checks that a token
 * is valid before it shows anything.
 *
 * @module
 */

import type { Logger, Subjects, TokenVerifier, Transport } from "../../src/internal_mod.ts";
import { renderMetrics } from "./metrics.ts";
import type { Alert, MonitorFold } from "./view.ts";
import page from "./web/index.html" with { type: "text" };
import appJs from "./web/app.js" with { type: "text" };
import appCss from "./web/app.css" with { type: "text" };
import uplotJs from "uplot/dist/uPlot.iife.min.js" with { type: "text" };
import uplotCss from "uplot/dist/uPlot.min.css" with { type: "text" };

/** What the HTTP face reads and calls. */
export interface HttpDeps {
  /** The monitor's fold now (a restarted monitor actor brings a new one). */
  view: () => MonitorFold;
  /** Whether the monitor actor runs. */
  alive: () => boolean;
  transport: Transport;
  subjects: Subjects;
  verifier: TokenVerifier;
  log: Logger;
  /** Webhook failures so far, for `/metrics`. */
  webhookFailures: () => number;
  /** Whether NATS is connected now. */
  connected: () => boolean;
  /** Time limit of a forwarded request (default 5 s). */
  requestTimeoutMs?: number;
}

/** A running HTTP face. */
export interface HttpFace {
  /** `http://host:port` it serves. */
  url: string;
  /** Push an alert to the open event streams. */
  alert(a: Alert): void;
  close(): Promise<void>;
}

interface Session {
  token: string;
  sub: string;
  roles: string[];
  /** Epoch ms the token expires (Infinity: no `exp`). */
  exp: number;
  /** The cookie's session id (none for a bearer token sent with the request). */
  id?: string;
}

interface Stream {
  who: Session;
  send(event: string, data: unknown): void;
  close(): void;
}

/** Event streams one session may hold open. */
const STREAMS_PER_SESSION = 8;
/** Messages a stream may have queued for a slow reader before it is closed. */
const STREAM_BACKLOG = 200;

const STATIC: Record<string, [string, string]> = {
  "/": [page, "text/html; charset=utf-8"],
  "/index.html": [page, "text/html; charset=utf-8"],
  "/app.js": [appJs, "text/javascript; charset=utf-8"],
  "/app.css": [appCss, "text/css; charset=utf-8"],
  "/uplot.js": [uplotJs, "text/javascript; charset=utf-8"],
  "/uplot.css": [uplotCss, "text/css; charset=utf-8"],
};

const SCHEDULE_OPS = new Set(["put", "delete", "pause", "resume", "trigger", "get", "list"]);
const STATUS_OF: Record<string, number> = {
  INVALID_ARGUMENT: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  RESOURCE_EXHAUSTED: 429,
  UNAVAILABLE: 503,
};
const MAX_BODY = 1_048_576;
const PUSH_MS = 500;
const TASKS_PER_EVENT = 200;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Serve on `address` (`host:port`). At the default address a taken port
 * falls back to a free one (`explicit` false); an explicit one must be free.
 */
export function serveHttp(address: string, explicit: boolean, deps: HttpDeps): HttpFace {
  const { log } = deps;
  const sessions = new Map<string, Session>();
  const streams = new Set<Stream>();
  const [hostname, portText] = splitAddress(address);
  const handler = (req: Request) =>
    handle(req).catch((err) => {
      log.error("http handler failed", { error: (err as Error).message, url: req.url });
      return json({ code: "INTERNAL", message: "internal error" }, 500);
    });
  let server: Deno.HttpServer;
  const listen = (port: number) =>
    Deno.serve({ hostname, port, onListen: () => {}, handler }) as Deno.HttpServer;
  try {
    server = listen(Number(portText));
  } catch (err) {
    if (!(err instanceof Deno.errors.AddrInUse) || explicit) {
      throw new Error(`TASK_SCHEDULER_HTTP ${address}: ${(err as Error).message}`);
    }
    server = listen(0);
    const a = server.addr as Deno.NetAddr;
    log.warn("default HTTP port taken; serving on a free port", {
      wanted: address,
      address: `${a.hostname}:${a.port}`,
    });
  }
  const addr = server.addr as Deno.NetAddr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  const url = `http://${host}:${addr.port}`;

  let pushed = -1;
  const pusher = setInterval(() => {
    const fold = deps.view();
    if (fold.version === pushed) return;
    pushed = fold.version;
    const dirty = fold.takeDirty();
    // A stream lives as long as its session: signed out or expired, it ends.
    const now = Date.now();
    for (const s of streams) {
      if (s.who.exp <= now || (s.who.id !== undefined && sessions.get(s.who.id) !== s.who)) {
        s.close();
      }
    }
    if (streams.size === 0) return;
    const ov = overview();
    const nodes = dirty.nodes.map((id) => nodeView(id)).filter((n) => n !== null);
    const tasks = dirty.tasks.map((id) => fold.tasks.get(id)).filter((t) => t !== undefined);
    for (const s of streams) {
      s.send("overview", ov);
      if (nodes.length) s.send("nodes", { nodes });
      for (let i = 0; i < tasks.length; i += TASKS_PER_EVENT) {
        s.send("tasks", { tasks: tasks.slice(i, i + TASKS_PER_EVENT) });
      }
    }
  }, PUSH_MS);

  function overview(): Record<string, unknown> {
    const fold = deps.view();
    const now = Date.now();
    const leader = fold.leader ? fold.schedulers.get(fold.leader) : undefined;
    const nodes: Record<string, number> = { up: 0, draining: 0, leaving: 0, lost: 0 };
    for (const n of fold.nodes.values()) {
      const st = String(n.status.state);
      nodes[st] = (nodes[st] ?? 0) + 1;
    }
    const s = fold.series.last(now, 300);
    return {
      now,
      leader: leader
        ? { id: leader.id, epoch: leader.epoch ?? fold.epoch, node: leader.node }
        : null,
      counts: { ...fold.counts },
      queuedByPriority: fold.queuedByPriority,
      series: { start: s.start, stepMs: 1000, ...s.values },
      rates: {
        submitted: fold.series.rate(now, "submitted"),
        succeeded: fold.series.rate(now, "succeeded"),
        failed: fold.series.rate(now, "failed"),
      },
      latency: { wait: fold.waitRecent.percentiles(), run: fold.runRecent.percentiles() },
      nodes,
      storageFull: fold.storageFull,
      alerts: fold.recentAlerts.slice(-20),
      applied: fold.applied,
      gaps: fold.gaps,
    };
  }

  function nodeView(id: string): Record<string, unknown> | null {
    const fold = deps.view();
    const n = fold.nodes.get(id);
    if (!n) return { node: id, gone: true };
    return { ...n.status, node: id, fenced: n.fenced, heardAgoMs: Date.now() - n.heard };
  }

  async function handle(req: Request): Promise<Response> {
    const fold = deps.view();
    const u = new URL(req.url);
    const path = u.pathname;
    if (req.method === "GET" && STATIC[path]) {
      const [body, type] = STATIC[path];
      return new Response(body, {
        headers: {
          "content-type": type,
          "cache-control": "no-cache",
          "x-content-type-options": "nosniff",
          ...(path === "/" || path === "/index.html"
            ? {
              "content-security-policy":
                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
              "x-frame-options": "DENY",
            }
            : {}),
        },
      });
    }
    if (req.method === "GET" && path === "/metrics") {
      return new Response(renderMetrics(fold, { webhookFailures: deps.webhookFailures() }), {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    }
    if (req.method === "GET" && path === "/healthz") {
      return deps.alive() ? json({ ok: true }) : json({ ok: false, problem: "monitor down" }, 503);
    }
    if (req.method === "GET" && path === "/readyz") return await ready();
    if (path === "/api/login" && req.method === "POST") return await login(req);

    if (!(path.startsWith("/api/") || path === "/events")) {
      return json({ code: "NOT_FOUND", message: `no such path: ${path}` }, 404);
    }
    if (req.method === "POST" && !isJson(req)) {
      return json(
        { code: "INVALID_ARGUMENT", message: "Content-Type must be application/json" },
        415,
      );
    }
    const who = await session(req);
    if ("error" in who) return json({ code: "UNAUTHENTICATED", message: who.error }, 401);

    if (req.method === "GET") {
      switch (path) {
        case "/events":
          return events(who);
        case "/api/me":
          return json(me(who));
        case "/api/overview":
          return json(overview());
        case "/api/nodes":
          return json({ nodes: [...fold.nodes.keys()].sort().map(nodeView) });
        case "/api/tasks/recent":
          return json({ tasks: [...fold.tasks.values()].reverse() });
        case "/api/events/supervision":
          return json({ events: fold.supervision });
        case "/api/events/schedules":
          return json({ events: fold.scheduleEvents });
        case "/api/events/alerts":
          return json({ events: fold.recentAlerts });
      }
    } else if (req.method === "POST") {
      if (path === "/api/logout") {
        for (const [id, s] of sessions) if (s === who) sessions.delete(id);
        return json({ ok: true }, 200, { "set-cookie": cookie("", 0) });
      }
      if (path === "/api/submit") return await submit(req, who);
      if (path.startsWith("/api/request/")) {
        return await forward(path.slice("/api/request/".length), req, who);
      }
    }
    return json({ code: "NOT_FOUND", message: `no such path: ${req.method} ${path}` }, 404);
  }

  async function ready(): Promise<Response> {
    const fold = deps.view();
    const checks = { nats: deps.connected(), leader: fold.leader !== null, jetstream: false };
    const problems: string[] = [];
    if (checks.nats) {
      try {
        await deps.transport.streamInfo(deps.subjects.tasksStream);
        checks.jetstream = true;
      } catch (err) {
        problems.push(`JetStream does not answer: ${(err as Error).message}`);
      }
    } else problems.push("not connected to NATS");
    if (!checks.leader) problems.push("no scheduler leads");
    const ok = checks.nats && checks.leader && checks.jetstream;
    return json({ ok, checks, problems }, ok ? 200 : 503);
  }

  async function login(req: Request): Promise<Response> {
    if (!isJson(req)) {
      return json(
        { code: "INVALID_ARGUMENT", message: "Content-Type must be application/json" },
        415,
      );
    }
    const body = await readJson(req);
    if (!body.ok) return json({ code: "INVALID_ARGUMENT", message: body.error }, 400);
    const b = body.value as Record<string, unknown>;
    let token: string;
    if (typeof b.token === "string") token = b.token.trim();
    else if (typeof b.name === "string" && typeof b.password === "string") {
      let reply: Record<string, unknown>;
      try {
        const m = await deps.transport.request(
          deps.subjects.authLogin,
          encoder.encode(JSON.stringify({ name: b.name, password: b.password })),
          { timeoutMs: deps.requestTimeoutMs ?? 5_000 },
        );
        reply = JSON.parse(decoder.decode(m.data));
      } catch {
        return json({ code: "UNAVAILABLE", message: "no answer to auth.login: try again" }, 503);
      }
      if (typeof reply.token !== "string") {
        const e = (reply.error ?? {}) as { code?: string; message?: string };
        return json(
          { code: e.code ?? "UNAUTHENTICATED", message: e.message ?? "login refused" },
          STATUS_OF[e.code ?? ""] ?? 401,
        );
      }
      token = reply.token;
    } else {
      return json({
        code: "INVALID_ARGUMENT",
        message: 'send {"token": "<JWT>"} or {"name": "...", "password": "..."}',
      }, 400);
    }
    let s: Session;
    try {
      s = await verified(token);
    } catch (err) {
      return json({ code: "UNAUTHENTICATED", message: (err as Error).message }, 401);
    }
    const now = Date.now();
    for (const [id, old] of sessions) if (old.exp <= now) sessions.delete(id);
    if (sessions.size >= 10_000) sessions.delete(sessions.keys().next().value as string);
    const id = randomId();
    s.id = id;
    sessions.set(id, s);
    const maxAge = s.exp === Infinity ? 86_400 : Math.max(1, Math.floor((s.exp - now) / 1000));
    return json(me(s), 200, { "set-cookie": cookie(id, maxAge) });
  }

  async function verified(token: string): Promise<Session> {
    const p = await deps.verifier.verify(token);
    let exp = Infinity;
    try {
      const claims = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
      if (typeof claims.exp === "number") exp = claims.exp * 1000;
    } catch {
      // verified already; no exp readable
    }
    return { token, sub: p.sub, roles: [...p.roles], exp };
  }

  async function session(req: Request): Promise<Session | { error: string }> {
    const auth = req.headers.get("authorization");
    if (auth) {
      try {
        return await verified(auth.replace(/^Bearer\s+/i, ""));
      } catch (err) {
        return { error: (err as Error).message };
      }
    }
    const id = readCookie(req.headers.get("cookie"), "ts_session");
    const s = id ? sessions.get(id) : undefined;
    if (!s) return { error: "sign in first: POST /api/login" };
    if (s.exp <= Date.now()) {
      sessions.delete(id!);
      return { error: "the session's token expired: sign in again" };
    }
    return s;
  }

  function me(s: Session) {
    return {
      sub: s.sub,
      roles: s.roles,
      expiresAt: s.exp === Infinity ? null : new Date(s.exp).toISOString(),
    };
  }

  async function forward(name: string, req: Request, who: Session): Promise<Response> {
    const [group, op] = [name.slice(0, name.indexOf(".")), name.slice(name.indexOf(".") + 1)];
    const sj = deps.subjects;
    const tasks: Record<string, string> = {
      "tasks.status": sj.status,
      "tasks.cancel": sj.cancel,
      "tasks.list": sj.list,
      "tasks.retry": sj.retry,
      "tasks.purge": sj.purge,
    };
    let subject: string;
    if (Object.hasOwn(tasks, name)) subject = tasks[name];
    else if (group === "schedules" && SCHEDULE_OPS.has(op)) subject = deps.subjects.schedules(op);
    else {return json(
        { code: "NOT_FOUND", message: `not a request the page may send: ${name}` },
        404,
      );}
    const body = await readJson(req);
    if (!body.ok) return json({ code: "INVALID_ARGUMENT", message: body.error }, 400);
    let m;
    try {
      m = await deps.transport.request(subject, encoder.encode(JSON.stringify(body.value)), {
        timeoutMs: deps.requestTimeoutMs ?? 5_000,
        headers: { Authorization: `Bearer ${who.token}` },
      });
    } catch {
      return json({
        code: "UNAVAILABLE",
        message: `no scheduler answered ${name}: none leads right now, try again`,
      }, 503);
    }
    const text = decoder.decode(m.data);
    let code: string | undefined;
    try {
      const r = JSON.parse(text);
      code = r?.error?.code;
    } catch {
      return json({ code: "INTERNAL", message: `unreadable answer to ${name}` }, 502);
    }
    const status = code ? STATUS_OF[code] ?? 502 : 200;
    return new Response(text, { status, headers: { "content-type": "application/json" } });
  }

  async function submit(req: Request, who: Session): Promise<Response> {
    const body = await readJson(req);
    if (!body.ok) return json({ code: "INVALID_ARGUMENT", message: body.error }, 400);
    const b = body.value as Record<string, unknown>;
    if (typeof b !== "object" || b === null || Array.isArray(b)) {
      return json({ code: "INVALID_ARGUMENT", message: "the body must be a JSON object" }, 400);
    }
    if (typeof b.type !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(b.type)) {
      return json({
        code: "INVALID_ARGUMENT",
        message: "type must be 1-64 of A-Z a-z 0-9 _ -",
      }, 400);
    }
    const id = typeof b.id === "string" && b.id ? b.id : `web-${randomId().slice(0, 12)}`;
    if (!/^[A-Za-z0-9_-][A-Za-z0-9_:-]{0,127}$/.test(id)) {
      return json(
        { code: "INVALID_ARGUMENT", message: `not a task id: ${JSON.stringify(id)}` },
        400,
      );
    }
    const { type, ...rest } = b; // the type travels in the subject
    const ack = await deps.transport.publishDurable(
      deps.subjects.submit(type),
      encoder.encode(JSON.stringify({ ...rest, id })),
      { msgId: id, headers: { Authorization: `Bearer ${who.token}` } },
    ).catch((err) => ({
      ok: false as const,
      code: "UNAVAILABLE",
      message: (err as Error).message,
    }));
    if (!ack.ok) {
      return json({ code: ack.code, message: `not stored: ${ack.message}` }, 503);
    }
    return json({ id, streamSeq: ack.seq, duplicate: ack.duplicate });
  }

  function events(who: Session): Response {
    let open = 0;
    for (const s of streams) if (s.who.sub === who.sub && s.who.id === who.id) open++;
    if (open >= STREAMS_PER_SESSION) {
      return json({
        code: "RESOURCE_EXHAUSTED",
        message: `${STREAMS_PER_SESSION} event streams are open for this session already`,
      }, 429);
    }
    let stream: Stream | null = null;
    const body = new ReadableStream<Uint8Array>({
      start(ctrl) {
        const fold = deps.view();
        const s: Stream = {
          who,
          send(event, data) {
            // A reader that does not keep up is dropped rather than buffered without end.
            if ((ctrl.desiredSize ?? 0) < -STREAM_BACKLOG) return s.close();
            try {
              ctrl.enqueue(encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`));
            } catch {
              s.close();
            }
          },
          close() {
            streams.delete(s);
            try {
              ctrl.close();
            } catch {
              // closed already
            }
          },
        };
        stream = s;
        streams.add(s);
        s.send("overview", overview());
        s.send("nodes", { nodes: [...fold.nodes.keys()].sort().map(nodeView) });
        const recent = [...fold.tasks.values()].slice(-TASKS_PER_EVENT);
        if (recent.length) s.send("tasks", { tasks: recent });
      },
      cancel() {
        if (stream) streams.delete(stream);
      },
    });
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream",
        "cache-control": "no-cache",
        "x-accel-buffering": "no",
      },
    });
  }

  return {
    url,
    alert(a) {
      for (const s of streams) s.send("alert", a);
    },
    async close() {
      clearInterval(pusher);
      for (const s of [...streams]) s.close();
      await server.shutdown();
    },
  };
}

function splitAddress(address: string): [string, string] {
  const i = address.lastIndexOf(":");
  const host = address.slice(0, i).replace(/^\[|\]$/g, "");
  return [host, address.slice(i + 1)];
}

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store", ...headers },
  });
}

function isJson(req: Request): boolean {
  return (req.headers.get("content-type") ?? "").toLowerCase().startsWith("application/json");
}

async function readJson(
  req: Request,
): Promise<{ ok: true; value: unknown } | { ok: false; error: string }> {
  const tooBig = { ok: false as const, error: `the body is over ${MAX_BODY} bytes` };
  if (Number(req.headers.get("content-length") ?? 0) > MAX_BODY) return tooBig;
  // Counted as it comes: a body without a length (chunked) cannot grow past the limit either.
  const parts: Uint8Array[] = [];
  let size = 0;
  if (req.body) {
    for await (const chunk of req.body) {
      size += chunk.byteLength;
      if (size > MAX_BODY) return tooBig;
      parts.push(chunk);
    }
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.byteLength;
  }
  const text = decoder.decode(bytes);
  if (text.trim() === "") return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, error: `the body is not JSON: ${(err as Error).message}` };
  }
}

function cookie(value: string, maxAge: number): string {
  return `ts_session=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}`;
}

function readCookie(header: string | null, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return v.join("=") || null;
  }
  return null;
}

function randomId(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(18)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}
