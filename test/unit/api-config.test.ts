/**
 * The API's configuration: off unless a tenant and an audience are both set; signing keys over HTTPS
 * (plain http on 127.0.0.1 only); a chat channel for the cards of rotations it opens, of a platform
 * that is configured. Every problem names the variable and the fix.
 */
import { describe, expect, it } from "vitest";
import { readConfig } from "../../src/config/read-config.js";
import { configProblems } from "../support/config-problems.js";

const TENANT = "8A3D5F2E-1B4C-4D6E-8F7A-9B0C1D2E3F4A";
const AZURE = {
  AZURE_SUBSCRIPTION_IDS: "00000000-0000-4000-8000-0000000000a1",
  KEYTURN_POLICY_FILE: "src/sandbox/scenarios/default-policy.yaml",
};
const SLACK = { SLACK_BOT_TOKEN: "xoxb-1", SLACK_SIGNING_SECRET: "signing-secret-1" };

const problems = configProblems;

describe("the API's configuration", () => {
  it("is off unless configured", () => {
    expect(readConfig({}).api).toBeUndefined();
  });

  it("with a tenant and an audience: Entra's authority, the tenant in lower case, the audiences listed", () => {
    const c = readConfig({
      ...AZURE,
      ...SLACK,
      KEYTURN_API_TENANT_ID: TENANT,
      KEYTURN_API_AUDIENCE: "0c6f1e2d-0000-4000-8000-000000000001, api://keyturn",
      KEYTURN_API_CHANNEL: "slack:C0PIPELINES",
    });
    expect(c.api).toEqual({
      tenantId: TENANT.toLowerCase(),
      audiences: ["0c6f1e2d-0000-4000-8000-000000000001", "api://keyturn"],
      authority: "https://login.microsoftonline.com",
      channel: { platform: "slack", id: "C0PIPELINES" },
    });
  });

  it("in the sandbox, rotations go to the console's incident room unless a channel is named", () => {
    const c = readConfig({ KEYTURN_API_TENANT_ID: TENANT, KEYTURN_API_AUDIENCE: "api://keyturn" });
    expect(c.api?.channel).toEqual({ platform: "console", id: "incident-room" });
  });

  it("KEYTURN_SANDBOX_API=1: the sandbox's own issuer, for the sandbox only", () => {
    const c = readConfig({ KEYTURN_SANDBOX_API: "1" });
    expect(c.api).toMatchObject({ sandboxIssuer: true, audiences: ["api://keyturn-sandbox"] });
    expect(problems({ ...AZURE, KEYTURN_SANDBOX_API: "1" })).toEqual([
      expect.stringMatching(
        /^KEYTURN_SANDBOX_API: the sandbox's own token issuer only signs for the simulated tenant/,
      ),
    ]);
    expect(
      problems({ KEYTURN_SANDBOX_API: "1", KEYTURN_API_TENANT_ID: TENANT, KEYTURN_API_AUDIENCE: "api://x" }),
    ).toEqual([expect.stringMatching(/^KEYTURN_SANDBOX_API: set together with KEYTURN_API_TENANT_ID/)]);
  });

  it("names every problem with its fix", () => {
    expect(problems({ KEYTURN_API_TENANT_ID: TENANT })).toEqual([
      expect.stringMatching(/^KEYTURN_API_AUDIENCE: missing — .*Application \(client\) ID/),
    ]);
    expect(problems({ KEYTURN_API_AUDIENCE: "api://keyturn" })).toEqual([
      expect.stringMatching(/^KEYTURN_API_TENANT_ID: missing — .*or unset KEYTURN_API_AUDIENCE/),
    ]);
    expect(problems({ KEYTURN_API_TENANT_ID: "contoso", KEYTURN_API_AUDIENCE: "x" })).toEqual([
      expect.stringMatching(/^KEYTURN_API_TENANT_ID: must be your Entra tenant id/),
    ]);
    const api = { KEYTURN_API_TENANT_ID: TENANT, KEYTURN_API_AUDIENCE: "api://keyturn" };
    expect(problems({ ...api, KEYTURN_API_AUTHORITY: "http://login.example.com" })).toEqual([
      expect.stringMatching(/^KEYTURN_API_AUTHORITY: .* is not HTTPS/),
    ]);
    expect(problems({ ...api, KEYTURN_API_AUTHORITY: "http://127.0.0.1:8080" })).toEqual([]);
    expect(problems({ ...AZURE, ...api })).toEqual([
      expect.stringMatching(/^KEYTURN_API_CHANNEL: missing — .*set slack:C0123 or teams:<conversation id>/),
    ]);
    expect(problems({ ...AZURE, ...api, KEYTURN_API_CHANNEL: "slack:C0PIPELINES" })).toEqual([
      expect.stringMatching(
        /^KEYTURN_API_CHANNEL: slack:C0PIPELINES is a Slack channel but Slack is not configured/,
      ),
    ]);
    expect(problems({ ...AZURE, ...SLACK, ...api, KEYTURN_API_CHANNEL: "console:incident-room" })).toEqual([
      expect.stringMatching(/^KEYTURN_API_CHANNEL: .* only the sandbox has/),
    ]);
  });
});
