/** The simulated tenant's starting point: subscriptions, accounts, vaults, sites, people. Validated with zod. */
import { readFileSync } from "node:fs";
import { z } from "zod";

const keyRef = z.string();

/** The sandbox's Log Analytics workspace. */
export const DEFAULT_WORKSPACE_ID = "9b3f6a52-0f2e-4f59-8e3d-5a1b2c3d4e5f";

const DEFAULT_ROLES = [
  {
    role: "Cognitive Services Contributor",
    scope: "/",
    actions: [
      "Microsoft.CognitiveServices/*",
      "Microsoft.Authorization/*/read",
      "Microsoft.Resources/subscriptions/resourceGroups/read",
      "Microsoft.Insights/alertRules/*",
    ],
    notActions: [],
    dataActions: [],
  },
  {
    role: "Key Vault Secrets Officer",
    scope: "/",
    actions: ["Microsoft.KeyVault/vaults/read", "Microsoft.Authorization/*/read"],
    notActions: [],
    dataActions: ["Microsoft.KeyVault/vaults/secrets/*"],
  },
  {
    role: "Monitoring Reader",
    scope: "/",
    actions: ["*/read", "Microsoft.OperationalInsights/workspaces/search/action"],
    notActions: [],
    dataActions: [],
  },
  {
    role: "Website Contributor",
    scope: "/",
    actions: [
      "Microsoft.Web/sites/*",
      "Microsoft.Web/serverFarms/join/action",
      "Microsoft.Insights/components/*",
    ],
    notActions: [],
    dataActions: [],
  },
]; // "$key:<subscriptionId>/<accountName>/key1" or a literal value

export const scenarioSchema = z.object({
  tenantId: z.string(),
  slackTeamId: z.string().default("T0CONTOSO"),
  subscriptions: z.array(z.object({ id: z.string(), displayName: z.string() })),
  accounts: z.array(
    z.object({
      subscription: z.string(),
      resourceGroup: z.string(),
      name: z.string(),
      kind: z.string(),
      location: z.string().default("westeurope"),
      tags: z.record(z.string(), z.string()).default({}),
      disableLocalAuth: z.boolean().default(false),
      keyFormat: z.enum(["new", "legacy"]).default("new"),
    }),
  ),
  vaults: z
    .array(
      z.object({
        name: z.string(),
        secrets: z.array(
          z.object({ name: z.string(), value: keyRef, tags: z.record(z.string(), z.string()).default({}) }),
        ),
      }),
    )
    .default([]),
  sites: z
    .array(
      z.object({
        subscription: z.string(),
        resourceGroup: z.string(),
        name: z.string(),
        owner: z.string().optional(),
        apiName: z.string().default("Default"),
        callerIp: z.string().default("10.1.0.4"),
        settings: z.record(
          z.string(),
          z.union([
            z.object({
              reference: z.object({
                vault: z.string(),
                secret: z.string(),
                pinned: z.boolean().default(false),
              }),
            }),
            z.object({ literal: keyRef }),
          ]),
        ),
      }),
    )
    .default([]),
  external: z
    .array(
      z.object({
        name: z.string(),
        key: keyRef,
        callerIp: z.string(),
        apiName: z.string().default("Default"),
      }),
    )
    .default([]),
  activityHistory: z
    .array(
      z.object({
        account: z.string(),
        operation: z.string(),
        caller: z.string(),
        callerIp: z.string(),
        daysAgo: z.number(),
      }),
    )
    .default([]),
  /**
   * How often App Service re-reads a versionless Key Vault reference by itself; Azure: within 24 h
   * unless the refresh endpoint is called (a scenario may shorten it, the sandbox tour does).
   */
  refreshSeconds: z.number().positive().default(86_400),
  /** The Log Analytics workspace that exists; a query to any other id gets 404 WorkspaceNotFoundError. */
  logAnalytics: z.object({ workspaceId: z.string().default(DEFAULT_WORKSPACE_ID) }).default({
    workspaceId: DEFAULT_WORKSPACE_ID,
  }),
  /** What keyturn's identity may do (the permissions API answers from this); default: the roles keyturn documents. */
  roleAssignments: z
    .array(
      z.object({
        role: z.string(),
        scope: z.string().default("/"),
        actions: z.array(z.string()),
        notActions: z.array(z.string()).default([]),
        dataActions: z.array(z.string()).default([]),
      }),
    )
    .default(DEFAULT_ROLES),
  users: z
    .array(
      z.object({
        name: z.string(),
        displayName: z.string(),
        email: z.string(),
        role: z.string(),
        slackId: z.string(),
        aadObjectId: z.string(),
        groups: z.array(z.string()).default([]),
        slackGroups: z.array(z.string()).default([]),
      }),
    )
    .default([]),
});

export type Scenario = z.infer<typeof scenarioSchema>;
export type ScenarioInput = z.input<typeof scenarioSchema>;

export const DEFAULT_SCENARIO_URL = new URL("../../../src/sandbox/scenarios/default.json", import.meta.url);
const SOURCE_SCENARIO_URL = new URL("./scenarios/default.json", import.meta.url);

export function loadScenario(input?: ScenarioInput | string): Scenario {
  let raw: unknown = input;
  if (input === undefined || typeof input === "string") {
    const candidates = input ? [input] : [SOURCE_SCENARIO_URL, DEFAULT_SCENARIO_URL];
    let text: string | undefined;
    for (const c of candidates) {
      try {
        text = readFileSync(c, "utf8");
        break;
      } catch {
        // try the next place: the source tree when running from dist/
      }
    }
    if (text === undefined) throw new Error(`scenario file not found: ${String(candidates[0])}`);
    raw = JSON.parse(text);
  }
  const r = scenarioSchema.safeParse(raw);
  if (!r.success)
    throw new Error(
      `invalid scenario: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  return r.data;
}

/** A large tenant for benchmarks: `subscriptions` × `accountsPerSubscription` accounts, no consumers. */
export function generateScenario(opts: {
  subscriptions: number;
  accountsPerSubscription: number;
  seed?: number;
}): ScenarioInput {
  const subs = Array.from({ length: opts.subscriptions }, (_, i) => ({
    id: `00000000-0000-4000-9000-${String(i + 1).padStart(12, "0")}`,
    displayName: `bench-${i + 1}`,
  }));
  const kinds = ["AIServices", "OpenAI", "TextTranslation", "SpeechServices"];
  return {
    tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
    subscriptions: subs,
    accounts: subs.flatMap((s, si) =>
      Array.from({ length: opts.accountsPerSubscription }, (_, i) => ({
        subscription: s.id,
        resourceGroup: `rg-${si % 3}`,
        name: `acct-${si + 1}-${i + 1}`,
        kind: kinds[(i + (opts.seed ?? 0)) % kinds.length]!,
        tags: { owner: `team-${i % 17}@contoso.com`, environment: i % 2 ? "production" : "dev" },
      })),
    ),
    vaults: [{ name: "bench-kv", secrets: [] }],
  };
}
