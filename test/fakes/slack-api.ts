/**
 * A fake Slack Web API: a real HTTP server on 127.0.0.1 that answers like Slack (`ok`, `ts`,
 * `channel`, errors, 429 + Retry-After), keeps channels, threads (root updated in place, replies
 * in order) and DMs, and records every request body for secret scans. It can also hang: take Web API
 * requests and never answer them (or answer late), as Slack does in a bad outage.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface SlackMessage {
  channel: string;
  ts: string;
  thread_ts?: string;
  /** Who posted it: the bot for everything posted through the Web API. */
  user: string;
  text: string;
  blocks?: unknown[];
  /** Every version Slack has shown, first post first; `order` is when it was posted or updated, across all messages. */
  versions: { text: string; blocks?: unknown[]; order?: number }[];
}

/**
 * What a person sees of a Block Kit message: the text of its header, section (text and fields) and
 * context blocks, one line each, in order. Slack shows the message's `text` only in notifications
 * when it has blocks, so it is not part of this.
 */
export function visibleText(blocks: unknown[] | undefined): string {
  const out: string[] = [];
  const push = (t: unknown) => {
    if (t && typeof t === "object" && typeof (t as { text?: unknown }).text === "string")
      out.push((t as { text: string }).text);
  };
  for (const b of (blocks ?? []) as {
    type: string;
    text?: unknown;
    fields?: unknown[];
    elements?: unknown[];
  }[]) {
    if (b.type === "header" || b.type === "section") push(b.text);
    if (b.type === "section") for (const f of b.fields ?? []) push(f);
    if (b.type === "context") for (const e of b.elements ?? []) push(e);
  }
  return out.join("\n");
}

const PEOPLE: Record<string, { name: string; real_name: string; email: string }> = {
  U0ALICE: { name: "alice", real_name: "Alice Ng", email: "alice@contoso.com" },
  U0BOB: { name: "bob", real_name: "Bob Okafor", email: "bob@contoso.com" },
  U0CAROL: { name: "carol", real_name: "Carol Diaz", email: "carol@contoso.com" },
  U0DAVE: { name: "dave", real_name: "Dave Kim", email: "dave@contoso.com" },
  U0ERIN: { name: "erin", real_name: "Erin Cho", email: "erin@contoso.com" },
};
export interface FakeFile {
  id: string;
  channel: string;
  thread_ts?: string;
  filename: string;
  content: string;
}

/** users.info fields beyond the profile, as Slack returns them for a full member of T0CONTOSO. */
export interface FakeUserFlags {
  team_id?: string;
  deleted?: boolean;
  is_bot?: boolean;
  is_restricted?: boolean;
  is_ultra_restricted?: boolean;
  is_email_confirmed?: boolean;
  enterprise_user?: { enterprise_id: string; teams: string[] };
}

export interface FakeInstallation {
  team_id: string;
  enterprise_id?: string;
  is_enterprise_install?: boolean;
}

const BOT_USER = "U0KEYTURN";
const GROUPS: Record<string, string[]> = { S0SECOPS: ["U0BOB"] };

export class FakeSlack {
  readonly messages: SlackMessage[] = [];
  #withoutEmailScope = false;
  readonly responses: { id: string; body: Record<string, unknown> }[] = [];
  /** Uploaded files; `channel` is set once files.completeUploadExternal shares them. */
  readonly files: FakeFile[] = [];
  readonly views: unknown[] = [];
  /** views.open / views.update calls as Slack received them: the trigger or view they name, and the view. */
  readonly viewCalls: {
    method: string;
    trigger_id?: string;
    view_id?: string;
    view: Record<string, unknown>;
  }[] = [];
  /**
   * Socket Mode: the app-level token apps.connections.open accepts and the WebSocket URL it hands out
   * (set by FakeSlackSocket). Null: the app has no Socket Mode.
   */
  socketMode: { appToken: string; url: () => string } | null = null;
  readonly bodies: string[] = [];
  readonly calls: string[] = [];
  #server: Server | null = null;
  #seq = 1;
  #order = 0;
  #failures = new Map<string, { status?: number; retryAfter?: number; error?: string }[]>();
  #flags = new Map<string, FakeUserFlags>();
  #extra = new Map<string, { name: string; real_name: string; email: string }>();
  #groups = new Map<string, string[]>(Object.entries(GROUPS).map(([g, m]) => [g, [...m]]));
  #installation: FakeInstallation = { team_id: "T0CONTOSO" };
  /** null: answer at once; Infinity: never answer; n: answer after n ms. */
  #hang: number | null = null;
  #hangOnly: ReadonlySet<string> | null = null;
  /** Act on stalled requests and answer them properly once the delay is over (a slow Slack, not a broken one). */
  #serveLate = false;
  /** Web API requests that arrived while hanging and are still unanswered. */
  hanging = 0;
  /** TCP connections keyturn opened to this fake (the Web API and response_url together). */
  connections = 0;
  url = "";

