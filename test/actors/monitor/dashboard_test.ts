/// <reference lib="dom" />
/**
 * The monitor's dashboard in headless Chromium against a real node: signing
 * in with a token, a task followed live (list, detail, progress, end) without
 * a reload, a viewer's cancel refused with the scheduler's message while the
 * task runs on, an admin's cancel done, the overview's leader and charts, the
 * workers table, a schedule added from the page, a dead letter, a submission
 * from the form, and a screenshot of every page (test/artifacts/dashboard/,
 * and, with UPDATE_README_SHOT=1, the overview as docs/dashboard.png for the README).
 *
 * Needs Debian's chromium at /usr/bin/chromium.
 */
import assert from "node:assert/strict";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { type HandlerDefinition, mintToken } from "../../../src/internal_mod.ts";
import { SECRET } from "../../_cluster.ts";
import { rig } from "../../e2e/_node.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = new URL("../../artifacts/dashboard/", import.meta.url);
const README_SHOT = new URL("../../../docs/dashboard.png", import.meta.url);
const WAIT = { timeout: 20_000 };

/** Fails at once for good: a dead letter and a `task-failed` alert. */
const doomed: HandlerDefinition = {
  type: "doomed",
  // deno-lint-ignore require-yield
  handler: async function* () {
    throw new Error("the disk is on fire");
  },
};

function chromium(): string {
  try {
    if (Deno.statSync(CHROMIUM).isFile) return CHROMIUM;
  } catch {
    // missing: said below
  }
  throw new Error(
    `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; ` +
      "deploy/run test installs it) to run the dashboard test",
  );
}

const tid = (id: string) => `[data-testid="${id}"]`;

async function shot(page: Page, name: string): Promise<Uint8Array> {
  // Let the last live update and chart draw settle before the picture (looks only, no assertion).
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 150))));
  const png = await page.screenshot({ type: "png" });
  await Deno.writeFile(new URL(`${name}.png`, ARTIFACTS), png);
  return png;
}

/** Go to a hash route without reloading the page. */
async function go(page: Page, hash: string, ready: string): Promise<void> {
  await page.evaluate((h) => {
    location.hash = h;
  }, hash);
  await page.waitForSelector(ready, WAIT);
}

async function text(page: Page, selector: string): Promise<string> {
  return await page.$eval(selector, (el) => el.textContent ?? "");
}

async function signIn(page: Page, token: string, sub: string): Promise<void> {
  await page.waitForSelector(tid("login-token"), WAIT);
  await page.$eval(tid("login-token"), (el, t) => {
    (el as HTMLTextAreaElement).value = t;
  }, token);
  await page.click(tid("login-submit"));
  await page.waitForFunction(
    (sel, who) => document.querySelector(sel)?.textContent === who,
    WAIT,
    tid("user"),
    sub,
  );
}

/** The state the task page shows (`data-state` of its badge). */
function stateIs(page: Page, states: string[]) {
  return page.waitForFunction(
    (sel, want) => want.includes(document.querySelector(sel)?.getAttribute("data-state") ?? ""),
    WAIT,
    tid("task-state"),
    states,
  );
}

