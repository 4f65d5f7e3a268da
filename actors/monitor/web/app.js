/**
 * The monitor's dashboard: one page, plain JavaScript, no build step.
 *
 * It reads the HTTP face of docs/PROTOCOL.md section 10: the session
 * (`/api/login`, `/api/me`, `/api/logout`), the folded view (`/api/overview`,
 * `/api/nodes`, `/api/tasks/recent`, `/api/events/*`), live updates from
 * `/events` (server-sent events) and actions forwarded to the scheduler
 * (`/api/request/<subject>`, `/api/submit`). The scheduler decides who may
 * do what: the page offers every action and shows the refusal it gets.
 *
 * Every value from the server reaches the DOM as text (`textContent`, text
 * nodes, attributes): never as HTML.
 *
 * Charts use uPlot, loaded from `/uplot.js` as the global `uPlot`.
 */

// --- state -------------------------------------------------------------------

const TERMINAL = new Set(["succeeded", "failed", "cancelled", "expired", "rejected"]);
const TASK_STATES = [
  "queued",
  "waiting",
  "dispatched",
  "running",
  "retrying",
  "succeeded",
  "failed",
  "cancelled",
  "expired",
  "rejected",
];
const HELD_STATES = ["waiting", "queued", "dispatched", "running", "retrying"];
/** Recent tasks kept by the page. */
const MAX_TASKS = 2000;
/** Task rows shown at once. */
const MAX_ROWS = 200;
const MAX_ALERTS = 200;

const S = {
  /** `{sub, roles, expiresAt}` of the session, or null when signed out. */
  me: null,
  /** The last `/api/overview` (or SSE `overview`) object. */
  overview: null,
  /** Node id → node status plus `fenced`, `heardAgoMs`, `_at` (when received). */
  nodes: new Map(),
  /** Task id → task record (actors/monitor/view.ts TaskRecord). */
  tasks: new Map(),
  /** Alerts, oldest first, de-duplicated on `key`. */
  alerts: [],
  alertKeys: new Set(),
  /** `off`, `connecting`, `live`, `retrying`. */
  live: "off",
};

// --- DOM helpers ---------------------------------------------------------------

/**
 * Make an element. `props`: `class`, `testid`, `dataset`, `on<event>`, `value`,
 * `checked`, `style` (object), other attributes. Children: nodes or text
 * (strings and numbers become text nodes; null, undefined and false are skipped).
 */
function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  let value;
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "testid") el.dataset.testid = v;
      else if (k === "dataset") Object.assign(el.dataset, v);
      else if (k === "value") value = v;
      else if (k === "checked") el.checked = Boolean(v);
      else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
      else if (k.startsWith("on") && typeof v === "function") {
        el.addEventListener(k.slice(2), v);
      } else if (v === true) el.setAttribute(k, "");
      else el.setAttribute(k, String(v));
    }
  }
  add(el, kids);
  if (value !== undefined) el.value = String(value);
  return el;
}

function add(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    el.append(k instanceof Node ? k : String(k));
  }
}

function fill(el, ...kids) {
  el.replaceChildren();
  add(el, kids);
  return el;
}

function card(title, props, ...kids) {
  return h(
    "section",
    { class: `card ${props?.class ?? ""}`.trim(), testid: props?.testid },
    title ? h("h2", null, title, props?.extra ?? null) : null,
    ...kids,
  );
}

function badge(state, extra) {
  const s = state ?? "unknown";
  return h("span", { class: `badge st-${stateClass(s)}`, ...extra }, s);
}

function stateClass(s) {
  return String(s).toLowerCase().replace(/[^a-z]+/g, "-");
}

function taskLink(id) {
  return h("a", { href: `#/task/${encodeURIComponent(id)}`, class: "mono" }, id);
}

function table(testid, headers, rows, empty = "nothing yet") {
  return h(
    "table",
    { testid },
    h("thead", null, h("tr", null, headers.map((x) => h("th", null, x)))),
    h(
      "tbody",
      null,
      rows.length ? rows : h("tr", { class: "empty" }, h("td", { colspan: headers.length }, empty)),
    ),
  );
}

/** A message line: `ok` (text) or an error (class `error`). */
function note(el, kind, text) {
  el.className = kind === "error" ? "error" : kind === "ok" ? "ok" : "muted";
  el.textContent = text ?? "";
  el.hidden = !text;
}

/** A button that asks to be clicked again before it acts. */
function confirmButton(label, props, act) {
  let armed = false;
  let timer = 0;
  const b = h("button", {
    type: "button",
    ...props,
    onclick: () => {
      if (!armed) {
        armed = true;
        b.textContent = `${label}: sure?`;
        b.classList.add("armed");
        timer = setTimeout(() => {
          armed = false;
          b.textContent = label;
          b.classList.remove("armed");
        }, 4000);
        return;
      }
      clearTimeout(timer);
      armed = false;
      b.textContent = label;
      b.classList.remove("armed");
      act();
    },
  }, label);
  return b;
}

// --- formatting ------------------------------------------------------------------

function pad(n, w = 2) {
  return String(n).padStart(w, "0");
}

