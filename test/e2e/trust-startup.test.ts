/**
 * The sandbox runs only on purpose. The built program, started as a user starts it:
 * - with nothing configured (a fresh clone) it runs the sandbox;
 * - real chat credentials without AZURE_SUBSCRIPTION_IDS are a configuration error naming the fix,
 *   unless KEYTURN_SANDBOX=1 asks for the sandbox on purpose;
 * - NODE_ENV=production never runs the sandbox, and refuses the simulator credential.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeSlack } from "../fakes/slack-api.js";
import { startOutcome } from "../support/start-outcome.js";

const POLICY = "src/sandbox/scenarios/default-policy.yaml";
let dir: string;
let slack: FakeSlack;
let n = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyturn-trust-startup-"));
  slack = await new FakeSlack().start();
});

afterAll(async () => {
  await slack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const start = (env: Record<string, string>) =>
  startOutcome({ KEYTURN_DATA_DIR: join(dir, `d${++n}`), ...env });
const slackEnv = () => ({
  SLACK_BOT_TOKEN: "xoxb-real-workspace",
  SLACK_SIGNING_SECRET: "real-signing-secret",
  SLACK_API_URL: slack.apiUrl,
  SLACK_BOT_USER_ID: "U0KEYTURN",
  SLACK_TEAM_ID: "T0CONTOSO",
});
const teamsEnv = {
  MicrosoftAppId: "0f5a6c7d-1111-4222-8333-944444444444",
  MicrosoftAppPassword: "app-password",
  MicrosoftAppTenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
};

describe("9. the sandbox runs only on purpose", () => {
  it("with nothing configured, `keyturn start` runs the sandbox", async () => {
    const r = await start({});
    expect(r.ready).toBe(true);
    expect(r.output).toContain("keyturn — SANDBOX mode: a simulated Azure tenant, nothing real is touched");
  });

  it.each([
    [
      "Slack credentials",
      slackEnv,
      "keyturn: keyturn's configuration has 1 problem(s):\n  • AZURE_SUBSCRIPTION_IDS: missing, but Slack credentials (SLACK_BOT_TOKEN) are set — a real workspace is not answered from the simulated tenant by accident; set AZURE_SUBSCRIPTION_IDS to the subscriptions keyturn manages (comma-separated), or set KEYTURN_SANDBOX=1 to try the sandbox from this workspace on purpose\n",
    ],
    [
      "a Teams app",
      () => teamsEnv,
      "keyturn: keyturn's configuration has 1 problem(s):\n  • AZURE_SUBSCRIPTION_IDS: missing, but a Teams app (MicrosoftAppId) are set — a real workspace is not answered from the simulated tenant by accident; set AZURE_SUBSCRIPTION_IDS to the subscriptions keyturn manages (comma-separated), or set KEYTURN_SANDBOX=1 to try the sandbox from this workspace on purpose\n",
    ],
  ])("%s without AZURE_SUBSCRIPTION_IDS is refused with the fix", async (_what, env, message) => {
    const r = await start(env());
    expect(r.code).toBe(2);
    expect(r.output).toBe(message);
  });

  it("KEYTURN_SANDBOX=1 tries the sandbox from a real Slack workspace on purpose", async () => {
    const r = await start({ ...slackEnv(), KEYTURN_SANDBOX: "1" });
    expect(r.ready).toBe(true);
    expect(r.output).toContain("keyturn — SANDBOX mode");
    expect(r.output).toMatch(/platforms: slack, console/);
  });

  it.each([
    ["nothing else", {}],
    ["KEYTURN_SANDBOX=1", { KEYTURN_SANDBOX: "1" }],
  ])(
    "NODE_ENV=production without AZURE_SUBSCRIPTION_IDS (%s) is refused with the fix",
    async (_what, env) => {
      const r = await start({ NODE_ENV: "production", ...env });
      expect(r.code).toBe(2);
      expect(r.output).toBe(
        "keyturn: keyturn's configuration has 1 problem(s):\n  • AZURE_SUBSCRIPTION_IDS: missing with NODE_ENV=production — keyturn does not serve the simulated tenant as a production service; set AZURE_SUBSCRIPTION_IDS to the subscriptions keyturn manages (comma-separated, with KEYTURN_POLICY_FILE), or unset NODE_ENV=production and set KEYTURN_SANDBOX=1 to try the sandbox on purpose\n",
      );
    },
  );

  it("AZURE_CREDENTIAL=simulator is refused with NODE_ENV=production", async () => {
    const r = await start({
      NODE_ENV: "production",
      AZURE_SUBSCRIPTION_IDS: "00000000-0000-4000-8000-0000000000a1",
      AZURE_KEY_VAULT_URLS: "https://127.0.0.1:1",
      AZURE_ARM_ENDPOINT: "https://127.0.0.1:1",
      AZURE_CREDENTIAL: "simulator",
      KEYTURN_POLICY_FILE: POLICY,
      ...slackEnv(),
    });
    expect(r.code).toBe(2);
    expect(r.output).toBe(
      "keyturn: keyturn's configuration has 1 problem(s):\n  • AZURE_CREDENTIAL: simulator is refused with NODE_ENV=production — it only signs in to a simulated tenant; use default (managed identity, workload identity, az login) against real Azure, or unset NODE_ENV=production to point keyturn at a local simulator\n",
    );
  });
});
