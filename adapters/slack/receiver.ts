/**
 * Slack's HTTP requests, received on a plain `node:http` handler: a Bolt `Receiver` without Express.
 * Under a burst of commands the acknowledgement path is the part of every request that cannot wait,
 * so it does only what Slack's contract needs, once: read the raw body, check the v0 signature
 * (HMAC-SHA256 of `v0:{timestamp}:{body}` with the signing secret, timestamp within five minutes),
 * answer Slack's `ssl_check` and `url_verification`, parse the form or JSON body, hand it to
 * `app.processEvent` and answer as soon as a listener acknowledges (with the acknowledgement's body
 * when one is given: Bolt's `processBeforeResponse: false`, right for a long-running server; holding
 * the answer until the listener returns is for function hosts that stop once they answer). Semantics follow Bolt's own HTTPReceiver (@slack/bolt 5): an `ssl_check` needs
 * no signature and runs nothing; `X-Slack-Retry-Num` / `-Reason` reach listeners as
 * `context.retryNum` / `retryReason`; a request no listener acknowledges within 3 s is answered 404;
 * an error before the acknowledgement is answered 500 (401 when Bolt's authorize failed).
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { App, Receiver, ReceiverEvent } from "@slack/bolt";
import type { Logger } from "../../src/core/ports.js";

/** Slack's requests are small: a slash command is a form of a few hundred bytes, an interaction a few KiB. */
export const SLACK_BODY_LIMIT = 1024 * 1024;
/** Slack's replay window, both ways: a request signed more than five minutes ago or ahead is refused. */
export const SLACK_TIMESTAMP_SKEW_S = 300;
/** As Bolt: a request no listener acknowledged by then is answered 404 (Slack has given up at 3 s). */
export const UNHANDLED_REQUEST_TIMEOUT_MS = 3_001;

const FORM = "application/x-www-form-urlencoded";
const SIGNATURE = /^v0=([0-9a-f]{64})$/;

export interface SlackReceiverOptions {
  signingSecret: string;
  /** The path Slack posts to (the manifest's request URLs). */
  path: string;
  log: Logger;
  /** Wall clock, in ms (the signature's timestamp is checked against it). */
  now?: () => number;
  bodyLimit?: number;
  unhandledRequestTimeoutMs?: number;
  /**
   * A signed request that Bolt should not see: answered here with the status and text returned. Given
   * the parsed body (a form's fields, an interaction's `payload`, or JSON) and the form when it is one;
   * runs after the signature check, before `url_verification` and Bolt.
   */
  screen?: (body: unknown, form: URLSearchParams | null) => Refusal | null;
}

type Refusal = { status: number; text: string };

/** Thrown by an acknowledgement called twice, as Bolt's own receivers do (ReceiverMultipleAckError). */
class MultipleAckError extends Error {
  readonly code = "slack_bolt_receiver_ack_multiple_error";
  constructor() {
    super("The receiver's `ack` function was called multiple times.");
  }
}

export class SlackHttpReceiver implements Receiver {
  #app: App | null = null;
  readonly #secret: string;
  readonly #now: () => number;
  readonly #limit: number;
  readonly #unhandledMs: number;
  #lastRefusalLog = -Infinity;
  #refusedSinceLog = 0;

  constructor(private readonly opts: SlackReceiverOptions) {
    this.#secret = opts.signingSecret;
    this.#now = opts.now ?? Date.now;
    this.#limit = opts.bodyLimit ?? SLACK_BODY_LIMIT;
    this.#unhandledMs = opts.unhandledRequestTimeoutMs ?? UNHANDLED_REQUEST_TIMEOUT_MS;
  }

  init(app: App): void {
    this.#app = app;
  }

  // served by keyturn's own HTTP server: nothing to open or close here
  start(): Promise<void> {
    return Promise.resolve();
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }

  /** Whether a request is Slack's to this receiver: a POST to its path (any query string). */
  matches(req: IncomingMessage): boolean {
    if (req.method !== "POST" || !req.url) return false;
    const q = req.url.indexOf("?");
    return (q < 0 ? req.url : req.url.slice(0, q)) === this.opts.path;
  }

