/**
 * Slack user → keyturn principal: display name and e-mail from users.info, and membership of the user
 * groups the policy names (usergroups.users.list), each cached five minutes so a burst of clicks costs
 * no extra API calls. A missing scope degrades to fewer identities, and says which scope to add.
 *
 * The e-mail is an identity only when Slack has confirmed it and the user is a full member of the installed
 * workspace (not a guest unless allowed, not deactivated, not a bot); otherwise anyone able to set a profile
 * e-mail — a guest, an unconfirmed sign-up — could take an approver's name. A deactivated user has no
 * identities at all once the cache expires; a failed lookup is cached for half a minute only.
 */
import type { WebClient } from "@slack/web-api";
import type { Principal } from "../../src/core/domain.js";
import type { Clock, Logger } from "../../src/core/ports.js";
import { slackErrorCode } from "./gateway.js";
import type { Installation } from "./installation.js";

const TTL_MS = 5 * 60_000;
/** A lookup that failed (Slack down, user unknown) is asked again sooner. */
const FALLBACK_TTL_MS = 30_000;
/** Expired entries are swept once a cache holds this many. */
const SWEEP_AT = 500;

export interface ResolvedUser {
  readonly principal: Principal;
  /** A scope the app lacks that would have identified this user better (e.g. `users:read.email`). */
  readonly missingScope?: string;
  /** Why the user's Slack e-mail was not taken as an identity, for the reply. */
  readonly emailIgnored?: string;
}

export interface IdentityOptions {
  /** Guests (single- and multi-channel) count by e-mail and user group too. */
  readonly allowGuests: boolean;
}

interface UserEntry {
  until: number;
  name: string;
  /** Deactivated: the user resolves to no identity at all. */
  deleted?: boolean;
  /** A full member (or an allowed guest) of the installed workspace: e-mail and groups may count. */
  trusted: boolean;
  email?: string;
  emailIgnored?: string;
  missingScope?: string;
}

interface SlackUser {
  id?: string;
  team_id?: string;
  name?: string;
  real_name?: string;
  deleted?: boolean;
  is_bot?: boolean;
  is_app_user?: boolean;
  is_restricted?: boolean;
  is_ultra_restricted?: boolean;
  is_email_confirmed?: boolean;
  profile?: { email?: string; real_name?: string };
  enterprise_user?: { enterprise_id?: string; teams?: string[] };
}

export class SlackIdentity {
  readonly #users = new Map<string, UserEntry>();
  readonly #groups = new Map<string, { until: number; members: ReadonlySet<string> }>();

  constructor(
    private readonly client: WebClient,
    /** `slackgroup:S…` identities the policy names, any case. */
    private readonly policyGroups: readonly string[],
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly installation: () => Installation | null,
    private readonly options: IdentityOptions = { allowGuests: false },
  ) {}

  /** `scope` is the installation's workspace (or organisation): one user is one principal, whatever team a request names. */
  async resolve(userId: string, scope: string, fallbackName?: string): Promise<ResolvedUser> {
    const u = await this.#user(userId, fallbackName);
    const members =
      !u.deleted && u.trusted ? await Promise.all(this.#policyGroupIds().map((g) => this.#members(g))) : [];
    return this.#resolved(userId, scope, u, members);
  }

  /**
   * What `resolve` would answer, when everything it needs is cached and fresh; otherwise null and
   * no call to Slack. Lets an acknowledgement carry an answer without waiting for a turn of the loop.
   */
  resolveCached(userId: string, scope: string): ResolvedUser | null {
    const now = this.clock.now().getTime();
    const u = this.#users.get(userId);
    if (!u || now >= u.until) return null;
    const members: ReadonlySet<string>[] = [];
    if (!u.deleted && u.trusted)
      for (const g of this.#policyGroupIds()) {
        const cached = this.#groups.get(g);
        if (!cached || now >= cached.until) return null;
        members.push(cached.members);
      }
    return this.#resolved(userId, scope, u, members);
  }

  #policyGroupIds(): string[] {
    return this.policyGroups.map((g) => g.replace(/^slackgroup:/i, "").toUpperCase());
  }

