/**
 * A fake Bot Connector (the Bot Framework `/v3` API that Teams exposes at the activity's
 * serviceUrl): a real HTTP server that keeps conversations and activities, updates in place,
 * answers member lookups, and records every body for secret scans. Plus Teams-shaped activities.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface ConnectorActivity {
  id: string;
  conversationId: string;
  replyToId?: string;
  body: Record<string, unknown>;
  versions: Record<string, unknown>[];
}

export const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
export const PEOPLE: Record<string, { id: string; name: string; aadObjectId: string; upn: string }> = {
  alice: {
    id: "29:alice",
    name: "Alice Ng",
    aadObjectId: "11111111-1111-4111-8111-111111111111",
    upn: "alice@contoso.com",
  },
  bob: {
    id: "29:bob",
    name: "Bob Okafor",
    aadObjectId: "22222222-2222-4222-8222-222222222222",
    upn: "bob@contoso.com",
  },
  carol: {
    id: "29:carol",
    name: "Carol Diaz",
    aadObjectId: "33333333-3333-4333-8333-333333333333",
    upn: "carol@contoso.com",
  },
  dave: {
    id: "29:dave",
    name: "Dave Brooks",
    aadObjectId: "44444444-4444-4444-8444-444444444444",
    upn: "dave@contoso.com",
  },
  erin: {
    id: "29:erin",
    name: "Erin Cho",
    aadObjectId: "55555555-5555-4555-8555-555555555555",
    upn: "erin@contoso.com",
  },
};

export class FakeConnector {
  readonly activities: ConnectorActivity[] = [];
  readonly created: Record<string, unknown>[] = [];
  readonly bodies: string[] = [];
  readonly authHeaders: string[] = [];
  /** Member lookups (GET …/members/:id) it answered. */
  readonly memberLookups: string[] = [];
  /** People (keys of PEOPLE) the app is installed for: only they can be sent a 1:1 chat keyturn opens. */
  readonly installedFor = new Set<string>(Object.keys(PEOPLE));
  /** While true, requests are taken and never answered (a hung connector). */
  hang = false;
  #held: ServerResponse[] = [];
  #server: Server | null = null;
  #n = 0;
  url = "";

  async start(): Promise<this> {
    this.#server = createServer((req, res) => {
      if (this.hang) {
        this.#held.push(res);
        return;
      }
      void this.#handle(req).then(({ status, body }) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      });
    });
    await new Promise<void>((r) => this.#server!.listen(0, "127.0.0.1", () => r()));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/`;
    return this;
  }

  async stop(): Promise<void> {
    for (const res of this.#held) res.destroy();
    await new Promise<void>((r) => {
      this.#server?.close(() => r());
      this.#server?.closeAllConnections();
    });
  }

  in(conversationId: string): ConnectorActivity[] {
    return this.activities.filter((a) => a.conversationId === conversationId);
  }

  async #handle(req: IncomingMessage): Promise<{ status: number; body: unknown }> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    this.bodies.push(raw);
    this.authHeaders.push(String(req.headers.authorization ?? ""));
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const body = (raw ? JSON.parse(raw) : {}) as Record<string, unknown>;
    if (path === "/v3/conversations" && req.method === "POST") return this.#create(body);
    const m = /^\/v3\/conversations\/(.+?)\/(activities|members)(?:\/(.+))?$/.exec(path);
    if (!m) return { status: 404, body: { error: { code: "NotFound", message: path } } };
    const [, conversationId, kind, tail] = m;
    if (kind === "members" && req.method === "GET") {
      this.memberLookups.push(tail ?? "");
      const p = Object.values(PEOPLE).find((x) => x.id === tail);
      return p
        ? {
            status: 200,
            body: {
              id: p.id,
              name: p.name,
              aadObjectId: p.aadObjectId,
              userPrincipalName: p.upn,
              email: p.upn,
              tenantId: TENANT,
            },
          }
        : { status: 404, body: { error: { code: "MemberNotFound" } } };
    }
    if (req.method === "POST")
      return { status: 201, body: { id: this.#add(conversationId!, body, tail).id } };
    if (req.method === "PUT" && tail) {
      const a = this.activities.find((x) => x.conversationId === conversationId && x.id === tail);
      if (!a) return { status: 404, body: { error: { code: "ActivityNotFound" } } };
      a.body = body;
      a.versions.push(body);
      return { status: 200, body: { id: a.id } };
    }
    return { status: 405, body: {} };
  }

  /**
   * POST /v3/conversations as the Teams connector answers it: a channel thread (isGroup, channelData.channel),
   * or a 1:1 chat (isGroup false, exactly one member, the tenant named) with a user the app is installed for —
   * the same conversation id every time for the same person; anyone else is refused with 403.
   */
  #create(body: Record<string, unknown>): { status: number; body: unknown } {
    this.created.push(body);
    const activity = body.activity as Record<string, unknown> | undefined;
    const channelData = (body.channelData ?? {}) as { channel?: { id?: string }; tenant?: { id?: string } };
    let id: string;
    if (body.isGroup === true && channelData.channel?.id) {
      id = `a:${randomUUID()}`;
    } else {
      const members = (body.members ?? []) as { id?: string }[];
      const tenant = (body.tenantId as string | undefined) ?? channelData.tenant?.id;
      if (body.isGroup !== false || members.length !== 1 || !members[0]?.id || !tenant)
        return {
          status: 400,
          body: { error: { code: "BadSyntax", message: "Incorrect conversation creation parameters" } },
        };
      const memberId = members[0].id.toLowerCase();
      const who = Object.entries(PEOPLE).find(
        ([, p]) => p.id.toLowerCase() === memberId || p.aadObjectId === memberId,
      )?.[0];
      if (!who || !this.installedFor.has(who) || tenant.toLowerCase() !== TENANT)
        return {
          status: 403,
          body: { error: { code: "Forbidden", message: "The bot is not part of the conversation roster." } },
        };
      id = `a:personal-${who}`;
    }
    const activityId = activity ? this.#add(id, activity).id : undefined;
    return { status: 201, body: { id, ...(activityId ? { activityId } : {}) } };
  }

  #add(conversationId: string, body: Record<string, unknown>, replyToId?: string): ConnectorActivity {
    const a: ConnectorActivity = {
      id: `${1700000000000 + ++this.#n}`,
      conversationId,
      ...(replyToId ? { replyToId } : {}),
      body,
      versions: [body],
    };
    this.activities.push(a);
    return a;
  }
}