  /**
   * A slash command's acknowledgement as Slack shows it: a body with `text` or `blocks` is the reply,
   * as if posted to the command's response_url (filed under the same id). Returns whether it was one.
   */
  showAck(id: string, raw: string): boolean {
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : null;
    } catch {
      return false;
    }
    if (!body || typeof body !== "object" || Array.isArray(body)) return false;
    const b = body as Record<string, unknown>;
    if (b.text === undefined && b.blocks === undefined) return false;
    this.bodies.push(raw);
    this.responses.push({ id, body: b });
    return true;
  }

  async start(): Promise<this> {
    this.#server = createServer((req, res) => {
      const path = (req.url ?? "").split("?")[0]!;
      const method = path.startsWith("/api/") ? path.slice(5) : null;
      const hang = method && (!this.#hangOnly || this.#hangOnly.has(method)) ? this.#hang : null;
      if (hang !== null) {
        // read and recorded, but neither acted on nor answered (in time): a Slack that accepted and stalled
        this.calls.push(`${method} (stalled)`);
        this.hanging++;
        if (this.#serveLate && hang !== Infinity) {
          const answer = this.#handle(req);
          setTimeout(() => {
            this.hanging--;
            void answer.then(({ status, body, headers }) => {
              if (res.destroyed) return;
              res.writeHead(status, { "content-type": "application/json", ...headers });
              res.end(JSON.stringify(body));
            });
          }, hang).unref();
          return;
        }
        req.resume();
        if (hang === Infinity) return;
        setTimeout(() => {
          this.hanging--;
          if (res.destroyed) return;
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ ok: false, error: "request_timeout" }));
        }, hang).unref();
        return;
      }
      void this.#handle(req).then(({ status, body, headers }) => {
        res.writeHead(status, { "content-type": "application/json", ...headers });
        res.end(JSON.stringify(body));
      });
    });
    this.#server.on("connection", () => this.connections++);
    await new Promise<void>((r) => this.#server!.listen(0, "127.0.0.1", () => r()));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => {
      this.#server?.close(() => r());
      this.#server?.closeAllConnections();
    });
  }

  get apiUrl(): string {
    return `${this.url}/api/`;
  }

  responseUrl(id: string): string {
    return `${this.url}/respond/${id}`;
  }

  /**
   * Stall Web API requests without acting on them: never answer (`Infinity`, the default), or answer
   * `request_timeout` after `ms`. `unhang()` serves new requests again (stalled ones stay stalled).
   * `methods` limits it to those methods.
   */
  hang(ms = Infinity, methods?: readonly string[]): void {
    this.#hang = ms;
    this.#hangOnly = methods ? new Set(methods) : null;
    this.#serveLate = false;
  }

  /** Act on Web API requests as usual but answer each only after `ms` (a slow Slack, not a broken one). */
  slow(ms: number, methods?: readonly string[]): void {
    this.hang(ms, methods);
    this.#serveLate = true;
  }

  unhang(): void {
    this.#hang = null;
    this.#hangOnly = null;
    this.#serveLate = false;
  }

  /** What users.info says about a user beyond the profile (guest, unconfirmed e-mail, deactivated…). */
  setUser(id: string, flags: FakeUserFlags): void {
    this.#flags.set(id, { ...this.#flags.get(id), ...flags });
  }

  /** Another member of the workspace (e.g. someone whose profile claims an approver's e-mail address). */
  addUser(
    id: string,
    p: { name: string; real_name: string; email: string },
    flags: FakeUserFlags = {},
  ): void {
    this.#extra.set(id, p);
    this.setUser(id, flags);
  }

  setGroup(id: string, members: string[]): void {
    this.#groups.set(id, members);
  }

  /** What auth.test says the bot token belongs to. */
  installedIn(i: FakeInstallation): void {
    this.#installation = i;
  }

  /** Answer as Slack does for an app installed without the users:read.email scope. */
  withoutEmailScope(on = true): void {
    this.#withoutEmailScope = on;
  }

  failNext(method: string, f: { status?: number; retryAfter?: number; error?: string }): void {
    this.#failures.set(method, [...(this.#failures.get(method) ?? []), f]);
  }

  roots(channel: string): SlackMessage[] {
    return this.messages.filter((m) => m.channel === channel && !m.thread_ts);
  }

  thread(channel: string, ts: string): { root: SlackMessage | undefined; replies: SlackMessage[] } {
    return {
      root: this.messages.find((m) => m.channel === channel && m.ts === ts),
      replies: this.messages.filter((m) => m.channel === channel && m.thread_ts === ts),
    };
  }

  /** Top-level messages and thread replies in a channel, in the order they were posted. */
  channelMessages(channel: string): SlackMessage[] {
    return this.messages.filter((m) => m.channel === channel);
  }

  /** Every raw request body received (Web API, response_url, uploads), for secret scans. */
  allRequestBodies(): string[] {
    return [...this.bodies];
  }

  /** Ephemeral messages keyturn posted to a user (chat.postEphemeral). */
  ephemerals(user: string): SlackMessage[] {
    return this.messages.filter((m) => m.channel === `E${user}`);
  }

  dms(user: string): SlackMessage[] {
    return this.messages.filter((m) => m.channel === `D${user}`);
  }

  /** apps.connections.open takes only the app-level token (xapp-), never the bot token. */
  #connectionsOpen(authz: string): unknown {
    if (!authz) return { ok: false, error: "not_authed" };
    if (!/^Bearer xapp-/.test(authz)) return { ok: false, error: "not_allowed_token_type" };
    if (!this.socketMode || authz !== `Bearer ${this.socketMode.appToken}`)
      return { ok: false, error: "invalid_auth" };
    return { ok: true, url: this.socketMode.url() };
  }

  async #handle(
    req: IncomingMessage,
  ): Promise<{ status: number; body: unknown; headers?: Record<string, string> }> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    this.bodies.push(raw);
    const url = new URL(req.url ?? "/", this.url);
    const respond = /^\/respond\/(.+)$/.exec(url.pathname);
    if (respond) {
      this.responses.push({ id: respond[1]!, body: JSON.parse(raw || "{}") as Record<string, unknown> });
      return { status: 200, body: { ok: true } };
    }
    if (url.pathname.startsWith("/upload/")) {
      const f = this.files.find((x) => x.id === decodeURIComponent(url.pathname.slice(8)));
      if (!f) return { status: 404, body: { ok: false, error: "file_not_found" } };
      f.content = await uploadedContent(raw, String(req.headers["content-type"] ?? ""));
      return { status: 200, body: { ok: true } };
    }
    const method = url.pathname.replace(/^\/api\//, "");
    this.calls.push(method);
    const fail = this.#failures.get(method)?.shift();
    if (fail?.status === 429)
      return {
        status: 429,
        body: { ok: false, error: "ratelimited" },
        headers: { "retry-after": String(fail.retryAfter ?? 1) },
      };
    if (fail?.status && fail.status >= 500)
      return { status: fail.status, body: { ok: false, error: fail.error ?? "internal_error" } };
    if (fail?.error) return { status: 200, body: { ok: false, error: fail.error } };
    const authz = String(req.headers.authorization ?? "");
    if (method === "apps.connections.open") return { status: 200, body: this.#connectionsOpen(authz) };
    if (!authz) return { status: 200, body: { ok: false, error: "not_authed" } };
    if (!/^Bearer xoxb-/.test(authz)) return { status: 200, body: { ok: false, error: "invalid_auth" } };
    const args = parseArgs(raw, String(req.headers["content-type"] ?? ""));
    return { status: 200, body: this.#api(method, args) };
  }

  #api(method: string, a: Record<string, unknown>): unknown {
    const ts = () => `1700000000.${String(this.#seq++).padStart(6, "0")}`;
    const blocks =
      typeof a.blocks === "string"
        ? (JSON.parse(a.blocks) as unknown[])
        : (a.blocks as unknown[] | undefined);
    switch (method) {
      case "auth.test":
        return {
          ok: true,
          user_id: BOT_USER,
          bot_id: "B0KEYTURN",
          team: "Contoso",
          ...this.#installation,
        };
      case "chat.postMessage": {
        let channel = str(a.channel);
        if (!channel) return { ok: false, error: "channel_not_found" };
        if (/^U/.test(channel)) channel = `D${channel}`;
        const m: SlackMessage = {
          channel,
          ts: ts(),
          user: BOT_USER,
          text: str(a.text),
          ...(blocks ? { blocks } : {}),
          ...(a.thread_ts ? { thread_ts: str(a.thread_ts) } : {}),
          versions: [],
        };
        m.versions.push({ text: m.text, ...(blocks ? { blocks } : {}), order: ++this.#order });
        this.messages.push(m);
        return { ok: true, channel, ts: m.ts, message: { text: m.text } };
      }
      case "chat.update": {
        const m = this.messages.find((x) => x.channel === a.channel && x.ts === a.ts);
        if (!m) return { ok: false, error: "message_not_found" };
        if (m.user !== BOT_USER) return { ok: false, error: "cant_update_message" };
        m.text = str(a.text);
        if (blocks) m.blocks = blocks;
        m.versions.push({ text: m.text, ...(blocks ? { blocks } : {}), order: ++this.#order });
        return { ok: true, channel: m.channel, ts: m.ts };
      }
      case "chat.postEphemeral":
        this.messages.push({
          channel: `E${str(a.user)}`,
          ts: ts(),
          user: BOT_USER,
          text: str(a.text),
          ...(blocks ? { blocks } : {}),
          versions: [],
        });
        return { ok: true, message_ts: ts() };
      case "chat.getPermalink":
        return {
          ok: true,
          permalink: `https://contoso.slack.com/archives/${str(a.channel)}/p${str(a.message_ts).replace(".", "")}`,
        };
      case "conversations.open":
        return { ok: true, channel: { id: `D${str(a.users)}` } };
      case "users.info": {
        const p = PEOPLE[str(a.user)] ?? this.#extra.get(str(a.user));
        return p
          ? {
              ok: true,
              user: {
                id: a.user,
                team_id: "T0CONTOSO",
                name: p.name,
                real_name: p.real_name,
                deleted: false,
                is_bot: false,
                is_restricted: false,
                is_ultra_restricted: false,
                is_email_confirmed: true,
                ...this.#flags.get(str(a.user)),
                // like Slack: no e-mail in the profile when the app lacks users:read.email
                profile: { ...(this.#withoutEmailScope ? {} : { email: p.email }), real_name: p.real_name },
              },
            }
          : { ok: false, error: "user_not_found" };
      }
      case "users.lookupByEmail": {
        if (this.#withoutEmailScope) return { ok: false, error: "missing_scope", needed: "users:read.email" };
        const id = Object.entries(PEOPLE).find(([, p]) => p.email === a.email)?.[0];
        return id
          ? { ok: true, user: { id, name: PEOPLE[id]!.name } }
          : { ok: false, error: "users_not_found" };
      }
      case "usergroups.users.list": {
        const members = this.#groups.get(str(a.usergroup));
        return members ? { ok: true, users: [...members] } : { ok: false, error: "no_such_subteam" };
      }
      case "views.open": {
        const view = (typeof a.view === "string" ? JSON.parse(a.view) : a.view) as Record<string, unknown>;
        this.views.push(view);
        this.viewCalls.push({ method, trigger_id: str(a.trigger_id), view });
        // Slack refuses a modal opened without the trigger of the interaction that asked for it
        if (!a.trigger_id) return { ok: false, error: "invalid_trigger_id" };
        return { ok: true, view: { ...view, id: `V${this.#seq++}`, state: { values: {} }, hash: ts() } };
      }
      case "views.update": {
        const view = (typeof a.view === "string" ? JSON.parse(a.view) : a.view) as Record<string, unknown>;
        this.viewCalls.push({ method, view_id: str(a.view_id), view });
        return { ok: true, view: { ...view, id: str(a.view_id), state: { values: {} }, hash: ts() } };
      }
      case "files.getUploadURLExternal": {
        if (!a.filename || !a.length) return { ok: false, error: "invalid_arguments" };
        const id = `F${this.#seq++}`;
        this.files.push({ id, channel: "", filename: str(a.filename), content: "" });
        return { ok: true, upload_url: `${this.url}/upload/${id}`, file_id: id };
      }
      case "files.completeUploadExternal": {
        const listed = (typeof a.files === "string" ? JSON.parse(a.files) : a.files) as {
          id: string;
          title?: string;
        }[];
        const files = listed.map((l) => this.files.find((f) => f.id === l.id));
        if (files.some((f) => !f || !f.content)) return { ok: false, error: "file_not_found" };
        for (const f of files as FakeFile[]) {
          f.channel = str(a.channel_id);
          if (a.thread_ts) f.thread_ts = str(a.thread_ts);
        }
        return { ok: true, files: listed.map((f) => ({ id: f.id, title: f.title })) };
      }
      default:
        return { ok: false, error: "unknown_method" };
    }
  }
}

/** A form or JSON argument as Slack reads it: strings as they are, anything else as JSON. */
function str(v: unknown): string {
  if (v === undefined || v === null) return "";
  return typeof v === "string" ? v : JSON.stringify(v);
}

function parseArgs(raw: string, type: string): Record<string, unknown> {
  if (type.includes("json")) return raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
  return Object.fromEntries(new URLSearchParams(raw));
}

/** The bytes of an upload: the WebClient posts the file as multipart form data (or raw). */
async function uploadedContent(raw: string, type: string): Promise<string> {
  if (!type.startsWith("multipart/form-data")) return raw;
  const form = await new Response(raw, { headers: { "content-type": type } }).formData();
  for (const [, v] of form) if (typeof v !== "string") return v.text();
  return "";
}
