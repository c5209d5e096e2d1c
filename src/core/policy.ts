/**
 * Policy: who approves what, how many, how fast — chosen per account by tags, name patterns or
 * subscriptions (first match wins, then defaults).
 */
import type { Account, Change, Principal, PolicySnapshot } from "./domain.js";
import { parseDuration } from "./duration.js";
import { KeyturnError } from "./errors.js";
import type { Policy, PolicySettings } from "./policy-schema.js";
import { policySchema } from "./policy-schema.js";
import { closest } from "./suggest.js";

export type { Policy } from "./policy-schema.js";

export interface PolicyBook {
  /** The policy that applies to an account; exposure changes get the short windows. */
  snapshotFor(account: Account, opts: { exposure: boolean }): PolicySnapshot;
  /** Owner from the account's `owner` tag, else from the matching policy. */
  ownerFor(account: Account): { owner: string; source: "tag" | "policy" } | null;
  /** Rotation cadence for an account (tag `rotation-cadence-days`, policy, default 90). */
  cadenceDays(account: Account): number;
  /** Platform group ids named anywhere in the policy (e.g. Slack user groups `slackgroup:S…`), for adapters to resolve. */
  platformGroups(): string[];
}

const DEFAULTS: Required<Omit<PolicySettings, "owner">> = {
  approvers: [],
  approvalsRequired: 1,
  approvalExpiry: "4h",
  exposureApprovalExpiry: "30m",
  breakGlass: [],
  breakGlassApprovalWithin: "1h",
  propagation: "5m",
  exposurePropagation: "1m",
  soak: "15m",
  exposureSoak: "5m",
  cadenceDays: 90,
};

const SETTING_KEYS = [...Object.keys(DEFAULTS), "owner", "name", "match"];

/** Validates a parsed policy file; throws config_invalid listing every problem with its path and a fix. */
export function parsePolicy(input: unknown): Policy {
  const result = policySchema.safeParse(input ?? {});
  const problems: string[] = [];
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = formatPath(issue.path);
      if (issue.code === "unrecognized_keys") {
        for (const key of issue.keys) {
          const near = closest(
            key,
            SETTING_KEYS.concat(["defaults", "groups", "policies", "tags", "names", "subscriptions"]),
          );
          problems.push(
            `${path ? `${path}.` : ""}${key}: unknown setting${near.length ? ` — did you mean ${near[0]}?` : " — remove it"}`,
          );
        }
      } else {
        problems.push(`${path || "(file)"}: ${withReceived(issue.message, valueAt(input, issue.path))}`);
      }
    }
  }
  // the semantic checks run on whatever was readable, so one pass lists every problem
  const raw = (result.success ? result.data : input) as Partial<Policy> | null | undefined;
  const list = (v: unknown): string[] =>
    Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
  // an unreadable file still has its readable groups checked; entries of the wrong type are dropped here (the schema already reported them)
  const groups: Record<string, string[]> = isRecord(raw?.groups)
    ? Object.fromEntries(Object.entries(raw.groups).map(([k, v]) => [k, list(v)]))
    : {};
  const checkGroup = (path: string, entry: string) => {
    if (!entry.startsWith("group:")) return;
    const g = entry.slice(6);
    if (!groups[g]) {
      const near = closest(g, Object.keys(groups));
      problems.push(
        `${path}: unknown approver group "${g}" — ${near.length ? `did you mean group:${near[0]}? ` : ""}define it under groups: or remove it`,
      );
    }
  };
  const checkSettings = (path: string, s: unknown, inherited: { approvers: string[]; required: unknown }) => {
    if (!isRecord(s)) return;
    list(s.approvers).forEach((a, i) => checkGroup(`${path}.approvers[${i}]`, a));
    list(s.breakGlass).forEach((a, i) => checkGroup(`${path}.breakGlass[${i}]`, a));
    const approvers = resolveIdentities(
      s.approvers !== undefined ? list(s.approvers) : inherited.approvers,
      groups,
    );
    const required = s.approvalsRequired ?? inherited.required ?? 1;
    if (typeof required === "number" && approvers.length > 0 && required > approvers.length) {
      problems.push(
        `${path}.approvalsRequired: ${required} approvals, but only ${approvers.length} approver(s) can give them — add approvers or lower it`,
      );
    }
  };
  const defaults = isRecord(raw?.defaults) ? raw.defaults : undefined;
  checkSettings("defaults", defaults, { approvers: [], required: 1 });
  if (
    resolveIdentities(list(defaults?.approvers), groups).length === 0 &&
    !problems.some((p) => p.startsWith("defaults.approvers"))
  ) {
    // without default approvers a change on an unmatched account could never be approved
    problems.push(
      "defaults.approvers: nobody can approve a rotation — list at least one identity, or a group:<name> that has members",
    );
  }
  (Array.isArray(raw?.policies) ? raw.policies : []).forEach((p, i) =>
    checkSettings(`policies[${i}]`, p, {
      approvers: list(defaults?.approvers),
      required: defaults?.approvalsRequired,
    }),
  );
  if (problems.length || !result.success) {
    throw new KeyturnError(
      "config_invalid",
      `The policy file has ${problems.length} problem(s):\n${problems.map((p) => `• ${p}`).join("\n")}`,
      { problems },
    );
  }
  return result.data;
}