  /** Answers one request to `path`; never throws (an unexpected error is a 500 and a log line). */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.#handle(req, res).catch((e: unknown) => {
      this.opts.log.error({ err: e }, "Slack request failed before it was acknowledged");
      if (!res.headersSent) plain(res, 500, "keyturn failed reading that request; Slack may send it again.");
    });
  };

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const enc = req.headers["content-encoding"];
    if (enc && enc !== "identity") {
      req.resume();
      return plain(res, 415, "send the request without content-encoding");
    }
    // refused before the body is read: a timestamp ahead of the window needs no more work
    const ts = Number(single(req.headers["x-slack-request-timestamp"]));
    if (Number.isFinite(ts) && ts > this.#now() / 1000 + SLACK_TIMESTAMP_SKEW_S) {
      req.resume();
      this.#refused("timestamp ahead of the clock");
      return plain(res, 401, "request timestamp is in the future");
    }
    const raw = await readBody(req, this.#limit);
    if (typeof raw !== "string") {
      if (raw.status === 413) req.resume();
      return plain(res, raw.status, raw.text);
    }
    const contentType = mediaType(req.headers["content-type"]);
    const form = contentType === FORM ? new URLSearchParams(raw) : null;
    // Slack's certificate check is not signed (Bolt's HTTPReceiver answers it before the signature)
    // and runs nothing: answered whatever else the body carries
    if (form?.get("ssl_check") === "1") return plain(res, 200, "");

    const bad = this.#verify(raw, req);
    if (bad) {
      this.#refused(bad);
      return plain(
        res,
        401,
        "Slack signature check failed: check SLACK_SIGNING_SECRET and the server's clock (within 5 minutes of Slack's).",
      );
    }

    let parsed: unknown;
    try {
      parsed = parseBody(raw, form);
    } catch {
      return plain(res, 400, "unreadable request: neither a Slack form nor JSON");
    }
    const refusal = this.opts.screen?.(parsed, form);
    if (refusal) return plain(res, refusal.status, refusal.text);
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed))
      return plain(res, 400, "not a Slack request: the body is not an object");
    const body = parsed as Record<string, unknown>;
    if (body.type === "url_verification") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ challenge: body.challenge }));
      return;
    }
    await this.#dispatch(req, res, body);
  }

  async #dispatch(req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>): Promise<void> {
    let acked = false;
    const unhandled = setTimeout(() => {
      if (acked) return;
      // a late acknowledgement still resolves (its answer is dropped): the listener's work goes on
      this.opts.log.error(
        { type: body.type ?? (body.command ? "command" : undefined) },
        "a Slack request was not acknowledged within 3 s",
      );
      if (!res.headersSent) {
        res.writeHead(404);
        res.end();
      }
    }, this.#unhandledMs);
    const ack = (response?: unknown): Promise<void> => {
      if (acked) return Promise.reject(new MultipleAckError());
      acked = true;
      clearTimeout(unhandled);
      answer(res, response);
      return Promise.resolve();
    };
    const retryNum = single(req.headers["x-slack-retry-num"]);
    const retryReason = single(req.headers["x-slack-retry-reason"]);
    const event: ReceiverEvent = {
      body,
      ack,
      ...(retryNum !== undefined ? { retryNum: Number.parseInt(retryNum, 10) } : {}),
      ...(retryReason !== undefined ? { retryReason } : {}),
      customProperties: {},
    };
    try {
      if (!this.#app) throw new Error("the Slack receiver was not given to a Bolt App");
      await this.#app.processEvent(event);
    } catch (e) {
      if (res.headersSent) {
        this.opts.log.error({ err: e }, "Slack listener failed after its acknowledgement");
        return;
      }
      const authorization = (e as { code?: unknown }).code === "slack_bolt_authorization_error";
      this.opts.log.error({ err: e }, "Slack request failed before it was acknowledged");
      acked = true;
      clearTimeout(unhandled);
      plain(
        res,
        authorization ? 401 : 500,
        authorization
          ? "keyturn could not authorize this workspace: check SLACK_BOT_TOKEN."
          : "keyturn failed handling that request; Slack may send it again.",
      );
    }
  }

  /** Why the signature does not hold, or null. */
  #verify(raw: string, req: IncomingMessage): string | null {
    const sig = single(req.headers["x-slack-signature"]);
    const tsText = single(req.headers["x-slack-request-timestamp"]);
    if (!this.#secret) return "no signing secret configured";
    if (sig === undefined || tsText === undefined) return "signature headers missing";
    if (!/^\d{1,12}$/.test(tsText)) return "timestamp not a number";
    const ts = Number(tsText);
    const nowS = Math.floor(this.#now() / 1000);
    if (ts < nowS - SLACK_TIMESTAMP_SKEW_S) return "timestamp too old";
    if (ts > nowS + SLACK_TIMESTAMP_SKEW_S) return "timestamp ahead of the clock";
    const m = SIGNATURE.exec(sig);
    if (!m) return "signature not v0";
    const ours = createHmac("sha256", this.#secret).update(`v0:${tsText}:${raw}`).digest();
    return timingSafeEqual(ours, Buffer.from(m[1]!, "hex")) ? null : "signature mismatch";
  }

  /** One warning a minute at most: a wrong secret or clock refuses every request, a probe a few. */
  #refused(why: string): void {
    this.#refusedSinceLog++;
    const t = this.#now();
    if (t - this.#lastRefusalLog < 60_000) return;
    this.opts.log.warn(
      { why, refused: this.#refusedSinceLog },
      "Slack request refused (HTTP 401): if Slack's own requests are refused, check SLACK_SIGNING_SECRET and the server's clock",
    );
    this.#lastRefusalLog = t;
    this.#refusedSinceLog = 0;
  }
}

function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function mediaType(v: string | undefined): string {
  return (v ?? "").split(";", 1)[0]!.trim().toLowerCase();
}

/** Slack's body: a form (a command; `payload=` JSON for an interaction) or JSON (Events API). */
function parseBody(raw: string, form: URLSearchParams | null): unknown {
  if (!form) return JSON.parse(raw);
  const payload = form.get("payload");
  return payload !== null ? JSON.parse(payload) : Object.fromEntries(form);
}

/** The body as text, or the answer when it cannot be read (too large, cut short, not UTF-8 bytes). */
function readBody(req: IncomingMessage, limit: number): Promise<string | Refusal> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit)
    return Promise.resolve({ status: 413, text: "request too large" });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (v: string | Refusal) => {
      if (done) return;
      done = true;
      resolve(v);
    };
    req.on("data", (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > limit) return finish({ status: 413, text: "request too large" });
      chunks.push(c);
    });
    req.once("end", () =>
      finish(
        chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks, size).toString("utf8"),
      ),
    );
    req.once("error", () => finish({ status: 400, text: "unreadable request" }));
    req.once("aborted", () => finish({ status: 400, text: "unreadable request" }));
  });
}

function plain(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, text ? { "content-type": "text/plain; charset=utf-8" } : {});
  res.end(text);
}

/** As Bolt: no body → 200 empty; a string → as it is; anything else → JSON. */
function answer(res: ServerResponse, body: unknown): void {
  if (res.headersSent) return;
  if (!body) {
    res.writeHead(200);
    res.end();
  } else if (typeof body === "string") {
    res.writeHead(200);
    res.end(body);
  } else {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  }
}