/** An ISO time or epoch ms as local `HH:MM:SS`, with the date when not today. */
function fmtTime(t) {
  if (t === null || t === undefined || t === "" || t === 0) return "–";
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return time;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

function fmtMs(ms) {
  if (ms === null || ms === undefined || Number.isNaN(Number(ms))) return "–";
  ms = Number(ms);
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const m = Math.floor(ms / 60_000);
  if (m < 60) return `${m}m ${Math.round((ms % 60_000) / 1000)}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

function fmtAgo(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "–";
  if (ms < 0) ms = 0;
  if (ms < 1000) return "now";
  return `${fmtMs(ms).replace(/\.\d+ s$/, " s")} ago`;
}

function fmtIn(iso) {
  const ms = new Date(iso).getTime() - Date.now();
  if (Number.isNaN(ms)) return "";
  return ms <= 0 ? "due" : `in ${fmtMs(ms).replace(/\.\d+ s$/, " s")}`;
}

function fmtBytes(b) {
  if (typeof b !== "number") return "–";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (b >= 1024 && i < u.length - 1) {
    b /= 1024;
    i++;
  }
  return `${b.toFixed(i && b < 100 ? 1 : 0)} ${u[i]}`;
}

function fmtNum(n, digits = 0) {
  if (typeof n !== "number" || Number.isNaN(n)) return "–";
  return n.toLocaleString("en-US", { maximumFractionDigits: digits });
}

function fmtError(e) {
  if (!e) return "";
  if (typeof e === "string") return e;
  const code = e.code ?? "";
  const msg = e.message ?? "";
  return code && msg ? `${code}: ${msg}` : String(code || msg || JSON.stringify(e));
}

function json(v) {
  try {
    return JSON.stringify(v, null, 2);
  } catch {
    return String(v);
  }
}

function list(v) {
  return Array.isArray(v) && v.length ? v.join(", ") : "–";
}

// --- the API ---------------------------------------------------------------------

/**
 * GET `path`, or POST `body` (JSON) to it. Resolves to `{ok, status, data}`;
 * `ok` is false for an HTTP error or a reply carrying `error` or `ok: false`.
 */
async function api(path, body) {
  const init = { credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.method = "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    return {
      ok: false,
      status: 0,
      data: { code: "UNAVAILABLE", message: `the monitor does not answer: ${e.message ?? e}` },
    };
  }
  const text = await res.text().catch(() => "");
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: text.slice(0, 500) };
  }
  const ok = res.ok && !(data && (data.error || data.ok === false));
  if (res.status === 401 && path !== "/api/login" && S.me) signedOut();
  return { ok, status: res.status, data };
}

/** The error text of a failed {@link api} call: `CODE: message`. */
function apiError(r) {
  const d = r.data ?? {};
  const e = d.error && typeof d.error === "object" ? d.error : d;
  const code = typeof e.code === "string" ? e.code : "";
  const msg = typeof e.message === "string"
    ? e.message
    : typeof d.error === "string"
    ? d.error
    : "";
  if (code === "UNAVAILABLE" && !msg) {
    return "UNAVAILABLE: no scheduler answers (no leader?): try again in a moment";
  }
  const text = [code, msg].filter(Boolean).join(": ");
  return text || `HTTP ${r.status}`;
}

/** One scheduler request through `/api/request/<subject>`. */
function request(subject, body) {
  return api(`/api/request/${subject}`, body ?? {});
}

// --- live updates ------------------------------------------------------------------

let es = null;
let esRetry = 0;
let esTimer = 0;

function setLive(state) {
  S.live = state;
  const el = document.getElementById("live");
  el.dataset.state = state;
  el.textContent =
    { off: "offline", connecting: "connecting", live: "live", retrying: "reconnecting" }[
      state
    ];
}

function connectEvents() {
  clearTimeout(esTimer);
  if (es) es.close();
  if (!S.me) return;
  setLive(esRetry ? "retrying" : "connecting");
  const src = new EventSource("/events");
  es = src;
  src.onopen = () => {
    if (es !== src) return;
    esRetry = 0;
    setLive("live");
    // Whatever changed while away: the ring and the nodes again.
    loadTasks();
    loadNodes();
  };
  src.onerror = () => {
    if (es !== src) return;
    setLive("retrying");
    // The browser retries a dropped stream by itself, but not one refused
    // (401, 5xx): reconnect by hand then, after checking the session.
    if (src.readyState === EventSource.CLOSED) {
      src.close();
      esRetry++;
      const delay = Math.min(15_000, 500 * 2 ** Math.min(esRetry, 5));
      esTimer = setTimeout(async () => {
        const r = await api("/api/me");
        if (r.status === 401) return; // signedOut() ran
        connectEvents();
      }, delay);
    }
  };
  src.addEventListener("overview", (e) => {
    const o = parse(e.data);
    if (!o) return;
    S.overview = o;
    if (Array.isArray(o.alerts)) o.alerts.forEach(addAlert);
    changed("overview");
  });
  src.addEventListener("nodes", (e) => {
    const o = parse(e.data);
    if (o && Array.isArray(o.nodes)) {
      o.nodes.forEach(putNode);
      changed("nodes");
    }
  });
  src.addEventListener("tasks", (e) => {
    const o = parse(e.data);
    if (o && Array.isArray(o.tasks)) {
      o.tasks.forEach(putTask);
      trimTasks();
      changed("tasks");
    }
  });
  src.addEventListener("alert", (e) => {
    const a = parse(e.data);
    if (a && addAlert(a)) changed("alerts");
  });
}

function parse(s) {
  try {
    return JSON.parse(s);
  } catch {
    return null;
  }
}

function putTask(t) {
  if (!t || typeof t.id !== "string") return;
  if (t.removed === true) {
    S.tasks.delete(t.id);
    return;
  }
  const had = S.tasks.get(t.id);
  // The server sends whole records: replace, keeping when the page first had this version.
  const same = had && had.updated === t.updated && had.seq === t.seq;
  // Keep the order "least recently changed first", as the server's ring.
  S.tasks.delete(t.id);
  S.tasks.set(t.id, { ...t, _at: same ? had._at : Date.now() });
}

function trimTasks() {
  while (S.tasks.size > MAX_TASKS) S.tasks.delete(S.tasks.keys().next().value);
}

/** A node as `/api/nodes` lists it (or as the fold holds it: `{status, fenced, heard}`). */
function putNode(n) {
  if (!n || typeof n !== "object") return;
  const flat = n.status && typeof n.status === "object"
    ? { ...n.status, fenced: n.fenced, heardAgoMs: n.heardAgoMs }
    : { ...n };
  const id = flat.node ?? n.node ?? n.id;
  if (typeof id !== "string") return;
  if (n.removed === true || n.forgotten === true || n.gone === true) {
    S.nodes.delete(id);
    return;
  }
  S.nodes.set(id, { ...flat, node: id, _at: Date.now() });
}

function addAlert(a) {
  if (!a || typeof a !== "object") return false;
  const key = a.key ?? `${a.kind}:${a.at}:${a.summary}`;
  if (S.alertKeys.has(key)) return false;
  S.alertKeys.add(key);
  S.alerts.push(a);
  S.alerts.sort((x, y) => String(x.at).localeCompare(String(y.at)));
  while (S.alerts.length > MAX_ALERTS) S.alertKeys.delete(S.alerts.shift().key);
  return true;
}

async function loadTasks() {
  const r = await api("/api/tasks/recent");
  if (!r.ok || !Array.isArray(r.data?.tasks)) return;
  // Newest first from the server: insert oldest first.
  for (const t of [...r.data.tasks].reverse()) {
    const have = S.tasks.get(t.id);
    // A live update may have brought a newer version meanwhile.
    if (have && (have.updated ?? 0) > (t.updated ?? 0)) continue;
    putTask(t);
  }
  trimTasks();
  changed("tasks");
}

async function loadNodes() {
  const r = await api("/api/nodes");
  if (!r.ok || !Array.isArray(r.data?.nodes)) return;
  S.nodes.clear();
  r.data.nodes.forEach(putNode);
  changed("nodes");
}

async function loadOverview() {
  const r = await api("/api/overview");
  if (!r.ok || !r.data) return;
  S.overview = r.data;
  if (Array.isArray(r.data.alerts)) r.data.alerts.forEach(addAlert);
  changed("overview");
}

async function loadAlerts() {
  const r = await api("/api/events/alerts");
  if (r.ok && Array.isArray(r.data?.events)) {
    r.data.events.forEach(addAlert);
    changed("alerts");
  }
}

// --- rendering loop ------------------------------------------------------------------

/** The view on screen: `{name, update(kinds), destroy()}`. */
let current = null;
const pending = new Set();
let flushTimer = 0;

/** Data of `kind` changed: the current view updates soon (coalesced). */
function changed(kind) {
  pending.add(kind);
  if (flushTimer) return;
  flushTimer = setTimeout(() => {
    flushTimer = 0;
    const kinds = new Set(pending);
    pending.clear();
    if (current?.update) {
      try {
        current.update(kinds);
      } catch (e) {
        console.error("render failed", e);
      }
    }
  }, 60);
}

const views = {
  login: viewLogin,
  overview: viewOverview,
  tasks: viewTasks,
  task: viewTask,
  workers: viewWorkers,
  schedules: viewSchedules,
  dead: viewDead,
  events: viewEvents,
  submit: viewSubmit,
};

function route() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [name, ...rest] = raw.split("/");
  let arg = null;
  if (rest.length) {
    try {
      arg = decodeURIComponent(rest.join("/"));
    } catch {
      arg = rest.join("/");
    }
  }
  return { name: views[name] ? name : "overview", arg };
}

function render() {
  if (current?.destroy) current.destroy();
  current = null;
  const main = document.getElementById("view");
  main.replaceChildren();
  const r = S.me ? route() : { name: "login", arg: null };
  if (S.me && r.name === "login") {
    location.hash = "#/overview";
    return;
  }
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle(
      "active",
      a.dataset.route === r.name || (r.name === "task" && a.dataset.route === "tasks"),
    );
  }
  main.dataset.view = r.name;
  current = { name: r.name, ...views[r.name](main, r.arg) };
  current.update?.(new Set(["overview", "nodes", "tasks", "alerts"]));
}

function showUser() {
  const who = document.getElementById("who");
  const nav = document.getElementById("nav");
  who.hidden = nav.hidden = !S.me;
  if (!S.me) return;
  const user = document.getElementById("user");
  fill(user, S.me.sub ?? "?");
  if (S.me.expiresAt) user.title = `session ends ${fmtTime(S.me.expiresAt)}`;
  fill(
    document.getElementById("roles"),
    (S.me.roles ?? []).map((r) => h("span", { class: "role", testid: `role-${r}` }, r)),
  );
}

function signedIn(me) {
  S.me = me;
  showUser();
  connectEvents();
  loadOverview();
  loadAlerts();
}

function signedOut() {
  S.me = null;
  if (es) es.close();
  es = null;
  clearTimeout(esTimer);
  esRetry = 0;
  setLive("off");
  S.overview = null;
  S.nodes.clear();
  S.tasks.clear();
  S.alerts = [];
  S.alertKeys.clear();
  showUser();
  render();
}

// --- views: sign-in ---------------------------------------------------------------

function viewLogin(root) {
  const err = h("p", { class: "error", testid: "login-error", role: "alert", hidden: true });
  const token = h("textarea", {
    rows: 4,
    testid: "login-token",
    placeholder: "eyJhbGciOiJIUzI1NiIs…",
    spellcheck: "false",
    autocomplete: "off",
  });
  const name = h("input", { testid: "login-name", autocomplete: "username" });
  const password = h("input", {
    type: "password",
    testid: "login-password",
    autocomplete: "current-password",
  });
  const go = async (body, button) => {
    note(err, null, "");
    button.disabled = true;
    const r = await api("/api/login", body);
    button.disabled = false;
    if (!r.ok) return note(err, "error", apiError(r));
    const me = r.data?.sub ? r.data : (await api("/api/me")).data;
    signedIn(me);
    if (!location.hash || location.hash === "#/login") location.hash = "#/overview";
    else render();
  };
  const tokenButton = h("button", { type: "submit", testid: "login-submit" }, "Sign in");
  const passButton = h("button", { type: "submit", testid: "login-password-submit" }, "Sign in");
  root.append(
    h(
      "div",
      { class: "login" },
      card(
        "Sign in",
        { testid: "login" },
        h(
          "form",
          {
            testid: "login-form",
            onsubmit: (e) => {
              e.preventDefault();
              const t = token.value.trim().replace(/^bearer\s+/i, "");
              if (!t) return note(err, "error", "paste a token first");
              go({ token: t }, tokenButton);
            },
          },
          h("label", null, "Token (JWT)", token),
          h("div", { class: "row" }, tokenButton),
        ),
        h("div", { class: "or" }, "or with a user name and password"),
        h(
          "form",
          {
            testid: "login-password-form",
            onsubmit: (e) => {
              e.preventDefault();
              if (!name.value || !password.value) {
                return note(err, "error", "give a user name and a password");
              }
              go({ name: name.value.trim(), password: password.value }, passButton);
            },
          },
          h(
            "div",
            { class: "row" },
            h("label", null, "Name", name),
            h("label", null, "Password", password),
          ),
          h("div", { class: "row" }, passButton),
        ),
        err,
      ),
    ),
  );
  token.focus();
  return {};
}

// --- views: overview --------------------------------------------------------------

const WINDOWS = [
  ["last minute", 60],
  ["last 5 minutes", 300],
];
let chartWindow = 300;

function viewOverview(root) {
  const leader = h("div", { class: "kv" });
  const counts = h("div", { class: "tiles", testid: "counts" });
  const nodes = h("div", { class: "tiles", testid: "nodes-by-state" });
  const rates = h("div", { class: "tiles", testid: "rates" });
  const queue = h("div", { class: "bars", testid: "queue-depth" });
  const latency = h("div", { testid: "latency" });
  const alerts = h("div", { testid: "alerts" });
  const storage = h("div", { class: "banner error", testid: "storage-full", hidden: true });
  const tput = h("div", { class: "chart", testid: "chart-throughput" });
  const fails = h("div", { class: "chart", testid: "chart-failures" });
  const span = h(
    "select",
    {
      testid: "chart-window",
      class: "small",
      value: chartWindow,
      onchange: () => {
        chartWindow = Number(span.value);
        drawCharts();
      },
    },
    WINDOWS.map(([label, s]) => h("option", { value: s }, label)),
  );
  root.append(
    h("h1", { testid: "view-title" }, "Overview"),
    storage,
    h(
      "div",
      { class: "grid g4" },
      card("Leader", { testid: "leader" }, leader),
      card("Tasks", null, counts),
      card("Nodes", null, nodes),
      card("Per second (last 10 s)", null, rates),
    ),
    h(
      "div",
      { class: "grid g2" },
      card("Throughput", { extra: span }, tput),
      card("Failures", null, fails),
    ),
    h(
      "div",
      { class: "grid g3" },
      card("Queue depth by priority", null, queue),
      card("Latency (recent tasks)", null, latency),
      card("Recent alerts", { class: "scroll" }, alerts),
    ),
  );

  let charts = null;
  const ro = new ResizeObserver(() => {
    if (!charts) return;
    for (const [c, el] of [[charts.t, tput], [charts.f, fails]]) {
      c.setSize({ width: Math.max(200, el.clientWidth), height: 170 });
    }
  });
  ro.observe(tput);

  function seriesData() {
    const s = S.overview?.series;
    if (!s || !Array.isArray(s.submitted)) return null;
    const n = s.submitted.length;
    const from = Math.max(0, n - chartWindow);
    const step = (s.stepMs || 1000) / 1000;
    const start = (s.start || 0) / 1000;
    const xs = [];
    for (let i = from; i < n; i++) xs.push(start + i * step);
    const cut = (k) => (Array.isArray(s[k]) ? s[k].slice(from, n) : xs.map(() => 0));
    return { xs, submitted: cut("submitted"), succeeded: cut("succeeded"), failed: cut("failed") };
  }

  function chartOpts(el, series) {
    return {
      width: Math.max(200, el.clientWidth),
      height: 170,
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      axes: [
        {
          stroke: "#667",
          grid: { stroke: "#eef0f3" },
          ticks: { stroke: "#dde" },
          space: 56,
          // One line per tick, local wall clock: 13:55, 13:55:30.
          values: (_u, splits) =>
            splits.map((v) => {
              const d = new Date(v * 1000);
              const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
              return d.getSeconds() ? `${hm}:${pad(d.getSeconds())}` : hm;
            }),
        },
        { stroke: "#667", grid: { stroke: "#eef0f3" }, ticks: { stroke: "#dde" }, size: 40 },
      ],
      series: [{}, ...series],
    };
  }

  function drawCharts() {
    const d = seriesData();
    if (!d) return;
    if (typeof globalThis.uPlot !== "function") {
      fill(tput, h("p", { class: "muted" }, "chart library not loaded"));
      return;
    }
    const td = [d.xs, d.submitted, d.succeeded];
    const fd = [d.xs, d.failed];
    if (!charts) {
      tput.replaceChildren();
      fails.replaceChildren();
      charts = {
        t: new globalThis.uPlot(
          chartOpts(tput, [
            { label: "submitted", stroke: "#3b6fd8", width: 1.5, fill: "rgba(59,111,216,0.08)" },
            { label: "succeeded", stroke: "#2e9a55", width: 1.5 },
          ]),
          td,
          tput,
        ),
        f: new globalThis.uPlot(
          chartOpts(fails, [
            { label: "failed", stroke: "#d23c3c", width: 1.5, fill: "rgba(210,60,60,0.12)" },
          ]),
          fd,
          fails,
        ),
      };
    } else {
      charts.t.setData(td);
      charts.f.setData(fd);
    }
  }

  function update() {
    const o = S.overview;
    if (!o) {
      fill(leader, h("p", { class: "muted" }, "waiting for the monitor…"));
      return;
    }
    if (o.leader) {
      fill(
        leader,
        h(
          "div",
          null,
          h("span", { class: "k" }, "id"),
          h("span", { class: "mono", testid: "leader-id" }, o.leader.id),
        ),
        h(
          "div",
          null,
          h("span", { class: "k" }, "epoch"),
          h("span", { testid: "leader-epoch" }, o.leader.epoch ?? "–"),
        ),
        h(
          "div",
          null,
          h("span", { class: "k" }, "node"),
          h("span", { class: "mono" }, o.leader.node ?? "–"),
        ),
      );
    } else {
      fill(leader, h("p", { class: "error", testid: "leader-none" }, "no scheduler leads"));
    }
    const c = o.counts ?? {};
    const order = ["held", "queued", "waiting", "retrying", "running", "accepted", "finished"];
    const keys = [
      ...order.filter((k) => k in c),
      ...Object.keys(c).filter((k) => !order.includes(k)),
    ];
    fill(
      counts,
      keys.length
        ? keys.map((k) => tile(k, c[k], `count-${k}`))
        : h("p", { class: "muted" }, "no counts yet"),
    );
    const n = o.nodes ?? {};
    fill(
      nodes,
      Object.keys(n).length
        ? Object.entries(n).map(([k, v]) =>
          tile(k, v, `nodes-${k}`, k === "lost" && v > 0 ? "bad" : "")
        )
        : h("p", { class: "muted" }, "no nodes"),
    );
    const r = o.rates ?? {};
    fill(
      rates,
      ["submitted", "succeeded", "failed"].map((k) =>
        tile(k, fmtNum(r[k] ?? 0, 1), `rate-${k}`, k === "failed" && r[k] > 0 ? "bad" : "")
      ),
    );
    const q = Array.isArray(o.queuedByPriority) ? o.queuedByPriority : [];
    const qmax = Math.max(1, ...q);
    fill(
      queue,
      q.length
        ? q
          .map((v, p) =>
            h(
              "div",
              { class: "bar", title: `priority ${p}: ${v} queued`, testid: `queue-p${p}` },
              h("span", { class: "lbl" }, `p${p}`),
              h(
                "span",
                { class: "track" },
                h("span", { class: "fillbar", style: { width: `${(100 * v) / qmax}%` } }),
              ),
              h("span", { class: "num" }, fmtNum(v)),
            )
          )
          .reverse()
        : h("p", { class: "muted" }, "nothing queued"),
    );
    const l = o.latency ?? {};
    fill(
      latency,
      table(
        "latency-table",
        ["", "p50", "p90", "p99", "max", "samples"],
        ["wait", "run"].map((k) => {
          const x = l[k];
          return h(
            "tr",
            null,
            h("th", null, k),
            ["p50", "p90", "p99", "max"].map((p) =>
              h("td", { class: "num" }, x ? fmtMs(x[p]) : "–")
            ),
            h("td", { class: "num" }, x ? fmtNum(x.samples) : "0"),
          );
        }),
      ),
    );
    const full = Array.isArray(o.storageFull) ? o.storageFull : [];
    storage.hidden = !full.length;
    storage.textContent = full.length
      ? `Storage full: ${full.join(", ")} refuse(s) new messages`
      : "";
    drawCharts();
  }

  function updateAlerts() {
    const recent = S.alerts.slice(-12).reverse();
    fill(alerts, recent.length ? recent.map(alertItem) : h("p", { class: "muted" }, "no alerts"));
  }

  return {
    update(kinds) {
      if (kinds.has("overview")) update();
      if (kinds.has("alerts") || kinds.has("overview")) updateAlerts();
    },
    destroy() {
      ro.disconnect();
      charts?.t.destroy();
      charts?.f.destroy();
    },
  };
}

function tile(label, value, testid, cls = "") {
  return h(
    "div",
    { class: `tile ${cls}`.trim(), testid },
    h("div", { class: "v" }, typeof value === "number" ? fmtNum(value) : value ?? "–"),
    h("div", { class: "l" }, label),
  );
}

function alertItem(a) {
  return h(
    "div",
    { class: `alert sev-${String(a.severity ?? "info").replace(/[^a-z]/g, "")}`, testid: "alert" },
    h(
      "div",
      { class: "alert-head" },
      h("span", { class: "badge" }, a.severity ?? "info"),
      h("span", { class: "mono" }, a.kind ?? ""),
      h("span", { class: "muted" }, fmtTime(a.at)),
    ),
    h("div", null, a.summary ?? ""),
  );
}

// --- views: tasks -----------------------------------------------------------------

const tasksFilter = { state: "", q: "" };

function viewTasks(root) {
  const stateSel = h(
    "select",
    {
      testid: "tasks-filter-state",
      onchange: () => {
        tasksFilter.state = stateSel.value;
        renderRecent();
      },
    },
    h("option", { value: "" }, "all states"),
    TASK_STATES.map((s) => h("option", { value: s }, s)),
  );
  stateSel.value = tasksFilter.state;
  const search = h("input", {
    type: "search",
    placeholder: "search by id",
    testid: "tasks-search",
    value: tasksFilter.q,
    oninput: () => {
      tasksFilter.q = search.value.trim();
      renderRecent();
    },
  });
  const chips = h("div", { class: "chips", testid: "tasks-by-state" });
  const info = h("span", { class: "muted" });
  const tbody = h("tbody");
  const recent = h(
    "div",
    { class: "tablewrap" },
    h(
      "table",
      { testid: "tasks-table" },
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          ["id", "type", "state", "prio", "attempt", "worker", "progress", "changed"].map((x) =>
            h("th", null, x)
          ),
        ),
      ),
      tbody,
    ),
  );
  const empty = h("tr", { class: "empty" }, h("td", { colspan: 8 }));
  const rowCache = new Map();

  const heldSel = h(
    "select",
    { testid: "held-state" },
    h("option", { value: "" }, "every held task"),
    HELD_STATES.map((s) => h("option", { value: s }, s)),
  );
  const heldType = h("input", { placeholder: "type (optional)", testid: "held-type", size: 14 });
  const heldMsg = h("p", { hidden: true, testid: "held-message" });
  const held = h("div", { class: "tablewrap" });
  let heldRows = [];
  let heldNext = null;
  const more = h("button", {
    type: "button",
    class: "ghost",
    hidden: true,
    onclick: () => loadHeld(true),
  }, "More");

  async function loadHeld(append) {
    const body = {};
    if (heldSel.value) body.state = heldSel.value;
    if (heldType.value.trim()) body.type = heldType.value.trim();
    if (append && heldNext) body.after = heldNext;
    note(heldMsg, null, "");
    const r = await request("tasks.list", body);
    if (!r.ok) {
      note(heldMsg, "error", apiError(r));
      return;
    }
    const got = Array.isArray(r.data?.tasks) ? r.data.tasks : [];
    heldRows = append ? heldRows.concat(got) : got;
    heldNext = r.data?.next ?? null;
    more.hidden = !heldNext;
    fill(
      held,
      table(
        "held-table",
        ["id", "type", "state", "priority", "attempts", "worker", "submitted", "deadline"],
        heldRows.map((t) =>
          h(
            "tr",
            { testid: "held-row", dataset: { id: t.id } },
            h("td", null, taskLink(t.id)),
            h("td", null, t.type ?? "–"),
            h("td", null, badge(t.state)),
            h("td", { class: "num" }, t.priority ?? "–"),
            h("td", { class: "num" }, t.attempts ?? "–"),
            h("td", { class: "mono" }, t.worker ?? "–"),
            h("td", null, fmtTime(t.submittedAt)),
            h("td", null, t.deadline ? fmtTime(t.deadline) : "–"),
          )
        ),
        "the scheduler holds no such task",
      ),
    );
    note(heldMsg, null, `${heldRows.length} task(s)${heldNext ? ", more follow" : ""}`);
  }

  root.append(
    h("h1", { testid: "view-title" }, "Tasks"),
    card(
      "Recent tasks",
      { testid: "tasks-recent" },
      h("div", { class: "toolbar" }, stateSel, search, info),
      chips,
      recent,
    ),
    card(
      "Held by the scheduler",
      { testid: "tasks-held" },
      h(
        "form",
        {
          class: "toolbar",
          onsubmit: (e) => {
            e.preventDefault();
            loadHeld(false);
          },
        },
        heldSel,
        heldType,
        h("button", { type: "submit", testid: "held-load" }, "List"),
        more,
      ),
      heldMsg,
      held,
    ),
  );

  function renderRecent() {
    const all = [...S.tasks.values()].reverse(); // newest change first
    const by = {};
    for (const t of all) by[t.state ?? "unknown"] = (by[t.state ?? "unknown"] ?? 0) + 1;
    fill(
      chips,
      Object.entries(by)
        .sort((a, b) => TASK_STATES.indexOf(a[0]) - TASK_STATES.indexOf(b[0]))
        .map(([s, n]) =>
          h(
            "button",
            {
              type: "button",
              class: `chip st-${stateClass(s)} ${tasksFilter.state === s ? "on" : ""}`,
              testid: `chip-${s}`,
              onclick: () => {
                tasksFilter.state = tasksFilter.state === s ? "" : s;
                stateSel.value = tasksFilter.state;
                renderRecent();
              },
            },
            `${s} ${n}`,
          )
        ),
    );
    const q = tasksFilter.q.toLowerCase();
    const rows = all.filter((t) =>
      (!tasksFilter.state || t.state === tasksFilter.state) &&
      (!q || t.id.toLowerCase().includes(q))
    );
    info.textContent = rows.length > MAX_ROWS
      ? `showing ${MAX_ROWS} of ${rows.length}`
      : `${rows.length} task(s)`;
    const now = Date.now();
    const shown = rows.slice(0, MAX_ROWS);
    const trs = shown.map((t) => {
      // Rows are kept while their task does not change: a click is not lost to a redraw.
      const sig = JSON.stringify([
        t.state,
        t.type,
        t.priority,
        t.attempt,
        t.worker,
        t.progress,
        t.message,
        t.cancelling,
      ]);
      let c = rowCache.get(t.id);
      if (!c || c.sig !== sig) {
        c = { sig, tr: taskRow(t) };
        rowCache.set(t.id, c);
      }
      c.tr.lastChild.textContent = t.updated ? fmtAgo(now - t.updated) : "–";
      return c.tr;
    });
    const keep = new Set(shown.map((t) => t.id));
    for (const k of rowCache.keys()) if (!keep.has(k)) rowCache.delete(k);
    if (!trs.length) {
      empty.firstChild.textContent = tasksFilter.state || q
        ? "no task matches"
        : "no task seen yet";
      trs.push(empty);
    }
    syncChildren(tbody, trs);
  }

  loadHeld(false);
  return {
    update(kinds) {
      if (kinds.has("tasks")) renderRecent();
    },
  };
}

function taskRow(t) {
  return h(
    "tr",
    { testid: "task-row", dataset: { id: t.id, state: t.state ?? "" } },
    h("td", null, taskLink(t.id)),
    h("td", null, t.type ?? "–"),
    h(
      "td",
      null,
      badge(t.cancelling && !TERMINAL.has(t.state) ? `${t.state}, cancelling` : t.state),
    ),
    h("td", { class: "num" }, t.priority ?? "–"),
    h("td", { class: "num" }, t.attempt ?? "–"),
    h("td", { class: "mono" }, t.worker ?? "–"),
    h(
      "td",
      null,
      typeof t.progress === "number" ? progressBar(t.progress, t.message, "row-progress") : "–",
    ),
    h("td", { class: "muted" }),
  );
}

/** Make `parent`'s children exactly `nodes`, moving only what is out of place. */
function syncChildren(parent, nodes) {
  nodes.forEach((n, i) => {
    const at = parent.childNodes[i];
    if (at !== n) parent.insertBefore(n, at ?? null);
  });
  while (parent.childNodes.length > nodes.length) parent.lastChild.remove();
}

function progressBar(p, message, testid) {
  const pct = Math.max(0, Math.min(100, Math.round(p * 100)));
  return h(
    "div",
    { class: "progress", testid, dataset: { progress: String(p) }, title: message ?? `${pct}%` },
    h("span", { class: "fillbar", style: { width: `${pct}%` } }),
    h("span", { class: "pct" }, `${pct}%`),
  );
}

// --- views: task detail ---------------------------------------------------------------

function viewTask(root, id) {
  if (!id) {
    location.hash = "#/tasks";
    return {};
  }
  const stateEl = h("span", { testid: "task-state-wrap" });
  const prog = h("div", { class: "progress-wrap" });
  const msg = h("p", { class: "muted", testid: "task-message" });
  const fields = h("dl", { class: "fields", testid: "task-fields" });
  const outcome = h("div", { testid: "task-outcome" });
  const history = h("div", { class: "tablewrap" });
  const actionOk = h("p", { hidden: true, testid: "task-action" });
  const actionErr = h("p", { class: "error", role: "alert", hidden: true, testid: "task-error" });
  const loadErr = h("p", { hidden: true, testid: "task-load-error" });
  const cancel = h(
    "button",
    { type: "button", class: "danger", testid: "task-cancel", onclick: doCancel },
    "Cancel",
  );
  const refresh = h("button", {
    type: "button",
    class: "ghost",
    testid: "task-refresh",
    onclick: () => load(),
  }, "Refresh");
  root.append(
    h(
      "h1",
      { testid: "view-title" },
      h("a", { href: "#/tasks", class: "back" }, "Tasks"),
      " / ",
      h("span", { class: "mono", testid: "task-id" }, id),
    ),
    card(
      null,
      { testid: "task-detail" },
      h(
        "div",
        { class: "toolbar" },
        stateEl,
        prog,
        h("span", { class: "spacer" }),
        refresh,
        cancel,
      ),
      msg,
      actionOk,
      actionErr,
      loadErr,
      fields,
    ),
    h(
      "div",
      { class: "grid g2" },
      card("Result", null, outcome),
      card("Attempts", null, history),
    ),
  );

  /** The last tasks.status reply, and when it came (page clock). */
  let status = null;
  let statusAt = 0;
  let loading = false;
  let again = false;
  let tries = 0;
  let timer = 0;
  let gone = false;

  async function load() {
    if (loading) {
      again = true;
      return;
    }
    loading = true;
    const r = await request("tasks.status", { id });
    loading = false;
    if (gone) return;
    if (r.ok) {
      status = r.data;
      statusAt = Date.now();
      note(loadErr, null, "");
    } else if (r.status === 404) {
      note(loadErr, "muted", `the scheduler knows no task ${id} (yet)`);
    } else {
      note(loadErr, "error", apiError(r));
    }
    paint();
    if (again) {
      again = false;
      load();
    }
  }

  /** The live record says the task ended but the status does not yet: ask again, a few times. */
  function chase() {
    if (timer || loading || tries >= 10) return;
    tries++;
    timer = setTimeout(() => {
      timer = 0;
      load();
    }, 200 * tries);
  }

  async function doCancel() {
    note(actionOk, null, "");
    note(actionErr, null, "");
    cancel.disabled = true;
    const r = await request("tasks.cancel", { id });
    cancel.disabled = false;
    if (!r.ok) {
      note(actionErr, "error", apiError(r));
      return;
    }
    note(
      actionOk,
      "ok",
      r.data?.state === "cancelling"
        ? `cancelling (was ${r.data?.was ?? "?"}): the worker's abort signal fires`
        : `cancelled (was ${r.data?.was ?? "?"})`,
    );
    tries = 0;
    load();
  }

  let liveSig = "";
  let statusSig = "";
  /** The bar, made once the first progress is known, then moved in place (it animates). */
  let bar = null;

  function paint() {
    const live = S.tasks.get(id);
    const liveNewer = live && live._at > statusAt;
    const st = liveNewer ? live.state : status?.state ?? live?.state;
    const cancelling = Boolean(live?.cancelling) && !TERMINAL.has(st);
    let p = live?.progress;
    if (st === "succeeded") p = 1;
    const sig = JSON.stringify([st, cancelling, p, live?.message]);
    if (sig !== liveSig) {
      liveSig = sig;
      fill(
        stateEl,
        st
          ? badge(cancelling ? `${st}, cancelling` : st, {
            testid: "task-state",
            dataset: { state: st },
          })
          : h("span", { class: "muted", testid: "task-state", dataset: { state: "" } }, "unknown"),
      );
      cancel.disabled = TERMINAL.has(st);
      if (typeof p === "number") {
        if (!bar) {
          bar = progressBar(p, live?.message, "task-progress");
          prog.append(bar);
        }
        const pct = Math.max(0, Math.min(100, Math.round(p * 100)));
        bar.dataset.progress = String(p);
        bar.title = live?.message ?? `${pct}%`;
        bar.firstChild.style.width = `${pct}%`;
        bar.lastChild.textContent = `${pct}%`;
      }
      msg.textContent = live?.message && !TERMINAL.has(st) ? live.message : "";
    }
    if (live && TERMINAL.has(live.state) && !(status && TERMINAL.has(status.state))) chase();
    paintStatus(live, st);
  }

  function paintStatus(live, st) {
    const s = status ?? {};
    const rows = [
      ["type", s.type ?? live?.type],
      ["priority", s.priority ?? live?.priority],
      ["attempts", s.attempts ?? live?.attempt],
      ["worker", s.worker ?? live?.worker],
      ["submitted", s.submittedAt ? fmtTime(s.submittedAt) : null],
      ["started", s.startedAt ? fmtTime(s.startedAt) : null],
      ["finished", s.finishedAt ? fmtTime(s.finishedAt) : null],
      ["duration", typeof s.durationMs === "number" ? fmtMs(s.durationMs) : null],
      ["deadline", s.deadline ? fmtTime(s.deadline) : null],
      ["waiting on", Array.isArray(s.waitingOn) ? s.waitingOn.join(", ") : s.waitingOn],
      ["wait", typeof live?.waitMs === "number" ? fmtMs(live.waitMs) : null],
      ["run", typeof live?.runMs === "number" ? fmtMs(live.runMs) : null],
    ].filter(([, v]) => v !== undefined && v !== null && v !== "");
    const ended = TERMINAL.has(st);
    const err = s.error ?? (ended ? live?.error : undefined);
    const sig = JSON.stringify([rows, ended, err, s.result, s.history]);
    if (sig === statusSig) return;
    statusSig = sig;
    fill(
      fields,
      rows.map((
        [k, v],
      ) => [h("dt", null, k), h("dd", { testid: `task-${k.replace(" ", "-")}` }, String(v))]),
    );
    if (err) {
      fill(outcome, h("p", { class: "error", testid: "task-result-error" }, fmtError(err)));
    } else if ("result" in s) {
      fill(outcome, h("pre", { testid: "task-result" }, json(s.result)));
    } else {
      fill(outcome, h("p", { class: "muted" }, ended ? "–" : "not ended yet"));
    }
    const hist = Array.isArray(s.history) ? s.history : [];
    fill(
      history,
      table(
        "task-history",
        ["#", "worker", "started", "ended", "outcome", "error"],
        hist.map((x) =>
          h(
            "tr",
            null,
            h("td", { class: "num" }, x.attempt ?? "–"),
            h("td", { class: "mono" }, x.worker ?? (x.by ? `by ${x.by}` : "–")),
            h("td", null, fmtTime(x.startedAt)),
            h("td", null, fmtTime(x.endedAt)),
            h("td", null, badge(x.outcome)),
            h("td", null, fmtError(x.error)),
          )
        ),
        ended ? "no attempt history (a success keeps none)" : "no attempt has ended",
      ),
    );
  }

  load();
  // Without live updates, ask now and then while the task is held.
  const poll = setInterval(() => {
    if (S.live !== "live" && !(status && TERMINAL.has(status.state))) load();
  }, 5000);

  return {
    update(kinds) {
      if (kinds.has("tasks")) paint();
    },
    destroy() {
      gone = true;
      clearInterval(poll);
      clearTimeout(timer);
    },
  };
}

