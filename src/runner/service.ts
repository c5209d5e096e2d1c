/**
 * The service every adapter calls: parses commands, answers questions, opens changes and turns
 * button presses into workflow events. One error boundary: known errors become actionable replies,
 * anything else a correlation id (logged with its stack).
 */
import { randomUUID } from "node:crypto";
import type { AccountStatus, Change, Principal } from "../core/domain.js";
import { requestedChange, toRef } from "../core/domain.js";
import type { Command } from "../core/command.js";
import { isKeyturnError, KeyturnError } from "../core/errors.js";
import { buildEvidence } from "../core/evidence.js";
import type { ActionRequest, Reply } from "../core/messages.js";
import { parseCommand } from "../core/parse-command.js";
import { buildPlan } from "../core/planner.js";
import type { PolicyBook } from "../core/policy.js";
import { countedApprovals, isBreakGlassResponder } from "../core/policy.js";
import type { AzurePorts, Clock, Invocation, KeyturnService, Logger, AsyncStore } from "../core/ports.js";
import {
  renderAck,
  renderError,
  renderHelp,
  renderHistory,
  renderInventory,
  renderList,
  renderOwner,
  renderStatus,
  renderVerify,
} from "../core/render/index.js";
import type { WorkflowEvent } from "../core/workflow.js";
import type { AccountDirectory } from "./account-directory.js";
import type { ChatOut } from "./chat-out.js";
import type { Driver } from "./driver.js";
import { withCheckpoint } from "../store/pack-seal.js";
import { auditForEvidence } from "./evidence-audit.js";
import { openChange } from "./open-change.js";
import { blockingConsumers, withBlockingNotes } from "./blocking-consumers.js";
import { checkDeclaredSecret } from "./declared-secret-check.js";
import type { Queries } from "./queries.js";
import type { Scheduler } from "./scheduler.js";
import { scheduleReply } from "./scheduler-reply.js";
import { requestDisableLocalAuth } from "./disable-local-auth-request.js";
import { reportKeyAuthTraffic } from "./report-key-traffic.js";
import { reportReply } from "./report-reply.js";
import type { ReportDocument } from "../core/report-format.js";
import type { ReportSort } from "../core/report.js";
import { gatherReport } from "./report.js";

export interface ServiceDeps {
  readonly store: AsyncStore;
  readonly azure: AzurePorts;
  readonly policy: PolicyBook;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly driver: Driver;
  readonly chat: ChatOut;
  readonly directory: AccountDirectory;
  readonly queries: Queries;
  readonly label?: string;
  readonly sandbox: boolean;
  /** keyturn's version (package.json), named in every evidence pack. */
  readonly version?: string;
  /** Scheduled rotation (the `schedule` calendar). */
  readonly scheduler?: Scheduler;
}

const ephemeral = (message: Reply["message"], extra: Partial<Reply> = {}): Reply => ({
  visibility: "ephemeral",
  message,
  ...extra,
});

/**
 * What the HTTP API asks: the same requests as chat, through the same checks (the caller resolved
 * to the policy's person, the same roles), answered with data. Refusals are thrown as KeyturnErrors
 * for the API to answer with an HTTP status.
 */
export interface ApiRequests {
  status(principal: Principal, account: string): Promise<AccountStatus>;
  /** Every account the caller may read, from keyturn's record (no Azure call per account). */
  list(principal: Principal): Promise<AccountStatus[]>;
  /** Opens a rotation exactly as `rotate` in chat does: approvals, plan hash, evidence thread. */
  rotate(
    inv: Invocation,
    cmd: Extract<Command, { name: "rotate" }>,
  ): Promise<{ change: Change; reply: Reply }>;
  change(principal: Principal, changeId: string): Promise<Change>;
  /** The fleet report of the accounts the caller may audit (as `report` in chat). */
  report(principal: Principal, sort: ReportSort): Promise<ReportDocument>;
}

export class Service implements KeyturnService, ApiRequests {
  constructor(private readonly d: ServiceDeps) {}

