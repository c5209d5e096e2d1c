/**
 * The policy's rules one by one: which policy applies where (location only), who holds each role,
 * how a chat identity becomes a person (and cannot claim to be someone else), who counts as an
 * approver, an operator or the requester, and which policy files are refused and why.
 */
import { beforeEach, describe, expect, it } from "vitest";
import type { Account, Change, Principal, PrincipalRef } from "../../src/core/domain.js";
import { KeyturnError } from "../../src/core/errors.js";
import type { Policy, PolicyBook } from "../../src/core/policy.js";
import {
  countedApprovals,
  createPolicyBook,
  isApprover,
  isBreakGlassResponder,
  isOperator,
  isRequester,
  matchesLocation,
  parsePolicy,
} from "../../src/core/policy.js";
import { change, policy as snapshot, standardPlan } from "../support/change-fixture.js";

const account = (over: Partial<Account> = {}): Account => ({
  id: "/subscriptions/sub-a/resourceGroups/rg-ai-dev/providers/Microsoft.CognitiveServices/accounts/x-dev-1",
  subscriptionId: "sub-a",
  resourceGroup: "rg-ai-dev",
  name: "x-dev-1",
  kind: "OpenAI",
  location: "westeurope",
  endpoint: "https://x/",
  disableLocalAuth: false,
  provisioningState: "Succeeded",
  tags: {},
  ...over,
});
const who = (identities: string[], over: Partial<Principal> = {}): Principal => ({
  platform: "slack",
  id: `slack:T1:${identities[0] ?? "nobody"}`,
  displayName: "someone",
  identities,
  ...over,
});
const problems = (input: unknown): string[] => {
  try {
    parsePolicy(input);
    return [];
  } catch (e) {
    expect((e as KeyturnError).code).toBe("config_invalid");
    return (e as KeyturnError).details.problems as string[];
  }
};
const refusal = (fn: () => unknown): KeyturnError => {
  try {
    fn();
  } catch (e) {
    return e as KeyturnError;
  }
  throw new Error("expected a refusal");
};

describe("matching a policy by location", () => {
  const match = matchesLocation;

  it("every condition must hold; any entry of a condition may match", () => {
    const m = {
      subscriptions: ["SUB-X", "sub-a"],
      resourceGroups: ["rg-none", "rg-ai-*"],
      names: ["q", "x-*"],
    };
    expect(match(m, account())).toBe(true);
    expect(match(m, account({ subscriptionId: "sub-b" }))).toBe(false);
    expect(match(m, account({ resourceGroup: "rg-web-dev" }))).toBe(false);
    expect(match(m, account({ name: "y-dev-1" }))).toBe(false);
    expect(match({}, account())).toBe(true);
  });

  it("subscriptions match exactly, ignoring case", () => {
    expect(match({ subscriptions: ["Sub-A"] }, account())).toBe(true);
    expect(match({ subscriptions: ["sub-a"] }, account({ subscriptionId: "SUB-A" }))).toBe(true);
    expect(match({ subscriptions: ["sub"] }, account())).toBe(false);
    expect(match({ subscriptions: ["sub-a-2"] }, account())).toBe(false);
    expect(match({ subscriptions: [] }, account())).toBe(false);
  });

  it("resource groups and names are whole-string globs, case-insensitive: * is any run, ? one character", () => {
    expect(match({ resourceGroups: ["RG-AI-DEV"] }, account())).toBe(true);
    expect(match({ resourceGroups: ["rg-ai"] }, account())).toBe(false);
    expect(match({ resourceGroups: ["ai-dev"] }, account())).toBe(false);
    expect(match({ resourceGroups: ["rg-??-dev"] }, account())).toBe(true);
    expect(match({ resourceGroups: ["rg-?-dev"] }, account())).toBe(false);
    expect(match({ names: ["*-dev-*"] }, account())).toBe(true);
    expect(match({ names: ["*-prod-*"] }, account())).toBe(false);
    // regular-expression characters are literal
    expect(match({ names: ["x.dev.1"] }, account())).toBe(false);
    expect(match({ names: ["x.dev.1"] }, account({ name: "x.dev.1" }))).toBe(true);
    expect(match({ names: ["a+b"] }, account({ name: "aab" }))).toBe(false);
    expect(match({ names: ["a+b"] }, account({ name: "a+b" }))).toBe(true);
    expect(match({ names: ["(a|b)"] }, account({ name: "a" }))).toBe(false);
    expect(match({ names: ["[ab]"] }, account({ name: "a" }))).toBe(false);
    expect(match({ names: ["a{2}"] }, account({ name: "aa" }))).toBe(false);
    expect(match({ names: ["^a$"] }, account({ name: "^a$" }))).toBe(true);
    expect(match({ names: ["a\\d"] }, account({ name: "a1" }))).toBe(false);
  });

  it("the first matching policy applies, else the defaults", () => {
    const b = createPolicyBook(
      parsePolicy({
        defaults: { approvers: ["a@x.com", "b@x.com", "c@x.com"] },
        policies: [
          { name: "first", match: { names: ["x-*"] }, approvalsRequired: 3 },
          { name: "second", match: { resourceGroups: ["rg-ai-dev"] }, approvalsRequired: 2 },
        ],
      }),
    );
    expect(b.snapshotFor(account(), { exposure: false })).toMatchObject({
      name: "first",
      approvalsRequired: 3,
    });
    expect(b.snapshotFor(account({ name: "y" }), { exposure: false })).toMatchObject({
      name: "second",
      approvalsRequired: 2,
    });
    expect(b.snapshotFor(account({ name: "y", resourceGroup: "rg" }), { exposure: false })).toMatchObject({
      name: "default",
      approvalsRequired: 1,
    });
  });
});

