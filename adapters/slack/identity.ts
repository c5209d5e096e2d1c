/** Slack user → keyturn principal: e-mail (users.info) and the policy's user groups (usergroups.users.list), cached 5 minutes. */
import type { WebClient } from "@slack/web-api";
import type { Principal } from "../../src/core/domain.js";
import type { Clock, Logger } from "../../src/core/ports.js";

const TTL = 5 * 60_000;

export class SlackIdentity {
  readonly #users = new Map<string, { at: number; name: string; email?: string | undefined }>();
  readonly #groups = new Map<string, { at: number; members: Set<string> }>();

  constructor(
    private readonly client: WebClient,
    private readonly policyGroups: readonly string[],
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  async principal(userId: string, teamId: string, fallbackName?: string): Promise<Principal> {
    const now = this.clock.now().getTime();
    let u = this.#users.get(userId);
    if (!u || now - u.at > TTL) {
      try {
        const r = await this.client.users.info({ user: userId });
        u = {
          at: now,
          name: r.user?.real_name || r.user?.name || fallbackName || userId,
          email: r.user?.profile?.email,
        };
      } catch (e) {
        this.logger.warn({ err: e, userId }, "users.info failed (scope users:read / users:read.email?)");
        u = { at: now, name: fallbackName ?? userId };
      }
      this.#users.set(userId, u);
    }
    const identities = [`slack:${userId.toLowerCase()}`];
    if (u.email) identities.push(u.email.toLowerCase());
    for (const g of this.policyGroups) {
      const id = g.slice("slackgroup:".length).toUpperCase();
      if ((await this.#members(id)).has(userId)) identities.push(`slackgroup:${id.toLowerCase()}`);
    }
    return { platform: "slack", id: `slack:${teamId}:${userId}`, displayName: u.name, identities };
  }

  async #members(groupId: string): Promise<Set<string>> {
    const now = this.clock.now().getTime();
    const c = this.#groups.get(groupId);
    if (c && now - c.at < TTL) return c.members;
    try {
      const r = await this.client.usergroups.users.list({ usergroup: groupId });
      const members = new Set(r.users ?? []);
      this.#groups.set(groupId, { at: now, members });
      return members;
    } catch (e) {
      this.logger.warn({ err: e, groupId }, "usergroups.users.list failed (scope usergroups:read?)");
      return new Set();
    }
  }
}