/** "expected X — fix" becomes "expected X, got "two" — fix", so the reader sees what was wrong. */
function withReceived(message: string, value: unknown): string {
  const got =
    value === undefined || value === null
      ? "nothing"
      : typeof value === "string"
        ? JSON.stringify(value)
        : Array.isArray(value)
          ? "a list"
          : typeof value === "object"
            ? "a map"
            : (JSON.stringify(value) ?? typeof value);
  const cut = message.indexOf(" — ");
  return cut === -1 ? `${message}, got ${got}` : `${message.slice(0, cut)}, got ${got}${message.slice(cut)}`;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const k of path)
    v = v !== null && typeof v === "object" ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  !!v && typeof v === "object" && !Array.isArray(v);

function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (acc, k) => (typeof k === "number" ? `${acc}[${k}]` : acc ? `${acc}.${String(k)}` : String(k)),
    "",
  );
}

function resolveIdentities(entries: readonly string[], groups: Record<string, string[]>): string[] {
  const out = new Set<string>();
  for (const e of entries) {
    if (e.startsWith("group:")) for (const m of groups[e.slice(6)] ?? []) out.add(m.trim().toLowerCase());
    else out.add(e.trim().toLowerCase());
  }
  return [...out];
}

const glob = (pattern: string) =>
  new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
    "i",
  );

export function createPolicyBook(policy: Policy): PolicyBook {
  const groups = policy.groups ?? {};
  const match = (account: Account): (PolicySettings & { name: string }) | undefined =>
    (policy.policies ?? []).find((p) => {
      const m = p.match;
      if (
        m.tags &&
        !Object.entries(m.tags).every(([k, v]) => (account.tags[k] ?? "").toLowerCase() === v.toLowerCase())
      )
        return false;
      if (m.names && !m.names.some((n) => glob(n).test(account.name))) return false;
      if (
        m.subscriptions &&
        !m.subscriptions.some((s) => s.toLowerCase() === account.subscriptionId.toLowerCase())
      )
        return false;
      return true;
    });
  const settings = (account: Account) => {
    const p = match(account);
    return {
      name: p?.name ?? "default",
      s: { ...DEFAULTS, ...stripUndefined(policy.defaults ?? {}), ...stripUndefined(p ?? {}) },
    };
  };
  const seconds = (v: string | number) => parseDuration(v) ?? 0;

  return {
    snapshotFor(account, { exposure }) {
      const { name, s } = settings(account);
      const tagApprovers = (account.tags.approvers ?? "")
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean);
      const approvers = [...s.approvers, ...tagApprovers];
      return {
        name,
        approvers,
        resolvedApprovers: resolveIdentities(approvers, groups),
        approvalsRequired: s.approvalsRequired,
        approvalExpirySeconds: seconds(exposure ? s.exposureApprovalExpiry : s.approvalExpiry),
        breakGlass: resolveIdentities(s.breakGlass, groups),
        breakGlassApprovalSeconds: seconds(s.breakGlassApprovalWithin),
        propagationSeconds: seconds(exposure ? s.exposurePropagation : s.propagation),
        soakSeconds: seconds(exposure ? s.exposureSoak : s.soak),
        cadenceDays: this.cadenceDays(account),
      };
    },
    ownerFor(account) {
      if (account.tags.owner) return { owner: account.tags.owner, source: "tag" };
      const owner = settings(account).s.owner;
      return owner ? { owner, source: "policy" } : null;
    },
    cadenceDays(account) {
      const tag = Number(account.tags["rotation-cadence-days"]);
      return Number.isInteger(tag) && tag > 0 ? tag : settings(account).s.cadenceDays;
    },
    platformGroups() {
      const all = [
        ...Object.values(groups).flat(),
        ...(policy.defaults?.approvers ?? []),
        ...(policy.policies ?? []).flatMap((p) => p.approvers ?? []),
        ...(policy.defaults?.breakGlass ?? []),
        ...(policy.policies ?? []).flatMap((p) => p.breakGlass ?? []),
      ];
      return [...new Set(all.map((x) => x.toLowerCase()).filter((x) => x.startsWith("slackgroup:")))];
    },
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

const lower = (xs: readonly string[]) => new Set(xs.map((x) => x.toLowerCase()));

export function isApprover(snapshot: PolicySnapshot, principal: Principal): boolean {
  const set = lower(snapshot.resolvedApprovers);
  return principal.identities.some((i) => set.has(i.toLowerCase()));
}

export function isBreakGlassResponder(snapshot: PolicySnapshot, principal: Principal): boolean {
  const set = lower(snapshot.breakGlass);
  return principal.identities.some((i) => set.has(i.toLowerCase()));
}

/** Approvals that count: by an approver, not the requester, for the current plan hash. */
export function countedApprovals(change: Change): number {
  const ids = new Set(
    change.approvals
      .filter((a) => a.planHash === change.plan.hash && a.by.id !== change.requester.id)
      .map((a) => a.by.id),
  );
  return ids.size;
}