describe("the policy snapshot", () => {
  const raw: Policy = {
    people: {
      Bob: { name: "Bob Okafor", identities: [" Bob@Contoso.com ", "slack:U0BOB"] },
      carol: { identities: ["carol@contoso.com"] },
    },
    groups: { secops: ["person:bob", "slackgroup:S0SEC"], oncall: ["dave@contoso.com"] },
    defaults: {
      approvers: ["group:secops", "person:carol"],
      breakGlass: ["group:oncall"],
      approvalExpiry: "2h",
      exposureApprovalExpiry: "20m",
      breakGlassApprovalWithin: "45m",
      propagation: "4m",
      exposurePropagation: "2m",
      soak: "10m",
      exposureSoak: "3m",
      cadenceDays: 60,
      owner: "ai-team@contoso.com",
    },
    policies: [
      {
        name: "prod",
        match: { resourceGroups: ["rg-ai-prod"] },
        approvalsRequired: 2,
        soak: "30m",
        owner: undefined,
        roles: { operate: ["approvers"] },
      },
    ],
  };
  // books are made in each test (not while the file loads), so that a mutant of the policy code is active when they are made
  let book: PolicyBook;
  beforeEach(() => {
    book = createPolicyBook(parsePolicy(raw));
  });

  it("takes every setting from the matching policy over the defaults, exposure from the short windows", () => {
    const std = book.snapshotFor(account(), { exposure: false });
    expect(std).toMatchObject({
      name: "default",
      approvers: ["group:secops", "person:carol"],
      resolvedApprovers: expect.arrayContaining([
        "person:bob",
        "slackgroup:s0sec",
        "person:carol",
        "bob@contoso.com",
        "slack:u0bob",
        "carol@contoso.com",
      ]),
      approvalsRequired: 1,
      approvalExpirySeconds: 7200,
      breakGlass: ["dave@contoso.com"],
      breakGlassApprovalSeconds: 2700,
      propagationSeconds: 240,
      soakSeconds: 600,
      cadenceDays: 60,
      operators: [
        "requester",
        "person:bob",
        "slackgroup:s0sec",
        "person:carol",
        "bob@contoso.com",
        "slack:u0bob",
        "carol@contoso.com",
      ],
      approverNames: "Bob Okafor or members of Slack user group S0SEC (group:secops); carol",
      operatorNames:
        "the change's requester; Bob Okafor or members of Slack user group S0SEC (group:secops); carol",
    });
    expect(std.resolvedApprovers).toHaveLength(6);
    const exp = book.snapshotFor(account(), { exposure: true });
    expect(exp).toMatchObject({ approvalExpirySeconds: 1200, propagationSeconds: 120, soakSeconds: 180 });
    const prod = book.snapshotFor(account({ resourceGroup: "rg-ai-prod" }), { exposure: false });
    expect(prod).toMatchObject({
      name: "prod",
      approvalsRequired: 2,
      soakSeconds: 1800,
      propagationSeconds: 240,
      approvalExpirySeconds: 7200,
    });
    // an unset setting of a policy does not blank the default
    expect(book.ownerFor(account({ resourceGroup: "rg-ai-prod" }))).toEqual({
      owner: "ai-team@contoso.com",
      source: "policy",
    });
    // operate: [approvers] is the approvers, not the requester
    expect(prod.operators).not.toContain("requester");
    expect(prod.operators).toContain("carol@contoso.com");
  });

  it("group members and approvers are matched trimmed and lower-cased", () => {
    const b = createPolicyBook(
      parsePolicy({ groups: { g: [" Bob@X.com "] }, defaults: { approvers: ["group:g", " Carol@X.com "] } }),
    );
    expect(b.snapshotFor(account(), { exposure: false }).resolvedApprovers).toEqual([
      "bob@x.com",
      "carol@x.com",
    ]);
  });

  it("built-in windows when the policy names none", () => {
    const b = createPolicyBook(parsePolicy({ defaults: { approvers: ["a@x.com"] } }));
    expect(b.snapshotFor(account(), { exposure: false })).toMatchObject({
      name: "default",
      approvalsRequired: 1,
      approvalExpirySeconds: 4 * 3600,
      breakGlass: [],
      breakGlassApprovalSeconds: 3600,
      propagationSeconds: 300,
      soakSeconds: 900,
      cadenceDays: 90,
    });
    expect(b.snapshotFor(account(), { exposure: true })).toMatchObject({
      approvalExpirySeconds: 30 * 60,
      propagationSeconds: 60,
      soakSeconds: 300,
    });
    expect(b.ownerFor(account())).toBeNull();
    expect(b.ownerFor(account({ tags: { owner: "me@x.com" } }))).toEqual({
      owner: "me@x.com",
      source: "tag",
    });
  });

  it("a cadence tag may only shorten the cadence, and only with a positive whole number", () => {
    const c = (tag: string) => book.cadenceDays(account({ tags: { "rotation-cadence-days": tag } }));
    expect([c("30"), c("60"), c("61"), c("0"), c("-5"), c("1.5"), c("soon"), c("1")]).toEqual([
      30, 60, 60, 60, 60, 60, 60, 1,
    ]);
  });

  it("lists the platform groups named anywhere, lower-cased, once", () => {
    const b = createPolicyBook(
      parsePolicy({
        groups: { g: ["slackgroup:S1", "a@x.com"] },
        defaults: {
          approvers: ["slackgroup:S2", "group:g"],
          breakGlass: ["slackgroup:S3"],
          roles: { read: ["slackgroup:S4"] },
        },
        policies: [
          {
            name: "p",
            match: { names: ["p"] },
            approvers: ["slackgroup:S5", "SLACKGROUP:S1"],
            breakGlass: ["slackgroup:S6"],
            roles: { audit: ["slackgroup:S7"] },
          },
        ],
      }),
    );
    expect(b.platformGroups().sort()).toEqual([1, 2, 3, 4, 5, 6, 7].map((n) => `slackgroup:s${n}`));
  });
});

