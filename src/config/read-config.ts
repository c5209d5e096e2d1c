/**
 * The configuration, read once from the environment (and the policy file) by the composition root.
 * One zod schema; every problem is listed with its variable and a fix; the result is frozen.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import YAML from "yaml";
import { z } from "zod";
import { KeyturnError } from "../core/errors.js";
import type { Policy } from "../core/policy.js";
import { parsePolicy } from "../core/policy.js";
import type { SlackConfig } from "../../adapters/slack/index.js";

const csv = (v: string | undefined) =>
  (v ?? "")
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);
const bool = z
  .enum(["true", "false", "1", "0", "yes", "no"])
  .transform((v) => ["true", "1", "yes"].includes(v));

export const envSchema = z.object({
  PORT: z.coerce
    .number({ message: "must be a port number, e.g. 3978" })
    .int()
    .min(0)
    .max(65535)
    .default(3978),
  HOST: z.string().optional(),
  NODE_ENV: z.string().default("development"),
  LOG_LEVEL: z
    .enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"], {
      message: "must be one of trace, debug, info, warn, error, silent",
    })
    .default("info"),
  KEYTURN_DATA_DIR: z.string().default("./data"),
  KEYTURN_POLICY_FILE: z.string().optional(),
  KEYTURN_CONSOLE: z.enum(["auto", "on", "off"], { message: "must be auto, on or off" }).default("auto"),
  KEYTURN_LOG_FILE: z.string().optional(),
  KEYTURN_DIGEST_CHANNEL: z
    .string()
    .regex(/^(slack|teams|console):.+$/, "must look like slack:C0123 or teams:<conversation id>")
    .optional(),
  KEYTURN_SCHEDULE_CHANNEL: z
    .string()
    .regex(/^(slack|teams|console):.+$/, "must look like slack:C0123 or teams:<conversation id>")
    .optional(),
  KEYTURN_SANDBOX_SCENARIO: z.string().optional(),
  KEYTURN_SANDBOX: z
    .enum(["true", "false", "1", "0", "yes", "no"], {
      message: "must be 1 (run the simulated tenant on purpose) or 0",
    })
    .transform((v) => ["true", "1", "yes"].includes(v))
    .optional(),
  KEYTURN_TEAMS_ANONYMOUS: z
    .enum(["local"], {
      message: "must be local (unauthenticated Teams for a try on this machine) or unset",
    })
    .optional(),
  AZURE_SUBSCRIPTION_IDS: z.string().optional(),
  AZURE_KEY_VAULT_URLS: z.string().optional(),
  AZURE_ARM_ENDPOINT: z.string().url("must be a URL such as https://management.usgovcloudapi.net").optional(),
  AZURE_ARM_SCOPE: z.string().optional(),
  AZURE_CA_FILE: z.string().optional(),
  AZURE_CREDENTIAL: z
    .enum(["default", "simulator"], { message: "must be default or simulator" })
    .default("default"),
  AZURE_LOG_ANALYTICS_WORKSPACE_ID: z.string().optional(),
  AZURE_LOG_ANALYTICS_ENDPOINT: z.string().url().optional(),
  AZURE_MAX_RETRY_AFTER_SECONDS: z.coerce.number().int().positive().default(60),
  /** How late Azure Monitor's data may be; defaults in src/azure/telemetry.ts (180 s / 300 s). */
  KEYTURN_METRICS_LATENCY_SECONDS: z.coerce.number().int().min(0).optional(),
  KEYTURN_LOGS_LATENCY_SECONDS: z.coerce.number().int().min(0).optional(),
  /** How long the dead-key proof probes a regenerated key; default in src/azure/data-plane.ts (120 s). */
  KEYTURN_DEAD_KEY_PROOF_SECONDS: z.coerce.number().int().positive().optional(),
  SLACK_BOT_TOKEN: z
    .string()
    .regex(/^xoxb-/, "must be a bot token starting with xoxb-")
    .optional(),
  SLACK_SIGNING_SECRET: z.string().min(8, "looks too short to be a signing secret").optional(),
  SLACK_APP_TOKEN: z
    .string()
    .regex(/^xapp-/, "must be an app-level token starting with xapp-")
    .optional(),
  SLACK_SOCKET_MODE: bool.default(false),
  SLACK_API_URL: z.string().url().optional(),
  SLACK_COMMAND: z
    .string()
    .regex(/^\/[a-z0-9_-]+$/, "must look like /keyturn")
    .default("/keyturn"),
  SLACK_BOT_USER_ID: z.string().optional(),
  SLACK_TEAM_ID: z.string().optional(),
  SLACK_API_TIMEOUT_MS: z.coerce
    .number({ message: "must be milliseconds, e.g. 10000" })
    .int()
    .min(100)
    .max(120_000)
    .optional(),
  SLACK_ALLOW_GUESTS: bool.default(false),
  MicrosoftAppId: z.string().optional(),
  MicrosoftAppPassword: z.string().optional(),
  MicrosoftAppTenantId: z.string().optional(),
  MicrosoftAppType: z
    .enum(["MultiTenant", "SingleTenant", "UserAssignedMSI"], {
      message: "must be MultiTenant, SingleTenant or UserAssignedMSI",
    })
    .optional(),
  TEAMS_AUTHORITY_ENDPOINT: z.string().url().optional(),
  /** The HTTP API for pipelines (/api/v1): served only with a tenant and an audience. */
  KEYTURN_API_TENANT_ID: z
    .string()
    .regex(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
      "must be your Entra tenant id (a GUID: Microsoft Entra ID → Overview → Tenant ID)",
    )
    .optional(),
  KEYTURN_API_AUDIENCE: z.string().optional(),
  KEYTURN_API_AUTHORITY: z
    .string()
    .url("must be the Entra sign-in host, e.g. https://login.microsoftonline.com")
    .optional(),
  KEYTURN_API_CHANNEL: z
    .string()
    .regex(/^(slack|teams|console):.+$/, "must look like slack:C0123 or teams:<conversation id>")
    .optional(),
  /** The sandbox serves the API with its own token issuer (no Entra tenant needed to try it). */
  KEYTURN_SANDBOX_API: bool.optional(),
  TEAMS_REQUEST_TIMEOUT_SECONDS: z.coerce
    .number({ message: "must be a number of seconds, e.g. 10" })
    .positive("must be a number of seconds, e.g. 10")
    .max(300, "must be at most 300 seconds")
    .default(10),
});