// --- views: workers -----------------------------------------------------------------

function viewWorkers(root) {
  const summary = h("div", { class: "chips", testid: "workers-summary" });
  const body = h("div", { class: "tablewrap" });
  root.append(
    h("h1", { testid: "view-title" }, "Workers"),
    card("Nodes", { testid: "workers" }, summary, body),
  );
  loadNodes();
  const tick = setInterval(() => changed("nodes"), 2000); // keep "heard … ago" fresh

  function update() {
    const now = Date.now();
    const nodes = [...S.nodes.values()].sort((a, b) =>
      String(a.node).localeCompare(String(b.node))
    );
    const by = {};
    for (const n of nodes) by[n.state ?? "unknown"] = (by[n.state ?? "unknown"] ?? 0) + 1;
    fill(
      summary,
      Object.entries(by).map(([s, n]) =>
        h("span", { class: `chip st-${stateClass(s)}` }, `${s} ${n}`)
      ),
    );
    fill(
      body,
      table(
        "workers-table",
        [
          "node",
          "state",
          "health",
          "CPU",
          "memory",
          "slots",
          "queued",
          "workers",
          "capabilities",
          "types",
          "ok / failed",
          "fenced",
          "heard",
        ],
        nodes.map((n) => {
          const busy = n.tasksProcessing ?? 0;
          const total = n.concurrency ?? 0;
          const heard = typeof n.heardAgoMs === "number"
            ? n.heardAgoMs + (now - n._at)
            : typeof n.heartbeatAt === "number"
            ? now - n.heartbeatAt
            : null;
          return h(
            "tr",
            {
              testid: "worker-row",
              class: n.state === "lost" ? "lost" : n.state !== "up" ? "dim" : "",
              dataset: { node: n.node, state: n.state ?? "" },
            },
            h("td", { class: "mono" }, n.node),
            h("td", null, badge(n.state)),
            h("td", null, health(n.health)),
            h(
              "td",
              { class: "num" },
              typeof n.cpuLoad === "number" ? `${n.cpuLoad.toFixed(0)} %` : "–",
            ),
            h("td", { class: "num" }, fmtBytes(n.memoryUsed)),
            h("td", null, slots(busy, total)),
            h("td", { class: "num" }, n.tasksQueued ?? "–"),
            h("td", { class: "num" }, n.workers ?? "–"),
            h("td", { class: "small" }, list(n.capabilities)),
            h("td", { class: "small" }, list(n.types)),
            h(
              "td",
              { class: "num" },
              `${fmtNum(n.tasksSucceeded)} / ${fmtNum(n.tasksFailed)}`,
              n.recentFailures
                ? h(
                  "span",
                  { class: "bad small", title: "failures in the last minute" },
                  ` (${n.recentFailures} recent)`,
                )
                : null,
            ),
            h("td", { class: `num ${n.fenced ? "bad" : ""}` }, n.fenced ?? 0),
            h("td", { class: "muted" }, heard === null ? "–" : fmtAgo(heard)),
          );
        }),
        "no node heard yet",
      ),
    );
  }

  return {
    update(kinds) {
      if (kinds.has("nodes")) update();
    },
    destroy() {
      clearInterval(tick);
    },
  };
}

