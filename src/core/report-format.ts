/**
 * The fleet posture report as files: Markdown for people, CSV for spreadsheets (RFC 4180, with no
 * cell a spreadsheet would run as a formula), JSON for pipelines. Same rows, same order in each.
 */
import type { KeyAuthTraffic, ReportRow, ReportSort, ReportSummary } from "./report.js";
import { daysFrom } from "./report.js";

export type ReportFormat = "md" | "csv" | "json";
export const REPORT_FORMATS: readonly ReportFormat[] = ["md", "csv", "json"];

export interface ReportDocument {
  readonly generatedAt: string; // ISO
  readonly label?: string | undefined; // "SANDBOX"
  readonly sort: ReportSort;
  readonly summary: ReportSummary;
  readonly rows: readonly ReportRow[];
  readonly version?: string | undefined;
}

export const REPORT_SCHEMA = "keyturn.fleet-report/v1";

const day = (iso: string | null) => (iso ? iso.slice(0, 10) : "—");

/** "2026-09-16 (75 days ago)", "2027-02-28 (in 90 days)", "today". */
function when(now: Date, iso: string): string {
  const d = daysFrom(now, iso);
  const rel =
    d === 0 ? "today" : d < 0 ? `${-d} day${d === -1 ? "" : "s"} ago` : `in ${d} day${d === 1 ? "" : "s"}`;
  return `${day(iso)} (${rel})`;
}

export function trafficInWords(t: KeyAuthTraffic): string {
  switch (t.state) {
    case "not-measured":
      return "not measured";
    case "unknown":
      return `unknown: ${t.why}`;
    case "measured":
      return `${t.keyCalls} by key, ${t.tokenCalls} by Entra token in ${t.days} days (${t.source})`;
  }
}

const READINESS: Record<ReportRow["keyFree"]["state"], string> = {
  "key-free": "already key-free (disableLocalAuth=true)",
  ready: "ready: local auth could be disabled (no key holder, no listKeys caller, no key traffic seen)",
  "not-ready": "not ready",
  "cannot-be-known": "cannot be known",
};

/** The key-free readiness in words, with what still uses keys or what could not be read. */
export function readinessInWords(r: ReportRow): string {
  const k = r.keyFree;
  if (k.state === "not-ready") return `not ready — still uses keys: ${k.stillUsesKeys.join("; ")}`;
  if (k.state === "cannot-be-known") return `cannot be known — ${k.cannotBeKnown.join("; ")}`;
  return READINESS[k.state];
}

export function lastRotationInWords(now: Date, r: ReportRow): string {
  const l = r.lastRotation;
  if (!l.at) return `none on record — ${l.note}`;
  const src =
    l.source === "keyturn" ? `keyturn${l.changeId ? ` ${l.changeId}` : ""}` : "Activity Log regenerateKey";
  return `${when(now, l.at)} by ${l.by ?? "?"} (${src})`;
}

export function nextDueInWords(now: Date, r: ReportRow): string {
  if (!r.localAuthAllowed) return "n/a (no keys)";
  if (!r.nextDue) return "now (no rotation on record) — OVERDUE";
  return `${when(now, r.nextDue)}${r.overdue ? " — OVERDUE" : ""}`;
}

const holdersInWords = (h: ReportRow["knownHolders"], withOrigin = false): string =>
  h === null
    ? "cannot be known"
    : h.length === 0
      ? "none"
      : h.map((x) => (withOrigin && x.origin ? `${x.name} (${x.origin})` : x.name)).join("; ");

const callersInWords = (c: ReportRow["listKeysCallers"]): string =>
  c === null
    ? "cannot be known (Activity Log not readable)"
    : c.length === 0
      ? "none"
      : c.map((x) => `${x.caller}${x.lastAt ? ` (last ${x.lastAt})` : ""}`).join("; ");

const ownerInWords = (r: ReportRow) => (r.owner ? `${r.owner} (${r.ownerSource})` : "unknown");

const exposureInWords = (r: ReportRow) =>
  r.exposure
    ? r.exposure.open
      ? `${r.exposure.changeId} open (${r.exposure.state.replaceAll("_", " ")})`
      : `${r.exposure.changeId} ended ${r.exposure.state.replaceAll("_", " ")} without rotating`
    : "none";