describe("who holds a role", () => {
  const raw: Policy = {
    people: {
      alice: { name: "Alice Ng", identities: ["alice@contoso.com", "slack:U0ALICE"] },
      bob: { name: "Bob Okafor", identities: ["bob@contoso.com", "aad:b0b"] },
      erin: { identities: ["erin@contoso.com"] },
    },
    groups: { secops: ["person:bob"], auditors: ["person:erin", "frank@contoso.com"] },
    defaults: {
      approvers: ["group:secops"],
      breakGlass: ["dave@contoso.com"],
      roles: { audit: ["approvers", "group:auditors"], request: ["people"], read: ["everyone"] },
    },
    policies: [
      {
        name: "locked",
        match: { resourceGroups: ["rg-locked"] },
        approvers: ["person:bob", "carol@contoso.com"],
        roles: { read: ["group:auditors"], request: ["person:alice"], operate: ["person:erin"] },
      },
    ],
  };
  const locked = account({ resourceGroup: "rg-locked" });
  let book: PolicyBook;
  let alice: Principal, bob: Principal, erin: Principal, frank: Principal, stranger: Principal;
  const id = (identities: string[]) => book.identify(who(identities));
  beforeEach(() => {
    book = createPolicyBook(parsePolicy(raw));
    alice = id(["slack:u0alice"]);
    bob = id(["aad:b0b"]);
    erin = id(["erin@contoso.com"]);
    frank = id(["Frank@Contoso.com"]);
    stranger = id(["mallory@contoso.com"]);
  });

  it("everyone may read where the policy says everyone; elsewhere only those named", () => {
    expect(book.can("read", stranger, account())).toBe(true);
    expect(book.can("read", stranger, null)).toBe(true);
    expect(book.can("read", stranger, locked)).toBe(false);
    expect(book.can("read", alice, locked)).toBe(false);
    expect(book.can("read", frank, locked)).toBe(true);
    expect(book.can("read", erin, locked)).toBe(true);
  });

  it("`people` is anyone the policy resolves to a person, never a stranger", () => {
    expect(book.can("request", alice, account())).toBe(true);
    expect(book.can("request", frank, account())).toBe(true);
    expect(book.can("request", stranger, account())).toBe(false);
    expect(book.can("request", { ...stranger, person: undefined }, null)).toBe(false);
    expect(book.can("request", bob, locked)).toBe(false);
    expect(book.can("request", alice, locked)).toBe(true);
  });

  it("approve follows the matching policy's approvers; a person stands for all their identities", () => {
    expect(book.can("approve", bob, account())).toBe(true);
    expect(book.can("approve", alice, account())).toBe(false);
    expect(book.can("approve", id(["carol@contoso.com"]), account())).toBe(false);
    expect(book.can("approve", id(["CAROL@contoso.com"]), locked)).toBe(true);
    expect(book.can("approve", bob, locked)).toBe(true);
    // one matching identity among others is enough
    expect(book.can("approve", who(["slack:u0zzz", "aad:other", "carol@contoso.com"]), locked)).toBe(true);
    expect(book.can("approve", who(["slack:u0zzz", "aad:other"]), locked)).toBe(false);
    // bob's identity without the policy's person (e.g. before identify) still matches
    expect(book.can("approve", who(["BOB@contoso.com"]), locked)).toBe(true);
  });

  it("`approvers` in a role means the matching policy's approvers", () => {
    expect(book.can("audit", bob, account())).toBe(true);
    expect(book.can("audit", erin, account())).toBe(true);
    expect(book.can("audit", alice, account())).toBe(false);
    expect(book.can("audit", id(["carol@contoso.com"]), locked)).toBe(true);
    expect(book.can("audit", id(["carol@contoso.com"]), account())).toBe(false);
  });

  it("safe defaults: consumers and operate for the approvers (and the requester), not for people", () => {
    expect(book.can("consumers", bob, account())).toBe(true);
    expect(book.can("consumers", alice, account())).toBe(false);
    expect(book.can("operate", bob, account())).toBe(true);
    expect(book.can("operate", alice, account())).toBe(false);
    expect(book.can("operate", erin, locked)).toBe(true);
    expect(book.can("operate", bob, locked)).toBe(false);
    const plain = createPolicyBook(parsePolicy({ defaults: { approvers: ["bob@contoso.com"] } }));
    const pAlice = plain.identify(who(["alice@contoso.com"]));
    expect(plain.can("read", plain.identify(who(["bob@contoso.com"])), null)).toBe(true);
    expect(plain.can("request", plain.identify(who(["bob@contoso.com"])), null)).toBe(true);
    expect(plain.can("read", pAlice, null)).toBe(false);
    expect(plain.can("audit", plain.identify(who(["bob@contoso.com"])), null)).toBe(true);
    expect(plain.snapshotFor(account(), { exposure: false }).operators).toEqual([
      "requester",
      "bob@contoso.com",
    ]);
  });

  it("a refusal names the role, the policy and who holds it, by name", () => {
    const e = refusal(() => book.authorize("operate", bob, locked, "Resuming CHG-9"));
    expect(e.code).toBe("not_authorised");
    expect(e.userMessage).toBe(
      'Resuming CHG-9 needs the operate role for x-dev-1 (policy "locked"), which you do not hold. It is held by: erin. Ask one of them, or whoever owns the policy file.',
    );
    expect(e.details).toEqual({ role: "operate" });
    const fleet = refusal(() => book.authorize("request", stranger, null, "Rotating"));
    expect(fleet.userMessage).toBe(
      "Rotating needs the request role, which you do not hold. It is held by: everyone the policy names. Ask one of them, or whoever owns the policy file.",
    );
    expect(() => book.authorize("request", alice, null, "Rotating")).not.toThrow();
  });

  it("describes holders in words", () => {
    expect(book.holders("read", account())).toBe("everyone");
    expect(book.holders("audit", account())).toBe(
      "Bob Okafor (group:secops); erin or frank@contoso.com (group:auditors)",
    );
    expect(book.holders("operate", account())).toBe("the change's requester; Bob Okafor (group:secops)");
    expect(book.holders("approve", locked)).toBe("Bob Okafor; carol@contoso.com");
    expect(book.holders("breakGlass", account())).toBe("dave@contoso.com");
    expect(book.holders("consumers", locked)).toBe("Bob Okafor; carol@contoso.com");
    // (a book made without validation, to see the words for entries the policy does not define)
    const named = createPolicyBook({
      people: { bob: { name: "Bob Okafor", identities: ["bob@contoso.com"] } },
      groups: { none: ["person:ghost"] },
      defaults: { approvers: ["BOB@contoso.com", "group:none"], roles: { audit: ["people"] } },
    });
    expect(named.holders("approve", null)).toBe("Bob Okafor; ghost (group:none)");
    expect(named.holders("audit", null)).toBe("everyone the policy names");
    expect(createPolicyBook({ defaults: { approvers: [] } }).holders("approve", null)).toBe("nobody");
    expect(createPolicyBook({}).holders("approve", null)).toBe("nobody");
    expect(createPolicyBook({}).holders("breakGlass", null)).toBe("nobody");
    const empty = createPolicyBook({});
    expect(empty.platformGroups()).toEqual([]);
    expect(empty.snapshotFor(account(), { exposure: false })).toMatchObject({
      name: "default",
      approvers: [],
    });
    expect(empty.identify(who(["a@x.com"])).person).toBeUndefined();
    // role words written loosely still mean the words
    const loose = createPolicyBook(
      parsePolicy({
        defaults: { approvers: ["bob@contoso.com"], roles: { audit: [" Approvers "], read: [" Everyone "] } },
      }),
    );
    expect(loose.can("audit", loose.identify(who(["bob@contoso.com"])), null)).toBe(true);
    expect(loose.holders("audit", null)).toBe("bob@contoso.com");
    expect(loose.holders("read", null)).toBe("everyone");
  });
});