export interface KeyturnConfig {
  readonly port: number;
  readonly host: string;
  readonly production: boolean;
  readonly logLevel: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly console: "auto" | "on" | "off";
  readonly digestChannel?: { platform: "slack" | "teams" | "console"; id: string };
  /** Where the evidence threads of scheduled rotations go (default: the digest channel). */
  readonly scheduleChannel?: { platform: "slack" | "teams" | "console"; id: string };
  readonly policy: Policy;
  readonly policyFile: string;
  readonly sandbox: boolean;
  readonly scenario?: string;
  readonly azure: {
    readonly subscriptionIds: string[];
    readonly vaultUrls: string[];
    readonly armEndpoint?: string;
    readonly armScope?: string;
    readonly caPem?: string;
    readonly credential: "default" | "simulator";
    readonly logAnalytics?: { workspaceId: string; endpoint?: string };
    readonly maxRetryAfterSeconds: number;
    readonly monitoringLatency?: { readonly metricsSeconds?: number; readonly logsSeconds?: number };
    readonly deadKeyProofSeconds?: number;
  };
  readonly slack?: SlackConfig;
  readonly teams: {
    /** Served at all: an app id is configured, or the local-try switch is on. */
    enabled: boolean;
    /** Unauthenticated, for a try on this machine (KEYTURN_TEAMS_ANONYMOUS=local on a loopback HOST). */
    anonymous: boolean;
    /** Per-request timeout of every Bot Connector call. */
    requestTimeoutMs: number;
    appId?: string;
    appPassword?: string;
    tenantId?: string;
    appType?: "MultiTenant" | "SingleTenant" | "UserAssignedMSI";
    authorityEndpoint?: string;
  };
  /** The HTTP API for pipelines; absent = not served. */
  readonly api?: ApiConfig;
  readonly warnings: readonly string[];
}

