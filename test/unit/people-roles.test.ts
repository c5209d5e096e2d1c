/**
 * People, not chat accounts, and the authorisation matrix: one person counts once on every
 * platform, never approves their own request, and every role is decided by the policy.
 */
import { describe, expect, it } from "vitest";
import type { Account, Change, Principal } from "../../src/core/domain.js";
import { toRef } from "../../src/core/domain.js";
import { KeyturnError } from "../../src/core/errors.js";
import type { Policy } from "../../src/core/policy.js";
import {
  countedApprovals,
  createPolicyBook,
  isApprover,
  isBreakGlassResponder,
  isOperator,
  parsePolicy,
} from "../../src/core/policy.js";
import { transition } from "../../src/core/workflow.js";
import { change, standardPlan } from "../support/change-fixture.js";

const BOB_OID = "22222222-2222-4222-8222-222222222222";
const raw: Policy = {
  people: {
    alice: { name: "Alice Ng", identities: ["alice@contoso.com", "slack:U0ALICE", "aad:1111"] },
    bob: { name: "Bob Okafor", identities: ["bob@contoso.com", "slack:U0BOB", `aad:${BOB_OID}`] },
    carol: { name: "Carol Diaz", identities: ["carol@contoso.com", "slack:U0CAROL"] },
    dave: { name: "Dave Kim", identities: ["dave@contoso.com"] },
    erin: { name: "Erin Cho", identities: ["erin@contoso.com"] },
  },
  groups: { secops: ["person:bob"], platform: ["person:carol"], auditors: ["person:erin"] },
  defaults: {
    approvers: ["group:secops", "group:platform"],
    breakGlass: ["person:dave"],
    roles: { audit: ["approvers", "group:auditors"] },
  },
  policies: [
    {
      name: "production",
      match: { resourceGroups: ["rg-ai-prod"] },
      approvalsRequired: 2,
      roles: { read: ["approvers", "group:auditors"], consumers: ["person:bob"] },
    },
  ],
};
const book = createPolicyBook(parsePolicy(raw));

