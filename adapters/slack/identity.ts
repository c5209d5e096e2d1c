/**
 * Slack user → keyturn principal: display name and e-mail from users.info, and membership of the user
 * groups the policy names (usergroups.users.list), each cached five minutes so a burst of clicks costs
 * no extra API calls. A missing scope degrades to fewer identities, and says which scope to add.
 */
import type { WebClient } from "@slack/web-api";
import type { Principal } from "../../src/core/domain.js";
import type { Clock, Logger } from "../../src/core/ports.js";
import { slackErrorCode } from "./gateway.js";

const TTL_MS = 5 * 60_000;

export interface ResolvedUser {
  readonly principal: Principal;
  /** A scope the app lacks that would have identified this user better (e.g. `users:read.email`). */
  readonly missingScope?: string;
}

interface UserEntry {
  at: number;
  name: string;
  email?: string;
  missingScope?: string;
}

export class SlackIdentity {
  readonly #users = new Map<string, UserEntry>();
  readonly #groups = new Map<string, { at: number; members: ReadonlySet<string> }>();

  constructor(
    private readonly client: WebClient,
    /** `slackgroup:S…` identities the policy names, any case. */
    private readonly policyGroups: readonly string[],
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  async resolve(userId: string, teamId: string, fallbackName?: string): Promise<ResolvedUser> {
    const u = await this.#user(userId, fallbackName);
    const identities = [`slack:${userId.toLowerCase()}`];
    if (u.email) identities.unshift(u.email.toLowerCase());
    for (const g of this.policyGroups) {
      const groupId = g.replace(/^slackgroup:/i, "").toUpperCase();
      if ((await this.#members(groupId)).has(userId)) identities.push(`slackgroup:${groupId.toLowerCase()}`);
    }
    const principal: Principal = {
      platform: "slack",
      id: `slack:${teamId}:${userId}`,
      displayName: u.name,
      identities,
    };
    return u.missingScope ? { principal, missingScope: u.missingScope } : { principal };
  }

  async principal(userId: string, teamId: string, fallbackName?: string): Promise<Principal> {
    return (await this.resolve(userId, teamId, fallbackName)).principal;
  }

  async #user(userId: string, fallbackName?: string): Promise<UserEntry> {
    const now = this.clock.now().getTime();
    const cached = this.#users.get(userId);
    if (cached && now - cached.at < TTL_MS) return cached;
    let entry: UserEntry;
    try {
      const r = await this.client.users.info({ user: userId });
      const email = r.user?.profile?.email;
      entry = {
        at: now,
        name: r.user?.real_name || r.user?.profile?.real_name || r.user?.name || fallbackName || userId,
      };
      if (email) entry.email = email;
      // Slack omits the e-mail, without an error, when the app lacks users:read.email
      else if (!r.user?.is_bot) entry.missingScope = "users:read.email";
    } catch (e) {
      const code = slackErrorCode(e);
      this.logger.warn({ userId, error: code }, "users.info failed");
      entry = {
        at: now,
        name: fallbackName ?? userId,
        ...(code === "missing_scope" ? { missingScope: "users:read" } : {}),
      };
    }
    this.#users.set(userId, entry);
    return entry;
  }

  async #members(groupId: string): Promise<ReadonlySet<string>> {
    const now = this.clock.now().getTime();
    const cached = this.#groups.get(groupId);
    if (cached && now - cached.at < TTL_MS) return cached.members;
    try {
      const r = await this.client.usergroups.users.list({ usergroup: groupId });
      const members: ReadonlySet<string> = new Set(r.users ?? []);
      this.#groups.set(groupId, { at: now, members });
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