export interface ApiConfig {
  /** The Entra tenant whose tokens are accepted (lower case). */
  readonly tenantId: string;
  /** Accepted `aud` values: the app's client id and/or its Application ID URI. */
  readonly audiences: readonly string[];
  /** The sign-in host; keys come from `<authority>/<tenant>/discovery/v2.0/keys`. */
  readonly authority: string;
  /** Where rotations requested through the API post their change card and ask approvers. */
  readonly channel: { platform: "slack" | "teams" | "console"; id: string };
  /**
   * The sandbox's own token issuer signs the tokens (KEYTURN_SANDBOX_API=1): the tenant (the simulated
   * tenant's) and the authority (the issuer's address) are known once it has started.
   */
  readonly sandboxIssuer?: boolean;
}

export const DEFAULT_POLICY_URL = new URL(
  "../../../src/sandbox/scenarios/default-policy.yaml",
  import.meta.url,
);
const SOURCE_POLICY_URL = new URL("../sandbox/scenarios/default-policy.yaml", import.meta.url);

/** Reads the environment; throws config_invalid with `details.problems` listing every problem. */
export function readConfig(env: NodeJS.ProcessEnv = process.env): KeyturnConfig {
  const problems: string[] = [];
  const warnings: string[] = [];
  const parsed = envSchema.safeParse(
    Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== "")),
  );
  if (!parsed.success) {
    for (const i of parsed.error.issues) problems.push(`${String(i.path[0])}: ${i.message}`);
    throw invalid(problems);
  }
  const e = parsed.data;
  const sandbox = !e.AZURE_SUBSCRIPTION_IDS;
  const production = e.NODE_ENV === "production";
  const host = e.HOST ?? (sandbox ? "127.0.0.1" : "0.0.0.0");
  problems.push(...sandboxProblems(e, sandbox, production));
  problems.push(...teamsProblems(e, host, production));
  problems.push(...apiProblems(e, sandbox));

  if (e.SLACK_BOT_TOKEN && !e.SLACK_SIGNING_SECRET && !e.SLACK_SOCKET_MODE)
    problems.push(
      "SLACK_SIGNING_SECRET: missing — Slack requests cannot be verified without it; copy it from your Slack app's Basic Information page",
    );
  if (!e.SLACK_BOT_TOKEN && (e.SLACK_SIGNING_SECRET || e.SLACK_APP_TOKEN))
    problems.push(
      "SLACK_BOT_TOKEN: missing — set the xoxb- token from OAuth & Permissions, or unset the other SLACK_* variables",
    );
  if (e.SLACK_SOCKET_MODE && !e.SLACK_APP_TOKEN)
    problems.push("SLACK_APP_TOKEN: Socket Mode needs an app-level token (xapp-…) with connections:write");
  if (e.MicrosoftAppType === "SingleTenant" && !e.MicrosoftAppTenantId)
    problems.push("MicrosoftAppTenantId: a SingleTenant bot needs its tenant id");
  if (e.MicrosoftAppId && e.MicrosoftAppType !== "UserAssignedMSI" && !e.MicrosoftAppPassword)
    problems.push(
      "MicrosoftAppPassword: missing for MicrosoftAppId (or set MicrosoftAppType=UserAssignedMSI)",
    );
  if (!sandbox && !e.AZURE_KEY_VAULT_URLS)
    warnings.push("AZURE_KEY_VAULT_URLS is empty: keyturn cannot find or move consumers' secrets");
  if (production && e.AZURE_CREDENTIAL === "simulator")
    problems.push(
      "AZURE_CREDENTIAL: simulator is refused with NODE_ENV=production — it only signs in to a simulated tenant; use default (managed identity, workload identity, az login) against real Azure, or unset NODE_ENV=production to point keyturn at a local simulator",
    );
  if (
    !sandbox &&
    !production &&
    e.AZURE_CREDENTIAL === "simulator" &&
    e.AZURE_ARM_ENDPOINT &&
    !/^https:\/\/(127\.0\.0\.1|localhost)[:/]/.test(e.AZURE_ARM_ENDPOINT)
  ) {
    problems.push(
      "AZURE_CREDENTIAL: simulator is only for a simulated tenant on this machine (AZURE_ARM_ENDPOINT on 127.0.0.1)",
    );
  }
  if (!sandbox && !e.KEYTURN_POLICY_FILE)
    problems.push(
      "KEYTURN_POLICY_FILE: required with a real Azure subscription — start from src/sandbox/scenarios/default-policy.yaml",
    );

  let caPem: string | undefined;
  if (e.AZURE_CA_FILE) {
    try {
      caPem = readFileSync(e.AZURE_CA_FILE, "utf8");
    } catch {
      problems.push(`AZURE_CA_FILE: cannot read ${e.AZURE_CA_FILE} — give the path of a PEM file`);
    }
  }

  const policyFile = e.KEYTURN_POLICY_FILE ? resolve(e.KEYTURN_POLICY_FILE) : defaultPolicyPath();
  let policy: Policy | undefined;
  try {
    const text = readFileSync(policyFile, "utf8");
    let raw: unknown;
    try {
      raw = YAML.parse(text);
    } catch (err) {
      problems.push(
        `policy: ${policyFile} is not valid YAML/JSON — ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`,
      );
    }
    if (raw !== undefined) {
      try {
        policy = parsePolicy(raw);
      } catch (err) {
        const list = (err as KeyturnError).details?.problems as string[] | undefined;
        for (const p of list ?? [String(err)]) problems.push(`policy: ${p}`);
      }
    }
  } catch {
    problems.push(`KEYTURN_POLICY_FILE: cannot read ${policyFile} — check the path`);
  }
  if (policy && !e.SLACK_BOT_TOKEN) {
    const named = JSON.stringify(policy).match(/slackgroup:[A-Z0-9]+/gi);
    if (named)
      warnings.push(
        `the policy names Slack user groups (${[...new Set(named)].join(", ")}) but Slack is not configured: those entries match nobody`,
      );
  }
  if (problems.length) throw invalid(problems);

  const channelOf = (v: string | undefined) =>
    v
      ? { platform: v.split(":")[0] as "slack" | "teams" | "console", id: v.slice(v.indexOf(":") + 1) }
      : undefined;
  const digest = channelOf(e.KEYTURN_DIGEST_CHANNEL);
  const schedule = channelOf(e.KEYTURN_SCHEDULE_CHANNEL);
  const config: KeyturnConfig = {
    port: e.PORT,
    host,
    production,
    logLevel: e.LOG_LEVEL,
    dataDir: resolve(e.KEYTURN_DATA_DIR),
    logFile: e.KEYTURN_LOG_FILE ?? resolve(e.KEYTURN_DATA_DIR, "keyturn.log"),
    console: e.KEYTURN_CONSOLE,
    ...(digest ? { digestChannel: digest } : {}),
    ...(schedule ? { scheduleChannel: schedule } : {}),
    policy: policy!,
    policyFile,
    sandbox,
    ...(e.KEYTURN_SANDBOX_SCENARIO ? { scenario: e.KEYTURN_SANDBOX_SCENARIO } : {}),
    azure: {
      subscriptionIds: csv(e.AZURE_SUBSCRIPTION_IDS),
      vaultUrls: csv(e.AZURE_KEY_VAULT_URLS),
      ...(e.AZURE_ARM_ENDPOINT ? { armEndpoint: e.AZURE_ARM_ENDPOINT } : {}),
      ...(e.AZURE_ARM_SCOPE ? { armScope: e.AZURE_ARM_SCOPE } : {}),
      ...(caPem ? { caPem } : {}),
      credential: e.AZURE_CREDENTIAL,
      ...(e.AZURE_LOG_ANALYTICS_WORKSPACE_ID
        ? {
            logAnalytics: {
              workspaceId: e.AZURE_LOG_ANALYTICS_WORKSPACE_ID,
              ...(e.AZURE_LOG_ANALYTICS_ENDPOINT ? { endpoint: e.AZURE_LOG_ANALYTICS_ENDPOINT } : {}),
            },
          }
        : {}),
      maxRetryAfterSeconds: e.AZURE_MAX_RETRY_AFTER_SECONDS,
      ...(e.KEYTURN_METRICS_LATENCY_SECONDS !== undefined || e.KEYTURN_LOGS_LATENCY_SECONDS !== undefined
        ? {
            monitoringLatency: {
              ...(e.KEYTURN_METRICS_LATENCY_SECONDS !== undefined
                ? { metricsSeconds: e.KEYTURN_METRICS_LATENCY_SECONDS }
                : {}),
              ...(e.KEYTURN_LOGS_LATENCY_SECONDS !== undefined
                ? { logsSeconds: e.KEYTURN_LOGS_LATENCY_SECONDS }
                : {}),
            },
          }
        : {}),
      ...(e.KEYTURN_DEAD_KEY_PROOF_SECONDS !== undefined
        ? { deadKeyProofSeconds: e.KEYTURN_DEAD_KEY_PROOF_SECONDS }
        : {}),
    },
    ...(e.SLACK_BOT_TOKEN
      ? {
          slack: {
            botToken: e.SLACK_BOT_TOKEN,
            signingSecret: e.SLACK_SIGNING_SECRET ?? "",
            ...(e.SLACK_APP_TOKEN ? { appToken: e.SLACK_APP_TOKEN } : {}),
            socketMode: e.SLACK_SOCKET_MODE,
            ...(e.SLACK_API_URL
              ? { apiUrl: e.SLACK_API_URL.endsWith("/") ? e.SLACK_API_URL : `${e.SLACK_API_URL}/` }
              : {}),
            command: e.SLACK_COMMAND,
            ...(e.SLACK_BOT_USER_ID ? { botUserId: e.SLACK_BOT_USER_ID } : {}),
            ...(e.SLACK_TEAM_ID ? { teamId: e.SLACK_TEAM_ID } : {}),
            ...(e.SLACK_API_TIMEOUT_MS ? { apiTimeoutMs: e.SLACK_API_TIMEOUT_MS } : {}),
            allowGuests: e.SLACK_ALLOW_GUESTS,
          },
        }
      : {}),
    teams: {
      // Teams is served only when configured; anonymous only behind the local-try switch (checked above)
      enabled: !!e.MicrosoftAppId || !!e.KEYTURN_TEAMS_ANONYMOUS,
      anonymous: !e.MicrosoftAppId && !!e.KEYTURN_TEAMS_ANONYMOUS,
      requestTimeoutMs: Math.round(e.TEAMS_REQUEST_TIMEOUT_SECONDS * 1000),
      ...(e.MicrosoftAppId ? { appId: e.MicrosoftAppId } : {}),
      ...(e.MicrosoftAppPassword ? { appPassword: e.MicrosoftAppPassword } : {}),
      ...(e.MicrosoftAppTenantId ? { tenantId: e.MicrosoftAppTenantId } : {}),
      ...(e.MicrosoftAppType ? { appType: e.MicrosoftAppType } : {}),
      ...(e.TEAMS_AUTHORITY_ENDPOINT ? { authorityEndpoint: e.TEAMS_AUTHORITY_ENDPOINT } : {}),
    },
    ...(e.KEYTURN_API_TENANT_ID && e.KEYTURN_API_AUDIENCE
      ? { api: apiConfig(e, e.KEYTURN_API_TENANT_ID, e.KEYTURN_API_AUDIENCE, digest) }
      : sandbox && e.KEYTURN_SANDBOX_API
        ? { api: { ...apiConfig(e, "", SANDBOX_API_AUDIENCE, digest), authority: "", sandboxIssuer: true } }
        : {}),
    warnings,
  };
  return Object.freeze(config);
}