  async status(principal: Principal, name: string): Promise<AccountStatus> {
    const who = this.d.policy.identify(principal);
    const account = await this.d.directory.resolve(name);
    this.d.policy.authorize("read", who, account, `The status of ${account.name}`);
    return (await this.d.queries.status(account)).status;
  }

  async list(principal: Principal): Promise<AccountStatus[]> {
    return this.#readable(this.d.policy.identify(principal));
  }

  rotate(
    inv: Invocation,
    cmd: Extract<Command, { name: "rotate" }>,
  ): Promise<{ change: Change; reply: Reply }> {
    return this.#openRotation(this.#identified(inv), cmd);
  }

  async change(principal: Principal, changeId: string): Promise<Change> {
    const who = this.d.policy.identify(principal);
    const change = await this.#change(changeId);
    const account = await this.d.directory.resolve(change.accountId).catch(() => null);
    this.d.policy.authorize("read", who, account, `The state of ${changeId}`);
    return change;
  }

  async report(principal: Principal, sort: ReportSort): Promise<ReportDocument> {
    const { directory, queries, policy, clock, logger } = this.d;
    const who = policy.identify(principal);
    // where every key is stored, its holders and callers: audit material, as `report` in chat
    const all = await directory.list(true);
    const auditable = new Set(all.filter((a) => policy.can("audit", who, a)).map((a) => a.id));
    if (auditable.size === 0 && all.length > 0)
      policy.authorize(
        "audit",
        who,
        null,
        "The fleet report (where every key is stored, its holders and callers)",
      );
    const keyAuthTraffic = reportKeyAuthTraffic(this.d.azure.telemetry, clock);
    return gatherReport(
      { directory, queries, clock, logger, ...(keyAuthTraffic ? { keyAuthTraffic } : {}) },
      { include: (a) => auditable.has(a.id), sort, label: this.d.label, version: this.d.version },
    );
  }

