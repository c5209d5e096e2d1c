/**
 * The nudge an owner gets before a key is due says what they have to do, which depends on the
 * policy's schedule: start the rotation (remind), or nothing unless asked (request, auto). Read as
 * Slack shows it (visible blocks).
 */
import { describe, expect, it } from "vitest";
import { toBlocks } from "../../adapters/slack/render.js";
import type { AccountStatus } from "../../src/core/domain.js";
import type { AccountSchedule } from "../../src/core/policy.js";
import { nudgeMessage } from "../../src/runner/reminders.js";
import { visibleText } from "../fakes/slack-api.js";

const status = {
  account: {
    id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/contoso-openai",
    subscriptionId: "s",
    resourceGroup: "rg",
    name: "contoso-openai",
    kind: "OpenAI",
    location: "westeurope",
    endpoint: "https://contoso-openai.example",
    disableLocalAuth: false,
    provisioningState: "Succeeded",
    tags: {},
  },
  owner: "team@contoso.com",
  ownerSource: "tag",
  environment: "production",
  activeSlot: "key1",
  storedIn: [],
  lastRotation: { at: "2026-09-01T00:00:00.000Z", by: "Alice Ng", source: "keyturn", changeId: "CHG-1" },
  nextDue: "2026-12-10T00:00:00.000Z",
  overdue: false,
  cadenceDays: 90,
  localAuthAllowed: true,
  consumers: [],
  openChangeId: null,
  couldDisableLocalAuth: false,
} as unknown as AccountStatus;

const schedule = (mode: AccountSchedule["mode"]): AccountSchedule => ({
  mode,
  policy: "production",
  window: null,
  estimateSeconds: 3600,
});
const shown = (s?: AccountSchedule) => visibleText(toBlocks(nudgeMessage(status, 10, s)).blocks);

describe("the nudge before a key is due", () => {
  it("asks the owner to start the rotation when the policy only reminds", () => {
    expect(shown()).toMatch(/Start it with: rotate contoso-openai/);
    expect(shown(schedule("remind"))).toMatch(/Start it with: rotate contoso-openai/);
  });

  it("tells the owner keyturn rotates it itself when the policy schedules auto", () => {
    const text = shown(schedule("auto"));
    expect(text).not.toMatch(/Start it with/);
    expect(text).toMatch(
      /keyturn rotates it itself inside its maintenance window \(policy production: schedule auto\)/,
    );
    expect(text).toMatch(/`schedule`/);
  });

  it("tells the owner keyturn opens the change and asks the approvers when the policy schedules request", () => {
    const text = shown(schedule("request"));
    expect(text).not.toMatch(/Start it with/);
    expect(text).toMatch(/keyturn opens the rotation itself when it is due and asks the approvers/);
  });
});
