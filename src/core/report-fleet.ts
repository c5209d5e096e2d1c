/**
 * The fleet view of the report's rows: the risk order (and by name or due date), the summary counts,
 * and the conditions a pipeline fails on. Pure.
 */
import type { ReportRow } from "./report.js";

const DAY = 86_400_000;

/** The risk order's key: lower sorts first. Exposed-and-overdue, exposed, overdue, NEW holders, listKeys callers, unreadable, the rest; key-free last. */
export function riskRank(r: ReportRow): number[] {
  const flag = (b: boolean) => (b ? 0 : 1);
  return [
    flag(r.localAuthAllowed),
    flag(!!r.exposure && r.overdue),
    flag(!!r.exposure),
    flag(r.overdue),
    flag(!!r.newHolders?.length),
    flag(!!r.listKeysCallers?.length),
    flag(r.unseen.length > 0 || r.keyFree.state === "cannot-be-known"),
  ];
}

export type ReportSort = "risk" | "name" | "due";
export const REPORT_SORTS: readonly ReportSort[] = ["risk", "name", "due"];

/** Rows in the order asked for; ties always fall back to the due date, then the name, so the order is stable. */
export function sortRows(rows: readonly ReportRow[], by: ReportSort = "risk"): ReportRow[] {
  const due = (r: ReportRow) =>
    !r.localAuthAllowed
      ? Number.POSITIVE_INFINITY
      : r.nextDue
        ? Date.parse(r.nextDue)
        : Number.NEGATIVE_INFINITY;
  const name = (a: ReportRow, b: ReportRow) =>
    a.account.shortName.localeCompare(b.account.shortName) || a.account.id.localeCompare(b.account.id);
  const byDue = (a: ReportRow, b: ReportRow) => due(a) - due(b) || 0;
  const byRisk = (a: ReportRow, b: ReportRow) => {
    const x = riskRank(a);
    const y = riskRank(b);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
    return 0;
  };
  const order =
    by === "name"
      ? name
      : by === "due"
        ? (a: ReportRow, b: ReportRow) => byDue(a, b) || name(a, b)
        : (a: ReportRow, b: ReportRow) => byRisk(a, b) || byDue(a, b) || name(a, b);
  return [...rows].sort(order);
}

export interface ReportSummary {
  readonly accounts: number;
  readonly overdue: number;
  /** Accounts with an exposure not dealt with, and how many of those incidents are still open. */
  readonly exposed: number;
  readonly openIncidents: number;
  readonly newHolders: number;
  readonly accountsWithNewHolders: number;
  readonly localAuthAllowed: number;
  readonly keyFreeReady: number;
  readonly keyFree: number;
  readonly cannotBeKnown: number;
}

export function summarise(rows: readonly ReportRow[]): ReportSummary {
  const count = (p: (r: ReportRow) => boolean) => rows.filter(p).length;
  return {
    accounts: rows.length,
    overdue: count((r) => r.overdue),
    exposed: count((r) => !!r.exposure),
    openIncidents: count((r) => !!r.exposure?.open),
    newHolders: rows.reduce((a, r) => a + (r.newHolders?.length ?? 0), 0),
    accountsWithNewHolders: count((r) => !!r.newHolders?.length),
    localAuthAllowed: count((r) => r.localAuthAllowed),
    keyFreeReady: count((r) => r.keyFree.state === "ready"),
    keyFree: count((r) => r.keyFree.state === "key-free"),
    cannotBeKnown: count((r) => r.keyFree.state === "cannot-be-known"),
  };
}

/** Conditions a pipeline can fail on (`keyturn report --fail-on …`). */
export type FailOn = "overdue" | "new-holders" | "local-auth" | "exposed";
export const FAIL_ON: readonly FailOn[] = ["overdue", "new-holders", "local-auth", "exposed"];

const FAIL_TEST: Record<FailOn, (r: ReportRow) => boolean> = {
  overdue: (r) => r.overdue,
  "new-holders": (r) => !!r.newHolders?.length,
  "local-auth": (r) => r.localAuthAllowed,
  exposed: (r) => !!r.exposure,
};

/** For each condition asked for, the accounts that meet it (only conditions that hold are listed). */
export function failures(
  rows: readonly ReportRow[],
  conditions: readonly FailOn[],
): { readonly condition: FailOn; readonly accounts: readonly string[] }[] {
  return conditions
    .map((condition) => ({
      condition,
      accounts: rows.filter(FAIL_TEST[condition]).map((r) => r.account.shortName),
    }))
    .filter((f) => f.accounts.length > 0);
}

/** Whole days from `now` to `iso`, rounded (negative: in the past). */
export const daysFrom = (now: Date, iso: string): number =>
  Math.round((Date.parse(iso) - now.getTime()) / DAY);