const account = (resourceGroup: string, tags: Record<string, string> = {}): Account => ({
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
const prod = account("rg-ai-prod");
const dev = account("rg-ai-dev");

const slack = (user: string, email?: string, team = "T0CONTOSO"): Principal =>
  book.identify({
    platform: "slack",
    id: `slack:${team}:${user}`,
    displayName: user,
    identities: [...(email ? [email] : []), `slack:${user.toLowerCase()}`],
  });
const teams = (oid: string, upn?: string): Principal =>
  book.identify({
    platform: "teams",
    id: `teams:${oid}`,
    displayName: oid,
    identities: [`aad:${oid}`, ...(upn ? [upn] : [])],
  });
const stranger: Principal = book.identify({
  platform: "slack",
  id: "slack:T0CONTOSO:U0MALLORY",
  displayName: "Mallory",
  identities: ["mallory@contoso.com", "slack:u0mallory"],
});

const at = "2026-11-22T09:10:00.000Z";
const awaiting = (over: Partial<Change> = {}): Change =>
  change({
    state: "awaiting_approval",
    requester: toRef(slack("U0ALICE")),
    policy: book.snapshotFor(prod, { exposure: false }),
    approvalDeadline: "2026-11-22T13:00:00.000Z",
    ...over,
  });
const approve = (c: Change, by: Principal) =>
  transition(c, { type: "approved", at, by, planHash: c.plan.hash });

describe("people, not chat accounts", () => {
  it("resolves each platform's identity to the one person the policy defines", () => {
    const bobSlack = slack("U0BOB");
    const bobTeams = teams(BOB_OID);
    expect(bobSlack.person).toBe("person:bob");
    expect(bobTeams.person).toBe("person:bob");
    expect(bobSlack.displayName).toBe("Bob Okafor");
    expect(bobTeams.identities).toContain("person:bob");
    expect(stranger.person).toBeUndefined();
  });

  it("the same person approving from Slack and from Teams counts once", () => {
    const first = approve(awaiting(), slack("U0BOB"));
    expect(first.ok).toBe(true);
    if (!first.ok) return;
    const second = approve(first.change, teams(BOB_OID));
    expect(second.ok).toBe(false);
    if (!second.ok) expect(second.error.code).toBe("already_approved");
    // even if both votes were recorded, they count as one person
    const both = awaiting({
      approvals: [
        { by: toRef(slack("U0BOB")), at, planHash: standardPlan.hash, afterTheFact: false },
        { by: toRef(teams(BOB_OID)), at, planHash: standardPlan.hash, afterTheFact: false },
        {
          by: toRef(slack("U0BOB", undefined, "T0OTHER")),
          at,
          planHash: standardPlan.hash,
          afterTheFact: false,
        },
      ],
    });
    expect(countedApprovals(both)).toBe(1);
  });

  it("a requester cannot approve their own change from the other platform", () => {
    const requestedInSlackByBob = awaiting({ requester: toRef(slack("U0BOB")) });
    const r = approve(requestedInSlackByBob, teams(BOB_OID));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe("self_approval");
    const waived = transition(
      { ...requestedInSlackByBob, state: "paused", plan: { ...standardPlan, pinnedConsumerIds: ["x"] } },
      { type: "consumer_waived", at, by: teams(BOB_OID), consumerId: "x", reason: "r" },
    );
    expect(waived.ok).toBe(false);
    // the requester's own approval recorded from elsewhere never counts
    expect(
      countedApprovals({
        ...requestedInSlackByBob,
        approvals: [{ by: toRef(teams(BOB_OID)), at, planHash: standardPlan.hash, afterTheFact: false }],
      }),
    ).toBe(0);
  });

  it("an e-mail named on its own is the same person on every platform", () => {
    const b = createPolicyBook(
      parsePolicy({ defaults: { approvers: ["bob@contoso.com", "carol@contoso.com"] } }),
    );
    const inSlack = b.identify({
      platform: "slack",
      id: "slack:T:U0BOB",
      displayName: "Bob",
      identities: ["bob@contoso.com", "slack:u0bob"],
    });
    const inTeams = b.identify({
      platform: "teams",
      id: "teams:oid",
      displayName: "Bob",
      identities: ["aad:oid", "bob@contoso.com"],
    });
    expect(inSlack.person).toBe("id:bob@contoso.com");
    expect(inTeams.person).toBe(inSlack.person);
  });

  it("identities that belong to two people are refused until the policy is fixed", () => {
    const confused: Principal = {
      platform: "slack",
      id: "slack:T0CONTOSO:U0BOB",
      displayName: "?",
      identities: ["carol@contoso.com", "slack:u0bob"],
    };
    expect(() => book.identify(confused)).toThrow(KeyturnError);
    expect(() => book.identify(confused)).toThrow(
      /2 different people in the policy \(carol, bob\)|bob, carol/,
    );
  });

  it("a Slack user group counts for roles but never makes anyone a person of its own", () => {
    const b = createPolicyBook(
      parsePolicy({
        defaults: { approvers: ["slackgroup:S0SECOPS"] },
        groups: { x: ["person:p"] },
        people: { p: { identities: ["p@x.com"] } },
      }),
    );
    const member = b.identify({
      platform: "slack",
      id: "slack:T:U9",
      displayName: "U9",
      identities: ["slack:u9", "slackgroup:s0secops"],
    });
    expect(member.person).toBe("id:slack:u9");
    expect(isApprover(b.snapshotFor(dev, { exposure: false }), member)).toBe(true);
  });
});

describe("the authorisation matrix", () => {
  it("reads: everyone the policy names by default; production narrows it", () => {
    expect(book.can("read", slack("U0ALICE"), dev)).toBe(true);
    expect(book.can("read", stranger, dev)).toBe(false);
    expect(book.can("read", slack("U0ALICE"), prod)).toBe(false);
    expect(book.can("read", slack("U0BOB"), prod)).toBe(true);
    expect(book.can("read", book.identify({ ...stranger, identities: ["erin@contoso.com"] }), prod)).toBe(
      true,
    );
  });

  it("`everyone` lets anyone read, and only read", () => {
    const b = createPolicyBook(
      parsePolicy({ defaults: { approvers: ["bob@contoso.com"], roles: { read: ["everyone"] } } }),
    );
    const nobody = b.identify({ platform: "teams", id: "teams:x", displayName: "x", identities: ["aad:x"] });
    expect(b.can("read", nobody, dev)).toBe(true);
    expect(b.can("request", nobody, dev)).toBe(false);
    expect(() =>
      parsePolicy({ defaults: { approvers: ["bob@contoso.com"], roles: { request: ["everyone"] } } }),
    ).toThrow(/defaults\.roles\.request\[0\]: "everyone" cannot hold the request role/);
  });

  it("audit and consumers default to the approvers; a refusal names the role and who holds it", () => {
    expect(book.can("audit", slack("U0BOB"), dev)).toBe(true);
    expect(book.can("audit", book.identify({ ...stranger, identities: ["erin@contoso.com"] }), dev)).toBe(
      true,
    );
    expect(book.can("audit", slack("U0ALICE"), dev)).toBe(false);
    expect(book.can("consumers", slack("U0CAROL"), dev)).toBe(true);
    expect(book.can("consumers", slack("U0CAROL"), prod)).toBe(false);
    expect(book.can("consumers", slack("U0BOB"), prod)).toBe(true);
    let err: KeyturnError | undefined;
    try {
      book.authorize("consumers", slack("U0ALICE"), prod, "Declaring a consumer of a");
    } catch (e) {
      err = e as KeyturnError;
    }
    expect(err?.code).toBe("not_authorised");
    expect(err?.userMessage).toBe(
      'Declaring a consumer of a needs the consumers role for a (policy "production"), which you do not hold. It is held by: Bob Okafor. Ask one of them, or whoever owns the policy file.',
    );
    expect(book.holders("approve", prod)).toBe("Bob Okafor (group:secops); Carol Diaz (group:platform)");
    expect(() => book.authorize("audit", slack("U0BOB"), prod, "x")).not.toThrow();
  });

  it("operate: the requester and the approvers by default; a stranger cannot resume, cancel or roll back", () => {
    const paused: Change = {
      ...awaiting(),
      state: "paused",
      pause: { code: "x", message: "x", stepIndex: 1 },
      currentStep: 1,
    };
    expect(isOperator(paused, slack("U0ALICE"))).toBe(true);
    expect(isOperator(paused, teams("1111"))).toBe(true);
    expect(isOperator(paused, slack("U0BOB"))).toBe(true);
    expect(isOperator(paused, stranger)).toBe(false);
    expect(isOperator(paused, slack("U0DAVE"))).toBe(false);
    for (const event of [
      { type: "resumed", at, by: stranger },
      { type: "cancelled", at, by: stranger },
      { type: "rollback_requested", at, by: stranger },
    ] as const) {
      const r = transition(paused, event);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error.code).toBe("not_authorised");
        expect(r.error.message).toMatch(
          /needs the operate role, which you do not hold\. It is held by: its requester \(Alice Ng\); Bob Okafor/,
        );
      }
    }
    expect(transition(paused, { type: "resumed", at, by: slack("U0ALICE") }).ok).toBe(true);
  });

  it("operators without the requester: the requester alone cannot operate", () => {
    const b = createPolicyBook(
      parsePolicy({
        people: { ops: { identities: ["ops@contoso.com"] } },
        defaults: { approvers: ["bob@contoso.com"], roles: { operate: ["person:ops"] } },
      }),
    );
    const requester = b.identify({
      platform: "console",
      id: "console:a",
      displayName: "a",
      identities: ["a@contoso.com", "console:a"],
    });
    const c: Change = {
      ...change({ requester: toRef(requester) }),
      policy: b.snapshotFor(dev, { exposure: false }),
      state: "paused",
    };
    expect(isOperator(c, requester)).toBe(false);
    expect(
      isOperator(
        c,
        b.identify({
          platform: "console",
          id: "console:o",
          displayName: "o",
          identities: ["ops@contoso.com"],
        }),
      ),
    ).toBe(true);
    expect(
      isOperator(
        c,
        b.identify({
          platform: "console",
          id: "console:b",
          displayName: "b",
          identities: ["bob@contoso.com"],
        }),
      ),
    ).toBe(false);
  });

  it("tags never add approvers or break-glass responders", () => {
    const tagged = account("rg-ai-prod", { approvers: "mallory@contoso.com", environment: "dev" });
    const s = book.snapshotFor(tagged, { exposure: true });
    expect(s.name).toBe("production");
    expect(s.approvalsRequired).toBe(2);
    expect(isApprover(s, book.identify({ ...stranger }))).toBe(false);
    expect(isBreakGlassResponder(s, slack("U0DAVE", "dave@contoso.com"))).toBe(true);
    expect(isBreakGlassResponder(s, stranger)).toBe(false);
  });
});