describe("a chat identity becomes a person", () => {
  let book: PolicyBook;
  beforeEach(() => {
    book = createPolicyBook(
      parsePolicy({
        people: {
          bob: { name: "Bob Okafor", identities: ["bob@contoso.com", "slack:U0BOB", "aad:b0b"] },
          carol: { identities: ["carol@contoso.com"] },
        },
        groups: { secops: ["person:bob", "person:carol", "slackgroup:S0SEC", "Erin@Contoso.com"] },
        defaults: { approvers: ["group:secops", "slack:U0GUEST", "console:ops"] },
      }),
    );
  });

  it("by any of the person's identities, in any case, keeping the platform's own", () => {
    const p = book.identify(who(["SLACK:U0BOB"], { displayName: "bobo" }));
    expect(p).toEqual({
      platform: "slack",
      id: "slack:T1:SLACK:U0BOB",
      displayName: "Bob Okafor",
      identities: ["SLACK:U0BOB", "person:bob"],
      person: "person:bob",
    });
    // a person without a display name keeps the platform's
    expect(book.identify(who(["carol@contoso.com"], { displayName: "C" })).displayName).toBe("C");
  });

  it("never takes a person from what the caller claims: person: identities and a preset person are dropped", () => {
    const claims = book.identify(
      who(["mallory@contoso.com", "person:bob", "PERSON:carol"], { person: "person:bob" }),
    );
    expect(claims.person).toBeUndefined();
    expect(claims.identities).toEqual(["mallory@contoso.com"]);
    expect(book.can("approve", claims, null)).toBe(false);
    expect(isApprover(book.snapshotFor(account(), { exposure: false }), claims)).toBe(false);
    // a group name is not a personal identity either
    expect(book.identify(who(["group:secops"])).person).toBeUndefined();
    expect(book.identify(who(["slackgroup:s0sec"])).person).toBe(undefined);
  });

  it("refuses identities that belong to two people, naming the count", () => {
    const e = refusal(() => book.identify(who(["bob@contoso.com", "Carol@contoso.com"])));
    expect(e.code).toBe("not_authorised");
    expect(e.userMessage).toMatch(
      /^Your chat identities belong to 2 different people in the policy \(bob, carol\)\./,
    );
    // two identities of one person are one person
    expect(book.identify(who(["bob@contoso.com", "aad:b0b"])).person).toBe("person:bob");
  });

  it("an identity named on its own is a person: the e-mail if there is one, else the first personal identity", () => {
    expect(book.identify(who(["slack:u9", "slackgroup:s0sec"])).person).toBe("id:slack:u9");
    expect(book.identify(who(["slackgroup:s0sec", "slack:u9", "erin@contoso.com"])).person).toBe(
      "id:erin@contoso.com",
    );
    expect(book.identify(who(["slack:u0guest", "guest@contoso.com"])).person).toBe("id:guest@contoso.com");
    expect(book.identify(who(["console:ops", "slack:u1"])).person).toBe("id:console:ops");
    // an address-like chat id is no e-mail: the e-mail is still preferred
    for (const prefix of ["slack:", "slackgroup:", "aad:", "console:", "group:", "person:"])
      expect(book.identify(who([`${prefix}ops@x.com`, "erin@contoso.com"])).person).toBe(
        "id:erin@contoso.com",
      );
    // only a group the policy names: no personal identity to be
    expect(book.identify(who(["slackgroup:S0SEC"]))).toEqual({
      platform: "slack",
      id: "slack:T1:slackgroup:S0SEC",
      displayName: "someone",
      identities: ["slackgroup:S0SEC"],
    });
    // somebody the policy does not name is nobody
    const nobody = book.identify(who(["zed@contoso.com", "slack:u0zed"], { person: "id:zed@contoso.com" }));
    expect(nobody).toEqual({
      platform: "slack",
      id: "slack:T1:zed@contoso.com",
      displayName: "someone",
      identities: ["zed@contoso.com", "slack:u0zed"],
    });
  });

  it("a role token is never an identity: a user called `people` is nobody", () => {
    const b = createPolicyBook(
      parsePolicy({ defaults: { approvers: ["bob@contoso.com"], roles: { read: ["people", "everyone"] } } }),
    );
    expect(b.identify(who(["people"])).person).toBeUndefined();
    expect(b.identify(who(["everyone"])).person).toBeUndefined();
  });

  it("everyone named anywhere in the policy is a person: group members, roles, break-glass, each policy", () => {
    const b = createPolicyBook(
      parsePolicy({
        groups: { g: ["g@x.com"] },
        defaults: { approvers: ["a@x.com"], breakGlass: ["bg@x.com"], roles: { audit: ["au@x.com"] } },
        policies: [
          {
            name: "p",
            match: { names: ["p"] },
            approvers: ["pa@x.com"],
            breakGlass: ["pbg@x.com"],
            roles: { consumers: ["pc@x.com"] },
          },
        ],
      }),
    );
    for (const email of ["g@x.com", "a@x.com", "bg@x.com", "au@x.com", "pa@x.com", "pbg@x.com", "pc@x.com"])
      expect(b.identify(who([email])).person).toBe(`id:${email}`);
    expect(b.identify(who(["z@x.com"])).person).toBeUndefined();
  });
});

