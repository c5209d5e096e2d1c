/**
 * The SDK's CloudAdapter with a deadline on every Bot Connector call. Its connector client has no
 * timeout of its own (a fetch without a signal), so a connector that never answers would hold a
 * turn, a card update or an approver's DM forever. Every client the adapter creates — for an
 * incoming turn and for proactive messages alike — sends each request with a timeout, and
 * getting the client (an outbound token) is bounded too.
 */
import type { Activity } from "@microsoft/agents-activity";
import {
  CloudAdapter,
  type AuthConfiguration,
  type CloudAdapterOptions,
  type ConnectorClient,
  type HeaderPropagationCollection,
  type OutboundHostValidator,
  type Request as AgentsRequest,
} from "@microsoft/agents-hosting";
import { KeyturnError } from "../../src/core/errors.js";

type JwtPayload = NonNullable<AgentsRequest["user"]>;

export class TimedCloudAdapter extends CloudAdapter {
  readonly #timeoutMs: number;

  constructor(
    authConfig: AuthConfiguration,
    options: CloudAdapterOptions,
    hostValidator: OutboundHostValidator | undefined,
    timeoutMs: number,
  ) {
    super(authConfig, undefined, undefined, options, hostValidator);
    this.#timeoutMs = timeoutMs;
  }

  protected override async createConnectorClientWithIdentity(
    identity: JwtPayload,
    activity: Activity,
    headers?: HeaderPropagationCollection,
  ): Promise<ConnectorClient> {
    return this.#timed(super.createConnectorClientWithIdentity(identity, activity, headers));
  }

  /** The client for a conversation keyturn creates (a first direct message): bounded the same way. */
  protected override async createConnectorClient(
    serviceUrl: string,
    scope: string,
    identity: JwtPayload,
    headers?: HeaderPropagationCollection,
  ): Promise<ConnectorClient> {
    return this.#timed(super.createConnectorClient(serviceUrl, scope, identity, headers));
  }

  async #timed(creating: Promise<ConnectorClient>): Promise<ConnectorClient> {
    const client = await within(this.#timeoutMs, "getting a Bot Connector token", creating);
    const http = client.httpClient;
    const request = http.request.bind(http);
    const timeout = this.#timeoutMs;
    http.request = (config) => request({ ...config, timeout: config.timeout ?? timeout });
    return client;
  }
}

/** `work`, or a chat_failed error once `ms` have passed (the work is abandoned, not awaited). */
export async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOut(ms, what)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

export function timedOut(ms: number, what: string): KeyturnError {
  return new KeyturnError(
    "chat_failed",
    `Teams did not answer within ${seconds(ms)} (${what}); check that the Bot Connector is reachable from keyturn — the card is re-rendered from the record on its next update, and TEAMS_REQUEST_TIMEOUT_SECONDS sets the limit`,
  );
}

/** A request the connector client aborted at its deadline, as a chat_failed error that says so. */
export function asChatError(e: unknown, ms: number, what: string): unknown {
  const name = (e as { name?: string; cause?: { name?: string } } | null)?.name;
  const cause = (e as { cause?: { name?: string } } | null)?.cause?.name;
  if (name === "TimeoutError" || cause === "TimeoutError" || name === "AbortError") return timedOut(ms, what);
  return e;
}

const seconds = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`);
