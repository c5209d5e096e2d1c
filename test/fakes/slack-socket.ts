/**
 * A fake of Slack's Socket Mode: `apps.connections.open` (answered by the FakeSlack Web API with the
 * app-level token) hands out a `ws://127.0.0.1` URL; the WebSocket behind it says `hello`, pings like
 * Slack, delivers envelopes (`slash_commands`, `interactive`, `events_api`) and waits for each ack
 * `{ envelope_id, payload? }`, as Slack does for three seconds. It can drop the socket, or ask the app to
 * reconnect (`disconnect`), as Slack does when it recycles a connection.
 */
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";
import type { FakeSlack } from "./slack-api.js";

export type EnvelopeType = "slash_commands" | "interactive" | "events_api";

export interface Ack {
  envelope_id: string;
  payload?: Record<string, unknown>;
  /** Milliseconds from sending the envelope to its ack. */
  ms: number;
}

/** Slack gives an app three seconds to acknowledge an envelope before it shows the user an error. */
const ACK_DEADLINE_MS = 3_000;

export class FakeSlackSocket {
  /** Every connection the app opened, in order (a reconnect adds one). */
  readonly connections: { ticket: string; at: number; open: boolean }[] = [];
  /** Tickets apps.connections.open handed out. */
  readonly tickets: string[] = [];
  /** Every frame the app sent that was not an ack Slack expected. */
  readonly stray: string[] = [];
  #http: Server | null = null;
  #wss: WebSocketServer | null = null;
  #sockets = new Set<WebSocket>();
  #waiting = new Map<string, { sentAt: number; resolve: (a: Ack) => void }>();
  #ping: NodeJS.Timeout | null = null;
  url = "";

  constructor(
    private readonly slack: FakeSlack,
    readonly appToken = "xapp-1-A0KEYTURN-1-fake",
  ) {}

