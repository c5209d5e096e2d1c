/**
 * What a person reads in Slack of each kind of message keyturn sends, from the visible blocks only
 * (header, section text and fields, context): Slack shows `text` only in notifications.
 */
import { describe, expect, it } from "vitest";
import { toBlocks } from "../../adapters/slack/render.js";
import { toCard } from "../../adapters/teams/render.js";
import type { Change } from "../../src/core/domain.js";
import { KeyturnError } from "../../src/core/errors.js";
import type { Message } from "../../src/core/messages.js";
import {
  renderApprovalDm,
  renderChangeCard,
  renderError,
  renderHelp,
  renderHistory,
  renderNotice,
  renderStepReply,
} from "../../src/core/render/index.js";
import { visibleText } from "../fakes/slack-api.js";
import { buttonsOf } from "../fakes/slack-sign.js";
import { createPolicyBook, parsePolicy } from "../../src/core/policy.js";
import { withBlockingNotes } from "../../src/runner/blocking-consumers.js";
import { change, inventory, people, standardPlan } from "../support/change-fixture.js";
import { asTextBlock, cardTexts } from "../support/teams-visible.js";

const ZWSP = "\u200b";
const seen = (m: Message) => visibleText(toBlocks(m).blocks);
const buttons = (m: Message) => Object.keys(buttonsOf(toBlocks(m).blocks));
const ref = (p: typeof people.bob) => ({ platform: p.platform, id: p.id, displayName: p.displayName });
const approval = (p: typeof people.bob, at = "2026-11-22T09:05:00.000Z") => ({
  by: ref(p),
  at,
  planHash: standardPlan.hash,
  afterTheFact: false,
});
const SANDBOX = "SANDBOX — simulated Azure tenant";
const dm = (c: Change, o: Parameters<typeof renderApprovalDm>[1] = {}) =>
  renderApprovalDm(c, { label: SANDBOX, permalink: "https://contoso.slack.com/archives/C1/p1", ...o });

describe("every sentence is in a visible block", () => {
  it("an error with a usage line shows its sentence, not only the usage", () => {
    const e = renderError(
      new KeyturnError(
        "unknown_flag",
        'unknown flag --resaon — did you mean --reason?\nUsage: reject <CHG> --reason "…"',
      ),
    );
    expect(seen(e)).toContain("unknown flag --resaon — did you mean --reason?");
    expect(seen(e)).toContain("Usage: reject");
  });

  it("help for an unknown command says so above the list", () => {
    expect(seen(renderHelp("rotat"))).toMatch(
      /^keyturn commands\nThere is no command "rotat"\. Did you mean rotate\?/,
    );
  });

  it("history says how many changes and the last rotation", () => {
    const account = {
      id: standardPlan.accountId,
      name: "contoso-translator",
      kind: "TextTranslation",
    } as Parameters<typeof renderHistory>[0];
    expect(seen(renderHistory(account, [change({ state: "cancelled" })]))).toContain(
      "contoso-translator: 1 change(s), no completed rotation on record",
    );
  });

  it("a message with a title and nothing else still shows its sentence", () => {
    expect(seen({ title: "keyturn is on standby", text: "Send the request again in a minute." })).toContain(
      "Send the request again in a minute.",
    );
  });
});

