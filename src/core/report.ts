/**
 * The fleet posture report: one row per account (kind, environment, owner, active key, where it is
 * stored, last rotation and its source, next due, known and NEW key holders, listKeys callers, local
 * auth, key-free readiness), ranked by risk. Pure: the runner gathers what Azure and the record say
 * (src/runner/report.ts); this module turns it into rows, a summary and the pipeline conditions.
 * No key value and no fingerprint is ever part of a row.
 */
import type { Account, AccountStatus, Change, Consumer, Inventory, KeySlot } from "./domain.js";
import { isCompleted, isOpen } from "./domain.js";
import { holderOrigin } from "./known-holders.js";
import { consumerInWords, secretInWords, shownConsumers } from "./render/consumers.js";

/**
 * Calls to the account authenticated by key and by Microsoft Entra token over the last `days`
 * days. `not-measured` until keyturn reads a source that tells them apart; `unknown` when it tried
 * and could not (the reason says which source and why).
 */
export type KeyAuthTraffic =
  | { readonly state: "not-measured" }
  | { readonly state: "unknown"; readonly why: string }
  | {
      readonly state: "measured";
      readonly days: number;
      readonly keyCalls: number;
      readonly tokenCalls: number;
      /** Where the figures come from, e.g. "Log Analytics: AzureDiagnostics, 7 days". */
      readonly source: string;
    };

export type LastRotationSource = "keyturn" | "activity-log" | "unknown";

export interface ReportHolder {
  /** As people know it: "Key Vault secret translator-key in contoso-kv", "App Service fabrikam-app, setting FABRIKAM_KEY". */
  readonly name: string;
  /** NEW holders: when and by whom the copy was created, as Azure records it. */
  readonly origin?: string;
}

export type KeyFreeState = "key-free" | "ready" | "not-ready" | "cannot-be-known";

export type RiskLevel = "critical" | "high" | "medium" | "low" | "none";

export interface ReportRow {
  readonly account: {
    readonly name: string;
    /** The shortest form that names it alone (resource-group/name where two share a name). */
    readonly shortName: string;
    readonly id: string;
    readonly subscriptionId: string;
    readonly resourceGroup: string;
    readonly kind: string;
    readonly location: string;
  };
  readonly environment: string | null;
  readonly owner: string | null;
  readonly ownerSource: "tag" | "policy" | null;
  readonly localAuthAllowed: boolean;
  readonly activeSlot: KeySlot | null;
  readonly storedIn: {
    readonly keyVaultSecrets: readonly string[];
    readonly appServiceSettings: readonly string[];
  };
  readonly lastRotation: {
    readonly source: LastRotationSource;
    readonly at: string | null;
    readonly by: string | null;
    readonly changeId: string | null;
    /** What the source means, or why it is unknown. */
    readonly note: string;
  };
  /** A key regeneration the Activity Log shows after keyturn's last completed rotation (never moves the due date). */
  readonly regeneratedOutside: { readonly at: string; readonly by: string } | null;
  readonly cadenceDays: number;
  readonly nextDue: string | null;
  readonly overdue: boolean;
  /** A suspected exposure that no completed change has dealt with: the incident open, or ended without rotating. */
  readonly exposure: { readonly changeId: string; readonly state: string; readonly open: boolean } | null;
  readonly openChangeId: string | null;
  readonly knownHolders: readonly ReportHolder[] | null;
  readonly newHolders: readonly ReportHolder[] | null;
  /** Who called listKeys in the last 90 days (keyturn itself excluded); null = cannot be known. */
  readonly listKeysCallers: readonly { readonly caller: string; readonly lastAt: string | null }[] | null;
  /** TotalCalls over 24 h, any authentication; null = not readable. */
  readonly calls24h: number | null;
  readonly keyAuthTraffic: KeyAuthTraffic;
  readonly keyFree: {
    readonly state: KeyFreeState;
    /** What still uses keys (holders, listKeys callers, key-authenticated calls). */
    readonly stillUsesKeys: readonly string[];
    /** What could not be read, so readiness cannot be known. */
    readonly cannotBeKnown: readonly string[];
  };
  /** Sources keyturn could not read for this account, with why. */
  readonly unseen: readonly string[];
  readonly risk: { readonly level: RiskLevel; readonly reasons: readonly string[] };
}

