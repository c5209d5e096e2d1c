/** Calls an account's data-plane endpoint with a key: 401 proves a key dead, 2xx proves it live. */
import { request } from "node:https";
import type { Account } from "../core/domain.js";
import type { DataPlanePort } from "../core/ports.js";
import type { SecretValue } from "../core/secret.js";

/** A cheap, harmless GET per kind (no billing-relevant work). */
function probePath(kind: string): string {
  if (kind === "OpenAI" || kind === "AIServices") return "openai/models?api-version=2024-10-21";
  if (kind === "TextTranslation") return "languages?api-version=3.0";
  return "";
}

export class HttpsProbe implements DataPlanePort {
  constructor(
    private readonly caPem?: string,
    private readonly timeoutMs = 10_000,
  ) {}

  probe(account: Account, key: SecretValue): Promise<{ status: number } | { unreachable: string }> {
    if (!account.endpoint) return Promise.resolve({ unreachable: "the account has no endpoint" });
    const url = new URL(
      probePath(account.kind),
      account.endpoint.endsWith("/") ? account.endpoint : account.endpoint + "/",
    );
    return new Promise((resolve) => {
      const req = request(
        url,
        {
          method: "GET",
          headers: { "Ocp-Apim-Subscription-Key": key.reveal(), "api-key": key.reveal() },
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