describe("an approver's DM follows the change", () => {
  it("asks, with Approve and Reject, the sandbox label and the thread", () => {
    const m = dm(change({ state: "awaiting_approval" }));
    expect(seen(m)).toMatch(
      /Alice Ng asks you to approve CHG-1: rotate contoso-translator — leaked in PR 123/,
    );
    expect(seen(m)).toContain(SANDBOX);
    expect(buttons(m)).toEqual(["Approve", "Reject"]);
    expect(JSON.stringify(toBlocks(m).blocks)).toContain("https://contoso.slack.com/archives/C1/p1");
  });

  it("once this person approved: says so and who is still to decide, with nothing to press", () => {
    const c = change({ state: "awaiting_approval", approvals: [approval(people.bob)] });
    const mine = dm(c, { approvedAt: "2026-11-22T09:05:00.000Z", waitingFor: ["Carol Diaz", "Frank Moe"] });
    expect(seen(mine)).toMatch(
      /You approved CHG-1 .* at 2026-11-22 09:05 UTC: 1 of 2 approvals\. Still waiting for Carol Diaz or Frank Moe\./,
    );
    expect(buttons(mine)).toEqual([]);
    const carol = dm(c, { waitingFor: ["Frank Moe"] });
    expect(seen(carol)).toMatch(/So far approved by Bob Okafor \(1 of 2 approvals\)/);
    expect(buttons(carol)).toEqual(["Approve", "Reject"]);
  });

  const closed: [string, Partial<Change>, Parameters<typeof renderApprovalDm>[1], RegExp][] = [
    [
      "rejected",
      { state: "rejected" },
      { decision: { by: "Carol Diaz", reason: "wrong account" } },
      /CHG-1 \(rotate contoso-translator\) was rejected by Carol Diaz: wrong account\. Nothing was changed\./,
    ],
    [
      "expired",
      { state: "expired", approvals: [approval(people.bob)] },
      {},
      /CHG-1 .* expired before it had 2 approval\(s\) \(approved by Bob Okafor\): nothing was changed/,
    ],
    [
      "cancelled",
      { state: "cancelled" },
      { decision: { by: "Alice Ng", reason: "duplicate" } },
      /was cancelled by Alice Ng: duplicate\./,
    ],
    [
      "running",
      { state: "running", approvals: [approval(people.bob), approval(people.carol)] },
      {},
      /was approved by Bob Okafor and Carol Diaz; the rotation is running\./,
    ],
    [
      "paused",
      {
        state: "paused",
        pause: { stepIndex: 4, code: "gate_failed", message: "401s seen" },
        approvals: [approval(people.bob)],
      },
      {},
      /is paused at step 5; it was approved by Bob Okafor\. Its operators decide in the thread/,
    ],
    [
      "completed",
      {
        state: "completed",
        completedAt: "2026-11-22T10:00:00.000Z",
        approvals: [approval(people.bob), approval(people.carol)],
      },
      {},
      /CHG-1 completed at 2026-11-22 10:00 UTC: contoso-translator rotated, approved by Bob Okafor and Carol Diaz\./,
    ],
    [
      "completed with findings",
      { state: "completed_with_findings", approvals: [approval(people.bob)] },
      {},
      /CHG-1 completed WITH FINDINGS: contoso-translator rotated, approved by Bob Okafor\. The thread says what to do/,
    ],
    ["rolled back", { state: "rolled_back" }, {}, /was rolled back: consumers are back on the previous key/],
  ];
  it.each(closed)("%s: says what became of it, keeps the label, has no buttons", (_s, over, o, want) => {
    const m = dm(change(over), o);
    expect(seen(m)).toMatch(want);
    expect(seen(m)).toContain(SANDBOX);
    expect(buttons(m)).toEqual([]);
  });

  it("the card names who rejected it and why", () => {
    const card = renderChangeCard(change({ state: "rejected" }), {
      decision: { by: "Carol Diaz", reason: "wrong account" },
    });
    expect(seen(card)).toContain("*Rejected by*\nCarol Diaz — wrong account");
  });

  it("a break-glass change asks for the approval after the fact", () => {
    const m = dm(change({ state: "running", breakGlass: true, exposure: true, leakedSlot: "key1" }));
    expect(seen(m)).toMatch(
      /Break-glass change CHG-1 .* is running without approval: approve it after the fact\./,
    );
    expect(buttons(m)).toEqual(["Approve"]);
  });
});

describe("values and formatting a reader can trust", () => {
  const version = "0123456789abcdef0123456789abcdef";

  it("Key Vault versions are labelled and shortened, never a bare 32-hex value", () => {
    const c = change({ state: "running" });
    const reply = renderStepReply(c, {
      index: 2,
      kind: "publish",
      startedAt: "2026-11-22T09:10:00.000Z",
      finishedAt: "2026-11-22T09:10:01.000Z",
      outcome: "succeeded",
      actor: "keyturn",
      rollback: "point the secret back to its previous version",
      before: {
        "https://contoso-kv.vault.azure.net/secrets/translator-key": `${version} sha256:111111111111`,
      },
      after: {
        "https://contoso-kv.vault.azure.net/secrets/translator-key": `${version} sha256:222222222222`,
      },
      notes: [`translator-key: version ${version} already holds key2; not published again`],
    });
    const text = seen(reply);
    expect(text).toContain("Key Vault version 01234567… · fingerprint sha256:222222222222");
    expect(text).toContain("version 01234567… already holds key2");
    expect(text).not.toMatch(/\b[0-9a-f]{32}\b/i);
    expect(seen(renderNotice(c, `secret moved to ${version}`, "info"))).not.toMatch(/\b[0-9a-f]{32}\b/i);
  });

  it("keyturn's inline code stays code; a user's backticks and stars stay literal", () => {
    const c = change({ state: "awaiting_approval", reason: "see `git log` *now*" });
    const notice = renderNotice(
      c,
      "Keep it: `keyturn audit verify --witness 3:abc` shows whether the log still reaches it.",
      "info",
    );
    expect(seen(notice)).toContain("Keep it: `keyturn audit verify --witness 3:abc`");
    expect(seen(notice)).not.toContain(ZWSP);
    expect(seen(renderChangeCard(c))).toContain(`see ${ZWSP}\`git log\` ${ZWSP}*now*`);
    const rejected = renderNotice(c, "CHG-1 rejected by Carol Diaz: use `status` *first*", "warning", {
      userText: ["use `status` *first*"],
    });
    expect(seen(rejected)).toContain(`use ${ZWSP}\`status\` ${ZWSP}*first*`);
  });
});