describe("approvers, break-glass responders, operators and the requester", () => {
  const ref = (id: string, person?: string): PrincipalRef => ({
    platform: "slack",
    id,
    displayName: id,
    ...(person ? { person } : {}),
  });

  it("an approver or responder matches on any identity, ignoring case", () => {
    const s = { ...snapshot, resolvedApprovers: ["Bob@Contoso.com"], breakGlass: ["Dave@Contoso.com"] };
    expect(isApprover(s, who(["x", "BOB@contoso.com"]))).toBe(true);
    expect(isApprover(s, who(["dave@contoso.com"]))).toBe(false);
    expect(isBreakGlassResponder(s, who(["x", "DAVE@contoso.com"]))).toBe(true);
    expect(isBreakGlassResponder(s, who(["bob@contoso.com"]))).toBe(false);
  });

  it("operators: the requester token means the same person, on any platform", () => {
    const c: Change = change({
      requester: ref("slack:T1:U1", "person:alice"),
      policy: { ...snapshot, operators: ["Requester", "OPS@contoso.com"] },
    });
    expect(isOperator(c, who(["aad:a"], { id: "teams:a", person: "person:alice" }))).toBe(true);
    expect(isOperator(c, who(["ops@contoso.com"]))).toBe(true);
    expect(isOperator(c, who(["x@contoso.com"], { person: "person:x" }))).toBe(false);
    // without the token the requester is no operator
    const noToken: Change = { ...c, policy: { ...snapshot, operators: ["ops@contoso.com"] } };
    expect(isOperator(noToken, who(["aad:a"], { person: "person:alice" }))).toBe(false);
    // `people`: any person, never a stranger
    const people: Change = { ...c, policy: { ...snapshot, operators: ["People"] } };
    expect(isOperator(people, who(["x"], { person: "id:x" }))).toBe(true);
    expect(isOperator(people, who(["x"]))).toBe(false);
  });

  it("operators of a change recorded before roles: the requester or an approver", () => {
    const c = change({ requester: ref("slack:T1:U1"), policy: { ...snapshot, operators: undefined } });
    expect(isOperator(c, who(["aad:x"], { id: "slack:T1:U1" }))).toBe(true);
    expect(isOperator(c, who(["carol@contoso.com"]))).toBe(true);
    expect(isOperator(c, who(["erin@contoso.com"]))).toBe(false);
  });

  it("the requester is the same person on any platform, or the same chat account when the policy knows nobody", () => {
    const c = change({ requester: ref("slack:T1:U1", "person:alice") });
    expect(isRequester(c, ref("teams:a", "person:alice"))).toBe(true);
    expect(isRequester(c, ref("slack:T1:U1", "person:bob"))).toBe(false);
    const anon = change({ requester: ref("slack:T1:U1") });
    expect(isRequester(anon, ref("slack:T1:U1"))).toBe(true);
    expect(isRequester(anon, ref("slack:T2:U1"))).toBe(false);
  });

  it("counts one approval per person, for the current plan, never the requester's", () => {
    const a = (by: PrincipalRef, planHash = standardPlan.hash) => ({
      by,
      at: "2026-11-22T09:10:00.000Z",
      planHash,
      afterTheFact: false,
    });
    const c = (approvals: ReturnType<typeof a>[]) =>
      countedApprovals(change({ requester: ref("slack:T1:U1", "person:alice"), approvals }));
    expect(c([])).toBe(0);
    expect(c([a(ref("slack:T1:U2", "person:bob")), a(ref("teams:b", "person:bob"))])).toBe(1);
    expect(c([a(ref("slack:T1:U2", "person:bob")), a(ref("slack:T1:U3", "person:carol"))])).toBe(2);
    expect(c([a(ref("teams:a", "person:alice")), a(ref("slack:T1:U3"))])).toBe(1);
    expect(c([a(ref("slack:T1:U2", "person:bob"), "c".repeat(64)), a(ref("slack:T1:U3"))])).toBe(1);
    // two chat accounts the policy does not know are two (nothing says they are one person)
    expect(c([a(ref("slack:T1:U4")), a(ref("slack:T1:U5"))])).toBe(2);
  });
});

