/**
 * Gathers the fleet posture report: for every account, what `status` reads (keyturn's record, the
 * inventory, the Activity Log) through the same queries, a few accounts at a time. A source that
 * cannot be read is part of the answer ("cannot be known"), never a failure of the whole report.
 */
import type { Account, Inventory } from "../core/domain.js";
import { isKeyturnError } from "../core/errors.js";
import type { Clock, Logger } from "../core/ports.js";
import {
  reportRow,
  sortRows,
  summarise,
  type KeyAuthTraffic,
  type ReportInput,
  type ReportSort,
} from "../core/report.js";
import type { ReportDocument } from "../core/report-format.js";
import { shortName, type AccountDirectory } from "./account-directory.js";
import type { Queries } from "./queries.js";

export interface ReportDeps {
  readonly directory: Pick<AccountDirectory, "list">;
  readonly queries: Pick<Queries, "status" | "brief" | "changes">;
  readonly clock: Clock;
  readonly logger?: Logger;
  /**
   * Calls by key vs by Entra token per account, where a source can tell them apart. Absent: every
   * row says "not measured".
   */
  readonly keyAuthTraffic?: (account: Account) => Promise<KeyAuthTraffic>;
  /** Accounts read at once (default 4: each takes an inventory, a few Azure calls). */
  readonly concurrency?: number;
}

export interface ReportOptions {
  /** Which accounts the asker may see (chat: the policy's role); absent = all. */
  readonly include?: (account: Account) => boolean;
  readonly sort?: ReportSort;
  readonly label?: string | undefined;
  readonly version?: string | undefined;
}

export async function gatherReport(deps: ReportDeps, opts: ReportOptions = {}): Promise<ReportDocument> {
  const generatedAt = deps.clock.now().toISOString();
  const all = await deps.directory.list(true);
  const accounts = opts.include ? all.filter(opts.include) : all;
  const inputs: ReportInput[] = new Array<ReportInput>(accounts.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < accounts.length; i = next++) inputs[i] = await inputOf(deps, accounts[i]!, all);
  };
  await Promise.all(Array.from({ length: Math.max(1, deps.concurrency ?? 4) }, worker));
  const sort = opts.sort ?? "risk";
  const rows = sortRows(inputs.map(reportRow), sort);
  return {
    generatedAt,
    ...(opts.label ? { label: opts.label } : {}),
    ...(opts.version ? { version: opts.version } : {}),
    sort,
    summary: summarise(rows),
    rows,
  };
}

async function inputOf(deps: ReportDeps, account: Account, all: readonly Account[]): Promise<ReportInput> {
  const changes = await deps.queries.changes(account.id);
  const traffic = deps.keyAuthTraffic
    ? await deps
        .keyAuthTraffic(account)
        .catch((e: unknown): KeyAuthTraffic => ({ state: "unknown", why: reason(e) }))
    : undefined;
  const base = {
    account,
    shortName: displayName(account, all),
    changes,
    ...(traffic ? { keyAuthTraffic: traffic } : {}),
  };
  try {
    const { status, inventory } = await deps.queries.status(account);
    return { ...base, status, inventory };
  } catch (e) {
    deps.logger?.warn({ err: e, accountId: account.id }, "report: inventory not taken");
    return {
      ...base,
      status: await deps.queries.brief(account),
      inventory: null as Inventory | null,
      inventoryError: reason(e),
    };
  }
}

/** Its name, or resource-group/name where another account has the same name (the form commands accept). */
const displayName = (a: Account, all: readonly Account[]): string =>
  all.filter((x) => x.name.toLowerCase() === a.name.toLowerCase()).length > 1 ? shortName(a, all) : a.name;

const reason = (e: unknown): string =>
  isKeyturnError(e) ? e.userMessage : "an unexpected error (keyturn's log has it)";