Deno.test("dashboard - signs in, follows tasks live, refuses a viewer's cancel, does an admin's, shows the overview and the workers", async () => {
  const executablePath = chromium();
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  const r = await rig({ handlers: [doomed] });
  let browser: Browser | null = null;
  try {
    const base = r.node.httpUrl;
    assert.ok(base, "the node serves HTTP (RunningNode.httpUrl)");
    const viewer = await mintToken(SECRET, { sub: "vera", roles: ["viewer"] });
    const admin = await mintToken(SECRET, { sub: "ada", roles: ["admin"] });

    browser = await puppeteer.launch({
      executablePath,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));

    // The page loads; without a session it asks to sign in, and shows why a token is refused.
    await page.goto(`${base}/#/overview`, { waitUntil: "domcontentloaded" });
    await page.waitForSelector(tid("login-token"), WAIT);
    await page.evaluate(() => {
      (globalThis as unknown as { loadedOnce: number }).loadedOnce = 1;
    });
    await page.$eval(tid("login-token"), (el) => {
      (el as HTMLTextAreaElement).value = "not-a-token";
    });
    await page.click(tid("login-submit"));
    await page.waitForSelector(`${tid("login-error")}:not([hidden])`, WAIT);
    assert.match(await text(page, tid("login-error")), /UNAUTHENTICATED/);
    // A name and password go to auth.login; its refusal is shown.
    await page.type(tid("login-name"), "nobody");
    await page.type(tid("login-password"), "not the password");
    await page.click(tid("login-password-submit"));
    await page.waitForFunction(
      (sel) => /wrong user name or password/.test(document.querySelector(sel)?.textContent ?? ""),
      WAIT,
      tid("login-error"),
    );
    await shot(page, "login");

    // A viewer signs in with a token: the header names the user and the roles.
    await signIn(page, viewer, "vera");
    assert.match(await text(page, tid("roles")), /viewer/);

    // A task submitted now appears in the tasks view live, then on its page.
    r.client.submit("sleep", { id: "dash-s1", payload: { ms: 3000 } });
    await go(page, "#/tasks", tid("tasks-table"));
    await page.waitForSelector(`${tid("task-row")}[data-id="dash-s1"]`, WAIT);
    await page.click(`${tid("task-row")}[data-id="dash-s1"] a`);
    await page.waitForSelector(tid("task-detail"), WAIT);
    assert.equal(await text(page, tid("task-id")), "dash-s1");
    await stateIs(page, ["running"]);

    // Progress advances without a reload.
    await page.waitForSelector(tid("task-progress"), WAIT);
    const p0 = Number(
      await page.$eval(tid("task-progress"), (el) => el.getAttribute("data-progress")),
    );
    await page.waitForFunction(
      (sel, before) => Number(document.querySelector(sel)?.getAttribute("data-progress")) > before,
      WAIT,
      tid("task-progress"),
      p0,
    );

    // The viewer's cancel: refused by the scheduler (403), its message shown; the task runs on.
    await page.click(tid("task-cancel"));
    await page.waitForSelector(`${tid("task-error")}.error:not([hidden])`, WAIT);
    const refusal = await text(page, tid("task-error"));
    assert.match(refusal, /PERMISSION_DENIED/);
    assert.match(refusal, /vera/);
    await shot(page, "task");
    await stateIs(page, ["succeeded"]);
    assert.equal((await r.client.result("dash-s1")).state, "succeeded");
    assert.equal(
      await page.$eval(tid("task-progress"), (el) => el.getAttribute("data-progress")),
      "1",
    );
    await go(page, "#/tasks", `${tid("task-row")}[data-id="dash-s1"][data-state="succeeded"]`);
    await shot(page, "tasks");

    // Sign out, and in again as an admin, whose cancel works.
    await page.click(tid("logout"));
    await page.waitForSelector(tid("login-token"), WAIT);
    await signIn(page, admin, "ada");
    r.client.submit("sleep", { id: "dash-s2", payload: { ms: 30_000 } });
    await go(page, "#/task/dash-s2", tid("task-detail"));
    await stateIs(page, ["running"]);
    await page.click(tid("task-cancel"));
    await page.waitForSelector(`${tid("task-action")}:not([hidden])`, WAIT);
    assert.match(await text(page, tid("task-action")), /cancel/);
    await stateIs(page, ["cancelled"]);
    const cancelled = await r.client.result("dash-s2");
    assert.equal(cancelled.state, "cancelled");
    assert.match(cancelled.error?.message ?? "", /cancelled by ada/);

    // Some load: failures for good (dead letters and alerts), and sleeps queued at every priority.
    const doomedIds = ["dash-d1", "dash-d2", "dash-d3"];
    for (const id of doomedIds) r.client.submit("doomed", { id, payload: {}, maxAttempts: 1 });
    const burst = Array.from({ length: 40 }, (_, i) => `dash-b${i}`);
    burst.forEach((id, i) =>
      r.client.submit("sleep", { id, payload: { ms: 1200 }, priority: i % 10 })
    );
    for (const id of doomedIds) assert.equal((await r.client.result(id)).state, "failed");

    // The overview: the leader, the charts, the failures counted, the alerts.
    await go(page, "#/overview", tid("leader-id"));
    await page.waitForFunction(
      (sel) => Number(document.querySelector(sel)?.textContent) > 0,
      WAIT,
      `${tid("rate-failed")} .v`,
    );
    const leader = await text(page, tid("leader-id"));
    assert.match(leader, new RegExp(`^${r.config.nodeId}-[0-9a-f]{8}$`));
    assert.match(await text(page, tid("leader-epoch")), /^\d+$/);
    await page.waitForSelector(`${tid("chart-throughput")} canvas`, WAIT);
    await page.waitForSelector(`${tid("chart-failures")} canvas`, WAIT);
    await page.waitForSelector(`${tid("alerts")} ${tid("alert")}`, WAIT);
    const overview = await shot(page, "overview");
    // The README's picture is replaced only on demand, so a test run leaves the tree clean.
    if (Deno.env.get("UPDATE_README_SHOT") === "1") await Deno.writeFile(README_SHOT, overview);

    // The workers: the rig's node, up.
    await go(page, "#/workers", tid("workers-table"));
    await page.waitForSelector(
      `${tid("worker-row")}[data-node="${r.config.nodeId}"][data-state="up"]`,
      WAIT,
    );
    await shot(page, "workers");

    // A schedule added from the page lists with its next runs.
    await go(page, "#/schedules", tid("schedules-table"));
    await page.$eval(tid("schedule-json"), (el) => {
      (el as HTMLTextAreaElement).value = JSON.stringify({
        name: "dash-beat",
        every: "1h",
        task: { type: "echo", payload: { from: "dashboard" } },
      });
    });
    await page.click(tid("schedule-save"));
    await page.waitForSelector(`${tid("schedule-row")}[data-name="dash-beat"]`, WAIT);
    assert.match(await text(page, tid("schedule-editor-message")), /created/);
    await shot(page, "schedules");

    // The dead letters list the failed tasks.
    await go(page, "#/dead", `${tid("dead-row")}[data-id="dash-d1"]`);
    assert.equal((await page.$$(tid("dead-row"))).length, doomedIds.length);
    await shot(page, "dead");

    // The events: the alert of the failure.
    await go(page, "#/events", `${tid("alerts-list")} ${tid("alert")}`);
    assert.match(await text(page, tid("alerts-list")), /dash-d1/);
    await shot(page, "events");

    // A submission from the form, then its page.
    await go(page, "#/submit", tid("submit-form"));
    await page.$eval(tid("submit-type"), (el) => {
      (el as HTMLInputElement).value = "echo";
    });
    await page.$eval(tid("submit-payload"), (el) => {
      (el as HTMLTextAreaElement).value = '{"hello": "<b>web</b>"}';
    });
    await page.$eval(tid("submit-id"), (el) => {
      (el as HTMLInputElement).value = "dash-e1";
    });
    await page.click(tid("submit-button"));
    await page.waitForSelector(tid("submit-link"), WAIT);
    await shot(page, "submit");
    await page.click(tid("submit-link"));
    await page.waitForSelector(tid("task-detail"), WAIT);
    assert.equal(await text(page, tid("task-id")), "dash-e1");
    const echoed = await r.client.result("dash-e1");
    assert.equal(echoed.state, "succeeded", JSON.stringify(echoed));
    await stateIs(page, ["succeeded"]);
    // Values reach the page as text, never as markup.
    await page.waitForSelector(tid("task-result"), WAIT);
    assert.match(await text(page, tid("task-result")), /<b>web<\/b>/);
    assert.equal(await page.$(`${tid("task-result")} b`), null);
    for (const id of burst) assert.equal((await r.client.result(id)).state, "succeeded");

    // All of it in one page load, without errors.
    assert.equal(
      await page.evaluate(() => (globalThis as unknown as { loadedOnce?: number }).loadedOnce),
      1,
      "the page never reloaded",
    );
    assert.deepEqual(pageErrors, []);
  } finally {
    await browser?.close();
    await r[Symbol.asyncDispose]();
  }
});