function health(v) {
  if (typeof v !== "number") return "–";
  const cls = v >= 70 ? "good" : v >= 40 ? "warn" : "bad";
  return h(
    "div",
    { class: `health ${cls}`, title: `health ${v}`, dataset: { health: String(v) } },
    h("span", { class: "fillbar", style: { width: `${Math.max(0, Math.min(100, v))}%` } }),
    h("span", { class: "pct" }, String(Math.round(v))),
  );
}

function slots(busy, total) {
  const pct = total ? Math.min(100, (100 * busy) / total) : 0;
  return h(
    "div",
    { class: "slots", title: `${busy} of ${total} slots busy` },
    h("span", { class: "track" }, h("span", { class: "fillbar", style: { width: `${pct}%` } })),
    h("span", { class: "num" }, `${busy}/${total}`),
  );
}

// --- views: schedules -------------------------------------------------------------

const SCHEDULE_TEMPLATE = {
  name: "beat",
  every: "1m",
  task: { type: "heartbeat", payload: {} },
};

function viewSchedules(root) {
  const msg = h("p", { hidden: true, testid: "schedules-message" });
  const body = h("div", { class: "tablewrap" });
  const editor = h("textarea", {
    rows: 12,
    class: "mono",
    spellcheck: "false",
    testid: "schedule-json",
    value: json(SCHEDULE_TEMPLATE),
  });
  const editMsg = h("p", { hidden: true, testid: "schedule-editor-message" });
  let scheds = [];

  async function load() {
    const r = await request("schedules.list", { next: 3 });
    if (!r.ok) {
      note(msg, "error", apiError(r));
      fill(body);
      return;
    }
    scheds = Array.isArray(r.data?.schedules) ? r.data.schedules : [];
    paint();
  }

  async function act(op, payload, what) {
    note(msg, null, "");
    const r = await request(`schedules.${op}`, payload);
    if (!r.ok) return note(msg, "error", apiError(r));
    note(msg, "ok", what(r.data));
    load();
  }

  function specOf(v) {
    const spec = { ...v };
    delete spec.state;
    delete spec.next;
    delete spec.recent;
    return spec;
  }

  function paint() {
    fill(
      body,
      table(
        "schedules-table",
        [
          "name",
          "when",
          "task",
          "status",
          "next runs",
          "last run",
          "fired / skipped / missed / triggered",
          "",
        ],
        scheds.map((v) => {
          const st = v.state ?? {};
          const recent = Array.isArray(v.recent) ? v.recent : [];
          const last = recent[recent.length - 1];
          const next = Array.isArray(v.next) ? v.next : [];
          const c = st.counts ?? {};
          const paused = v.paused ?? st.paused;
          return h(
            "tr",
            { testid: "schedule-row", dataset: { name: v.name }, class: paused ? "dim" : "" },
            h("td", { class: "mono" }, v.name),
            h("td", null, when(v)),
            h(
              "td",
              null,
              v.task?.type ?? "–",
              v.task?.priority !== undefined
                ? h("span", { class: "muted small" }, ` p${v.task.priority}`)
                : null,
            ),
            h(
              "td",
              null,
              badge(paused ? "paused" : "active"),
              st.note ? h("div", { class: "small muted" }, st.note) : null,
              Array.isArray(st.active) && st.active.length
                ? h("div", { class: "small" }, `${st.active.length} run(s) going`)
                : null,
            ),
            h(
              "td",
              { class: "small" },
              next.length
                ? next.map((n) =>
                  h(
                    "div",
                    { title: n.local ?? "" },
                    fmtTime(n.at),
                    h("span", { class: "muted" }, ` ${fmtIn(n.at)}`),
                  )
                )
                : h("span", { class: "muted" }, paused ? "paused" : "none"),
            ),
            h(
              "td",
              { class: "small" },
              last
                ? [
                  h("div", null, last.id ? taskLink(last.id) : null),
                  h(
                    "div",
                    null,
                    badge(last.state ?? (last.finishedAt ? "?" : "running")),
                    " ",
                    fmtTime(last.finishedAt ?? last.firedAt),
                  ),
                  last.error ? h("div", { class: "error" }, fmtError(last.error)) : null,
                ]
                : h("span", { class: "muted" }, "none yet"),
            ),
            h(
              "td",
              { class: "num" },
              [c.fired, c.skipped, c.missed, c.triggered].map((x) => x ?? 0).join(" / "),
            ),
            h(
              "td",
              { class: "actions" },
              h("button", {
                type: "button",
                class: "ghost",
                testid: "schedule-edit",
                onclick: () => {
                  editor.value = json(specOf(v));
                  editor.focus();
                  editor.scrollIntoView({ block: "center" });
                },
              }, "Edit"),
              paused
                ? h("button", {
                  type: "button",
                  testid: "schedule-resume",
                  onclick: () => act("resume", { name: v.name }, () => `${v.name} resumed`),
                }, "Resume")
                : h("button", {
                  type: "button",
                  testid: "schedule-pause",
                  onclick: () => act("pause", { name: v.name }, () => `${v.name} paused`),
                }, "Pause"),
              h("button", {
                type: "button",
                testid: "schedule-trigger",
                onclick: () =>
                  act(
                    "trigger",
                    { name: v.name },
                    (d) => `${v.name} triggered: run ${d?.id ?? "?"}`,
                  ),
              }, "Trigger"),
              confirmButton(
                "Delete",
                { class: "danger", testid: "schedule-delete" },
                () => act("delete", { name: v.name }, () => `${v.name} deleted`),
              ),
            ),
          );
        }),
        "no schedules",
      ),
    );
  }

  root.append(
    h("h1", { testid: "view-title" }, "Schedules"),
    card(
      "Schedules",
      {
        testid: "schedules",
        extra: h("button", { type: "button", class: "ghost small", onclick: load }, "Refresh"),
      },
      msg,
      body,
    ),
    card(
      "Add or edit",
      { testid: "schedule-editor" },
      h(
        "p",
        { class: "muted small" },
        "A schedule spec (docs/PROTOCOL.md 8.1) as JSON. Saving a spec with an existing name replaces it.",
      ),
      editor,
      h(
        "div",
        { class: "row" },
        h("button", {
          type: "button",
          testid: "schedule-save",
          onclick: async () => {
            let spec;
            try {
              spec = JSON.parse(editor.value);
            } catch (e) {
              return note(editMsg, "error", `not valid JSON: ${e.message}`);
            }
            const r = await request("schedules.put", spec);
            if (!r.ok) return note(editMsg, "error", apiError(r));
            note(
              editMsg,
              "ok",
              `${r.data?.schedule?.name ?? spec.name}: ${
                r.data?.created ? "created" : r.data?.changed ? "changed" : "unchanged"
              }`,
            );
            load();
          },
        }, "Save"),
        h("button", {
          type: "button",
          class: "ghost",
          onclick: () => (editor.value = json(SCHEDULE_TEMPLATE)),
        }, "New from template"),
      ),
      editMsg,
    ),
  );
  load();
  const tick = setInterval(load, 15_000);
  return {
    destroy() {
      clearInterval(tick);
    },
  };
}