export function summaryLines(s: ReportSummary): [string, string][] {
  return [
    ["Accounts", String(s.accounts)],
    ["Overdue", String(s.overdue)],
    ["Exposed (open incidents)", `${s.exposed} (${s.openIncidents} open)`],
    ["NEW key holders", `${s.newHolders} on ${s.accountsWithNewHolders} account(s)`],
    ["Local auth allowed", String(s.localAuthAllowed)],
    ["Key-free ready", String(s.keyFreeReady)],
    ["Already key-free", String(s.keyFree)],
    ["Readiness cannot be known", String(s.cannotBeKnown)],
  ];
}

// ------------------------------------------------------------------ Markdown

/** Text safe inside a Markdown table cell or list item: no column break, no HTML, no line break. */
function mdText(s: string): string {
  return s
    .replace(/[\r\n]+/g, " ")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/\|/g, "\\|");
}

export function reportMarkdown(doc: ReportDocument): string {
  const now = new Date(doc.generatedAt);
  const out: string[] = [`# keyturn fleet posture report`, ""];
  if (doc.label) out.push(`**${doc.label}** — simulated Azure tenant, nothing real`, "");
  out.push(
    `Generated ${doc.generatedAt.replace("T", " ").slice(0, 16)} UTC${doc.version ? ` by keyturn ${doc.version}` : ""} · ${doc.rows.length} account(s) · sorted by ${doc.sort}`,
    "",
    doc.rows.every((r) => r.keyAuthTraffic.state === "not-measured")
      ? "No key value and no fingerprint is in this report. Key traffic by key vs Entra token: `not measured` until keyturn reads it."
      : "No key value and no fingerprint is in this report. Key traffic by key vs Entra token: from the diagnostic logs where the account's kind records the caller, else unknown with the reason.",
    "",
    "## Summary",
    "",
    "| | |",
    "| --- | --- |",
    ...summaryLines(doc.summary).map(([k, v]) => `| ${k} | ${v} |`),
    "",
    `## Accounts (by ${doc.sort})`,
    "",
    "| # | Account | Environment | Risk | Next due | Key-free |",
    "| --- | --- | --- | --- | --- | --- |",
    ...doc.rows.map(
      (r, i) =>
        `| ${i + 1} | ${mdText(r.account.shortName)} | ${mdText(r.environment ?? "—")} | ${r.risk.level}: ${mdText(r.risk.reasons.join(", "))} | ${mdText(nextDueInWords(now, r))} | ${r.keyFree.state} |`,
    ),
  );
  for (const r of doc.rows) {
    const item = (k: string, v: string) => `- **${k}**: ${mdText(v)}`;
    out.push(
      "",
      `### ${mdText(r.account.shortName)}`,
      "",
      item("Resource", r.account.id),
      item("Kind", `${r.account.kind} (${r.account.location})`),
      item("Environment", r.environment ?? "—"),
      item("Owner", ownerInWords(r)),
      item("Risk", `${r.risk.level} — ${r.risk.reasons.join("; ")}`),
      item("Active key", r.localAuthAllowed ? (r.activeSlot ?? "unknown") : "none (no keys)"),
      item("Key Vault secrets", r.storedIn.keyVaultSecrets.join("; ") || "none found"),
      item("App Service settings", r.storedIn.appServiceSettings.join("; ") || "none found"),
      item("Last rotation", lastRotationInWords(now, r)),
      ...(r.regeneratedOutside
        ? [
            item(
              "Regenerated since",
              `${when(now, r.regeneratedOutside.at)} by ${r.regeneratedOutside.by} (Activity Log): not a rotation keyturn completed`,
            ),
          ]
        : []),
      item("Next due", `${nextDueInWords(now, r)} (every ${r.cadenceDays} days)`),
      item("Exposure", exposureInWords(r)),
      item("Open change", r.openChangeId ?? "none"),
      item("Known key holders", holdersInWords(r.knownHolders)),
      item("NEW key holders", holdersInWords(r.newHolders, true)),
      item("listKeys callers (90 days)", callersInWords(r.listKeysCallers)),
      item(
        "Local auth",
        r.localAuthAllowed ? "allowed (disableLocalAuth=false)" : "disabled (disableLocalAuth=true)",
      ),
      item(
        "Calls in 24 h (any authentication)",
        r.calls24h === null ? "cannot be known" : String(r.calls24h),
      ),
      item("Key vs Entra token traffic", trafficInWords(r.keyAuthTraffic)),
      item("Key-free readiness", readinessInWords(r)),
      ...(r.unseen.length ? [item("Could not read", r.unseen.join("; "))] : []),
    );
  }
  return out.join("\n") + "\n";
}

