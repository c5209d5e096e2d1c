/**
 * The plan of a `disable-local-auth` change: not a rotation. Keys are turned off for good
 * (`disableLocalAuth=true`, Microsoft Entra ID only), so it may start only once nothing keyturn can
 * see still holds a key; a refusal names each holder and what to do about it.
 */
import type {
  Account,
  Consumer,
  Inventory,
  KeyAuthTraffic,
  Plan,
  PlanStep,
  PolicySnapshot,
} from "./domain.js";
import { otherSlot } from "./domain.js";
import { KeyturnError } from "./errors.js";
import { canonicalJson, sha256Hex } from "./secret.js";

/**
 * The consumers that hold or read one of the account's keys. A `listKeys` caller is not one by
 * itself (it may keep a copy: its calls show in the key-authenticated traffic), nor is a secret
 * keyturn tagged that holds neither key.
 */
export function keyHolders(inventory: Inventory): Consumer[] {
  return inventory.consumers.filter(
    (c) => c.source !== "listkeys-caller" && !(c.source === "keyvault-tagged" && c.slot === "unknown"),
  );
}

/** What to do about one holder so that nothing breaks when keys are turned off. */
export function holderAdvice(c: Consumer, accountName: string): string {
  const isNew = c.known === false ? "NEW holder " : "";
  const where = c.secret
    ? ` (Key Vault ${c.secret.vaultUrl.replace(/^https:\/\//, "").replace(/\/+$/, "")}/${c.secret.name})`
    : "";
  switch (c.source) {
    case "keyvault-secret":
    case "keyvault-tagged":
      return `${isNew}${c.name}${where}: move whatever reads this secret to Microsoft Entra ID, then delete the secret`;
    case "app-setting-reference":
      return `${isNew}${c.name}${where}: switch the app to its managed identity (Entra ID) and remove the setting${c.settingName ? ` ${c.settingName}` : ""}`;
    case "app-setting-literal":
      return `${isNew}${c.name}: a literal copy of the key in an app setting${c.settingName ? ` (${c.settingName})` : ""}; switch the app to its managed identity and remove the setting`;
    case "declared":
      return `${isNew}${c.name} (declared by hand${c.owner ? `, owner ${c.owner}` : ""}): move it to Entra ID, then \`consumer remove ${accountName} ${c.name}\``;
    default:
      return `${isNew}${c.name}: move it to Entra ID`;
  }
}

/** Refuses while a holder remains: the error names every one and what to do. */
export function assertNoKeyHolder(account: Account, inventory: Inventory): void {
  const holders = keyHolders(inventory);
  if (holders.length === 0) return;
  throw new KeyturnError(
    "key_holders_remain",
    // one holder a line, with what to do about it: the list a person works through
    `Local auth of ${account.name} cannot be disabled yet: ${holders.length} key holder(s) remain.\n${holders
      .map((c) => `• ${holderAdvice(c, account.name)}`)
      .join("\n")}\nOnce none remains, request \`disable-local-auth ${account.name}\` again.`,
  );
}

/** Key-authenticated traffic in words, for the plan's notes and the preflight. */
export function trafficText(t: KeyAuthTraffic | null): string {
  if (!t)
    return "Key-authenticated traffic: cannot be known: keyturn has no reader of diagnostic logs configured.";
  if (!t.known) return `Key-authenticated traffic: cannot be known: ${t.why}`;
  const who = t.keyCallers.map((c) => `${c.callerIp} (${c.operation}, ${c.calls})`).join(", ");
  return t.keyCalls === 0
    ? `Key-authenticated traffic: none between ${t.from.slice(0, 16).replace("T", " ")} and ${t.to.slice(0, 16).replace("T", " ")} UTC (${t.tokenCalls} call(s) with an Entra token); ${t.source}.`
    : `Key-authenticated traffic: ${t.keyCalls} call(s) with a key (last ${t.lastKeyCall?.slice(0, 19).replace("T", " ") ?? "?"} UTC, from ${who}) and ${t.tokenCalls} with an Entra token since ${t.from.slice(0, 16).replace("T", " ")} UTC — whoever made the key calls is refused once keys are off; ${t.source}.`;
}

export interface KeyFreePlanInput {
  readonly account: Account;
  readonly inventory: Inventory;
  readonly policy: PolicySnapshot;
}

/** The disable-local-auth plan; throws while a key holder remains or when keys are already off. */
export function buildKeyFreePlan({ account, inventory }: KeyFreePlanInput): Plan {
  if (inventory.keyFree || account.disableLocalAuth)
    throw new KeyturnError(
      "key_free",
      `${account.name} already has disableLocalAuth=true: keys are off, nothing to do.`,
    );
  assertNoKeyHolder(account, inventory);
  const back = "`rollback` re-enables local auth (disableLocalAuth=false): keys work again";
  const steps: PlanStep[] = (
    [
      {
        kind: "key_free_preflight",
        title:
          "Preflight: confirm no key holder remains, read key-authenticated traffic, record both fingerprints",
        rollback: "nothing changed yet",
      },
      {
        kind: "disable_local_auth",
        title: `Set disableLocalAuth=true on ${account.name} through ARM: every key stops working, Microsoft Entra ID only`,
        rollback: back,
      },
      {
        kind: "prove_keys_refused",
        title: "Prove keys are refused: a data-plane call with a key is turned away",
        rollback: back,
      },
      {
        kind: "key_free_complete",
        title: `Complete: record ${account.name} as key-free (Microsoft Entra ID only)`,
        rollback: back,
      },
    ] as const
  ).map((s, index) => ({ ...s, index, pointOfNoReturn: false, waitSeconds: 0 }));
  const active = inventory.activeSlot ?? "key1";
  const callers = inventory.consumers.filter((c) => c.source === "listkeys-caller");
  const notes = [
    "Nothing is regenerated: keys are turned off, and a rollback turns the same keys back on.",
    ...(callers.length
      ? [
          `listKeys callers in the last 90 days may keep a copy of a key: ${callers.map((c) => c.name).join(", ")}. Their calls show in the key-authenticated traffic; they are refused once keys are off.`,
        ]
      : []),
  ];
  const material = {
    variant: "disable-local-auth",
    accountId: account.id,
    steps: steps.map((s) => s.kind),
    consumers: inventory.consumers
      .map((c) => ({ id: c.id, source: c.source, slot: c.slot, ...(c.known === false ? { new: true } : {}) }))
      .sort((a, b) => a.id.localeCompare(b.id)),
  };
  return {
    variant: "disable-local-auth",
    accountId: account.id,
    activeSlot: active,
    standbySlot: otherSlot(active),
    steps,
    consumerIds: [],
    pinnedConsumerIds: [],
    hash: sha256Hex(canonicalJson(material)),
    notes,
  };
}