describe("policy validation of people, groups and roles", () => {
  const problems = (input: unknown): string[] => {
    try {
      parsePolicy(input);
      return [];
    } catch (e) {
      return (e as KeyturnError).details.problems as string[];
    }
  };

  it("lists each mistake with its fix", () => {
    expect(
      problems({
        people: {
          bob: { identities: [] },
          carol: { identities: ["carol@contoso.com", "group:x"] },
          carol2: { identities: ["CAROL@contoso.com"] },
        },
        groups: { empty: [], nested: ["group:empty"] },
        defaults: {
          approvers: ["person:carol", "person:bobb", "carol2@contoso.com"],
          roles: { reed: ["people"], operate: ["everyone"] },
        },
        policies: [{ name: "prod", match: { tags: { environment: "production" } } }],
      }),
    ).toEqual(
      expect.arrayContaining([
        "defaults.roles.reed: unknown setting — did you mean read?",
        "people.bob.identities: bob has no identity — list their e-mail/UPN, slack:U…, aad:<object id> or console:<name>",
        'people.carol.identities[1]: "group:x" is not one person\'s identity — list it under groups: instead',
        'people.carol2.identities[0]: "CAROL@contoso.com" already belongs to carol — an identity may belong to one person only; remove one',
        "groups.empty: nobody is in group empty — add members (person:<key>, e-mail, slack:U…) or remove it",
        "groups.nested[0]: groups cannot contain groups — list the members of empty instead",
        'defaults.approvers[1]: unknown person "bobb" — did you mean person:bob? define them under people: or remove it',
        'defaults.roles.operate[0]: "everyone" cannot hold the operate role — use requester, approvers, people, a group:<name> or a person:<key>',
        'policies[0].match.tags: a policy is chosen by where an account is, never by its tags (anyone with tag-write could pick a weaker policy) — match on resourceGroups: [rg-…], names: ["*-prod-*"] or subscriptions: [...] instead',
      ]),
    );
  });

  it("counts approvers as people: two identities of one person are one approver", () => {
    expect(
      problems({
        people: { bob: { identities: ["bob@contoso.com", "slack:U0BOB"] } },
        defaults: { approvers: ["bob@contoso.com", "slack:U0BOB"], approvalsRequired: 2 },
      }),
    ).toEqual([
      "defaults.approvalsRequired: 2 approvals, but only 1 person(s) can give them — add approvers or lower it",
    ]);
  });

  it("matches resource groups and names by glob, subscriptions exactly; every condition must hold", () => {
    const b = createPolicyBook(
      parsePolicy({
        defaults: { approvers: ["bob@contoso.com"] },
        policies: [
          { name: "both", match: { resourceGroups: ["rg-*-prod"], names: ["x-*"] } },
          { name: "rg", match: { resourceGroups: ["rg-*-prod"] } },
          { name: "sub", match: { subscriptions: ["S"] } },
        ],
      }),
    );
    expect(b.snapshotFor({ ...account("rg-ai-prod"), name: "x-1" }, { exposure: false }).name).toBe("both");
    expect(b.snapshotFor({ ...account("rg-ai-prod"), name: "y-1" }, { exposure: false }).name).toBe("rg");
    expect(b.snapshotFor(account("rg-ai-dev"), { exposure: false }).name).toBe("sub");
    expect(b.snapshotFor({ ...account("rg-ai-dev"), subscriptionId: "t" }, { exposure: false }).name).toBe(
      "default",
    );
  });
});