function when(v) {
  const tz = v.tz && v.tz !== "UTC" ? ` (${v.tz})` : "";
  let s;
  if (v.every) s = `every ${v.every}${v.offset && v.offset !== "0s" ? ` + ${v.offset}` : ""}`;
  else if (v.daily) s = `daily at ${v.daily}`;
  else if (v.weekly) {
    const d = Array.isArray(v.weekly.days) ? v.weekly.days.join(", ") : v.weekly.days;
    s = `weekly ${d} at ${v.weekly.at}`;
  } else if (v.cron) s = `cron ${v.cron}`;
  else s = "–";
  return h("span", { class: "mono small" }, s + tz);
}

// --- views: dead letters -----------------------------------------------------------

function viewDead(root) {
  const msg = h("p", { hidden: true, testid: "dead-message" });
  const body = h("div", { class: "tablewrap" });
  let rows = [];
  let next = null;
  const more = h("button", {
    type: "button",
    class: "ghost",
    hidden: true,
    onclick: () => load(true),
  }, "More");

  async function load(append) {
    const req = { state: "dead" };
    if (append && next) req.after = next;
    const r = await request("tasks.list", req);
    if (!r.ok) return note(msg, "error", apiError(r));
    const got = Array.isArray(r.data?.tasks) ? r.data.tasks : [];
    rows = append ? rows.concat(got) : got;
    next = r.data?.next ?? null;
    more.hidden = !next;
    paint();
  }

  async function act(subject, payload, what) {
    note(msg, null, "");
    const r = await request(subject, payload);
    if (!r.ok) return note(msg, "error", apiError(r));
    note(msg, "ok", what(r.data));
    load(false);
  }

  function paint() {
    fill(
      body,
      table(
        "dead-table",
        ["id", "type", "attempts", "failed at", "error", ""],
        rows.map((t) =>
          h(
            "tr",
            { testid: "dead-row", dataset: { id: t.id } },
            h("td", null, taskLink(t.id)),
            h("td", null, t.type ?? "–"),
            h("td", { class: "num" }, t.attempts ?? "–"),
            h("td", null, fmtTime(t.finishedAt)),
            h("td", { class: "small" }, fmtError(t.error)),
            h(
              "td",
              { class: "actions" },
              h("button", {
                type: "button",
                testid: "dead-retry",
                onclick: () =>
                  act("tasks.retry", { id: t.id }, (d) => `${t.id} ${d?.state ?? "resubmitted"}`),
              }, "Retry"),
              confirmButton("Purge", { class: "danger", testid: "dead-purge" }, () =>
                act("tasks.purge", { id: t.id }, (d) =>
                  `purged ${d?.purged ?? 0}`)),
            ),
          )
        ),
        "no dead letters",
      ),
    );
  }

  root.append(
    h("h1", { testid: "view-title" }, "Dead letters"),
    card(
      "Failed tasks",
      {
        testid: "dead",
        extra: h(
          "span",
          { class: "head-actions" },
          h(
            "button",
            { type: "button", class: "ghost small", onclick: () => load(false) },
            "Refresh",
          ),
          confirmButton(
            "Purge all",
            { class: "danger small", testid: "dead-purge-all" },
            () =>
              act("tasks.purge", { all: true }, (d) => `purged ${d?.purged ?? 0} dead letter(s)`),
          ),
        ),
      },
      msg,
      body,
      h("div", { class: "row" }, more),
    ),
  );
  load(false);
  return {};
}