type Env = z.infer<typeof envSchema>;

const LOOPBACK = new Set(["127.0.0.1", "::1", "[::1]", "localhost"]);

/**
 * The simulated tenant runs only on purpose: with nothing configured (a fresh clone), or with
 * KEYTURN_SANDBOX=1 from a real chat workspace; never with NODE_ENV=production.
 */
function sandboxProblems(e: Env, sandbox: boolean, production: boolean): string[] {
  if (!sandbox)
    return e.KEYTURN_SANDBOX
      ? [
          "KEYTURN_SANDBOX: 1 runs the simulated tenant, but AZURE_SUBSCRIPTION_IDS is set — unset KEYTURN_SANDBOX to manage those subscriptions, or unset AZURE_SUBSCRIPTION_IDS to try the sandbox",
        ]
      : [];
  if (production)
    return [
      "AZURE_SUBSCRIPTION_IDS: missing with NODE_ENV=production — keyturn does not serve the simulated tenant as a production service; set AZURE_SUBSCRIPTION_IDS to the subscriptions keyturn manages (comma-separated, with KEYTURN_POLICY_FILE), or unset NODE_ENV=production and set KEYTURN_SANDBOX=1 to try the sandbox on purpose",
    ];
  const credentials = [
    ...(e.SLACK_BOT_TOKEN ? ["Slack credentials (SLACK_BOT_TOKEN)"] : []),
    ...(e.MicrosoftAppId ? ["a Teams app (MicrosoftAppId)"] : []),
  ];
  if (credentials.length && e.KEYTURN_SANDBOX !== true)
    return [
      `AZURE_SUBSCRIPTION_IDS: missing, but ${credentials.join(" and ")} are set — a real workspace is not answered from the simulated tenant by accident; set AZURE_SUBSCRIPTION_IDS to the subscriptions keyturn manages (comma-separated), or set KEYTURN_SANDBOX=1 to try the sandbox from this workspace on purpose`,
    ];
  if (e.KEYTURN_SANDBOX === false)
    return [
      "AZURE_SUBSCRIPTION_IDS: missing while KEYTURN_SANDBOX=0 — set the subscriptions keyturn manages (comma-separated), or unset KEYTURN_SANDBOX to run the sandbox",
    ];
  return [];
}