  /** `members[i]`: the members of the i-th policy group (none looked up for an untrusted user). */
  #resolved(
    userId: string,
    scope: string,
    u: UserEntry,
    members: readonly ReadonlySet<string>[],
  ): ResolvedUser {
    const identities: string[] = [];
    if (!u.deleted) {
      identities.push(`slack:${userId.toLowerCase()}`);
      if (u.email) identities.unshift(u.email.toLowerCase());
      if (u.trusted)
        this.#policyGroupIds().forEach((g, i) => {
          if (members[i]?.has(userId)) identities.push(`slackgroup:${g.toLowerCase()}`);
        });
    }
    const principal: Principal = {
      platform: "slack",
      id: `slack:${scope}:${userId}`,
      displayName: u.name,
      identities,
    };
    return {
      principal,
      ...(u.missingScope ? { missingScope: u.missingScope } : {}),
      ...(u.emailIgnored ? { emailIgnored: u.emailIgnored } : {}),
    };
  }

  async principal(userId: string, scope: string, fallbackName?: string): Promise<Principal> {
    return (await this.resolve(userId, scope, fallbackName)).principal;
  }

  async #user(userId: string, fallbackName?: string): Promise<UserEntry> {
    const now = this.clock.now().getTime();
    const cached = this.#users.get(userId);
    if (cached && now < cached.until) return cached;
    let entry: UserEntry;
    try {
      const r = await this.client.users.info({ user: userId });
      entry = this.#judge(r.user ?? {}, now, fallbackName ?? userId);
    } catch (e) {
      const code = slackErrorCode(e);
      this.logger.warn({ userId, error: code }, "users.info failed");
      const missing = code === "missing_scope";
      entry = {
        until: now + (missing ? TTL_MS : FALLBACK_TTL_MS),
        name: fallbackName ?? userId,
        trusted: false,
        ...(missing ? { missingScope: "users:read" } : {}),
      };
    }
    sweep(this.#users, now);
    this.#users.set(userId, entry);
    return entry;
  }

  #judge(u: SlackUser, now: number, fallbackName: string): UserEntry {
    const name = u.real_name || u.profile?.real_name || u.name || fallbackName;
    const until = now + TTL_MS;
    if (u.deleted) return { until, name, deleted: true, trusted: false };
    const guest = u.is_restricted === true || u.is_ultra_restricted === true;
    const why =
      u.is_bot || u.is_app_user
        ? "it belongs to a bot"
        : !this.#inWorkspace(u)
          ? "you are not a member of the workspace keyturn is installed in"
          : guest && !this.options.allowGuests
            ? "you are a guest in this workspace, and this keyturn does not trust guests' e-mail addresses"
            : undefined;
    const trusted = why === undefined;
    const email = u.profile?.email;
    if (!email) {
      // Slack omits the e-mail, without an error, when the app lacks users:read.email
      return { until, name, trusted, ...(u.is_bot ? {} : { missingScope: "users:read.email" }) };
    }
    const ignored = why ?? (u.is_email_confirmed === true ? undefined : "Slack has not confirmed it");
    return ignored ? { until, name, trusted, emailIgnored: ignored } : { until, name, trusted, email };
  }

  #inWorkspace(u: SlackUser): boolean {
    const inst = this.installation();
    if (!inst) return false;
    const org = u.enterprise_user;
    if (inst.enterpriseInstall) return !!inst.enterpriseId && org?.enterprise_id === inst.enterpriseId;
    if (u.team_id === inst.teamId) return true;
    // an Enterprise Grid member whose home workspace is another of the organisation's
    return (
      !!inst.enterpriseId &&
      org?.enterprise_id === inst.enterpriseId &&
      (org.teams ?? []).includes(inst.teamId)
    );
  }

  async #members(groupId: string): Promise<ReadonlySet<string>> {
    const now = this.clock.now().getTime();
    const cached = this.#groups.get(groupId);
    if (cached && now < cached.until) return cached.members;
    try {
      const r = await this.client.usergroups.users.list({ usergroup: groupId });
      const members: ReadonlySet<string> = new Set(r.users ?? []);
      sweep(this.#groups, now);
      this.#groups.set(groupId, { until: now + TTL_MS, members });
      return members;
    } catch (e) {
      // not cached: a transient failure must not hide an approver for five minutes
      this.logger.warn(
        { groupId, error: slackErrorCode(e) },
        "usergroups.users.list failed (scope usergroups:read?)",
      );
      return new Set();
    }
  }
}

function sweep<V extends { until: number }>(cache: Map<string, V>, now: number): void {
  if (cache.size < SWEEP_AT) return;
  for (const [k, v] of cache) if (now >= v.until) cache.delete(k);
}