// --- views: events --------------------------------------------------------------------

function viewEvents(root) {
  const alerts = h("div", { testid: "alerts-list" });
  const sup = h("div", { class: "tablewrap" });
  const sched = h("div", { class: "tablewrap" });
  const msg = h("p", { hidden: true });
  root.append(
    h("h1", { testid: "view-title" }, "Events"),
    msg,
    h(
      "div",
      { class: "grid g2" },
      card("Alerts", { testid: "alerts-card", class: "scroll tall" }, alerts),
      card("Supervision", { testid: "supervision", class: "scroll tall" }, sup),
    ),
    card("Schedule events", { testid: "schedule-events", class: "scroll" }, sched),
  );

  async function load() {
    const [s, e] = await Promise.all([
      api("/api/events/supervision"),
      api("/api/events/schedules"),
    ]);
    if (!s.ok) note(msg, "error", apiError(s));
    const sv = (s.ok && Array.isArray(s.data?.events) ? s.data.events : []).slice().reverse();
    fill(
      sup,
      table(
        "supervision-table",
        ["at", "node", "event", "supervisor", "child", "detail"],
        sv.slice(0, 200).map((x) =>
          h(
            "tr",
            {
              class: x.type === "child.failed" || x.type === "supervisor.escalated"
                ? "warnrow"
                : "",
            },
            h("td", null, fmtTime(x.at)),
            h("td", { class: "mono" }, x.node ?? "–"),
            h("td", null, x.type ?? "–"),
            h("td", { class: "mono small" }, x.supervisor ?? "–"),
            h("td", { class: "mono small" }, x.child ?? list(x.children)),
            h(
              "td",
              { class: "small" },
              x.error
                ? fmtError(x.error)
                : x.reason ?? (x.delayMs !== undefined
                  ? `in ${x.delayMs} ms (${x.restartsInWindow ?? "?"} in window)`
                  : ""),
            ),
          )
        ),
        "no supervision events",
      ),
    );
    const ev = (e.ok && Array.isArray(e.data?.events) ? e.data.events : []).slice().reverse();
    fill(
      sched,
      table(
        "schedule-events-table",
        ["at", "schedule", "event", "detail"],
        ev.slice(0, 200).map((x) => {
          const rest = { ...x };
          for (const k of ["at", "name", "event", "seq", "epoch"]) delete rest[k];
          return h(
            "tr",
            null,
            h("td", null, fmtTime(x.at)),
            h("td", { class: "mono" }, x.name ?? "–"),
            h("td", null, x.event ?? "–"),
            h("td", { class: "mono small" }, JSON.stringify(rest)),
          );
        }),
        "no schedule events",
      ),
    );
  }

  function paintAlerts() {
    const all = S.alerts.slice().reverse();
    fill(alerts, all.length ? all.map(alertItem) : h("p", { class: "muted" }, "no alerts"));
  }

  load();
  loadAlerts();
  const tick = setInterval(load, 10_000);
  return {
    update(kinds) {
      if (kinds.has("alerts")) paintAlerts();
    },
    destroy() {
      clearInterval(tick);
    },
  };
}

