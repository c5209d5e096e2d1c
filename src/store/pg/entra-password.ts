/**
 * Passwordless sign-in to Azure Database for PostgreSQL: the password is a Microsoft Entra access
 * token for the database service, fetched with the process's credential (managed identity, workload
 * identity … through DefaultAzureCredential). Tokens expire after about an hour; node-postgres asks
 * for the password on every new connection, so each connection gets a token that is still valid:
 * one is kept and replaced a margin before it expires. Concurrent connections share one fetch.
 * The token never reaches a log or an error message.
 */
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { KeyturnError } from "../../core/errors.js";

/** The scope of Azure Database for PostgreSQL (every cloud's Flexible Server accepts it). */
export const POSTGRES_ENTRA_SCOPE = "https://ossrdbms-aad.database.windows.net/.default";

export interface EntraPasswordOptions {
  /** Replace the token this long before it expires (default 5 minutes). */
  readonly refreshMarginMs?: number;
  /** Milliseconds since the epoch (injected in tests). */
  readonly now?: () => number;
  readonly scope?: string;
}

export function entraPassword(
  credential: TokenCredential,
  opts: EntraPasswordOptions = {},
): () => Promise<string> {
  const margin = opts.refreshMarginMs ?? 5 * 60_000;
  const now = opts.now ?? Date.now;
  const scope = opts.scope ?? POSTGRES_ENTRA_SCOPE;
  let held: AccessToken | null = null;
  let pending: Promise<AccessToken> | null = null;

  const fetchToken = async (): Promise<AccessToken> => {
    let token: AccessToken | null;
    try {
      token = await credential.getToken(scope);
    } catch (e) {
      throw noToken(e instanceof Error ? e.message : String(e));
    }
    if (!token?.token) throw noToken("the credential returned no token");
    return token;
  };

  return async () => {
    if (held && held.expiresOnTimestamp - margin > now()) return held.token;
    pending ??= fetchToken().finally(() => {
      pending = null;
    });
    held = await pending;
    return held.token;
  };
}

const noToken = (why: string) =>
  new KeyturnError(
    "config_invalid",
    `keyturn could not get a Microsoft Entra token to sign in to PostgreSQL (${why}). Check that this process has an identity DefaultAzureCredential finds (a managed identity assigned to the app, or AZURE_CLIENT_ID / workload identity), and that the user in KEYTURN_DATABASE_URL is that identity's PostgreSQL role (created with pgaadauth_create_principal). Or put a password in KEYTURN_DATABASE_URL.`,
  );