describe("policy files that are refused, with their fixes", () => {
  it("accepts a sound policy and returns it", () => {
    const input = {
      people: { bob: { identities: ["bob@contoso.com", "bob@contoso.com"] } },
      defaults: { approvers: ["person:bob"] },
    };
    expect(parsePolicy(input)).toEqual(input);
  });

  it("role words: each role takes only the words that make sense for it", () => {
    const allowed: Record<string, string[]> = {
      read: ["everyone", "people", "approvers"],
      request: ["people", "approvers"],
      operate: ["requester", "approvers", "people"],
      consumers: ["approvers", "people"],
      audit: ["approvers", "people"],
    };
    for (const [role, words] of Object.entries(allowed)) {
      for (const word of ["everyone", "people", "requester", "approvers"]) {
        const found = problems({ defaults: { approvers: ["bob@contoso.com"], roles: { [role]: [word] } } });
        if (words.includes(word)) expect(found, `${role}: ${word}`).toEqual([]);
        else
          expect(found, `${role}: ${word}`).toEqual([
            `defaults.roles.${role}[0]: "${word}" cannot hold the ${role} role — use ${words.join(", ")}, a group:<name> or a person:<key>`,
          ]);
      }
    }
    // in any case
    expect(
      problems({ defaults: { approvers: ["a@x.com"], roles: { request: [" Everyone "] } } }),
    ).toHaveLength(1);
  });

  it("role members that name unknown groups or people, in defaults and policies", () => {
    expect(
      problems({
        people: { bob: { identities: ["bob@contoso.com"] } },
        groups: { secops: ["person:bob"] },
        defaults: { approvers: ["person:bob"], roles: { audit: ["group:secopz"] } },
        policies: [{ name: "p", match: { names: ["p"] }, roles: { read: ["person:bobby"] } }],
      }),
    ).toEqual([
      'defaults.roles.audit[0]: unknown group "secopz" — did you mean group:secops? define it under groups: or remove it',
      'policies[0].roles.read[0]: unknown person "bobby" — did you mean person:bob? define them under people: or remove it',
    ]);
    expect(
      problems({
        defaults: { approvers: ["a@x.com"], breakGlass: ["person:zz"] },
        groups: { g: ["person:qq"] },
      }),
    ).toEqual([
      'groups.g[0]: unknown person "qq" — define them under people: or remove it',
      'defaults.breakGlass[0]: unknown person "zz" — define them under people: or remove it',
    ]);
  });

  it("people: only personal identities, each belonging to one person", () => {
    expect(
      problems({
        people: {
          a: { identities: ["slackgroup:S1", "person:b", "people", "a@x.com"] },
          b: { identities: ["A@x.com "] },
        },
        defaults: { approvers: ["person:a"] },
      }),
    ).toEqual([
      'people.a.identities[0]: "slackgroup:S1" is not one person\'s identity — list it under groups: instead',
      'people.a.identities[1]: "person:b" is not one person\'s identity — list it under groups: instead',
      'people.a.identities[2]: "people" is not one person\'s identity — list it under groups: instead',
      'people.b.identities[0]: "A@x.com " already belongs to a — an identity may belong to one person only; remove one',
    ]);
  });

  it("a group nobody is in is named once, even where it is the only approver", () => {
    expect(
      problems({
        groups: { empty: [] },
        defaults: { approvers: ["a@x.com"] },
        policies: [{ name: "p", match: { names: ["p"] }, approvers: ["group:empty"] }],
      }),
    ).toEqual([
      "groups.empty: nobody is in group empty — add members (person:<key>, e-mail, slack:U…) or remove it",
    ]);
  });

  it("required approvals are checked against the distinct people who can give them, inherited from the defaults", () => {
    expect(
      problems({
        defaults: { approvers: ["a@x.com", "b@x.com"], approvalsRequired: 2 },
        policies: [
          { name: "inherits", match: { names: ["i"] } },
          { name: "fewer", match: { names: ["f"] }, approvers: ["a@x.com"] },
          { name: "lowers", match: { names: ["l"] }, approvers: ["a@x.com"], approvalsRequired: 1 },
        ],
      }),
    ).toEqual([
      "policies[1].approvalsRequired: 2 approvals, but only 1 person(s) can give them — add approvers or lower it",
    ]);
    // a platform group's size is known only at run time: no count is made
    expect(problems({ defaults: { approvers: ["a@x.com", "slackgroup:S1"], approvalsRequired: 3 } })).toEqual(
      [],
    );
    // a person and their identity named separately are one
    expect(
      problems({
        people: { a: { identities: ["a@x.com"] } },
        defaults: { approvers: ["person:a", "A@x.com", "b@x.com"], approvalsRequired: 3 },
      }),
    ).toEqual([
      "defaults.approvalsRequired: 3 approvals, but only 2 person(s) can give them — add approvers or lower it",
    ]);
    // exactly enough people is fine
    expect(problems({ defaults: { approvers: ["a@x.com", "b@x.com"], approvalsRequired: 2 } })).toEqual([]);
  });

  it("a setting of the wrong type is reported once, by the schema, not again by the count", () => {
    expect(problems({ defaults: { approvers: ["a@x.com"], approvalsRequired: "3" } })).toEqual([
      'defaults.approvalsRequired: expected a positive integer, got "3" — write a number such as 2',
    ]);
  });

  it("says what it got: nothing, a list, a map, a number or text", () => {
    const found = problems({
      defaults: {
        approvers: ["a@x.com"],
        owner: ["x"],
        soak: { m: 5 },
        cadenceDays: true,
        approvalExpiry: null,
      },
      people: { p: { name: 7, identities: ["p@x.com"] } },
    });
    expect(found).toEqual(
      expect.arrayContaining([
        "defaults.owner: expected text, got a list — write the owner's e-mail or team name",
        "defaults.soak: expected a duration, got a map — write it as 90s, 5m, 4h or 1d",
        "defaults.cadenceDays: expected a positive number of days, got true — write a number such as 90",
        "defaults.approvalExpiry: expected a duration, got nothing — write it as 90s, 5m, 4h or 1d",
        "people.p.name: expected a display name, got 7 — write it as text, e.g. Bob Okafor",
      ]),
    );
    expect(found).toHaveLength(5);
  });

  it("unknown settings are named with their path and the nearest known one, or told to go", () => {
    expect(problems({ defaults: { approvers: ["a@x.com"] }, polices: [] })).toEqual([
      "polices: unknown setting — did you mean policies?",
    ]);
    expect(
      problems({
        defaults: { approvers: ["a@x.com"] },
        policies: [{ name: "p", match: { names: ["p"] }, zzzzzz: 1 }],
      }),
    ).toEqual(["policies[0].zzzzzz: unknown setting — remove it"]);
  });

  it("typos in setting names are answered with the setting meant", () => {
    const found = problems({
      defaults: { approvers: ["a@x.com"], ownr: "x", rolse: {} },
      peple: {},
      defults: {},
      grups: {},
      policys: [],
      policies: [{ name: "p", match: { nmes: [], subscription: [], resourceGroup: [] }, mach: {}, nme: "p" }],
    });
    for (const [typo, meant] of [
      ["ownr", "owner"],
      ["rolse", "roles"],
      ["peple", "people"],
      ["grups", "groups"],
      ["policys", "policies"],
      ["nmes", "names"],
      ["subscription", "subscriptions"],
      ["resourceGroup", "resourceGroups"],
      ["mach", "match"],
      ["nme", "name"],
      ["defults", "defaults"],
    ])
      expect(found.find((p) => p.includes(`${typo}: unknown setting`))).toMatch(
        new RegExp(`did you mean ${meant}\\?$`),
      );
    expect(
      problems({
        people: { p: { identites: ["p@x.com"] } },
        defaults: { approvers: ["a@x.com"], roles: { audt: [] } },
      }),
    ).toEqual(
      expect.arrayContaining([
        "people.p.identites: unknown setting — did you mean identities?",
        "defaults.roles.audt: unknown setting — did you mean audit?",
      ]),
    );
  });

  it("a file without defaults, or with entries of the wrong type, is refused with its problems, never a crash", () => {
    expect(
      problems({
        policies: [{ name: "p", match: { names: ["p"] }, approvers: ["a@x.com"], approvalsRequired: 1 }],
      }),
    ).toEqual([
      "defaults.approvers: nobody can approve a rotation — list at least one identity, or a group:<name> that has members",
    ]);
    expect(problems({ defaults: { approvalsRequired: 2 } })).toEqual([
      "defaults.approvers: nobody can approve a rotation — list at least one identity, or a group:<name> that has members",
    ]);
    expect(problems({ defaults: { approvers: ["a@x.com", 5] } })).toEqual([
      expect.stringMatching(/^defaults\.approvers\[1\]: expected an identity, got 5/),
    ]);
    expect(problems({ defaults: { approvers: ["a@x.com"] }, groups: "secops" })).toEqual([
      expect.stringMatching(/^groups: expected groups, got "secops"/),
    ]);
    expect(problems({ defaults: { approvers: ["a@x.com"] }, people: null })).toEqual([
      expect.stringMatching(/^people: expected people, got nothing/),
    ]);
    expect(problems(["a@x.com"])[0]).toMatch(/^\(file\): .*got a list/);
  });

  it("defaults must give someone the approve role", () => {
    expect(problems({ defaults: {} })).toEqual([
      "defaults.approvers: nobody can approve a rotation — list at least one identity, or a group:<name> that has members",
    ]);
    expect(problems({ defaults: { approvers: ["slackgroup:S1"] } })).toEqual([]);
  });

  it("the refusal counts the problems and lists each", () => {
    const e = refusal(() => parsePolicy({ defaults: { approvers: [] }, groups: { g: [] } }));
    expect(e.userMessage).toBe(
      "The policy file has 2 problem(s):\n• groups.g: nobody is in group g — add members (person:<key>, e-mail, slack:U…) or remove it\n• defaults.approvers: nobody can approve a rotation — list at least one identity, or a group:<name> that has members",
    );
  });
});