describe("the card's plan as an approver reads it", () => {
  const version = "5a7a97c0aa7571c1dd690b3933335d29";
  const ivr = {
    id: "site:speech-ivr/SPEECH_KEY",
    name: "speech-ivr",
    source: "app-setting-reference" as const,
    slot: "key1" as const,
    reload: "pinned" as const,
    secret: { vaultUrl: "https://contoso-kv.vault.azure.net", name: "speech-key", version },
    siteId: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/speech-ivr",
    settingName: "SPEECH_KEY",
    evidence: `app setting SPEECH_KEY references speech-key pinned to version ${version}`,
  };

  it("a consumer that blocks the cutover is named with its Key Vault version labelled and shortened", () => {
    const plan = withBlockingNotes("CHG-1", { ...standardPlan, pinnedConsumerIds: [ivr.id] }, [ivr]);
    const text = seen(
      renderChangeCard(
        change({ state: "awaiting_approval", plan, inventory: { ...inventory, consumers: [ivr] } }),
      ),
    );
    expect(text).toContain("BLOCKS THE CUTOVER: speech-ivr pins Key Vault version 5a7a97c0… of speech-key");
    expect(text).not.toMatch(/\b[0-9a-f]{32}\b/i);
  });

  it("a note recorded with a bare version id before is labelled on the card too", () => {
    const plan = {
      ...standardPlan,
      notes: [`BLOCKS THE CUTOVER: speech-ivr pins version ${version} of speech-key`],
    };
    const text = seen(renderChangeCard(change({ state: "awaiting_approval", plan })));
    expect(text).toContain("speech-ivr pins version 5a7a97c0… of speech-key");
    expect(text).not.toMatch(/\b[0-9a-f]{32}\b/i);
  });

  it("the point of no return is said once, on the card and in the step's reply", () => {
    const steps = standardPlan.steps.map((s) =>
      s.kind === "regenerate_old"
        ? { ...s, title: "Regenerate key1 — POINT OF NO RETURN: the old key stops working" }
        : s,
    );
    const c = change({ state: "awaiting_approval", plan: { ...standardPlan, steps } });
    const card = seen(renderChangeCard(c));
    expect(card).toContain("6. Regenerate key1 — POINT OF NO RETURN: the old key stops working\n");
    expect(card.match(/point of no return/gi)).toHaveLength(1);
    const reply = seen(
      renderStepReply(c, {
        index: 5,
        kind: "regenerate_old",
        startedAt: "2026-11-22T09:10:00.000Z",
        finishedAt: "2026-11-22T09:10:01.000Z",
        outcome: "succeeded",
        actor: "keyturn",
        rollback: "none: key1 is dead",
      }),
    );
    expect(reply.match(/point of no return/gi)).toHaveLength(1);
    // a step whose title does not say it still carries the mark
    expect(seen(renderChangeCard(change({ state: "awaiting_approval" })))).toMatch(
      /6\. regenerate_old {2}⚠ point of no return/,
    );
  });
});

