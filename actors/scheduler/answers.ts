/**
 * What the scheduler answers on `tasks.status`, `tasks.list`, `tasks.retry`,
 * `tasks.purge` and `tasks.cancel`: each request's token and body are read
 * (`requests.ts`, which also audits the answers), its role is checked, and it
 * is answered from the task table, the results stream or the dead letters
 * (`operator.ts`). A cancel is checked
 * off the actor's turn and decided on it (`request.cancel.checked`), where the
 * task table is.
 *
 * @module
 */

import {
  type ActorContext,
  authorize,
  type InMsg,
  SchedulerError,
} from "../../src/internal_mod.ts";
import type { SchedulerCore } from "./core.ts";
import { bodyOf, listHeld, operator, parseList } from "./operator.ts";
import { requests } from "./requests.ts";
import { decoder, type Kit, type SchedulerMsg } from "./types.ts";

type Ctx = ActorContext<SchedulerMsg>;

/** The request answers of one scheduler; `core` is the task table of the term, if leading. */
export interface Answers {
  status(core: SchedulerCore | null, m: InMsg): void;
  list(core: SchedulerCore | null, m: InMsg): void;
  retry(core: SchedulerCore | null, m: InMsg): void;
  purge(m: InMsg): void;
  /** Check a cancel's token and role; the decision comes back as `request.cancel.checked`. */
  cancel(ctx: Ctx, core: SchedulerCore | null, m: InMsg): void;
  /** Cancel `id` for `by`, whose request was checked, and answer it. */
  cancelChecked(core: SchedulerCore | null, m: InMsg, id: string, by: string): void;
}

/** Build the request answers of one scheduler. */
export function answers(kit: Kit): Answers {
  const { replyJson, authRequest, authOnly, replyError, replyCancel, replyDone } = requests(kit);
  const ops = operator(kit);
  return {
    status(core, m) {
      authRequest(m).then(async ({ principal, id }) => {
        authorize(principal, "status");
        const view = core?.status(id);
        if (view && "type" in view) return replyJson(m, view);
        const stored = await kit.storedResult(id);
        if (stored) return replyJson(m, JSON.parse(decoder.decode(stored.data)));
        replyJson(m, { id, error: { code: "NOT_FOUND", message: `no task ${id}` } });
      }).catch((err) => replyError(m, err));
    },

    list(core, m) {
      authOnly(m).then(async (principal) => {
        authorize(principal, "status");
        const q = parseList(bodyOf(m));
        if (!core) throw new SchedulerError("INTERNAL", "this scheduler is not leading");
        replyJson(m, q.state === "dead" ? await ops.listDead(q) : listHeld(core, q));
      }).catch((err) => replyError(m, err));
    },

    retry(core, m) {
      authRequest(m).then(async ({ principal, id }) => {
        authorize(principal, "tasks.manage");
        const held = core?.tasks.get(id);
        if (held && !held.result) {
          throw new SchedulerError(
            "INVALID_ARGUMENT",
            `task ${id} is ${held.state}: only a finished failed task can be retried`,
          );
        }
        const reply = await ops.retry(principal, m.header("Authorization")!, id);
        replyDone(m, reply, `resubmitted, replacing result ${reply.replaces}`, id);
      }).catch((err) => replyError(m, err));
    },

    purge(m) {
      authOnly(m).then(async (principal) => {
        const body = bodyOf(m) as { id?: string; all?: boolean };
        const purged = await ops.purge(principal, body);
        replyDone(m, { ok: true, purged }, `purged ${purged}`, body.id ?? "*");
      }).catch((err) => replyError(m, err));
    },

    cancel(ctx, core, m) {
      authRequest(m).then(({ principal, id }) => {
        authorize(principal, "cancel", { owner: core?.ownerOf(id) });
        if (!core) throw new SchedulerError("INTERNAL", "this scheduler is not leading");
        ctx.self.send({ type: "request.cancel.checked", msg: m, id, by: principal.sub });
      }).catch((err) => replyError(m, err));
    },

    cancelChecked(core, m, id, by) {
      if (core) replyCancel(m, core.cancel(id, `cancelled by ${by}`));
      else {
        replyCancel(m, {
          error: { code: "INTERNAL", message: "this scheduler is no longer leading" },
        });
      }
    },
  };
}
