import { describe, expect, it } from "vitest";
import type { Account } from "../../src/core/domain.js";
import { KeyturnError } from "../../src/core/errors.js";
import { createPolicyBook, isApprover, isBreakGlassResponder, parsePolicy } from "../../src/core/policy.js";
import { people } from "../support/change-fixture.js";

const policy = parsePolicy({
  defaults: {
    approvers: ["group:secops", "group:platform"],
    approvalsRequired: 1,
    approvalExpiry: "4h",
    exposureApprovalExpiry: "30m",
    breakGlass: ["dave@contoso.com"],
    propagation: "5m",
    exposurePropagation: "1m",
  },
  groups: { secops: ["bob@contoso.com", "slackgroup:S0SECOPS"], platform: ["carol@contoso.com"] },
  policies: [{ name: "production", match: { tags: { environment: "production" } }, approvalsRequired: 2 }],
});
const book = createPolicyBook(policy);
const account = (tags: Record<string, string>): Account => ({
  id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a",
  subscriptionId: "s",
  resourceGroup: "rg",
  name: "a",
  kind: "OpenAI",
  location: "x",
  endpoint: "https://a/",
  disableLocalAuth: false,
  provisioningState: "Succeeded",
  tags,
});

describe("policy", () => {
  it("chooses by tags: production needs 2 of the approvers", () => {
    expect(book.snapshotFor(account({ environment: "production" }), { exposure: false })).toMatchObject({
      name: "production",
      approvalsRequired: 2,
    });
    expect(book.snapshotFor(account({ environment: "dev" }), { exposure: false })).toMatchObject({
      name: "default",
      approvalsRequired: 1,
    });
  });

  it("exposure shortens expiry and windows", () => {
    const std = book.snapshotFor(account({}), { exposure: false });
    const exp = book.snapshotFor(account({}), { exposure: true });
    expect([std.approvalExpirySeconds, exp.approvalExpirySeconds]).toEqual([4 * 3600, 30 * 60]);
    expect([std.propagationSeconds, exp.propagationSeconds]).toEqual([300, 60]);
  });

  it("expands groups and matches any identity, case-insensitively; the approvers tag adds people", () => {
    const s = book.snapshotFor(account({ approvers: "Erin@Contoso.com" }), { exposure: false });
    expect(isApprover(s, people.bob)).toBe(true);
    expect(isApprover(s, people.carol)).toBe(true);
    expect(isApprover(s, people.erin)).toBe(true);
    expect(isApprover(book.snapshotFor(account({}), { exposure: false }), people.erin)).toBe(false);
    expect(isApprover(s, { ...people.alice, identities: ["slackgroup:s0secops"] })).toBe(true);
  });

  it("break-glass is for named responders only", () => {
    const s = book.snapshotFor(account({}), { exposure: true });
    expect(isBreakGlassResponder(s, people.dave)).toBe(true);
    expect(isBreakGlassResponder(s, people.bob)).toBe(false);
  });

  it("owner and cadence come from tags first", () => {
    expect(book.ownerFor(account({ owner: "team@contoso.com" }))).toEqual({
      owner: "team@contoso.com",
      source: "tag",
    });
    expect(book.cadenceDays(account({ "rotation-cadence-days": "30" }))).toBe(30);
    expect(book.cadenceDays(account({}))).toBe(90);
    expect(book.platformGroups()).toEqual(["slackgroup:s0secops"]);
  });

  it("lists every problem of a bad policy file with its path and a fix", () => {
    try {
      parsePolicy({
        defaults: {
          approvers: ["group:secopz"],
          approvalsRequired: "two",
          approvalExpiry: "soon",
          aprovers: [],
        },
        groups: { secops: ["bob@contoso.com"] },
      });
      expect.unreachable();
    } catch (e) {
      const problems = (e as KeyturnError).details.problems as string[];
      expect(problems).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^defaults\.approvalsRequired: expected a positive integer/),
          expect.stringMatching(/^defaults\.approvalExpiry: expected a duration such as 90s/),
          expect.stringMatching(/^defaults\.aprovers: unknown setting — did you mean approvers\?/),
        ]),
      );
    }
    try {
      parsePolicy({ defaults: { approvers: ["group:secopz"] }, groups: { secops: ["bob@contoso.com"] } });
      expect.unreachable();
    } catch (e) {
      expect((e as KeyturnError).details.problems).toEqual([
        expect.stringMatching(
          /defaults\.approvers\[0\]: unknown approver group "secopz" — did you mean group:secops\?/,
        ),
      ]);
    }
    expect(() => parsePolicy({ defaults: { approvers: ["bob@contoso.com"], approvalsRequired: 2 } })).toThrow(
      /only 1 approver/,
    );
  });
});
