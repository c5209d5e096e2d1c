/**
 * Policy: who may do what, how many approvals, how fast — chosen per account by where it is
 * (subscription, resource group, name pattern; first match wins, then defaults), never by tags:
 * anyone with tag-write on an account could otherwise pick its approvers or a weaker policy.
 *
 * People, not chat accounts: the policy defines people (each with their e-mail / UPN, Slack ids,
 * Entra object ids); every chat identity resolves to at most one person, and approvals, separation
 * of duties and break-glass are decided per person.
 */
import type { Account, Change, Principal, PrincipalRef, PolicySnapshot } from "./domain.js";
import { personKey, samePerson } from "./domain.js";
import { parseDuration } from "./duration.js";
import { KeyturnError } from "./errors.js";
import type { Policy, PolicySettings, Role } from "./policy-schema.js";
import { policySchema, ROLES } from "./policy-schema.js";
import { canonicalJson, sha256Hex } from "./secret.js";
import { closest } from "./suggest.js";
import type { FleetSchedule, ScheduleMode } from "./schedule.js";
import type { Weekday, WindowSpec } from "./schedule-window.js";

export type { Policy, Role } from "./policy-schema.js";

export interface PolicyBook {
  /**
   * The person behind a chat identity: sets `person` (and adds `person:<key>` to the identities so
   * policy entries naming the person match) and the person's display name. Throws `not_authorised`
   * when the identities belong to two different people (the policy must be fixed first).
   */
  identify(principal: Principal): Principal;
  /** Whether the principal holds a role for the account (null = a fleet-wide question, decided by the defaults). */
  can(role: Role, principal: Principal, account: Account | null): boolean;
  /** Throws `not_authorised` naming the role and who holds it, unless the principal holds it. */
  authorize(role: Role, principal: Principal, account: Account | null, doing: string): void;
  /** Who holds a role (or may start a break-glass rotation), in words ("Bob Okafor (group:secops); Carol Diaz"). */
  holders(role: Role | "breakGlass", account: Account | null): string;
  /** The policy that applies to an account; exposure changes get the short windows. */
  snapshotFor(account: Account, opts: { exposure: boolean }): PolicySnapshot;
  /** Owner from the account's `owner` tag, else from the matching policy. */
  ownerFor(account: Account): { owner: string; source: "tag" | "policy" } | null;
  /** Rotation cadence for an account (policy, default 90; a `rotation-cadence-days` tag may only shorten it). */
  cadenceDays(account: Account): number;
  /** Whether Slack guests' e-mail and user groups count as identities (never by default). */
  allowsSlackGuests(): boolean;
  /** Platform group ids named anywhere in the policy (e.g. Slack user groups `slackgroup:S…`), for adapters to resolve. */
  platformGroups(): string[];
  /** How an account is rotated on schedule: the mode, its window and how long a rotation takes. */
  scheduleFor(account: Account): AccountSchedule;
  /** Fleet-wide limits of scheduled rotation. */
  fleetSchedule(): FleetSchedule;
  /** Whether any policy rotates on schedule (auto or request): otherwise the scheduler has nothing to do. */
  schedulesAnything(): boolean;
}

export interface AccountSchedule {
  readonly mode: ScheduleMode;
  /** The policy that decides it, by name. */
  readonly policy: string;
  readonly window: WindowSpec | null;
  /** Propagation + soak + the other steps, in seconds: a start must leave this much of the window. */
  readonly estimateSeconds: number;
}

