/**
 * The HTTP API for pipelines, `/api/v1/…`, on keyturn's one HTTP server. Thin, like the chat adapters:
 * authenticate the caller (a Microsoft Entra access token for the configured tenant and app), make
 * them a principal the policy knows (`aad:<object id>`), call the same service chat calls, answer JSON.
 *
 *   GET  /api/v1/accounts/{account}/status   what `status` shows                  (read)
 *   GET  /api/v1/accounts                    what `list` shows                    (read)
 *   GET  /api/v1/report                      the fleet posture report             (audit, as in chat)
 *        ?format=json|csv|md&sort=risk|name|due&failOn=overdue,new-holders,local-auth,exposed
 *   POST /api/v1/rotations                   request a rotation, as `rotate` does (request)
 *   GET  /api/v1/changes/{id}                a change's state, steps, approvals   (read)
 *
 * A rotation requested here is the same change as one typed in chat: its card is posted in the
 * configured channel, its approvers are asked there, its plan hash and evidence are the same.
 */
import { randomUUID } from "node:crypto";
import express, { type NextFunction, type Request, type Response, type Router } from "express";
import type { Principal } from "../../src/core/domain.js";
import type { ChannelRef } from "../../src/core/messages.js";
import type { Logger } from "../../src/core/ports.js";
import type { ApiRequests } from "../../src/runner/service.js";
import type { RunnerRole } from "../../src/runner/runner-lease.js";
import type { EntraCaller, EntraVerifier } from "./entra-token.js";
import { TokenRefused } from "./entra-token.js";
import {
  badRequest,
  fromKeyturnError,
  isKeyturnError,
  send,
  unauthenticated,
  type ApiError,
} from "./errors.js";
import { parseReportQuery } from "./report-query.js";
import { parseRotation } from "./rotation-request.js";
import {
  decide,
  fingerprintOf,
  idempotencyKeyOf,
  recordKey,
  type IdempotencyRecords,
} from "./idempotency.js";
import { failures } from "../../src/core/report.js";
import { renderReport, reportJson } from "../../src/core/report-format.js";
import { briefView, changeView, statusView } from "./views.js";

export { createEntraVerifier, type EntraVerifier } from "./entra-token.js";

export interface ApiAdapterDeps {
  readonly api: ApiRequests;
  readonly verifier: EntraVerifier;
  /** Where rotations requested through the API post their card and ask approvers. */
  readonly channel: ChannelRef;
  /** The runner lease: a standby records nothing and says so. */
  readonly role: () => RunnerRole;
  readonly logger: Logger;
  /** "SANDBOX" when keyturn runs against the simulated tenant. */
  readonly label?: string | undefined;
  /** The evidence thread's link of a change, when its platform gave one. */
  readonly permalink?: (changeId: string) => Promise<string | undefined>;
  /** Where `Idempotency-Key`s of rotation requests are kept (without it the header is ignored). */
  readonly idempotency?: IdempotencyRecords;
}

interface Authed {
  caller: EntraCaller;
  principal: Principal;
}

const PREFIX = "/api/v1";