/** What the runner gathered about one account. */
export interface ReportInput {
  readonly account: Account;
  readonly shortName: string;
  readonly status: AccountStatus;
  /** The inventory, or null when it could not be taken (`inventoryError` says why). */
  readonly inventory: Inventory | null;
  readonly inventoryError?: string;
  readonly changes: readonly Change[];
  readonly keyAuthTraffic?: KeyAuthTraffic;
}

const holderSources = new Set<Consumer["source"]>([
  "keyvault-secret",
  "keyvault-tagged",
  "app-setting-reference",
  "app-setting-literal",
  "declared",
]);

export function reportRow(input: ReportInput): ReportRow {
  const { account, status: s, inventory: inv } = input;
  const traffic = input.keyAuthTraffic ?? { state: "not-measured" };
  const unseen = [
    ...(input.inventoryError ? [`Inventory: ${input.inventoryError}`] : []),
    ...(inv?.unseen ?? []),
  ];
  const activityUnseen = !inv || inv.unseen.some((u) => /^Activity Log/i.test(u));
  const metricsUnseen = !inv || inv.unseen.some((u) => /metrics/i.test(u));
  const keyFreeNow = !s.localAuthAllowed;

  const shown = inv && !inv.keyFree ? shownConsumers(inv) : [];
  const holders = shown.map((x) => x.consumer).filter((c) => holderSources.has(c.source));
  const known = inv ? holders.filter((c) => c.known !== false).map((c) => ({ name: holderName(c) })) : null;
  const fresh = inv
    ? holders.filter((c) => c.known === false).map((c) => ({ name: holderName(c), origin: originOf(c) }))
    : null;
  const callers =
    inv && !activityUnseen
      ? inv.consumers
          .filter((c) => c.source === "listkeys-caller")
          .map((c) => ({
            caller: c.name,
            lastAt: /called listKeys on (\d{4}-\d\d-\d\d)/.exec(c.evidence)?.[1] ?? null,
          }))
      : keyFreeNow
        ? []
        : null;
  const calls24h =
    inv && !metricsUnseen ? inv.services.reduce((a, x) => a + x.calls, 0) : keyFreeNow ? 0 : null;

  const consumers = inv?.consumers ?? [];
  const storedIn = {
    keyVaultSecrets: consumers
      .filter((c) => (c.source === "keyvault-secret" || c.source === "keyvault-tagged") && c.secret)
      .map((c) => secretInWords(c.secret!.vaultUrl, c.secret!.name)),
    appServiceSettings: consumers
      .filter((c) => c.source === "app-setting-reference" || c.source === "app-setting-literal")
      .map(
        (c) =>
          `App Service ${c.name}, setting ${c.settingName ?? "?"} (${
            c.source === "app-setting-literal"
              ? "literal copy"
              : `reference to ${c.secret?.name ?? "a secret"}${c.reload === "pinned" ? ", pinned" : ""}`
          })`,
      ),
  };

  const last = s.lastRotation;
  const outside = s.regeneratedOutside ?? null;
  const lastRotation = last
    ? {
        source: "keyturn" as const,
        at: last.at,
        by: last.by,
        changeId: last.changeId ?? null,
        note: `a rotation keyturn completed${last.changeId ? ` (${last.changeId})` : ""}: both keys new`,
      }
    : outside
      ? {
          source: "activity-log" as const,
          at: outside.at,
          by: outside.by,
          changeId: null,
          note: "a key regenerated outside keyturn (Activity Log regenerateKey): not counted as a rotation, the due date does not move",
        }
      : {
          source: "unknown" as const,
          at: null,
          by: null,
          changeId: null,
          note: keyFreeNow
            ? "local auth disabled: no keys to rotate"
            : activityUnseen
              ? "no rotation by keyturn on record, and the Activity Log could not be read"
              : "no rotation by keyturn on record, and no key regeneration in the Activity Log's 90 days",
        };

  const exposure = exposureOf(input.changes, last?.at ?? null);

  const stillUsesKeys: string[] = [];
  const cannotBeKnown: string[] = [];
  if (!keyFreeNow) {
    for (const h of [...(known ?? []), ...(fresh ?? [])]) stillUsesKeys.push(h.name);
    for (const c of callers ?? [])
      stillUsesKeys.push(`${c.caller} (called listKeys${c.lastAt ? ` on ${c.lastAt}` : ""})`);
    if (traffic.state === "measured" && traffic.keyCalls > 0)
      stillUsesKeys.push(`${traffic.keyCalls} key-authenticated call(s) in ${traffic.days} days`);
    cannotBeKnown.push(...unseen);
    if (traffic.state === "unknown") cannotBeKnown.push(`Key vs Entra token traffic: ${traffic.why}`);
    if (traffic.state !== "measured" && calls24h !== null && calls24h > 0)
      cannotBeKnown.push(
        `${calls24h} call(s) in 24 h: whether by key or by Entra token is ${traffic.state === "unknown" ? "unknown" : "not measured"}`,
      );
  }
  const keyFreeState: KeyFreeState = keyFreeNow
    ? "key-free"
    : stillUsesKeys.length
      ? "not-ready"
      : cannotBeKnown.length
        ? "cannot-be-known"
        : "ready";

  const row: Omit<ReportRow, "risk"> = {
    account: {
      name: account.name,
      shortName: input.shortName,
      id: account.id,
      subscriptionId: account.subscriptionId,
      resourceGroup: account.resourceGroup,
      kind: account.kind,
      location: account.location,
    },
    environment: s.environment,
    owner: s.owner,
    ownerSource: s.ownerSource,
    localAuthAllowed: s.localAuthAllowed,
    activeSlot: s.activeSlot ?? inv?.activeSlot ?? null,
    storedIn,
    lastRotation,
    regeneratedOutside: last && outside ? outside : null,
    cadenceDays: s.cadenceDays,
    nextDue: s.nextDue,
    overdue: s.overdue,
    exposure,
    openChangeId: s.openChangeId,
    knownHolders: keyFreeNow ? [] : known,
    newHolders: keyFreeNow ? [] : fresh,
    listKeysCallers: callers,
    calls24h,
    keyAuthTraffic: traffic,
    keyFree: { state: keyFreeState, stillUsesKeys, cannotBeKnown },
    unseen,
  };
  return { ...row, risk: riskOf(row) };
}