const DEFAULTS: Required<Omit<PolicySettings, "owner" | "roles" | "schedule" | "window">> = {
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

const SETTING_KEYS = [...Object.keys(DEFAULTS), "owner", "roles", "name", "match", "schedule", "window"];
/** Keys of the nested schedule settings, suggested only where they belong. */
const WINDOW_KEYS = ["days", "from", "to", "timezone"];
const FLEET_SCHEDULE_KEYS = ["concurrency", "jitter"];

/** Fleet-wide scheduled-rotation limits when the file gives none. */
export const SCHEDULE_DEFAULTS = { concurrency: 4, jitter: "1h" } as const;
/** The steps around propagation and soak (preflight, publish, the gate, the proofs), counted into a rotation's length. */
const STEPS_ALLOWANCE_SECONDS = 10 * 60;

/**
 * Role members may also be these words: `everyone` (any chat identity, even one the policy does not
 * know — read only), `people` (anyone the policy names), `requester` (the change's own requester —
 * operate only) and `approvers` (the approvers of the matching policy).
 */
const TOKENS = ["everyone", "people", "requester", "approvers"] as const;
const TOKENS_ALLOWED: Readonly<Record<(typeof ROLES)[number], readonly string[]>> = {
  read: ["everyone", "people", "approvers"],
  request: ["people", "approvers"],
  operate: ["requester", "approvers", "people"],
  consumers: ["approvers", "people"],
  audit: ["approvers", "people"],
};

/** Safe defaults: reads and requests for the people the policy names; everything else for approvers. */
const DEFAULT_ROLES: Readonly<Record<(typeof ROLES)[number], readonly string[]>> = {
  read: ["people"],
  request: ["people"],
  operate: ["requester", "approvers"],
  consumers: ["approvers"],
  audit: ["approvers"],
};

/** A role word, never an identity: a chat identity spelled like one matches nothing. */
const isToken = (i: string): boolean => (TOKENS as readonly string[]).includes(i.trim().toLowerCase());

const PREFIXES = ["slack:", "slackgroup:", "aad:", "console:", "group:", "person:"];
/** Identities that name one chat account or mailbox (not a group). */
const isPersonal = (i: string): boolean =>
  !i.startsWith("group:") && !i.startsWith("slackgroup:") && !i.startsWith("person:");

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
            path === "window" || path.endsWith(".window")
              ? WINDOW_KEYS
              : path === "schedule"
                ? FLEET_SCHEDULE_KEYS
                : SETTING_KEYS.concat([
                    "defaults",
                    "people",
                    "groups",
                    "policies",
                    "names",
                    "subscriptions",
                    "resourceGroups",
                    "identities",
                    "allowSlackGuests",
                    ...ROLES,
                  ]),
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
  const people: Record<string, string[]> = isRecord(raw?.people)
    ? Object.fromEntries(
        Object.entries(raw.people).map(([k, v]) => [k.toLowerCase(), isRecord(v) ? list(v.identities) : []]),
      )
    : {};
  const owners = new Map<string, string>();
  for (const [key, ids] of Object.entries(people)) {
    if (ids.length === 0)
      problems.push(
        `people.${key}.identities: ${key} has no identity — list their e-mail/UPN, slack:U…, aad:<object id> or console:<name>`,
      );
    ids.forEach((raw, i) => {
      const id = raw.trim().toLowerCase();
      if (!isPersonal(id) || (TOKENS as readonly string[]).includes(id)) {
        problems.push(
          `people.${key}.identities[${i}]: "${raw}" is not one person's identity — list it under groups: instead`,
        );
        return;
      }
      const other = owners.get(id);
      if (other && other !== key)
        problems.push(
          `people.${key}.identities[${i}]: "${raw}" already belongs to ${other} — an identity may belong to one person only; remove one`,
        );
      else owners.set(id, key);
    });
  }
  const checkPerson = (path: string, entry: string) => {
    if (!entry.startsWith("person:")) return;
    const k = entry.slice(7).toLowerCase();
    if (!people[k]) {
      const near = closest(k, Object.keys(people));
      problems.push(
        `${path}: unknown person "${k}" — ${near.length ? `did you mean person:${near[0]}? ` : ""}define them under people: or remove it`,
      );
    }
  };
  const checkGroup = (path: string, entry: string) => {
    checkPerson(path, entry);
    if (!entry.startsWith("group:")) return;
    const g = entry.slice(6);
    if (!groups[g]) {
      const near = closest(g, Object.keys(groups));
      problems.push(
        `${path}: unknown group "${g}" — ${near.length ? `did you mean group:${near[0]}? ` : ""}define it under groups: or remove it`,
      );
    }
  };
  for (const [g, members] of Object.entries(groups)) {
    if (members.length === 0 && isRecord(raw?.groups) && Array.isArray(raw.groups[g]))
      problems.push(
        `groups.${g}: nobody is in group ${g} — add members (person:<key>, e-mail, slack:U…) or remove it`,
      );
    members.forEach((m, i) => {
      if (m.startsWith("group:"))
        problems.push(
          `groups.${g}[${i}]: groups cannot contain groups — list the members of ${m.slice(6)} instead`,
        );
      else checkPerson(`groups.${g}[${i}]`, m);
    });
  }
  const checkRoles = (path: string, r: unknown) => {
    if (!isRecord(r)) return;
    for (const role of ROLES) {
      list(r[role]).forEach((m, i) => {
        const at = `${path}.roles.${role}[${i}]`;
        const word = m.trim().toLowerCase();
        if ((TOKENS as readonly string[]).includes(word)) {
          if (!TOKENS_ALLOWED[role].includes(word))
            problems.push(
              `${at}: "${m}" cannot hold the ${role} role — use ${TOKENS_ALLOWED[role].join(", ")}, a group:<name> or a person:<key>`,
            );
        } else checkGroup(at, m);
      });
    }
  };
  const distinctPeople = (entries: readonly string[]): number => {
    const out = new Set<string>();
    for (const id of resolveIdentities(entries, groups)) {
      if (id.startsWith("slackgroup:")) continue; // its size is known only at run time
      out.add(id.startsWith("person:") ? id : owners.has(id) ? `person:${owners.get(id)}` : id);
    }
    return out.size;
  };
  const checkSettings = (path: string, s: unknown, inherited: { approvers: string[]; required: unknown }) => {
    if (!isRecord(s)) return;
    list(s.approvers).forEach((a, i) => checkGroup(`${path}.approvers[${i}]`, a));
    list(s.breakGlass).forEach((a, i) => checkGroup(`${path}.breakGlass[${i}]`, a));
    checkRoles(path, s.roles);
    if (isRecord(s.match) && s.match.tags !== undefined)
      problems.push(
        `${path}.match.tags: a policy is chosen by where an account is, never by its tags (anyone with tag-write could pick a weaker policy) — match on resourceGroups: [rg-…], names: ["*-prod-*"] or subscriptions: [...] instead`,
      );
    const approvers = s.approvers !== undefined ? list(s.approvers) : inherited.approvers;
    const count = distinctPeople(approvers);
    if (path !== "defaults" && Array.isArray(s.approvers) && s.approvers.length === 0)
      problems.push(
        `${path}.approvers: nobody can approve a rotation of the accounts it matches — list at least one person or group, or remove approvers: to use the defaults`,
      );
    const hasPlatformGroup = resolveIdentities(approvers, groups).some((i) => i.startsWith("slackgroup:"));
    const required = s.approvalsRequired ?? inherited.required ?? 1;
    if (typeof required === "number" && count > 0 && !hasPlatformGroup && required > count) {
      problems.push(
        `${path}.approvalsRequired: ${required} approvals, but only ${count} person(s) can give them — add approvers or lower it`,
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

/** Whether a policy's location conditions all hold for the account (tags never count). */
export function matchesLocation(
  match: NonNullable<Policy["policies"]>[number]["match"],
  account: Account,
): boolean {
  if (
    match.subscriptions &&
    !match.subscriptions.some((s) => s.toLowerCase() === account.subscriptionId.toLowerCase())
  )
    return false;
  if (match.resourceGroups && !match.resourceGroups.some((g) => glob(g).test(account.resourceGroup)))
    return false;
  if (match.names && !match.names.some((n) => glob(n).test(account.name))) return false;
  return true;
}

export function createPolicyBook(policy: Policy): PolicyBook {
  const groups = policy.groups ?? {};
  const people = new Map(
    Object.entries(policy.people ?? {}).map(([k, v]) => [
      k.toLowerCase(),
      { name: v.name, identities: v.identities.map((i) => i.trim().toLowerCase()) },
    ]),
  );
  const personOf = new Map<string, string>();
  for (const [key, p] of people) for (const id of p.identities) personOf.set(id, key);
  /** Groups expanded; a person also stands for their identities (so they can be messaged and matched). */
  const expand = (entries: readonly string[]): string[] => {
    const out = new Set(resolveIdentities(entries, groups));
    for (const e of [...out])
      if (e.startsWith("person:")) for (const id of people.get(e.slice(7))?.identities ?? []) out.add(id);
    return [...out];
  };
  const match = (account: Account): (PolicySettings & { name: string }) | undefined =>
    (policy.policies ?? []).find((p) => matchesLocation(p.match, account));
  const settings = (account: Account | null) => {
    const p = account ? match(account) : undefined;
    return {
      name: p?.name ?? "default",
      s: { ...DEFAULTS, ...stripUndefined(policy.defaults ?? {}), ...stripUndefined(p ?? {}) },
      roles: {
        ...DEFAULT_ROLES,
        ...stripUndefined(policy.defaults?.roles ?? {}),
        ...stripUndefined(p?.roles ?? {}),
      },
    };
  };
  const seconds = (v: string | number) => parseDuration(v) ?? 0;
  const policyHash = sha256Hex(canonicalJson(policy));
  // every identity the policy names anywhere: someone holding one of them is one of the policy's people
  const named = new Set<string>([
    ...personOf.keys(),
    ...resolveIdentities(
      [
        ...Object.values(groups).flat(),
        ...(policy.defaults?.approvers ?? []),
        ...(policy.defaults?.breakGlass ?? []),
        ...ROLES.flatMap((r) => policy.defaults?.roles?.[r] ?? []),
        ...(policy.policies ?? []).flatMap((p) => [
          ...(p.approvers ?? []),
          ...(p.breakGlass ?? []),
          ...ROLES.flatMap((r) => p.roles?.[r] ?? []),
        ]),
      ].filter((e) => !(TOKENS as readonly string[]).includes(e.trim().toLowerCase())),
      groups,
    ).filter((i) => !i.startsWith("person:")),
  ]);

  /** A role's members as tokens and lower-cased identities, groups and `approvers` expanded. */
  const members = (role: Role, account: Account | null): Set<string> => {
    const { s, roles } = settings(account);
    const entries = role === "approve" ? s.approvers : roles[role];
    const expanded = entries.flatMap((e) => (e.trim().toLowerCase() === "approvers" ? s.approvers : [e]));
    return new Set(expand(expanded));
  };
  const holds = (set: ReadonlySet<string>, principal: Principal): boolean =>
    set.has("everyone") ||
    (set.has("people") && principal.person !== undefined) ||
    principal.identities.some((i) => !isToken(i) && set.has(i.toLowerCase()));
  const nameOf = (raw: string): string => {
    const entry = raw.trim().toLowerCase();
    if (entry.startsWith("person:")) return people.get(entry.slice(7))?.name ?? entry.slice(7);
    if (entry.startsWith("slackgroup:")) return `members of Slack user group ${raw.trim().slice(11)}`;
    const key = personOf.get(entry);
    return key ? (people.get(key)?.name ?? key) : raw.trim();
  };
  const describe = (entries: readonly string[]): string => {
    const parts = entries.map((raw) => {
      const e = raw.trim().toLowerCase();
      if (e === "everyone") return "everyone";
      if (e === "people") return "everyone the policy names";
      if (e === "requester") return "the change's requester";
      if (e.startsWith("group:")) {
        const names = (groups[raw.trim().slice(6)] ?? []).map(nameOf);
        return `${names.join(" or ")} (${raw.trim()})`;
      }
      return nameOf(raw);
    });
    return parts.join("; ") || "nobody";
  };
  const holderEntries = (role: Role | "breakGlass", account: Account | null): string[] => {
    const { s, roles } = settings(account);
    const entries =
      role === "approve" ? s.approvers : role === "breakGlass" ? s.breakGlass : [...roles[role]];
    return entries.flatMap((e) => (e.trim().toLowerCase() === "approvers" ? s.approvers : [e]));
  };

  return {
    identify(principal) {
      const personal = principal.identities.map((i) => i.toLowerCase()).filter(isPersonal);
      const found = [...new Set(personal.map((i) => personOf.get(i)).filter((k): k is string => !!k))];
      if (found.length > 1) {
        throw new KeyturnError(
          "not_authorised",
          `Your chat identities belong to ${found.length} different people in the policy (${found.join(", ")}). keyturn will not act for you until whoever owns the policy file gives each identity to one person.`,
        );
      }
      const identities = principal.identities.filter((i) => !i.toLowerCase().startsWith("person:"));
      if (found.length === 1) {
        const key = found[0]!;
        return {
          ...principal,
          displayName: people.get(key)?.name ?? principal.displayName,
          identities: [...identities, `person:${key}`],
          person: `person:${key}`,
        };
      }
      const { person: _ignored, ...rest } = principal;
      if (!principal.identities.some((i) => named.has(i.toLowerCase()))) return { ...rest, identities };
      // named on its own (not under people:): an e-mail / UPN is the same person on every platform
      const primary =
        personal.find((i) => !PREFIXES.some((p) => i.startsWith(p)) && i.includes("@")) ?? personal[0];
      return primary ? { ...rest, identities, person: `id:${primary}` } : { ...rest, identities };
    },
    can(role, principal, account) {
      return holds(members(role, account), principal);
    },
    authorize(role, principal, account, doing) {
      if (this.can(role, principal, account)) return;
      const where = account ? ` for ${account.name} (policy "${settings(account).name}")` : "";
      throw new KeyturnError(
        "not_authorised",
        `${doing} needs the ${role} role${where}, which you do not hold. It is held by: ${this.holders(role, account)}. Ask one of them, or whoever owns the policy file.`,
        { role },
      );
    },
    holders(role, account) {
      return describe(holderEntries(role, account));
    },
    snapshotFor(account, { exposure }) {
      const { name, s } = settings(account);
      return {
        name,
        approvers: s.approvers,
        resolvedApprovers: expand(s.approvers),
        approvalsRequired: s.approvalsRequired,
        approvalExpirySeconds: seconds(exposure ? s.exposureApprovalExpiry : s.approvalExpiry),
        breakGlass: expand(s.breakGlass),
        breakGlassApprovalSeconds: seconds(s.breakGlassApprovalWithin),
        propagationSeconds: seconds(exposure ? s.exposurePropagation : s.propagation),
        soakSeconds: seconds(exposure ? s.exposureSoak : s.soak),
        cadenceDays: this.cadenceDays(account),
        operators: [...members("operate", account)],
        approverNames: describe(s.approvers),
        approverEntries: s.approvers.map((entry) => ({ entry, identities: expand([entry]) })),
        hash: policyHash,
        operatorNames: this.holders("operate", account),
      };
    },
    ownerFor(account) {
      if (account.tags.owner) return { owner: account.tags.owner, source: "tag" };
      const owner = settings(account).s.owner;
      return owner ? { owner, source: "policy" } : null;
    },
    cadenceDays(account) {
      const policyDays = settings(account).s.cadenceDays;
      const tag = Number(account.tags["rotation-cadence-days"]);
      // a tag may ask for more frequent rotation, never for less
      return Number.isInteger(tag) && tag > 0 ? Math.min(tag, policyDays) : policyDays;
    },
    allowsSlackGuests() {
      return policy.allowSlackGuests === true;
    },
    scheduleFor(account) {
      const { name, s } = settings(account);
      const w = s.window;
      return {
        mode: s.schedule ?? "remind",
        policy: name,
        window: w
          ? { days: w.days as Weekday[], from: w.from, to: w.to, timezone: w.timezone ?? "UTC" }
          : null,
        estimateSeconds: seconds(s.propagation) + seconds(s.soak) + STEPS_ALLOWANCE_SECONDS,
      };
    },
    schedulesAnything() {
      return [policy.defaults?.schedule, ...(policy.policies ?? []).map((p) => p.schedule)].some(
        (m) => m === "auto" || m === "request",
      );
    },
    fleetSchedule() {
      return {
        concurrency: policy.schedule?.concurrency ?? SCHEDULE_DEFAULTS.concurrency,
        jitterSeconds: seconds(policy.schedule?.jitter ?? SCHEDULE_DEFAULTS.jitter),
      };
    },
    platformGroups() {
      const all = [
        ...Object.values(groups).flat(),
        ...(policy.defaults?.approvers ?? []),
        ...(policy.policies ?? []).flatMap((p) => p.approvers ?? []),
        ...(policy.defaults?.breakGlass ?? []),
        ...(policy.policies ?? []).flatMap((p) => p.breakGlass ?? []),
        ...ROLES.flatMap((r) => policy.defaults?.roles?.[r] ?? []),
        ...(policy.policies ?? []).flatMap((p) => ROLES.flatMap((r) => p.roles?.[r] ?? [])),
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

/** The policy entry (as written) that makes the principal an approver, or undefined. */
export function eligibility(snapshot: PolicySnapshot, principal: Principal): string | undefined {
  const mine = new Set(principal.identities.map((i) => i.toLowerCase()));
  return snapshot.approverEntries?.find((e) => e.identities.some((i) => mine.has(i.toLowerCase())))?.entry;
}

export function isBreakGlassResponder(snapshot: PolicySnapshot, principal: Principal): boolean {
  const set = lower(snapshot.breakGlass);
  return principal.identities.some((i) => set.has(i.toLowerCase()));
}

/** Whether the principal may operate the change (resume / rollback / cancel). */
export function isOperator(change: Change, principal: Principal): boolean {
  const ops = change.policy.operators;
  if (!ops) return samePerson(principal, change.requester) || isApprover(change.policy, principal);
  const set = lower(ops);
  if (set.has("requester") && samePerson(principal, change.requester)) return true;
  if (set.has("people") && principal.person !== undefined) return true;
  return principal.identities.some((i) => !isToken(i) && set.has(i.toLowerCase()));
}

/** Whether the principal is the change's requester — the same person on any platform. */
export const isRequester = (change: Change, principal: PrincipalRef): boolean =>
  samePerson(principal, change.requester);

/** Approvals that count: for the current plan hash, one per person, never the requester's. */
export function countedApprovals(change: Change): number {
  const persons = new Set(
    change.approvals
      .filter((a) => a.planHash === change.plan.hash && !samePerson(a.by, change.requester))
      .map((a) => personKey(a.by)),
  );
  return persons.size;
}