// ------------------------------------------------------------------ CSV

/**
 * One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break, quotes doubled.
 * A field a spreadsheet would read as a formula (starting with = + - @, a tab or a carriage return)
 * is prefixed with a single quote, so it is shown as text, never run.
 */
export function csvCell(value: string | number | boolean | null): string {
  let s = value === null ? "" : String(value);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const CSV_COLUMNS = [
  "account",
  "resource_group",
  "subscription",
  "kind",
  "location",
  "environment",
  "owner",
  "risk",
  "risk_reasons",
  "active_key",
  "key_vault_secrets",
  "app_service_settings",
  "last_rotation",
  "last_rotation_by",
  "last_rotation_source",
  "next_due",
  "overdue",
  "exposure",
  "open_change",
  "known_holders",
  "new_holders",
  "listkeys_callers_90d",
  "local_auth_allowed",
  "calls_24h",
  "key_auth_traffic",
  "key_free",
  "still_uses_keys",
  "cannot_be_known",
  "resource_id",
] as const;

export function reportCsv(doc: ReportDocument): string {
  const list = (xs: readonly string[] | null) => (xs === null ? "cannot be known" : xs.join("; "));
  const lines = [CSV_COLUMNS.join(",")];
  for (const r of doc.rows) {
    const cells: (string | number | boolean | null)[] = [
      r.account.name,
      r.account.resourceGroup,
      r.account.subscriptionId,
      r.account.kind,
      r.account.location,
      r.environment,
      r.owner,
      r.risk.level,
      r.risk.reasons.join("; "),
      r.localAuthAllowed ? r.activeSlot : "none",
      r.storedIn.keyVaultSecrets.join("; "),
      r.storedIn.appServiceSettings.join("; "),
      r.lastRotation.at,
      r.lastRotation.by,
      r.lastRotation.source,
      r.localAuthAllowed ? (r.nextDue ?? "now") : "n/a",
      r.overdue,
      r.exposure ? `${r.exposure.changeId} ${r.exposure.state}` : "",
      r.openChangeId,
      list(r.knownHolders?.map((h) => h.name) ?? null),
      list(r.newHolders?.map((h) => (h.origin ? `${h.name} (${h.origin})` : h.name)) ?? null),
      list(r.listKeysCallers?.map((c) => `${c.caller}${c.lastAt ? ` (${c.lastAt})` : ""}`) ?? null),
      r.localAuthAllowed,
      r.calls24h,
      trafficInWords(r.keyAuthTraffic),
      r.keyFree.state,
      r.keyFree.stillUsesKeys.join("; "),
      r.keyFree.cannotBeKnown.join("; "),
      r.account.id,
    ];
    lines.push(cells.map(csvCell).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}

// ------------------------------------------------------------------ JSON

export function reportJson(doc: ReportDocument): string {
  return (
    JSON.stringify(
      {
        schema: REPORT_SCHEMA,
        generatedAt: doc.generatedAt,
        ...(doc.label ? { label: doc.label } : {}),
        ...(doc.version ? { keyturnVersion: doc.version } : {}),
        sort: doc.sort,
        summary: doc.summary,
        accounts: doc.rows,
      },
      null,
      2,
    ) + "\n"
  );
}

export function renderReport(doc: ReportDocument, format: ReportFormat): string {
  return format === "md" ? reportMarkdown(doc) : format === "csv" ? reportCsv(doc) : reportJson(doc);
}

export const reportFilename = (doc: Pick<ReportDocument, "generatedAt">, format: ReportFormat): string =>
  `keyturn-report-${doc.generatedAt.slice(0, 10)}.${format}`;
