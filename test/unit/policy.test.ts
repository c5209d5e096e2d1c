import { describe, expect, it } from "vitest";
import type { Account } from "../../src/core/domain.js";
import { formatDuration, parseDuration } from "../../src/core/duration.js";
import { KeyturnError } from "../../src/core/errors.js";
import {
  countedApprovals,
  createPolicyBook,
  isApprover,
  isBreakGlassResponder,
  parsePolicy,
} from "../../src/core/policy.js";
import { change, people, standardPlan } from "../support/change-fixture.js";

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
  policies: [{ name: "production", match: { resourceGroups: ["rg-*-prod"] }, approvalsRequired: 2 }],
});
const book = createPolicyBook(policy);
const account = (tags: Record<string, string>, resourceGroup = "rg"): Account => ({
  id: `/subscriptions/s/resourceGroups/${resourceGroup}/providers/Microsoft.CognitiveServices/accounts/a`,
  subscriptionId: "s",
  resourceGroup,
  name: "a",
  kind: "OpenAI",
  location: "x",
  endpoint: "https://a/",
  disableLocalAuth: false,
  provisioningState: "Succeeded",
  tags,
});

describe("policy", () => {
  it("chooses by location: production needs 2 of the approvers; tags never pick the policy", () => {
    expect(book.snapshotFor(account({}, "rg-ai-prod"), { exposure: false })).toMatchObject({
      name: "production",
      approvalsRequired: 2,
    });
    expect(book.snapshotFor(account({ environment: "production" }), { exposure: false })).toMatchObject({
      name: "default",
      approvalsRequired: 1,
    });
    // a tag cannot move a production account to a weaker policy either
    expect(
      book.snapshotFor(account({ environment: "dev" }, "RG-AI-PROD"), { exposure: false }),
    ).toMatchObject({ name: "production", approvalsRequired: 2 });
  });

  it("exposure shortens expiry and windows", () => {
    const std = book.snapshotFor(account({}), { exposure: false });
    const exp = book.snapshotFor(account({}), { exposure: true });
    expect([std.approvalExpirySeconds, exp.approvalExpirySeconds]).toEqual([4 * 3600, 30 * 60]);
    expect([std.propagationSeconds, exp.propagationSeconds]).toEqual([300, 60]);
  });

  it("expands groups and matches any identity, case-insensitively; an approvers tag adds nobody", () => {
    const s = book.snapshotFor(account({ approvers: "Erin@Contoso.com" }), { exposure: false });
    expect(isApprover(s, people.bob)).toBe(true);
    expect(isApprover(s, people.carol)).toBe(true);
    expect(isApprover(s, people.erin)).toBe(false);
    expect(s.resolvedApprovers).not.toContain("erin@contoso.com");
    expect(isApprover(s, { ...people.alice, identities: ["slackgroup:s0secops"] })).toBe(true);
  });

  it("break-glass is for named responders only", () => {
    const s = book.snapshotFor(account({}), { exposure: true });
    expect(isBreakGlassResponder(s, people.dave)).toBe(true);
    expect(isBreakGlassResponder(s, people.bob)).toBe(false);
  });

  it("owner comes from the tag first; a cadence tag may shorten the cadence, never lengthen it", () => {
    expect(book.ownerFor(account({ owner: "team@contoso.com" }))).toEqual({
      owner: "team@contoso.com",
      source: "tag",
    });
    expect(book.cadenceDays(account({ "rotation-cadence-days": "30" }))).toBe(30);
    expect(book.cadenceDays(account({ "rotation-cadence-days": "3650" }))).toBe(90);
    expect(book.cadenceDays(account({ "rotation-cadence-days": "0" }))).toBe(90);
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
          expect.stringMatching(
            /^defaults\.approvalsRequired: expected a positive integer, got "two" — write a number such as 2$/,
          ),
          expect.stringMatching(
            /^defaults\.approvalExpiry: expected a duration, got "soon" — write it as 90s, 5m, 4h or 1d$/,
          ),
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
          /defaults\.approvers\[0\]: unknown group "secopz" — did you mean group:secops\?/,
        ),
      ]);
    }
    expect(() => parsePolicy({ defaults: { approvers: ["bob@contoso.com"], approvalsRequired: 2 } })).toThrow(
      /only 1 person/,
    );
    expect(() => parsePolicy({ groups: { secops: [] }, defaults: { approvers: ["group:secops"] } })).toThrow(
      /defaults\.approvers: nobody can approve a rotation/,
    );
    expect(() => parsePolicy({ groups: { secops: [] }, defaults: { approvers: ["group:secops"] } })).toThrow(
      /groups\.secops: nobody is in group secops — add members/,
    );
    expect(() => parsePolicy(null)).toThrow(/nobody can approve/);
  });

  it("lists schema problems and unknown groups together, in one pass", () => {
    let problems: string[] = [];
    try {
      parsePolicy({
        defaults: { approvers: ["group:secopz"], approvalsRequired: "two", soak: "forever" },
        groups: { secops: ["bob@contoso.com"], platform: "carol@contoso.com" },
        policies: [
          {
            name: "prod",
            match: { tag: { environment: "production" } },
            breakGlass: ["group:oncall"],
            approvalsRequired: 3,
            approvers: ["bob@contoso.com", "group:platform"],
          },
        ],
      });
    } catch (e) {
      expect((e as KeyturnError).code).toBe("config_invalid");
      problems = (e as KeyturnError).details.problems as string[];
    }
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^defaults\.approvalsRequired: expected a positive integer/),
        expect.stringMatching(
          /^defaults\.soak: expected a duration, got "forever" — write it as 90s, 5m, 4h or 1d$/,
        ),
        expect.stringMatching(/^groups\.platform: expected a list, got "carol@contoso.com" — write it as \[/),
        expect.stringMatching(
          /^policies\[0\]\.approvalsRequired: 3 approvals, but only 1 person\(s\) can give them/,
        ),
        expect.stringMatching(/^policies\[0\]\.match\.tag: unknown setting — remove it$/),
        expect.stringMatching(
          /^defaults\.approvers\[0\]: unknown group "secopz" — did you mean group:secops\? define it under groups: or remove it/,
        ),
        expect.stringMatching(
          /^policies\[0\]\.breakGlass\[0\]: unknown group "oncall" — define it under groups: or remove it/,
        ),
      ]),
    );
    expect(problems).toHaveLength(7);
  });

  it("refuses more required approvals than distinct approvers, per policy", () => {
    expect(() =>
      parsePolicy({
        defaults: { approvers: ["group:secops"] },
        groups: { secops: ["bob@contoso.com", "BOB@contoso.com"] },
        policies: [{ name: "prod", match: { names: ["*-prod-*"] }, approvalsRequired: 2 }],
      }),
    ).toThrow(
      /policies\[0\]\.approvalsRequired: 2 approvals, but only 1 person\(s\) can give them — add approvers or lower it/,
    );
  });

  it("matches by name glob and subscription; first match wins", () => {
    const b = createPolicyBook(
      parsePolicy({
        defaults: { approvers: ["bob@contoso.com", "carol@contoso.com", "dave@contoso.com"] },
        policies: [
          { name: "by-name", match: { names: ["*-prod-*"] }, approvalsRequired: 3 },
          { name: "by-sub", match: { subscriptions: ["S"] }, approvalsRequired: 2 },
        ],
      }),
    );
    expect(b.snapshotFor({ ...account({}), name: "x-prod-1" }, { exposure: false }).name).toBe("by-name");
    expect(b.snapshotFor(account({}), { exposure: false }).name).toBe("by-sub");
    expect(b.snapshotFor({ ...account({}), subscriptionId: "other" }, { exposure: false }).name).toBe(
      "default",
    );
  });

  it("counts distinct approvers for the current plan, never the requester (separation of duties)", () => {
    const ref = (p: typeof people.bob) => ({ platform: p.platform, id: p.id, displayName: p.displayName });
    const at = "2026-11-22T09:10:00.000Z";
    const approval = (p: typeof people.bob, planHash = standardPlan.hash) => ({
      by: ref(p),
      at,
      planHash,
      afterTheFact: false,
    });
    expect(countedApprovals(change({ approvals: [approval(people.alice)] }))).toBe(0);
    expect(countedApprovals(change({ approvals: [approval(people.bob), approval(people.bob)] }))).toBe(1);
    expect(
      countedApprovals(change({ approvals: [approval(people.bob, "c".repeat(64)), approval(people.carol)] })),
    ).toBe(1);
    expect(
      countedApprovals(
        change({ approvals: [approval(people.bob), approval(people.carol), approval(people.alice)] }),
      ),
    ).toBe(2);
  });

  it("loads the sandbox policy: production needs bob and carol, dave is break-glass, windows are seconds", async () => {
    const { readFile } = await import("node:fs/promises");
    const { parse } = await import("yaml");
    const sandbox = createPolicyBook(
      parsePolicy(parse(await readFile("src/sandbox/scenarios/default-policy.yaml", "utf8"))),
    );
    const prodAccount = {
      ...account({ environment: "staging" }, "rg-ai-prod"),
      subscriptionId: "00000000-0000-4000-8000-0000000000a1",
    };
    const prod = sandbox.snapshotFor(prodAccount, { exposure: false });
    expect(prod).toMatchObject({
      approvalsRequired: 2,
      propagationSeconds: 5,
      soakSeconds: 5,
      approvalExpirySeconds: 4 * 3600,
    });
    const who = (p: typeof people.bob) => sandbox.identify(p);
    expect(isApprover(prod, who(people.bob)) && isApprover(prod, who(people.carol))).toBe(true);
    expect(isApprover(prod, who(people.erin)) || isApprover(prod, who(people.alice))).toBe(false);
    const exp = sandbox.snapshotFor(account({ environment: "production" }), { exposure: true });
    expect(exp).toMatchObject({
      approvalsRequired: 1,
      propagationSeconds: 3,
      soakSeconds: 3,
      approvalExpirySeconds: 30 * 60,
      breakGlassApprovalSeconds: 3600,
    });
    expect(isBreakGlassResponder(exp, who(people.dave))).toBe(true);
  });

  it("reads and writes durations as people do", () => {
    expect(["90s", "5m", "4h", "1d", " 2H ", "1.5h", 30].map(parseDuration)).toEqual([
      90, 300, 14400, 86400, 7200, 5400, 30,
    ]);
    expect(["soon", "5", "-1m", "5 minutes", -3].map(parseDuration)).toEqual([null, null, null, null, null]);
    expect([5, 59.4, 60, 3599, 4 * 3600 + 30 * 60, 7199, 86400 + 7200].map(formatDuration)).toEqual([
      "5 s",
      "59 s",
      "1 min",
      "1 h",
      "4 h 30 min",
      "2 h",
      "1 d 2 h",
    ]);
  });
});