describe("approvers named as a person says them", () => {
  const book = createPolicyBook(
    parsePolicy({
      defaults: { approvers: ["group:secops", "group:platform"], approvalsRequired: 2 },
      people: {
        bob: { name: "Bob Okafor", identities: ["bob@contoso.com", "slack:U0BOB"] },
        carol: { name: "Carol Diaz", identities: ["carol@contoso.com"] },
      },
      groups: { secops: ["person:bob", "slackgroup:S0SECOPS"], platform: ["person:carol"] },
    }),
  );
  const snapshot = book.snapshotFor(
    {
      id: standardPlan.accountId,
      subscriptionId: "s",
      resourceGroup: "rg",
      name: "contoso-translator",
      kind: "TextTranslation",
      location: "westeurope",
      endpoint: "https://contoso-translator/",
      disableLocalAuth: false,
      provisioningState: "Succeeded",
      tags: {},
    },
    { exposure: false },
  );

  it("group by group, by name; a Slack user group id is said to be one; no policy ids", () => {
    const text = seen(renderChangeCard(change({ state: "awaiting_approval", policy: snapshot })));
    expect(text).toContain(
      "*Approvers*\nsecops: Bob Okafor or a Slack user group (S0SECOPS); platform: Carol Diaz",
    );
    expect(text).not.toMatch(/group:|members of Slack user group/);
  });

  it("a change recorded without the approvers in words names its groups without the prefix", () => {
    const { approverNames: _words, ...bare } = snapshot;
    expect(seen(renderChangeCard(change({ state: "awaiting_approval", policy: bare })))).toContain(
      "*Approvers*\nsecops, platform",
    );
  });
});

describe("the blast radius in words", () => {
  const vaultUrl = "https://contoso-kv.vault.azure.net";
  const consumers = [
    {
      id: "kv:contoso-kv/translator-key",
      name: "Key Vault secret translator-key",
      source: "keyvault-secret" as const,
      slot: "key1" as const,
      reload: "versionless" as const,
      secret: { vaultUrl, name: "translator-key" },
      evidence: "its current version holds key1 (sha256:111111111111)",
    },
    {
      id: "site:translator-web/TRANSLATOR_KEY",
      name: "translator-web",
      source: "app-setting-reference" as const,
      slot: "key1" as const,
      reload: "refreshable" as const,
      secret: { vaultUrl, name: "translator-key" },
      settingName: "TRANSLATOR_KEY",
      evidence: "app setting TRANSLATOR_KEY references translator-key (versionless)",
    },
    {
      id: "declared:translator-key (Key Vault)",
      name: "translator-key (Key Vault)",
      source: "declared" as const,
      slot: "unknown" as const,
      reload: "versionless" as const,
      secret: { vaultUrl: `${vaultUrl}/`, name: "Translator-Key" },
      evidence: "declared by sandbox-setup on 2026-11-22",
    },
    {
      id: "declared:billing-job",
      name: "billing-job",
      source: "declared" as const,
      slot: "unknown" as const,
      reload: "manual" as const,
      owner: "team-billing@contoso.com",
      evidence: "declared by bob on 2026-11-20",
    },
  ];
  const card = () =>
    seen(renderChangeCard(change({ state: "awaiting_approval", inventory: { ...inventory, consumers } })));

  it("a declared consumer that is the secret keyturn found is shown once, declared and found", () => {
    const lines = card().split("\n");
    expect(lines.filter((l) => /translator-key/i.test(l) && !/App Service/.test(l))).toEqual([
      "Key Vault secret translator-key in contoso-kv — holds key1; readers take its latest version by themselves; declared and found",
    ]);
    expect(lines).toContain(
      "App Service translator-web, setting TRANSLATOR_KEY — reads key1 from translator-key; keyturn refreshes it",
    );
  });

  it("says which key each holds as a sentence, never an inventory code", () => {
    const text = card();
    expect(text).toContain(
      "billing-job (declared by hand) — which key it holds is not known yet; updated by hand (team-billing@contoso.com)",
    );
    expect(text).not.toMatch(/uses unknown|keyvault-secret|app-setting-reference|\bdeclared,/);
  });
});

