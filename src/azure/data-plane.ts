/**
 * Calls an account's data-plane endpoint with a key: 401 proves a key dead, 2xx proves it live. The
 * request must be one the service refuses without a valid key: some routes are anonymous (Translator's
 * `GET /languages` answers 200 to any key or none), so a probe there never sees a dead key.
 */
import { request } from "node:https";
import type { Account } from "../core/domain.js";
import type { DataPlanePort } from "../core/ports.js";
import type { SecretValue } from "../core/secret.js";

export type KeyProbe =
  | { method: "GET" | "POST"; path: string; header: "Ocp-Apim-Subscription-Key" | "api-key"; doc: string }
  | { none: string };

/**
 * The token exchange: POST {endpoint}/sts/v1.0/issueToken with the key in Ocp-Apim-Subscription-Key
 * and an empty body returns an access token; a wrong key gets 401. Documented for the services that
 * accept access tokens (Translator, Speech, and the multi-service resource behind a custom subdomain);
 * https://learn.microsoft.com/azure/ai-services/authentication#authenticate-with-an-access-token
 * (the page warns that the list of services may change).
 */
const ISSUE_TOKEN = (doc: string): KeyProbe => ({
  method: "POST",
  path: "sts/v1.0/issueToken",
  header: "Ocp-Apim-Subscription-Key",
  doc,
});

/** The documented request that requires the key, per account kind (free: no billable work). */
export function keyProbeFor(kind: string): KeyProbe {
  switch (kind) {
    case "OpenAI":
    case "AIServices":
      // Models - List: GET {endpoint}/openai/models?api-version=… with the api-key header; free, key required.
      // https://learn.microsoft.com/azure/ai-services/openai/reference (Models - List)
      return {
        method: "GET",
        path: "openai/models?api-version=2024-10-21",
        header: "api-key",
        doc: "https://learn.microsoft.com/azure/ai-services/openai/reference",
      };
    case "TextTranslation":
      // NOT GET /languages: "Authentication isn't required to get language resources" (v3 Languages reference).
      // https://learn.microsoft.com/azure/ai-services/translator/text-translation/reference/authentication#authentication-with-an-access-token
      return ISSUE_TOKEN(
        "https://learn.microsoft.com/azure/ai-services/translator/text-translation/reference/authentication",
      );
    case "SpeechServices":
      // https://learn.microsoft.com/azure/ai-services/speech-service/rest-speech-to-text-short#how-to-get-an-access-token
      return ISSUE_TOKEN(
        "https://learn.microsoft.com/azure/ai-services/speech-service/rest-speech-to-text-short",
      );
    case "CognitiveServices":
      // the multi-service resource exchanges its key at its custom subdomain
      return ISSUE_TOKEN("https://learn.microsoft.com/azure/ai-services/authentication");
    default:
      return {
        none: `no documented key-only request for kind ${kind}: the soak metrics are the evidence`,
      };
  }
}

/**
 * How long the dead-key proof keeps probing. Microsoft's rotation guide says a regenerated key
 * "stops working immediately" (https://learn.microsoft.com/azure/ai-services/rotate-keys), but the
 * data plane's key caches are eventually consistent: a regenerated key has been seen answering for
 * tens of seconds. Two minutes covers that with margin and stays inside the five minutes an exposure
 * rotation has from request to a dead key. Override with KEYTURN_DEAD_KEY_PROOF_SECONDS.
 */
export const DEFAULT_DEAD_KEY_PROOF_SECONDS = 120;

export class HttpsProbe implements DataPlanePort {
  readonly proofBoundMs: number;

  constructor(
    private readonly caPem?: string,
    private readonly timeoutMs = 10_000,
    proofSeconds: number = DEFAULT_DEAD_KEY_PROOF_SECONDS,
  ) {
    this.proofBoundMs = proofSeconds * 1000;
  }

  probe(account: Account, key: SecretValue): Promise<{ status: number } | { unreachable: string }> {
    if (!account.endpoint) return Promise.resolve({ unreachable: "the account has no endpoint" });
    const p = keyProbeFor(account.kind);
    // no request proves this kind's key dead: say so instead of calling a route that might be anonymous
    if ("none" in p) return Promise.resolve({ unreachable: p.none });
    const url = new URL(p.path, account.endpoint.endsWith("/") ? account.endpoint : account.endpoint + "/");
    return new Promise((resolve) => {
      const req = request(
        url,
        {
          method: p.method,
          headers: {
            [p.header]: key.reveal(),
            ...(p.method === "POST" ? { "content-length": "0" } : {}),
          },
          timeout: this.timeoutMs,
          ...(this.caPem ? { ca: this.caPem } : {}),
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve({ status: res.statusCode ?? 0 }));
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", (e) => resolve({ unreachable: (e as NodeJS.ErrnoException).code ?? e.message }));
      req.end();
    });
  }
}