/** Teams is authenticated (app id and tenant), or anonymous behind the local-try switch on loopback only. */
function teamsProblems(e: Env, host: string, production: boolean): string[] {
  const problems: string[] = [];
  if (e.MicrosoftAppId && !e.MicrosoftAppTenantId)
    problems.push(
      "MicrosoftAppTenantId: missing — keyturn serves one Entra tenant and refuses activities from any other; set your tenant id (Microsoft Entra ID → Overview → Tenant ID)",
    );
  if (!e.KEYTURN_TEAMS_ANONYMOUS) return problems;
  if (e.MicrosoftAppId)
    problems.push(
      "KEYTURN_TEAMS_ANONYMOUS: set together with MicrosoftAppId — with an app id every Teams request is authenticated; unset KEYTURN_TEAMS_ANONYMOUS",
    );
  if (production)
    problems.push(
      "KEYTURN_TEAMS_ANONYMOUS: refused with NODE_ENV=production — unauthenticated Teams is only for a try on this machine; register an Azure Bot and set MicrosoftAppId, MicrosoftAppTenantId (README: Install in Teams)",
    );
  if (!LOOPBACK.has(host.toLowerCase()))
    problems.push(
      `KEYTURN_TEAMS_ANONYMOUS: refused with HOST=${host} — unauthenticated Teams only listens on this machine; set HOST=127.0.0.1 (or ::1, localhost), or set MicrosoftAppId for authenticated Teams`,
    );
  return problems;
}