describe("including a NEW holder", () => {
  const excludedPlan = { ...standardPlan, excludedConsumerIds: ["kv:v/planted"] };
  const exposure = (over: Partial<Change> = {}): Change =>
    awaiting({ exposure: true, plan: excludedPlan, ...over });
  const include = (c: Change, by: Principal, consumerId = "kv:v/planted") =>
    transition(c, { type: "consumer_included", at, by, consumerId, reason: "the batch job's own secret" });

  it("an approver other than the requester includes an excluded holder, once", () => {
    const r = include(exposure(), teams(BOB_OID));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.change.includedConsumerIds).toEqual(["kv:v/planted"]);
    expect(r.effects.map((e) => e.type)).toEqual(["render", "notice"]);
    const again = include(r.change, slack("U0BOB"));
    expect(again.ok && again.change.includedConsumerIds).toEqual(["kv:v/planted"]);
    expect(again.ok && again.effects).toEqual([]);
  });

  it("the requester (on any platform), a non-approver and a holder that is not excluded are refused", () => {
    const byRequester = include(exposure({ requester: toRef(slack("U0BOB")) }), teams(BOB_OID));
    expect(!byRequester.ok && byRequester.error.code).toBe("not_authorised");
    const byReader = include(exposure(), slack("U0ALICE", "alice@contoso.com"));
    expect(!byReader.ok && byReader.error.code).toBe("not_authorised");
    const notExcluded = include(exposure(), slack("U0BOB"), "kv:contoso-kv/translator-key");
    expect(!notExcluded.ok && notExcluded.error.userMessage).toMatch(/nothing to include/);
  });

  it("is refused once publish has delivered, and an included holder can still be waived", () => {
    const published = exposure({
      state: "running",
      currentStep: 3,
      steps: [0, 1, 2].map((index) => ({
        index,
        kind: standardPlan.steps[index]!.kind,
        startedAt: at,
        finishedAt: at,
        outcome: "succeeded" as const,
        rollback: "",
        actor: "keyturn",
      })),
    });
    const late = include(published, slack("U0BOB"));
    expect(!late.ok && late.error.userMessage).toMatch(/already published the new key/);
    const waived = transition(
      { ...published, includedConsumerIds: ["kv:v/planted"] },
      { type: "consumer_waived", at, by: slack("U0CAROL"), consumerId: "kv:v/planted", reason: "gone" },
    );
    expect(waived.ok).toBe(true);
  });
});