  /** The accounts a principal may read, briefly (keyturn's record only). */
  async #readable(who: Principal): Promise<AccountStatus[]> {
    const { directory, policy, queries } = this.d;
    const all = await directory.list(true);
    const readable = all.filter((a) => policy.can("read", who, a));
    if (readable.length === 0 && all.length > 0) policy.authorize("read", who, null, "`list`");
    return Promise.all(readable.map((a) => queries.brief(a)));
  }

  async handleText(inv: Invocation, text: string): Promise<Reply> {
    return this.#boundary(inv, "command", async () => {
      if (inv.idempotencyKey && !(await this.d.store.claimIdempotencyKey(inv.idempotencyKey, this.#now()))) {
        return ephemeral(
          renderAck("Already received: that request was processed once (a repeat is ignored)."),
        );
      }
      return this.#command(this.#identified(inv), parseCommand(text));
    });
  }

  /** Help, or a command that does not parse: answered with no I/O, so an adapter can answer in its ack. */
  answerNow(text: string, who: string): Reply | null {
    try {
      const cmd = parseCommand(text);
      return cmd.name === "help" ? ephemeral(renderHelp(cmd.topic)) : null;
    } catch (e) {
      if (!isKeyturnError(e)) return null; // the full path's boundary reports it with a correlation id
      this.d.logger.info({ code: e.code, user: who, what: "command" }, "request refused");
      return ephemeral(renderError(e));
    }
  }

  async handleAction(inv: Invocation, action: ActionRequest): Promise<Reply> {
    return this.#boundary(inv, "action", async () => {
      if (inv.idempotencyKey && !(await this.d.store.claimIdempotencyKey(inv.idempotencyKey, this.#now()))) {
        const change = await this.d.store.getChange(action.changeId);
        return ephemeral(
          renderAck(`Already recorded: that ${action.kind} was counted once.`),
          change ? { card: await this.d.chat.card(change) } : {},
        );
      }
      return this.#act(this.#identified(inv).principal, action);
    });
  }

  /** The invocation with its principal resolved to the policy's person (one person, every platform). */
  #identified(inv: Invocation): Invocation {
    return { ...inv, principal: this.d.policy.identify(inv.principal) };
  }

  async #command(inv: Invocation, cmd: Command): Promise<Reply> {
    const { directory, queries, store, policy } = this.d;
    const who = inv.principal;
    switch (cmd.name) {
      case "help":
        return ephemeral(renderHelp(cmd.topic));
      case "status": {
        const account = await directory.resolve(cmd.account);
        policy.authorize("read", who, account, `\`status ${account.name}\``);
        const { status } = await queries.status(account);
        return ephemeral(renderStatus(status, this.d.label));
      }
      case "owner": {
        const account = await directory.resolve(cmd.account);
        policy.authorize("read", who, account, `\`owner ${account.name}\``);
        return ephemeral(renderOwner(await queries.brief(account)));
      }
      case "list": {
        const rows = (await this.#readable(who)).filter((s) => !cmd.overdue || s.overdue);
        return ephemeral(renderList(rows, { overdue: cmd.overdue }));
      }
      case "inventory": {
        const account = await directory.resolve(cmd.account);
        policy.authorize(
          "audit",
          who,
          account,
          `\`inventory ${account.name}\` (secret, site and caller details)`,
        );
        return ephemeral(renderInventory(account, await this.d.azure.inventory.take(account)));
      }
      case "history": {
        const account = await directory.resolve(cmd.account);
        policy.authorize("read", who, account, `\`history ${account.name}\``);
        return ephemeral(
          renderHistory(
            account,
            await queries.changes(account.id, { limit: 20 }),
            await store.lastRotation(account.id),
          ),
        );
      }
      case "rotate":
        return this.#rotate(inv, cmd);
      case "disable-local-auth":
        return requestDisableLocalAuth(this.d, inv, cmd);
      case "evidence":
        return this.#evidence(inv.principal, cmd.changeId);
      case "verify":
        policy.authorize("audit", who, null, "`verify`");
        return ephemeral(renderVerify(await store.verify()));
      case "schedule":
        return scheduleReply(this.d, who, cmd);
      case "report":
        return reportReply({ ...this.d, label: this.d.label, version: this.d.version }, who, cmd);
      case "consumer":
        return this.#consumer(inv.principal, cmd);
      case "approve":
      case "reject":
      case "cancel":
      case "resume":
      case "rollback":
        return this.#act(inv.principal, {
          kind: cmd.name,
          changeId: cmd.changeId,
          ...("reason" in cmd && cmd.reason ? { reason: cmd.reason } : {}),
        });
      case "include":
        return this.#include(inv.principal, cmd);
      case "waive":
        return this.#act(inv.principal, {
          kind: "waive",
          changeId: cmd.changeId,
          consumerId: cmd.consumer,
          reason: cmd.reason,
        });
    }
  }

  async #rotate(inv: Invocation, cmd: Extract<Command, { name: "rotate" }>): Promise<Reply> {
    return (await this.#openRotation(inv, cmd)).reply;
  }

  async #openRotation(
    inv: Invocation,
    cmd: Extract<Command, { name: "rotate" }>,
  ): Promise<{ change: Change; reply: Reply }> {
    const { store, azure, policy, chat } = this.d;
    const account = await this.d.directory.resolve(cmd.account);
    policy.authorize("request", inv.principal, account, `Requesting a rotation of ${account.name}`);
    if (account.disableLocalAuth) {
      throw new KeyturnError(
        "key_free",
        `${account.name} has disableLocalAuth=true: it has no keys, so there is nothing to rotate or leak.`,
      );
    }
    const open = (await store.listChanges({ accountId: account.id, open: true }))[0];
    if (open) {
      throw new KeyturnError(
        "change_open",
        `${account.name} already has an open change, ${open.id} (${open.state.replace("_", " ")}). Finish, cancel or resume it first.`,
        { changeId: open.id },
      );
    }
    const snapshot = policy.snapshotFor(account, { exposure: cmd.exposure });
    if (cmd.breakGlass) {
      if (!cmd.exposure)
        throw new KeyturnError(
          "malformed_command",
          "--break-glass is for exposure rotations only: add --exposure [key1|key2|unknown].",
        );
      if (!isBreakGlassResponder(snapshot, inv.principal)) {
        throw new KeyturnError(
          "not_authorised",
          `--break-glass needs a break-glass responder for ${account.name} (policy "${snapshot.name}"), which you are not; responders: ${policy.holders("breakGlass", account)}. Request the rotation without --break-glass and get it approved.`,
        );
      }
    }
    const inventory = await azure.inventory.take(account);
    const built = buildPlan({
      account,
      inventory,
      exposure: cmd.exposure,
      leakedSlot: cmd.leakedSlot,
      killNow: cmd.killNow,
      policy: snapshot,
    });
    const id = await store.nextChangeId();
    // said before anyone approves: these hold the cutover check until someone acts on them
    const blocking = blockingConsumers(id, built, inventory.consumers);
    const plan = withBlockingNotes(id, built, inventory.consumers);
    const now = this.#now();
    const change = requestedChange({
      id,
      accountId: account.id,
      accountName: account.name,
      accountKind: account.kind,
      reason: cmd.reason,
      exposure: cmd.exposure,
      leakedSlot: cmd.leakedSlot,
      killNow: cmd.killNow,
      breakGlass: cmd.breakGlass,
      requester: toRef(inv.principal),
      policy: snapshot,
      plan,
      inventory,
      createdAt: now,
      sandbox: this.d.sandbox,
    });
    // the change is recorded and moving before anything is posted: a slow or failing chat platform
    // cannot leave it stuck in "requested" with its approvers never asked
    const { submitted, thread } = await openChange(this.d, change, {
      actor: inv.principal.id,
      channel: inv.channel,
    });
    const link = await chat.permalink(change.id);
    const needs = cmd.breakGlass
      ? `BREAK-GLASS: running now; an approval is needed after the fact`
      : `needs ${snapshot.approvalsRequired} approval(s) from ${snapshot.approverNames ?? snapshot.approvers.join(", ")} within ${Math.round(snapshot.approvalExpirySeconds / 60)} min`;
    const opened = renderAck(
      `${change.id} opened for ${account.name} (${plan.variant}): ${needs}.` +
        (thread ? "" : " No evidence thread could be posted here: follow it with `status` and `history`.") +
        (blocking.length ? ` Warning: ${blocking.length} consumer(s) will hold the cutover check.` : ""),
    );
    const ack = blocking.length
      ? {
          ...opened,
          tone: "warning" as const,
          sections: [{ heading: "Will hold the cutover check until someone acts", lines: blocking }],
        }
      : opened;
    return {
      change: (await store.getChange(change.id)) ?? submitted,
      reply: ephemeral(link ? { ...ack, link: { label: "Evidence thread", url: link } } : ack),
    };
  }

  async #act(principal: Principal, action: ActionRequest): Promise<Reply> {
    const { driver, chat } = this.d;
    const change = await this.#change(action.changeId);
    const at = this.#now();
    let event: WorkflowEvent;
    switch (action.kind) {
      case "approve":
        event = { type: "approved", at, by: principal, planHash: action.planHash ?? change.plan.hash };
        break;
      case "reject":
        if (!action.reason)
          throw new KeyturnError(
            "missing_argument",
            `Rejecting needs a reason: reject ${change.id} --reason "…"`,
          );
        event = { type: "rejected", at, by: principal, reason: action.reason };
        break;
      case "cancel":
        event = { type: "cancelled", at, by: principal, ...(action.reason ? { reason: action.reason } : {}) };
        break;
      case "resume":
        event = { type: "resumed", at, by: principal };
        break;
      case "rollback":
        event = { type: "rollback_requested", at, by: principal };
        break;
      case "waive": {
        const consumer = this.#consumerOf(change, action.consumerId ?? "");
        if (!consumer) {
          throw new KeyturnError(
            "missing_argument",
            `${change.id} has no consumer "${action.consumerId ?? ""}". Pinned: ${change.plan.pinnedConsumerIds.join(", ") || "none"}.`,
          );
        }
        if (!action.reason)
          throw new KeyturnError(
            "missing_argument",
            `A waiver needs a reason: waive ${change.id} ${consumer.name} --reason "…"`,
          );
        event = {
          type: "consumer_waived",
          at,
          by: principal,
          consumerId: consumer.id,
          reason: action.reason,
        };
        break;
      }
    }
    const result = await driver.apply(change.id, event);
    if (!result.ok) {
      if (result.error.code === "approval_expired" && change.state === "awaiting_approval") {
        await driver.apply(change.id, { type: "expired", at });
      }
      throw result.error;
    }
    const after = result.change;
    return ephemeral(renderAck(this.#outcome(action, after)), { card: await chat.card(after) });
  }

  /** An approver delivers the new key to a NEW holder the plan excludes (by id or name). */
  async #include(principal: Principal, cmd: Extract<Command, { name: "include" }>): Promise<Reply> {
    const { driver, chat } = this.d;
    const change = await this.#change(cmd.changeId);
    const excluded = change.plan.excludedConsumerIds ?? [];
    const consumer = this.#consumerOf(change, cmd.consumer);
    if (!consumer)
      throw new KeyturnError(
        "missing_argument",
        `${change.id} has no holder "${cmd.consumer}". Excluded NEW holders: ${excluded.join(", ") || "none"}.`,
      );
    const result = await driver.apply(change.id, {
      type: "consumer_included",
      at: this.#now(),
      by: principal,
      consumerId: consumer.id,
      reason: cmd.reason,
    });
    if (!result.ok) throw result.error;
    return ephemeral(
      renderAck(`Included ${consumer.name} in ${change.id}: publish delivers the new key to it.`),
      { card: await chat.card(result.change) },
    );
  }

  /** The change a command names, or an error that says how to find it. */
  async #change(changeId: string): Promise<Change> {
    const change = await this.d.store.getChange(changeId);
    if (!change)
      throw new KeyturnError(
        "unknown_change",
        `No change ${changeId}. Use \`history <account>\` to find it.`,
      );
    return change;
  }

  /** A consumer of the change's inventory, named by id or name (any case). */
  #consumerOf(change: Change, named: string): Change["inventory"]["consumers"][number] | undefined {
    const wanted = named.toLowerCase();
    return change.inventory.consumers.find(
      (c) => c.id.toLowerCase() === wanted || c.name.toLowerCase() === wanted,
    );
  }

  #outcome(action: ActionRequest, c: Change): string {
    switch (action.kind) {
      case "approve": {
        const counted = countedApprovals(c);
        return c.state === "approved"
          ? `Approved ${c.id}: ${counted} of ${c.policy.approvalsRequired} — ${c.plan.variant === "disable-local-auth" ? "keys are turned off" : "the rotation starts"} after a last check of the plan.`
          : `Approved ${c.id}: ${counted} of ${c.policy.approvalsRequired} approval(s).`;
      }
      case "reject":
        return `Rejected ${c.id}.`;
      case "cancel":
        return `Cancelled ${c.id}.`;
      case "resume":
        return `Resuming ${c.id}.`;
      case "rollback":
        return c.plan.variant === "disable-local-auth"
          ? `Rolling back ${c.id}: local auth of ${c.accountName} is re-enabled (disableLocalAuth=false).`
          : `Rolling back ${c.id}: the secrets go back to the previous key.`;
      case "waive":
        return `Waiver recorded on ${c.id}.`;
    }
  }

  async #evidence(principal: Principal, changeId: string): Promise<Reply> {
    const { store, driver } = this.d;
    const change = await this.#change(changeId);
    const account = await this.d.directory.resolve(change.accountId).catch(() => null);
    this.d.policy.authorize("audit", principal, account, `The evidence pack of ${changeId}`);
    await driver.note(changeId, "evidence_exported", { by: toRef(principal) }, principal.id);
    const audit = await auditForEvidence(store, changeId);
    const built = buildEvidence(audit.change ?? change, await store.events({ changeId }), audit.verify, {
      label: this.d.label,
      generatedAt: this.#now(),
      version: this.d.version,
      owner: account ? this.d.policy.ownerFor(account) : null,
    });
    const pack = await withCheckpoint(
      built,
      (subject) => store.checkpoint(this.#now(), subject),
      audit.warning,
    );
    return {
      visibility: "ephemeral",
      message: {
        ...renderAck(
          `${audit.warning ? `${audit.warning} ` : ""}Evidence pack for ${changeId}: ${pack.filenameBase}.md and ${pack.filenameBase}.json (verify it offline with \`keyturn audit verify --pack ${pack.filenameBase}.json\`).`,
        ),
        ...(audit.warning ? { tone: "danger" as const } : {}),
      },
      attachments: [
        { filename: `${pack.filenameBase}.md`, contentType: "text/markdown", content: pack.markdown },
        { filename: `${pack.filenameBase}.json`, contentType: "application/json", content: pack.json },
      ],
    };
  }

  async #consumer(principal: Principal, cmd: Extract<Command, { name: "consumer" }>): Promise<Reply> {
    const { store } = this.d;
    const account = await this.d.directory.resolve(cmd.account);
    this.d.policy.authorize(
      "consumers",
      principal,
      account,
      `${cmd.op === "remove" ? "Removing" : "Declaring"} a consumer of ${account.name}`,
    );
    const at = this.#now();
    if (cmd.op === "remove") {
      const removed = await store.removeDeclaredConsumer(account.id, cmd.consumer);
      if (!removed)
        throw new KeyturnError(
          "missing_argument",
          `${account.name} has no declared consumer "${cmd.consumer}". See \`inventory ${account.name}\`.`,
        );
      await store.commit(
        null,
        [
          {
            changeId: null,
            type: "consumer_removed",
            at,
            actor: principal.id,
            payload: { accountId: account.id, name: cmd.consumer, by: toRef(principal) },
          },
        ],
        { fenced: false },
      );
      return ephemeral(renderAck(`Removed declared consumer ${cmd.consumer} from ${account.name}.`));
    }
    const secret = cmd.secret ? parseSecretUrl(cmd.secret) : undefined;
    const note = secret
      ? await checkDeclaredSecret(this.d.azure.secrets, secret, cmd.consumer, this.d.sandbox)
      : "";
    await store.addDeclaredConsumer({
      accountId: account.id,
      name: cmd.consumer,
      owner: cmd.owner ?? principal.displayName,
      ...(secret ? { secret } : {}),
      reload: cmd.reload ?? (secret ? "versionless" : "manual"),
      addedBy: principal.id,
      addedAt: at,
    });
    await store.commit(
      null,
      [
        {
          changeId: null,
          type: "consumer_declared",
          at,
          actor: principal.id,
          payload: { accountId: account.id, name: cmd.consumer, secret, by: toRef(principal) },
        },
      ],
      { fenced: false },
    );
    return ephemeral(
      renderAck(
        `Declared consumer ${cmd.consumer} on ${account.name}; it is part of the next rotation plan.${note}`,
      ),
    );
  }

  async #boundary(inv: Invocation, what: string, task: () => Promise<Reply>): Promise<Reply> {
    try {
      return await task();
    } catch (e) {
      if (isKeyturnError(e)) {
        this.d.logger.info({ code: e.code, user: inv.principal.id, what }, "request refused");
        return ephemeral(renderError(e));
      }
      const correlationId = randomUUID().slice(0, 8);
      this.d.logger.error({ err: e, correlationId, user: inv.principal.id, what }, "internal error");
      return ephemeral(renderError({ code: "internal", correlationId }));
    }
  }

  #now(): string {
    return this.d.clock.now().toISOString();
  }
}

function parseSecretUrl(url: string): { vaultUrl: string; name: string; version?: string } {
  const m = /^(https:\/\/[^/]+)\/secrets\/([^/]+)(?:\/([^/]+))?\/?$/.exec(url);
  if (!m)
    throw new KeyturnError(
      "malformed_command",
      `--secret must look like https://<vault>.vault.azure.net/secrets/<name>[/<version>], not ${url}.`,
    );
  return { vaultUrl: m[1]!, name: m[2]!, ...(m[3] ? { version: m[3] } : {}) };
}
