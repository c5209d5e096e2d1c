/**
 * `disable-local-auth <account> --reason "…"`: opens a change that turns the account's keys off
 * under the same approvals, plan hash and evidence thread as a rotation — refused, naming each
 * holder and what to do, while anything keyturn can see still holds a key.
 */
import type { Invocation } from "../core/ports.js";
import type { Command } from "../core/command.js";
import { requestedChange, toRef } from "../core/domain.js";
import { isKeyturnError, KeyturnError } from "../core/errors.js";
import { trafficText } from "../core/key-free-plan.js";
import type { Reply } from "../core/messages.js";
import { buildPlan } from "../core/planner.js";
import { renderAck } from "../core/render/index.js";
import type { ServiceDeps } from "./service.js";
import { openChange } from "./open-change.js";
import { readTraffic } from "./steps/key-free.js";

export async function requestDisableLocalAuth(
  d: ServiceDeps,
  inv: Invocation,
  cmd: Extract<Command, { name: "disable-local-auth" }>,
): Promise<Reply> {
  const { store, azure, policy, chat, clock } = d;
  const now = () => clock.now().toISOString();
  const account = await d.directory.resolve(cmd.account);
  policy.authorize(
    "request",
    inv.principal,
    account,
    `Requesting that local auth of ${account.name} be disabled`,
  );
  if (account.disableLocalAuth)
    throw new KeyturnError(
      "key_free",
      `${account.name} already has disableLocalAuth=true: its keys are off (Microsoft Entra ID only). Nothing to do.`,
    );
  const open = (await store.listChanges({ accountId: account.id, open: true }))[0];
  if (open)
    throw new KeyturnError(
      "change_open",
      `${account.name} already has an open change, ${open.id} (${open.state.replace("_", " ")}). Finish, cancel or resume it first.`,
    );
  const snapshot = policy.snapshotFor(account, { exposure: false });
  // whether anything still holds a key is read afresh: a holder removed a moment ago must not block, nor a new one pass
  azure.inventory.invalidate?.();
  const inventory = await azure.inventory.take(account);
  const traffic = await readTraffic({ azure, account, clock });
  let built;
  try {
    built = buildPlan({
      account,
      inventory,
      exposure: false,
      leakedSlot: null,
      killNow: false,
      policy: snapshot,
      variant: "disable-local-auth",
    });
  } catch (e) {
    // the refusal says what still uses keys, holders and traffic alike
    if (isKeyturnError(e) && e.code === "key_holders_remain")
      throw new KeyturnError(e.code, `${e.userMessage}\n${trafficText(traffic)}`);
    throw e;
  }
  // the traffic is read at request time: shown to approvers, never part of the hash (it moves by the minute)
  const plan = { ...built, notes: [...(built.notes ?? []), trafficText(traffic)] };
  const id = await store.nextChangeId();
  const at = now();
  const change = requestedChange({
    id,
    accountId: account.id,
    accountName: account.name,
    accountKind: account.kind,
    reason: cmd.reason,
    exposure: false,
    leakedSlot: null,
    killNow: false,
    breakGlass: false,
    requester: toRef(inv.principal),
    policy: snapshot,
    plan,
    inventory,
    createdAt: at,
    sandbox: d.sandbox,
  });
  const { thread } = await openChange(d, change, {
    actor: inv.principal.id,
    channel: inv.channel,
    extra: traffic ? { keyAuthTraffic: traffic } : {},
  });
  const link = await chat.permalink(id);
  const ack = renderAck(
    `${id} opened: disable local auth of ${account.name} (keys off, Microsoft Entra ID only): needs ${snapshot.approvalsRequired} approval(s) from ${snapshot.approverNames ?? snapshot.approvers.join(", ")} within ${Math.round(snapshot.approvalExpirySeconds / 60)} min. No key holder remains. ${trafficText(traffic)}` +
      (thread ? "" : " No evidence thread could be posted here: follow it with `status` and `history`."),
  );
  return {
    visibility: "ephemeral",
    message: link ? { ...ack, link: { label: "Evidence thread", url: link } } : ack,
  };
}