  async start(): Promise<this> {
    this.#http = createServer((_req, res) => {
      res.writeHead(426).end("WebSocket only");
    });
    this.#wss = new WebSocketServer({ server: this.#http, path: "/link/" });
    this.#wss.on("connection", (ws, req) => this.#accept(ws, req.url ?? ""));
    await new Promise<void>((r) => this.#http!.listen(0, "127.0.0.1", () => r()));
    this.url = `ws://127.0.0.1:${(this.#http.address() as AddressInfo).port}`;
    this.slack.socketMode = {
      appToken: this.appToken,
      url: () => {
        const ticket = randomUUID();
        this.tickets.push(ticket);
        return `${this.url}/link/?ticket=${ticket}&app_id=A0KEYTURN`;
      },
    };
    // Slack pings every few seconds; a client that hears nothing for 30 s reconnects
    this.#ping = setInterval(() => {
      for (const ws of this.#sockets) ws.ping(Buffer.from(`ping-${Date.now()}`));
    }, 2_000);
    this.#ping.unref();
    return this;
  }

  async stop(): Promise<void> {
    if (this.#ping) clearInterval(this.#ping);
    this.slack.socketMode = null;
    for (const ws of this.#sockets) ws.terminate();
    await new Promise<void>((r) => (this.#wss ? this.#wss.close(() => r()) : r()));
    await new Promise<void>((r) => {
      this.#http?.close(() => r());
      this.#http?.closeAllConnections();
    });
  }

  /** Connections open right now. */
  get open(): number {
    return [...this.#sockets].filter((ws) => ws.readyState === ws.OPEN).length;
  }

  /** Waits until `n` connections have been opened in all (hello sent on each). */
  async connected(n = 1, ms = 15_000): Promise<void> {
    const end = Date.now() + ms;
    while (this.connections.length < n || this.open === 0) {
      if (Date.now() > end)
        throw new Error(`the app opened ${this.connections.length} Socket Mode connection(s), not ${n}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Drops every open socket without a close frame, as a lost network does. */
  drop(): void {
    for (const ws of this.#sockets) ws.terminate();
  }

  /** Asks the app to reconnect, as Slack does before it recycles a connection. */
  refresh(): void {
    for (const ws of this.#sockets)
      ws.send(
        JSON.stringify({
          type: "disconnect",
          reason: "refresh_requested",
          debug_info: { host: "applink-fake" },
        }),
      );
  }

  /**
   * Sends an envelope on the newest open socket and resolves with the app's ack; rejects when no ack
   * arrives within Slack's three seconds (Slack would show the user an error).
   */
  async deliver(
    type: EnvelopeType,
    payload: Record<string, unknown>,
    opts: { acceptsResponsePayload?: boolean; retryAttempt?: number } = {},
  ): Promise<Ack> {
    const ws = [...this.#sockets].reverse().find((s) => s.readyState === s.OPEN);
    if (!ws) throw new Error("no open Socket Mode connection to deliver on");
    const envelope_id = randomUUID();
    const acked = new Promise<Ack>((resolve) =>
      this.#waiting.set(envelope_id, { sentAt: Date.now(), resolve }),
    );
    ws.send(
      JSON.stringify({
        envelope_id,
        type,
        payload,
        accepts_response_payload: opts.acceptsResponsePayload ?? type !== "events_api",
        ...(type === "events_api" ? { retry_attempt: opts.retryAttempt ?? 0, retry_reason: "" } : {}),
      }),
    );
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_r, reject) => {
      timer = setTimeout(() => {
        this.#waiting.delete(envelope_id);
        reject(new Error(`no ack for the ${type} envelope within ${ACK_DEADLINE_MS} ms`));
      }, ACK_DEADLINE_MS);
    });
    try {
      return await Promise.race([acked, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  #accept(ws: WebSocket, path: string): void {
    const ticket = new URL(path, "ws://x").searchParams.get("ticket") ?? "";
    // a URL from apps.connections.open is good for one connection
    if (!this.tickets.includes(ticket) || this.connections.some((c) => c.ticket === ticket)) {
      ws.close(4001, "invalid ticket");
      return;
    }
    const conn = { ticket, at: Date.now(), open: true };
    this.connections.push(conn);
    this.#sockets.add(ws);
    ws.on("close", () => {
      conn.open = false;
      this.#sockets.delete(ws);
    });
    ws.on("message", (data: Buffer | ArrayBuffer | Buffer[]) => {
      const text = Buffer.isBuffer(data)
        ? data.toString("utf8")
        : Array.isArray(data)
          ? Buffer.concat(data).toString("utf8")
          : Buffer.from(data).toString("utf8");
      let frame: { envelope_id?: unknown; payload?: unknown };
      try {
        frame = JSON.parse(text) as typeof frame;
      } catch {
        this.stray.push(text);
        return;
      }
      const waiting =
        typeof frame.envelope_id === "string" ? this.#waiting.get(frame.envelope_id) : undefined;
      if (!waiting) {
        this.stray.push(text);
        return;
      }
      this.#waiting.delete(frame.envelope_id as string);
      const payload = frame.payload as Record<string, unknown> | undefined;
      waiting.resolve({
        envelope_id: frame.envelope_id as string,
        ...(payload && Object.keys(payload).length ? { payload } : {}),
        ms: Date.now() - waiting.sentAt,
      });
    });
    ws.send(
      JSON.stringify({
        type: "hello",
        num_connections: this.#sockets.size,
        debug_info: { host: "applink-fake", build_number: 1, approximate_connection_time: 18060 },
        connection_info: { app_id: "A0KEYTURN" },
      }),
    );
  }
}

/** The payload of a Slack form body (a slash command's fields, or an interaction's `payload` JSON). */
export function socketPayload(formBody: string): Record<string, unknown> {
  const form = new URLSearchParams(formBody);
  const payload = form.get("payload");
  return payload !== null
    ? (JSON.parse(payload) as Record<string, unknown>)
    : Object.fromEntries(form.entries());
}