export function createApiRouter(d: ApiAdapterDeps): Router {
  const log = d.logger.child({ component: "api" });
  const router = express.Router();

  // every route is behind the token check: an unauthenticated caller learns nothing, not even which routes exist
  router.use(PREFIX, (req, res, next) => {
    d.verifier.verify(req.headers.authorization).then(
      (caller) => {
        const principal: Principal = {
          // the API has no chat of its own: its caller acts in the channel the API posts to
          platform: d.channel.platform,
          id: `aad:${caller.oid}`,
          displayName: caller.displayName,
          identities: [`aad:${caller.oid}`],
        };
        res.locals.authed = { caller, principal } satisfies Authed;
        next();
      },
      (e: unknown) => {
        if (e instanceof TokenRefused) {
          log.info({ path: req.path, refused: e.kind, why: e.reason }, "api request refused");
          if (e.kind === "unavailable")
            return send(res, {
              status: 503,
              code: "keys_unavailable",
              message: e.reason,
              headers: { "Retry-After": "30" },
            });
          return send(res, unauthenticated(e.kind, e.reason));
        }
        next(e);
      },
    );
  });
  router.use(PREFIX, (_req, res, next) => {
    if (d.role() !== "standby") return next();
    send(res, {
      status: 503,
      code: "standby",
      message:
        "This keyturn process is on standby: another keyturn process drives changes from the same data directory. Nothing was recorded. Send the request again in a minute, or send it to the process that serves chat.",
      headers: { "Retry-After": "60" },
    });
  });

  const handle =
    (what: string, fn: (req: Request, res: Response, a: Authed) => Promise<void>) =>
    (req: Request, res: Response, next: NextFunction) => {
      const a = res.locals.authed as Authed;
      fn(req, res, a).then(
        () => log.info({ what, caller: a.principal.id, status: res.statusCode }, "api request"),
        (e: unknown) => {
          if (isKeyturnError(e)) {
            log.info({ what, caller: a.principal.id, code: e.code }, "api request refused");
            return send(res, fromKeyturnError(e));
          }
          next(e);
        },
      );
    };

  router.get(
    `${PREFIX}/accounts/:account/status`,
    handle("status", async (req, res, a) => {
      const status = await d.api.status(a.principal, String(req.params.account));
      res.json(statusView(status, d.label));
    }),
  );

  router.get(
    `${PREFIX}/accounts`,
    handle("list", async (req, res, a) => {
      const overdue = req.query.overdue === "true" || req.query.overdue === "1";
      const rows = (await d.api.list(a.principal)).filter((s) => !overdue || s.overdue);
      res.json({ ...(d.label ? { label: d.label } : {}), accounts: rows.map(briefView) });
    }),
  );

  router.get(
    `${PREFIX}/report`,
    handle("report", async (req, res, a) => {
      const q = parseReportQuery(req.query);
      if ("error" in q) return send(res, badRequest(q.error));
      const doc = await d.api.report(a.principal, q.sort);
      if (q.format !== "json") {
        res.type(q.format === "csv" ? "text/csv" : "text/markdown").send(renderReport(doc, q.format));
        return;
      }
      // the same document `keyturn report --format json` writes, with the conditions asked for that hold
      const body = JSON.parse(reportJson(doc)) as Record<string, unknown>;
      res.json(q.failOn.length ? { ...body, failures: failures(doc.rows, q.failOn) } : body);
    }),
  );

  router.post(
    `${PREFIX}/rotations`,
    express.json({ limit: "16kb" }),
    handle("rotate", async (req, res, a) => {
      const parsed = parseRotation(req.body);
      if ("error" in parsed) return send(res, badRequest(parsed.error));
      const idem = idempotencyKeyOf(req.get("idempotency-key"));
      if (idem && "error" in idem) return send(res, badRequest(idem.error));
      const records = idem ? d.idempotency : undefined;
      const key = idem && records ? recordKey(a.principal.id, idem.key) : undefined;
      const fingerprint = fingerprintOf(req.body);
      const at = () => new Date().toISOString();
      if (records && key) {
        const decision = decide(await records.get(key), fingerprint, Date.now());
        if (decision.kind === "mismatch")
          return send(res, {
            status: 422,
            code: "idempotency_key_reused",
            message:
              "This Idempotency-Key was used for a different rotation request. Use a new key for each rotation you ask for; send the same key only to repeat the same request.",
          });
        if (decision.kind === "busy")
          return send(res, {
            status: 409,
            code: "idempotency_key_in_use",
            message:
              "A request with this Idempotency-Key is still being answered. Send it again in a few seconds: you will get the change it opened.",
            headers: { "Retry-After": "5" },
          });
        if (decision.kind === "replay") {
          // the change the first request opened, as it stands now
          const change = await d.api.change(a.principal, decision.changeId);
          const self = urlOf(req, change.id);
          const thread = await d.permalink?.(change.id);
          res
            .status(200)
            .location(self)
            .set("Idempotent-Replayed", "true")
            .json({
              changeId: change.id,
              url: self,
              ...(thread ? { threadUrl: thread } : {}),
              state: change.state,
              message: `Already requested: ${change.id} was opened by the first request with this Idempotency-Key.`,
              change: changeView(change, { self, ...(thread ? { thread } : {}) }),
            });
          return;
        }
        await records.put(key, { state: "pending", fingerprint, at: at() });
      }
      let opened;
      try {
        opened = await d.api.rotate({ principal: a.principal, channel: d.channel }, parsed.command);
      } catch (e) {
        // refused or failed: nothing was opened, the same key may be sent again
        if (records && key) await records.put(key, { state: "failed", fingerprint, at: at() });
        throw e;
      }
      const { change, reply } = opened;
      if (records && key) await records.put(key, { state: "done", fingerprint, changeId: change.id, at: at() });
      const self = urlOf(req, change.id);
      const thread = reply.message.link?.url ?? (await d.permalink?.(change.id));
      res
        .status(201)
        .location(self)
        .json({
          changeId: change.id,
          url: self,
          ...(thread ? { threadUrl: thread } : {}),
          state: change.state,
          message: reply.message.text,
          change: changeView(change, { self, ...(thread ? { thread } : {}) }),
        });
    }),
  );

  router.get(
    `${PREFIX}/changes/:id`,
    handle("change", async (req, res, a) => {
      const id = String(req.params.id).toUpperCase();
      if (!/^CHG-\d+$/.test(id))
        return send(res, badRequest(`"${String(req.params.id)}" is not a change id: they look like CHG-42.`));
      const change = await d.api.change(a.principal, id);
      const thread = await d.permalink?.(change.id);
      res.json(changeView(change, { self: urlOf(req, change.id), ...(thread ? { thread } : {}) }));
    }),
  );

  router.use(PREFIX, (req, res) => {
    send(res, {
      status: 404,
      code: "not_found",
      message: `No API route ${req.method} ${req.originalUrl.split("?")[0]}. Routes: GET ${PREFIX}/accounts, GET ${PREFIX}/accounts/{account}/status, GET ${PREFIX}/report, POST ${PREFIX}/rotations, GET ${PREFIX}/changes/{id} (docs/api.md).`,
    });
  });

  // one error boundary: a body that is not JSON is the caller's; anything else gets a correlation id
  router.use(PREFIX, (e: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = (e as { status?: unknown }).status;
    if ((e as { type?: unknown }).type === "entity.parse.failed" || status === 400)
      return send(
        res,
        badRequest("The body is not valid JSON: send a JSON object (Content-Type: application/json)."),
      );
    if (status === 413)
      return send(res, {
        status: 413,
        code: "too_large",
        message: "The body is too large: send at most 16 KB.",
      });
    const correlationId = randomUUID().slice(0, 8);
    log.error({ err: e, correlationId, path: req.path }, "api internal error");
    const err: ApiError = {
      status: 500,
      code: "internal",
      message: `Something went wrong inside keyturn (reference ${correlationId}): try again; if it keeps failing, give the reference to whoever runs keyturn.`,
      extra: { correlationId },
    };
    send(res, err);
  });

  return router;
}

/** The change's URL on this API, as the caller reached it. */
function urlOf(req: Request, changeId: string): string {
  return `${req.protocol}://${req.get("host") ?? "localhost"}${PREFIX}/changes/${changeId}`;
}