describe("a step's reply as people in the channel read it", () => {
  const vaultUrl = "https://contoso-kv.vault.azure.net";
  const version = "0123456789abcdef0123456789abcdef";
  const consumers = [
    {
      id: "kv:contoso-kv/translator-key",
      name: "Key Vault secret translator-key",
      source: "keyvault-secret" as const,
      slot: "key1" as const,
      reload: "versionless" as const,
      secret: { vaultUrl, name: "translator-key" },
      evidence: "its current version holds key1",
    },
    {
      id: "site:translator-web/TRANSLATOR_KEY",
      name: "translator-web",
      source: "app-setting-reference" as const,
      slot: "key1" as const,
      reload: "refreshable" as const,
      secret: { vaultUrl, name: "translator-key" },
      settingName: "TRANSLATOR_KEY",
      evidence: "app setting TRANSLATOR_KEY references translator-key (versionless)",
    },
  ];
  const c = change({ state: "running", inventory: { ...inventory, consumers } });
  const step = (over: Partial<Parameters<typeof renderStepReply>[1]>) =>
    seen(
      renderStepReply(c, {
        index: 4,
        kind: "verify_cutover",
        startedAt: "2026-11-30T20:33:34.244Z",
        finishedAt: "2026-11-30T20:33:35.012Z",
        outcome: "succeeded",
        actor: "keyturn",
        rollback: "point the secrets back to their previous version; key1 still works",
        ...over,
      }),
    );

  it("names consumers and secrets by name and kind, never by keyturn's internal id", () => {
    const text = step({
      before: { [`secret:${vaultUrl}/translator-key`]: `${version} sha256:111111111111` },
      after: {
        "kv:contoso-kv/translator-key": `${version} sha256:222222222222`,
        "site:translator-web/TRANSLATOR_KEY": `uses version ${version}`,
      },
    });
    expect(text).toContain(
      "Key Vault secret translator-key in contoso-kv: Key Vault version 01234567… · fingerprint sha256:111111111111",
    );
    expect(text).toContain(
      "Key Vault secret translator-key in contoso-kv: Key Vault version 01234567… · fingerprint sha256:222222222222",
    );
    expect(text).toContain("App Service translator-web, setting TRANSLATOR_KEY: uses version 01234567…");
    expect(text).not.toMatch(/secret:https|kv:contoso|site:translator/);
  });

  it("shows times as clock times, the date once", () => {
    const text = step({
      index: 6,
      kind: "soak",
      after: { soakStartedAt: "2026-11-30T20:33:38.395Z", nextDue: "2027-02-28T20:34:42.332Z" },
    });
    expect(text).toContain("*Started*\n2026-11-30 20:33:34 UTC");
    expect(text).toContain("*Finished*\n20:33:35 UTC");
    expect(text).toContain("Soak started: 20:33:38 UTC");
    expect(text).toContain("Next rotation due: 2027-02-28 20:34:42 UTC");
    expect(text).not.toMatch(/\d{4}-\d{2}-\d{2}T\d{2}:/);
  });
});

describe("the running card shows where the rotation is", () => {
  const done = (index: number, kind: (typeof standardPlan.steps)[number]["kind"]) => ({
    index,
    kind,
    startedAt: `2026-11-30T20:33:3${index}.000Z`,
    finishedAt: `2026-11-30T20:33:3${index}.500Z`,
    outcome: "succeeded" as const,
    actor: "keyturn",
    rollback: "none",
  });
  const running = change({
    state: "running",
    currentStep: 3,
    steps: [
      done(0, "preflight"),
      done(1, "regenerate_standby"),
      done(2, "publish"),
      {
        index: 3,
        kind: "move_consumers",
        startedAt: "2026-11-30T20:33:37.100Z",
        actor: "keyturn",
        rollback: "none",
      },
    ],
  });
  const card = renderChangeCard(running);

  it("in Slack: done steps ✓, the current one ▶ with since when, the rest to come", () => {
    const lines = seen(card).split("\n");
    expect(lines).toContain("✓ 3. publish");
    expect(lines.filter((l) => l.startsWith("▶"))).toEqual([
      expect.stringMatching(/^▶ 4\. move_consumers \(window [^)]+\) — running since 20:33:37 UTC$/),
    ]);
    expect(lines).toContain("· 5. verify_cutover");
  });

  it("in Teams: the same marks in the card's text blocks", () => {
    const shown = cardTexts(toCard(card)).map((t) => asTextBlock(t).shown);
    expect(shown).toContain("✓ 1. preflight");
    expect(shown.filter((l) => l.startsWith("▶"))).toEqual([
      expect.stringMatching(/^▶ 4\. move_consumers \(window [^)]+\) — running since 20:33:37 UTC$/),
    ]);
  });

  it("approved and about to start its first step: that step is marked as starting", () => {
    const lines = seen(renderChangeCard(change({ state: "running", currentStep: 0 }))).split("\n");
    expect(lines).toContain("▶ 1. preflight — starting");
  });
});