// --- views: submit --------------------------------------------------------------------

function viewSubmit(root) {
  const types = new Set(["echo", "sleep", "compute", "heartbeat"]);
  for (const n of S.nodes.values()) {
    if (Array.isArray(n.types)) n.types.forEach((t) => types.add(t));
  }
  const type = h("input", {
    testid: "submit-type",
    list: "known-types",
    required: true,
    value: "sleep",
    autocomplete: "off",
  });
  const payload = h("textarea", {
    rows: 8,
    class: "mono",
    spellcheck: "false",
    testid: "submit-payload",
    value: json({ ms: 3000 }),
  });
  const priority = h("input", {
    type: "number",
    min: 0,
    max: 9,
    step: 1,
    value: 5,
    testid: "submit-priority",
  });
  const id = h("input", {
    testid: "submit-id",
    placeholder: "optional: generated when empty",
    autocomplete: "off",
  });
  const out = h("div", { testid: "submit-result" });
  const err = h("p", { class: "error", role: "alert", hidden: true, testid: "submit-error" });
  const button = h("button", { type: "submit", testid: "submit-button" }, "Submit");

  root.append(
    h("h1", { testid: "view-title" }, "Submit a task"),
    card(
      null,
      { testid: "submit" },
      h(
        "form",
        {
          testid: "submit-form",
          onsubmit: async (e) => {
            e.preventDefault();
            note(err, null, "");
            out.replaceChildren();
            let p;
            try {
              p = JSON.parse(payload.value || "null");
            } catch (x) {
              return note(err, "error", `payload is not valid JSON: ${x.message}`);
            }
            const prio = Number(priority.value);
            if (!Number.isInteger(prio) || prio < 0 || prio > 9) {
              return note(err, "error", "priority must be an integer from 0 to 9");
            }
            const body = { type: type.value.trim(), payload: p, priority: prio };
            if (id.value.trim()) body.id = id.value.trim();
            button.disabled = true;
            const r = await api("/api/submit", body);
            button.disabled = false;
            if (!r.ok) return note(err, "error", apiError(r));
            const tid = r.data?.id ?? body.id;
            fill(
              out,
              h(
                "p",
                { class: "ok" },
                r.data?.duplicate ? "Already stored (duplicate): " : "Stored: ",
                h("a", {
                  href: `#/task/${encodeURIComponent(tid)}`,
                  testid: "submit-link",
                  class: "mono",
                }, tid),
                h(
                  "span",
                  { class: "muted" },
                  ` (TASKS sequence ${
                    r.data?.streamSeq ?? "?"
                  }). Its outcome follows on the task's page.`,
                ),
              ),
            );
          },
        },
        h(
          "div",
          { class: "row" },
          h("label", null, "Type", type),
          h("label", null, "Priority (0–9)", priority),
          h("label", { class: "grow" }, "Id", id),
        ),
        h(
          "datalist",
          { id: "known-types" },
          [...types].sort().map((t) => h("option", { value: t })),
        ),
        h("label", null, "Payload (JSON)", payload),
        h("div", { class: "row" }, button),
      ),
      err,
      out,
    ),
  );
  return {};
}

// --- start ------------------------------------------------------------------------------

document.getElementById("logout").addEventListener("click", async () => {
  await api("/api/logout", {});
  signedOut();
  location.hash = "#/login";
});

globalThis.addEventListener("hashchange", render);

(async () => {
  const r = await api("/api/me");
  if (r.ok && r.data?.sub) signedIn(r.data);
  showUser();
  render();
})();