const BOT = { id: "28:keyturn", name: "keyturn" };

export function channelMessage(
  serviceUrl: string,
  who: keyof typeof PEOPLE,
  text: string,
  conversationId = "19:incident@thread.tacv2;messageid=100",
): Record<string, unknown> {
  const p = PEOPLE[who]!;
  return {
    type: "message",
    id: `m-${randomUUID()}`,
    timestamp: new Date().toISOString(),
    serviceUrl,
    channelId: "msteams",
    from: { id: p.id, name: p.name, aadObjectId: p.aadObjectId },
    conversation: { id: conversationId, conversationType: "channel", isGroup: true, tenantId: TENANT },
    recipient: BOT,
    text: `<at>keyturn</at> ${text}`,
    textFormat: "plain",
    entities: [{ type: "mention", text: "<at>keyturn</at>", mentioned: BOT }],
    channelData: {
      tenant: { id: TENANT },
      team: { id: "19:team@thread.tacv2" },
      channel: { id: "19:incident@thread.tacv2" },
    },
  };
}

export function personalMessage(
  serviceUrl: string,
  who: keyof typeof PEOPLE,
  text: string,
): Record<string, unknown> {
  const p = PEOPLE[who]!;
  return {
    type: "message",
    id: `m-${randomUUID()}`,
    timestamp: new Date().toISOString(),
    serviceUrl,
    channelId: "msteams",
    from: { id: p.id, name: p.name, aadObjectId: p.aadObjectId },
    conversation: { id: `a:personal-${who}`, conversationType: "personal", tenantId: TENANT },
    recipient: BOT,
    text,
    channelData: { tenant: { id: TENANT } },
  };
}

export function cardAction(
  serviceUrl: string,
  who: keyof typeof PEOPLE,
  conversationId: string,
  action: { verb: string; data: unknown },
  replyToId?: string,
): Record<string, unknown> {
  const p = PEOPLE[who]!;
  return {
    type: "invoke",
    name: "adaptiveCard/action",
    id: `i-${randomUUID()}`,
    timestamp: new Date().toISOString(),
    serviceUrl,
    channelId: "msteams",
    from: { id: p.id, name: p.name, aadObjectId: p.aadObjectId },
    conversation: {
      id: conversationId,
      conversationType: conversationId.startsWith("19:") ? "channel" : "personal",
      tenantId: TENANT,
    },
    recipient: BOT,
    ...(replyToId ? { replyToId } : {}),
    value: { action: { type: "Action.Execute", verb: action.verb, data: action.data }, trigger: "manual" },
    channelData: { tenant: { id: TENANT } },
  };
}

/** The Action.Execute actions of a card (including those inside ShowCards), by title. */
export function executes(card: unknown): Record<string, { verb: string; data: unknown }> {
  const out: Record<string, { verb: string; data: unknown }> = {};
  const walk = (actions: unknown[] | undefined, prefix: string) => {
    for (const a of (actions ?? []) as {
      type: string;
      title: string;
      verb?: string;
      data?: unknown;
      card?: { actions?: unknown[] };
    }[]) {
      if (a.type === "Action.Execute") out[prefix + a.title] = { verb: a.verb!, data: a.data };
      if (a.type === "Action.ShowCard") walk(a.card?.actions, `${a.title} › `);
    }
  };
  walk((card as { actions?: unknown[] } | undefined)?.actions, "");
  return out;
}

export const cardOf = (activity: Record<string, unknown> | undefined): unknown =>
  ((activity?.attachments as { contentType: string; content: unknown }[] | undefined) ?? []).find(
    (a) => a.contentType === "application/vnd.microsoft.card.adaptive",
  )?.content;

/** The same activity as if sent from another tenant (conversation.tenantId and channelData.tenant.id). */
export function inTenant(activity: Record<string, unknown>, tenant: string): Record<string, unknown> {
  const conversation = activity.conversation as Record<string, unknown>;
  const channelData = (activity.channelData ?? {}) as Record<string, unknown>;
  return {
    ...activity,
    conversation: { ...conversation, tenantId: tenant },
    channelData: { ...channelData, tenant: { id: tenant } },
  };
}