const ENTRA_AUTHORITY = "https://login.microsoftonline.com";
/** The audience of the sandbox's own token issuer. */
export const SANDBOX_API_AUDIENCE = "api://keyturn-sandbox";
const LOOPBACK_URL = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/|$)/i;

/** The API is on with a tenant and an audience (both or neither), keys over HTTPS, a channel for its cards. */
function apiProblems(e: Env, sandbox: boolean): string[] {
  const problems: string[] = [];
  if (e.KEYTURN_SANDBOX_API && !sandbox)
    problems.push(
      "KEYTURN_SANDBOX_API: the sandbox's own token issuer only signs for the simulated tenant — unset it, and set KEYTURN_API_TENANT_ID and KEYTURN_API_AUDIENCE for your Entra tenant (docs/api.md)",
    );
  if (e.KEYTURN_SANDBOX_API && e.KEYTURN_API_TENANT_ID)
    problems.push(
      "KEYTURN_SANDBOX_API: set together with KEYTURN_API_TENANT_ID — choose the sandbox's issuer (unset KEYTURN_API_TENANT_ID and KEYTURN_API_AUDIENCE) or a real tenant (unset KEYTURN_SANDBOX_API)",
    );
  const tenant = e.KEYTURN_API_TENANT_ID;
  const audience = csv(e.KEYTURN_API_AUDIENCE);
  if (tenant && !audience.length)
    problems.push(
      "KEYTURN_API_AUDIENCE: missing — the API accepts tokens issued for keyturn's own app registration only; set its Application (client) ID and/or Application ID URI (api://…), comma-separated",
    );
  if (!tenant && audience.length)
    problems.push(
      "KEYTURN_API_TENANT_ID: missing — the API accepts tokens of one Entra tenant; set your tenant id, or unset KEYTURN_API_AUDIENCE to turn the API off",
    );
  if (!tenant || !audience.length) return problems;
  const authority = e.KEYTURN_API_AUTHORITY ?? ENTRA_AUTHORITY;
  if (!authority.startsWith("https://") && !LOOPBACK_URL.test(authority))
    problems.push(
      `KEYTURN_API_AUTHORITY: ${authority} is not HTTPS — signing keys must come over HTTPS (http is accepted on 127.0.0.1 only, for a local token issuer)`,
    );
  const channel = e.KEYTURN_API_CHANNEL ?? e.KEYTURN_DIGEST_CHANNEL;
  if (!channel && !sandbox)
    problems.push(
      "KEYTURN_API_CHANNEL: missing — a rotation requested through the API posts its change card and asks its approvers in a chat channel, like one typed there; set slack:C0123 or teams:<conversation id> (or KEYTURN_DIGEST_CHANNEL)",
    );
  const platform = channel?.split(":")[0];
  if (platform === "slack" && !e.SLACK_BOT_TOKEN)
    problems.push(
      `KEYTURN_API_CHANNEL: ${channel} is a Slack channel but Slack is not configured — set SLACK_BOT_TOKEN, or name a channel of a configured platform`,
    );
  if (platform === "teams" && !e.MicrosoftAppId && !e.KEYTURN_TEAMS_ANONYMOUS)
    problems.push(
      `KEYTURN_API_CHANNEL: ${channel} is a Teams conversation but Teams is not configured — set MicrosoftAppId, or name a channel of a configured platform`,
    );
  if (platform === "console" && !sandbox)
    problems.push(
      `KEYTURN_API_CHANNEL: ${channel} is the local console, which only the sandbox has — name a Slack channel or Teams conversation`,
    );
  return problems;
}

