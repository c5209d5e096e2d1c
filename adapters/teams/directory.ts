/**
 * Where keyturn can reach people and conversations in Teams, learned from the activities it is sent
 * and kept in the store: conversation references (to post, reply and update), each person's Teams
 * user id and personal chat, the connector service URL and bot account of the tenant (to open a
 * personal chat with someone who never wrote to keyturn), and the names of teams and channels (for
 * deep links). People are keyed by Entra object id.
 */
import type { Activity, ConversationReference } from "@microsoft/agents-activity";
import type { PrincipalRef } from "../../src/core/domain.js";
import { KeyturnError } from "../../src/core/errors.js";
import type { AsyncStore } from "../../src/core/ports.js";

const REF_NS = "teams.conversation";
export const USER_NS = "teams.user";
const MEMBER_NS = "teams.member";
const SERVICE_NS = "teams.service";
const PLACE_NS = "teams.place";

/** The connector of a tenant: where a conversation is created, and as which bot account. */
export interface TenantService {
  readonly serviceUrl: string;
  readonly tenantId: string;
  readonly bot: { readonly id: string; readonly name?: string };
}

/** What Teams has said about a team or a channel (names, the team's Microsoft 365 group). */
export interface Place {
  readonly name?: string;
  readonly aadGroupId?: string;
}

interface ChannelData {
  tenant?: { id?: string };
  team?: { id?: string; name?: string; aadGroupId?: string };
  channel?: { id?: string; name?: string };
}

export class TeamsDirectory {
  readonly #store: AsyncStore;
  readonly #people: Map<string, string>;
  readonly #tenant: string | undefined;

  constructor(
    store: AsyncStore,
    people: readonly { email: string; aadObjectId?: string }[] = [],
    tenantId?: string,
  ) {
    this.#store = store;
    this.#people = new Map(
      people.filter((p) => p.aadObjectId).map((p) => [p.email.toLowerCase(), p.aadObjectId!.toLowerCase()]),
    );
    this.#tenant = tenantId?.toLowerCase();
  }

  /** Everything an incoming activity tells about where things are. */
  async learn(a: Activity): Promise<void> {
    const ref = a.getConversationReference();
    await this.keep(ref);
    const oid = a.from?.aadObjectId?.toLowerCase();
    if (oid && a.from?.id) await this.#store.putKv(MEMBER_NS, oid, { id: a.from.id, name: a.from.name });
    if (a.conversation?.conversationType === "personal" && oid)
      await this.#store.putKv(REF_NS, `user:${oid}`, ref);
    const cd = (a.channelData ?? {}) as ChannelData;
    const tenantId = (cd.tenant?.id ?? a.conversation?.tenantId)?.toLowerCase();
    if (tenantId && a.serviceUrl && a.recipient?.id)
      await this.#store.putKv(SERVICE_NS, tenantId, {
        serviceUrl: a.serviceUrl,
        tenantId,
        bot: { id: a.recipient.id, ...(a.recipient.name ? { name: a.recipient.name } : {}) },
      } satisfies TenantService);
    if (cd.team?.id) await this.#merge(cd.team.id, { name: cd.team.name, aadGroupId: cd.team.aadGroupId });
    if (cd.channel?.id) await this.#merge(cd.channel.id, { name: cd.channel.name });
    if (cd.channel?.id && cd.team?.id)
      await this.#store.putKv(PLACE_NS, `team-of:${cd.channel.id}`, cd.team.id);
  }

  async keep(ref: ConversationReference): Promise<void> {
    await this.#store.putKv(REF_NS, ref.conversation.id, ref);
  }

  async keepPersonal(oid: string, ref: ConversationReference): Promise<void> {
    await this.#store.putKv(REF_NS, `user:${oid}`, ref);
    await this.keep(ref);
  }

  async refFor(conversationId: string): Promise<ConversationReference> {
    const ref = await this.#store.getKv<ConversationReference>(REF_NS, conversationId);
    if (!ref)
      throw new KeyturnError(
        "chat_failed",
        `keyturn has no Teams conversation reference for ${conversationId}: mention the bot there once.`,
      );
    return ref;
  }

  /** The person's Entra object id, from a principal, an aad:/teams: id, or an e-mail/UPN keyturn knows. */
  async oidOf(user: PrincipalRef | string): Promise<string | undefined> {
    const key = typeof user === "string" ? user.toLowerCase() : user.id.toLowerCase();
    if (key.startsWith("aad:")) return key.slice(4);
    if (key.startsWith("teams:")) return key.slice(6);
    return (
      this.#people.get(key) ??
      (await this.#store.listKv<{ upn?: string } | string>(USER_NS))
        // only UPNs an authenticated request gave (entries of the older string form are not trusted)
        .find((u) => typeof u.value === "object" && u.value?.upn === key)?.key
    );
  }

  personalRef(oid: string): Promise<ConversationReference | undefined> {
    return this.#store.getKv<ConversationReference>(REF_NS, `user:${oid}`);
  }

  /** The Teams user id (29:…) seen for this person, if they ever sent keyturn anything. */
  async memberId(oid: string): Promise<string | undefined> {
    return (await this.#store.getKv<{ id?: string }>(MEMBER_NS, oid))?.id;
  }

  /** The connector of keyturn's tenant (the configured one, or the one activities came from). */
  async service(): Promise<TenantService | undefined> {
    if (this.#tenant) return this.#store.getKv<TenantService>(SERVICE_NS, this.#tenant);
    return (await this.#store.listKv<TenantService>(SERVICE_NS))[0]?.value;
  }

  async place(id: string): Promise<Place> {
    return (await this.#store.getKv<Place>(PLACE_NS, id)) ?? {};
  }

  teamOf(channelId: string): Promise<string | undefined> {
    return this.#store.getKv<string>(PLACE_NS, `team-of:${channelId}`);
  }

  async #merge(id: string, p: Place): Promise<void> {
    const known = await this.place(id);
    const next: Place = {
      ...known,
      ...(p.name ? { name: p.name } : {}),
      ...(p.aadGroupId ? { aadGroupId: p.aadGroupId } : {}),
    };
    if (next.name !== known.name || next.aadGroupId !== known.aadGroupId)
      await this.#store.putKv(PLACE_NS, id, next);
  }
}