describe("Slack guests", () => {
  it("are identified by their e-mail only where the policy allows it", () => {
    expect(book.allowsSlackGuests()).toBe(false);
    const allowing = createPolicyBook(
      parsePolicy({ allowSlackGuests: true, defaults: { approvers: ["bob@contoso.com"] } }),
    );
    expect(allowing.allowsSlackGuests()).toBe(true);
    expect(() =>
      parsePolicy({ allowSlackGuests: "yes", defaults: { approvers: ["bob@contoso.com"] } }),
    ).toThrow(/allowSlackGuests: expected true or false, got "yes" — write allowSlackGuests: true/);
  });
});

describe("what an approval records", () => {
  it("the policy entry that made the approver eligible, and the policy's hash in the snapshot", () => {
    const bob = approve(awaiting(), teams(BOB_OID));
    expect(bob.ok && bob.change.approvals[0]?.eligibleAs).toBe("group:secops");
    const b = createPolicyBook(
      parsePolicy({ defaults: { approvers: ["carol@contoso.com", "slackgroup:S0SEC"] } }),
    );
    const snap = b.snapshotFor(dev, { exposure: false });
    const carol = b.identify({
      platform: "console",
      id: "console:c",
      displayName: "c",
      identities: ["CAROL@contoso.com"],
    });
    const member = b.identify({
      platform: "slack",
      id: "slack:T:U9",
      displayName: "u",
      identities: ["slack:u9", "slackgroup:s0sec"],
    });
    const r1 = approve({ ...awaiting(), policy: snap }, carol);
    expect(r1.ok && r1.change.approvals[0]?.eligibleAs).toBe("carol@contoso.com");
    const r2 = approve({ ...awaiting(), policy: snap }, member);
    expect(r2.ok && r2.change.approvals[0]?.eligibleAs).toBe("slackgroup:S0SEC");
    expect(snap.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(book.snapshotFor(dev, { exposure: false }).hash).not.toBe(snap.hash);
    expect(b.snapshotFor(prod, { exposure: true }).hash).toBe(snap.hash);
  });
});

describe("rules that close gaps", () => {
  it("a policy whose approvers list is empty is refused, naming the fix", () => {
    expect(() =>
      parsePolicy({
        defaults: { approvers: ["bob@contoso.com"] },
        policies: [{ name: "prod", match: { names: ["*-prod"] }, approvers: [] }],
      }),
    ).toThrow(/policies\[0\]\.approvers: nobody can approve a rotation of the accounts it matches/);
  });

  it("an identity spelled like a role word matches nothing", () => {
    const b = createPolicyBook(
      parsePolicy({
        defaults: { approvers: ["bob@contoso.com"], roles: { read: ["people"], operate: ["requester"] } },
      }),
    );
    const odd: Principal = {
      platform: "console",
      id: "console:x",
      displayName: "x",
      identities: ["people", "requester"],
    };
    expect(b.can("read", b.identify(odd), dev)).toBe(false);
    const c: Change = { ...change(), policy: b.snapshotFor(dev, { exposure: false }), state: "paused" };
    expect(isOperator(c, odd)).toBe(false);
  });

  it("a late failure report from another step is refused", () => {
    const running: Change = { ...awaiting(), state: "running", currentStep: 3 };
    const r = transition(running, {
      type: "step_failed",
      at,
      index: 1,
      code: "azure_transient",
      message: "late",
      evidence: { index: 1, kind: "regenerate_standby", startedAt: at, rollback: "", actor: "keyturn" },
    });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe("invalid_state");
  });
});

describe("what the card shows", () => {
  it("names the approvers as people, not policy ids", async () => {
    const { renderChangeCard } = await import("../../src/core/render/change.js");
    const card = renderChangeCard(awaiting());
    expect(card.fields?.find((f) => f.label === "Approvers")?.value).toBe(
      "secops: Bob Okafor; platform: Carol Diaz",
    );
  });
});