function apiConfig(
  e: Env,
  tenant: string,
  audience: string,
  digest: KeyturnConfig["digestChannel"],
): ApiConfig {
  const named = e.KEYTURN_API_CHANNEL;
  const channel = named
    ? {
        platform: named.split(":")[0] as "slack" | "teams" | "console",
        id: named.slice(named.indexOf(":") + 1),
      }
    : (digest ?? { platform: "console" as const, id: "incident-room" });
  return {
    tenantId: tenant.toLowerCase(),
    audiences: csv(audience),
    authority: (e.KEYTURN_API_AUTHORITY ?? ENTRA_AUTHORITY).replace(/\/+$/, ""),
    channel,
  };
}

function defaultPolicyPath(): string {
  for (const u of [SOURCE_POLICY_URL, DEFAULT_POLICY_URL]) {
    try {
      readFileSync(u);
      return u.pathname;
    } catch {
      // try the source tree when running from dist/
    }
  }
  return DEFAULT_POLICY_URL.pathname;
}

function invalid(problems: string[]): KeyturnError {
  return new KeyturnError(
    "config_invalid",
    `keyturn's configuration has ${problems.length} problem(s):\n${problems.map((p) => `  • ${p}`).join("\n")}`,
    { problems },
  );
}

/** The configuration as it may be echoed: tokens and passwords redacted. */
export function redactedConfig(c: KeyturnConfig): unknown {
  const hide = (s?: string) => (s ? `${s.slice(0, 5)}…(redacted)` : undefined);
  return {
    ...c,
    policy: `(${c.policyFile})`,
    azure: { ...c.azure, caPem: c.azure.caPem ? "(PEM)" : undefined },
    slack: c.slack
      ? {
          ...c.slack,
          botToken: hide(c.slack.botToken),
          signingSecret: hide(c.slack.signingSecret),
          appToken: hide(c.slack.appToken),
        }
      : undefined,
    teams: { ...c.teams, appPassword: hide(c.teams.appPassword) },
  };
}