const holderName = (c: Consumer): string => consumerInWords(c);

/** When and by whom a NEW holder's copy was made, where Azure records it (Key Vault secrets); else said plainly. */
const originOf = (c: Consumer): string =>
  c.firstSeen ? holderOrigin(c) : "Azure does not record when or by whom this copy was made";

/**
 * The newest exposure change not dealt with: still open, or ended without completing and with no
 * completed rotation after it (the leaked key may still work).
 */
function exposureOf(changes: readonly Change[], lastRotationAt: string | null): ReportRow["exposure"] {
  const newest = changes.filter((c) => c.exposure).sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0];
  if (!newest || isCompleted(newest.state)) return null;
  if (lastRotationAt && lastRotationAt > newest.createdAt) return null;
  return { changeId: newest.id, state: newest.state, open: isOpen(newest.state) };
}

/** Why an account is where it is in the risk order, riskiest reason first. */
function riskOf(r: Omit<ReportRow, "risk">): ReportRow["risk"] {
  if (!r.localAuthAllowed) return { level: "none", reasons: ["local auth disabled: no keys"] };
  const reasons: string[] = [];
  if (r.exposure)
    reasons.push(
      r.exposure.open
        ? `exposure incident open (${r.exposure.changeId}, ${r.exposure.state.replaceAll("_", " ")})`
        : `exposure reported in ${r.exposure.changeId}, which ended ${r.exposure.state.replaceAll("_", " ")}: the leaked key may still work`,
    );
  if (r.overdue) reasons.push(r.nextDue ? "rotation overdue" : "never rotated by keyturn: due now");
  if (r.newHolders?.length) reasons.push(`${r.newHolders.length} NEW key holder(s)`);
  if (r.listKeysCallers?.length) reasons.push(`${r.listKeysCallers.length} listKeys caller(s) in 90 days`);
  if (r.unseen.length) reasons.push(`${r.unseen.length} source(s) not readable`);
  if (r.keyFree.state === "ready") reasons.push("local auth still allowed, though nothing uses keys");
  else reasons.push("local auth allowed");
  const level: RiskLevel = r.exposure
    ? "critical"
    : r.overdue || r.newHolders?.length
      ? "high"
      : r.listKeysCallers?.length || r.unseen.length
        ? "medium"
        : "low";
  return { level, reasons };
}

export {
  daysFrom,
  FAIL_ON,
  failures,
  REPORT_SORTS,
  riskRank,
  sortRows,
  summarise,
  type FailOn,
  type ReportSort,
  type ReportSummary,
} from "./report-fleet.js";
