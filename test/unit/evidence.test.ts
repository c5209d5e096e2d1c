import { describe, expect, it } from "vitest";
import type { Change, StepEvidence } from "../../src/core/domain.js";
import { buildEvidence } from "../../src/core/evidence.js";
import type { StoredEvent, VerifyResult } from "../../src/core/ports.js";
import { change, people, standardPlan } from "../support/change-fixture.js";

const bob = { platform: "slack" as const, id: people.bob.id, displayName: people.bob.displayName };
const carol = { platform: "slack" as const, id: people.carol.id, displayName: people.carol.displayName };

const stepEvidence = (index: number): StepEvidence => ({
  index,
  kind: standardPlan.steps[index]!.kind,
  startedAt: `2026-11-22T10:0${index}:00.000Z`,
  finishedAt: `2026-11-22T10:0${index}:30.000Z`,
  outcome: "succeeded",
  before: { key2: `sha256:before${index}` },
  after: { key2: `sha256:after${index}` },
  ...(index === 4
    ? {
        validation: {
          query: "AzureDiagnostics | where ResultSignature == 401",
          result: "0 calls on key1 in 5 min",
          passed: true,
        },
      }
    : {}),
  rollback: `rollback note ${index}`,
  actor: "keyturn",
});

const completed = change({
  state: "completed",
  approvals: [
    { by: bob, at: "2026-11-22T09:10:00.000Z", planHash: standardPlan.hash, afterTheFact: false },
    { by: carol, at: "2026-11-22T09:12:00.000Z", planHash: standardPlan.hash, afterTheFact: false },
  ],
  steps: standardPlan.steps.map((s) => stepEvidence(s.index)),
  completedAt: "2026-11-22T10:08:00.000Z",
});

function chain(): StoredEvent[] {
  const types: [string, string | null, unknown][] = [
    ["change_requested", people.alice.id, { reason: completed.reason }],
    ["approved", bob.id, { planHash: standardPlan.hash }],
    ["approved", carol.id, { planHash: standardPlan.hash }],
    [
      "step_failed",
      "keyturn",
      {
        index: 4,
        code: "gate_failed",
        message: "translator-web still calls with key1: wait, then resume CHG-1",
      },
    ],
    ["resumed", bob.id, {}],
    ["step_succeeded", "keyturn", { index: 7 }],
  ];
  let prev = "0".repeat(64);
  return types.map(([type, actor, payload], i) => {
    const hash = `${String(i + 1).padStart(2, "0")}${"f".repeat(62)}`;
    const e: StoredEvent = {
      seq: i + 1,
      changeId: "CHG-1",
      type,
      at: `2026-11-22T09:0${i}:00.000Z`,
      actor,
      payload,
      prevHash: prev,
      hash,
    };
    prev = hash;
    return e;
  });
}

const verified: VerifyResult = { ok: true, events: 6, head: `06${"f".repeat(62)}` };

describe("evidence pack", () => {
  it("lists every step, every approval, the plan hash and the chain of a completed change", () => {
    const events = chain();
    const pack = buildEvidence(completed, events, verified, {
      label: "SANDBOX",
      generatedAt: "2026-11-22T11:00:00.000Z",
    });
    expect(pack.filenameBase).toBe("keyturn-evidence-CHG-1");

    for (const s of standardPlan.steps) {
      expect(pack.markdown).toContain(`### ${s.index + 1}. ${s.title}`);
      expect(pack.markdown).toContain(`Before key2: sha256:before${s.index}`);
      expect(pack.markdown).toContain(`After key2: sha256:after${s.index}`);
      expect(pack.markdown).toContain(`Rollback: rollback note ${s.index}`);
    }
    expect(pack.markdown).toContain("Validation query: AzureDiagnostics | where ResultSignature == 401");
    expect(pack.markdown).toMatch(/### 6\. regenerate_old — point of no return/);
    expect(pack.markdown).toContain(`Bob Okafor (${bob.id}) at 2026-11-22T09:10:00.000Z`);
    expect(pack.markdown).toContain(`Carol Diaz (${carol.id}) at 2026-11-22T09:12:00.000Z`);
    expect(pack.markdown).toContain(standardPlan.hash);
    expect(pack.markdown).toContain("Verified: 6 events");
    expect(pack.markdown).toMatch(/paused at step 5 \(gate_failed\): translator-web still calls with key1/);
    expect(pack.markdown).toContain(`Bob Okafor (${bob.id}): resumed at step 5 (verify cutover)`);

    const json = JSON.parse(pack.json) as Record<string, unknown> & {
      steps: StepEvidence[];
      approvals: { by: { id: string } }[];
      events: {
        seq: number;
        prevHash: string;
        hash: string;
        type: string;
        actor: string | null;
        at: string;
      }[];
      plan: { hash: string };
      history: { type: string; seq: number }[];
      chain: VerifyResult;
    };
    expect(json.schema).toBe("keyturn.evidence/v1");
    expect(json.label).toBe("SANDBOX");
    expect(json.steps.map((s) => s.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(json.approvals.map((a) => a.by.id)).toEqual([bob.id, carol.id]);
    expect(json.plan.hash).toBe(standardPlan.hash);
    expect(json.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(json.events[1]).toMatchObject({
      type: "approved",
      actor: bob.id,
      prevHash: events[0]!.hash,
      hash: events[1]!.hash,
    });
    expect(json.history.map((h) => [h.seq, h.type])).toEqual([
      [4, "step_failed"],
      [5, "resumed"],
    ]);
    expect(json.chain).toEqual(verified);
  });

  it("says the chain is tampered, and where, in both forms", () => {
    const bad: VerifyResult = {
      ok: false,
      events: 6,
      firstBadSeq: 3,
      problem: "hash does not match the event's content",
    };
    const pack = buildEvidence(completed, chain(), bad, { generatedAt: "2026-11-22T11:00:00.000Z" });
    expect(pack.markdown).toContain("TAMPERED: event 3 — hash does not match the event's content");
    expect(pack.markdown).not.toContain("Verified:");
    expect((JSON.parse(pack.json) as { chain: VerifyResult }).chain).toEqual(bad);
    const named: VerifyResult = {
      ok: false,
      events: 6,
      firstBadSeq: 4,
      problem: "event 4 (approved) hash does not match its content",
    };
    expect(buildEvidence(completed, chain(), named, { generatedAt: "x" }).markdown).toContain(
      "TAMPERED: event 4 (approved) hash does not match its content\n",
    );
  });

  it("keeps a hostile reason on one table row and marks unrun steps and uncounted approvals", () => {
    const c = change({
      state: "paused",
      reason: "line one\n## not a heading | not a cell",
      approvals: [{ by: bob, at: "2026-11-22T09:10:00.000Z", planHash: "b".repeat(64), afterTheFact: false }],
      steps: [stepEvidence(0)],
    });
    const md = buildEvidence(c, [], verified, { generatedAt: "2026-11-22T11:00:00.000Z" }).markdown;
    expect(md).toContain("| Reason | line one ## not a heading \\| not a cell |");
    expect(md.split("\n").some((l) => l.startsWith("## not a heading"))).toBe(false);
    expect(md).toContain("for an earlier plan, not counted");
    expect(md).toMatch(/### 2\. regenerate_standby\n\nNot run\./);
    expect(md).toContain(
      "None: the change was never paused, and nothing resumed, waived, included, rolled back, cancelled or restarted it.",
    );
  });
});

// ------------------------------------------------------------------ the runbook's five questions

const ev = (seq: number, type: string, actor: string | null, payload: unknown, at?: string): StoredEvent => ({
  seq,
  changeId: "CHG-1",
  type,
  at: at ?? `2026-11-22T09:${String(seq).padStart(2, "0")}:00.000Z`,
  actor,
  payload,
  prevHash: String(seq - 1).padStart(64, "0"),
  hash: String(seq).padStart(64, "0"),
});
const opts = { generatedAt: "2026-11-22T11:00:00.000Z" };
const secretKey = "secret:https://contoso-kv.vault.azure.net/translator-key";
const kvConsumer = {
  id: "kv:contoso-kv/translator-key",
  name: "translator-key",
  source: "keyvault-secret" as const,
  slot: "key1" as const,
  reload: "versionless" as const,
  secret: { vaultUrl: "https://contoso-kv.vault.azure.net", name: "translator-key" },
  evidence: "its current version holds key1",
};
const realSteps = (publishedFp = "sha256:222222222223"): StepEvidence[] => {
  const base = (index: number, extra: Partial<StepEvidence>): StepEvidence => ({
    index,
    kind: standardPlan.steps[index]!.kind,
    startedAt: "2026-11-22T10:00:00.000Z",
    finishedAt: "2026-11-22T10:00:01.000Z",
    outcome: "succeeded",
    rollback: standardPlan.steps[index]!.rollback,
    actor: "keyturn",
    ...extra,
  });
  return [
    base(0, { after: { key1: "sha256:111111111111", key2: "sha256:222222222222", baselineCalls: "4" } }),
    base(1, { before: { key2: "sha256:222222222222" }, after: { key2: "sha256:222222222223" } }),
    base(2, {
      before: { [secretKey]: "v1 sha256:111111111111" },
      after: { [secretKey]: `v2 ${publishedFp}` },
    }),
  ];
};
const running = (over: Partial<Change> = {}) =>
  change({
    state: "running",
    inventory: {
      ...change().inventory,
      consumers: [kvConsumer],
      services: [{ apiName: "TextTranslation", calls: 4 }],
    },
    steps: realSteps(),
    ...over,
  });

describe("evidence pack: the five questions", () => {
  it("derives each step's expected after state from the plan and sets the actual one beside it", () => {
    const pack = buildEvidence(running(), [], verified, opts);
    const [, standby, publish, move] = pack.data.runbook.steps;
    // after "regenerate standby": key2 changes, key1 does not
    expect(standby!.expectedAfter).toEqual([
      {
        item: "key2",
        expected:
          "a new fingerprint (not sha256:222222222222); the old value is refused by the data plane (401)",
        actual: "sha256:222222222223",
        met: true,
      },
      { item: "key1", expected: "unchanged: sha256:111111111111", actual: null, met: null },
    ]);
    // after publish every planned secret holds key2's new fingerprint
    expect(publish!.expectedAfter).toEqual([
      {
        item: "secret translator-key",
        expected: "a new version holding key2 (sha256:222222222223)",
        actual: "v2 sha256:222222222223",
        met: true,
      },
    ]);
    expect(move!.status).toBe("not run");
    expect(move!.expectedAfter[0]).toMatchObject({ actual: null, met: null });
    expect(pack.markdown).toContain(
      "| secret translator-key | a new version holding key2 (sha256:222222222223) | v2 sha256:222222222223 | yes |",
    );
  });

  it("marks an after state that differs from the expected one", () => {
    const pack = buildEvidence(running({ steps: realSteps("sha256:111111111111") }), [], verified, opts);
    expect(pack.data.runbook.steps[2]!.expectedAfter[0]!.met).toBe(false);
    expect(pack.markdown).toContain(
      "| secret translator-key | a new version holding key2 (sha256:222222222223) | v2 sha256:111111111111 | **NO** |",
    );
  });

  it("answers for the change as a whole: before, expected after, validation, owner and rollback", () => {
    const pack = buildEvidence(running(), [], verified, {
      ...opts,
      owner: { owner: "team-lang@contoso.com", source: "tag" },
    });
    const r = pack.data.runbook.change;
    expect(r.before).toMatchObject({
      key1: "sha256:111111111111",
      key2: "sha256:222222222222",
      "active slot": "key1",
      "secret translator-key": "v1 sha256:111111111111",
    });
    expect(r.expectedAfter.map((c) => [c.item, c.expected])).toEqual([
      ["key1", "a new fingerprint (not sha256:111111111111)"],
      ["key2", "a new fingerprint (not sha256:222222222222)"],
      ["active slot", "key2"],
      ["secret translator-key", "holds key2 (sha256:222222222223)"],
    ]);
    expect(r.owner).toBe("team-lang@contoso.com (the account's owner tag)");
    expect(r.rollback).toBe("point the secrets back to the previous version");
    expect(pack.markdown).toContain("| Owner | team-lang@contoso.com (the account's owner tag) |");
    expect(pack.markdown).toContain("**4. Owner**: team-lang@contoso.com (the account's owner tag)");
    expect(pack.markdown).toContain("- Owner: team-lang@contoso.com (the account's owner tag)");
    expect((JSON.parse(pack.json) as { change: { owner: unknown } }).change.owner).toEqual({
      owner: "team-lang@contoso.com",
      source: "tag",
    });
  });

  it("says the owner, keyturn version and policy hash are not recorded when they are not", () => {
    const pack = buildEvidence(running(), [], verified, opts);
    expect(pack.markdown).toContain("| Owner | not recorded |");
    expect(pack.markdown).toContain("| keyturn version | not recorded |");
    expect(pack.markdown).toContain("| Policy hash | not recorded (the change predates policy hashes) |");
    const hashed = buildEvidence(
      running({ policy: { ...change().policy, hash: "c".repeat(64) } }),
      [],
      verified,
      {
        ...opts,
        version: "1.2.3",
      },
    );
    expect(hashed.markdown).toContain(`| Policy hash | ${"c".repeat(64)} |`);
    expect(hashed.markdown).toContain("| keyturn version | 1.2.3 |");
    expect(hashed.markdown).toContain("by keyturn 1.2.3.");
    expect(hashed.data.keyturn).toEqual({ version: "1.2.3" });
    expect(hashed.data.policy).toEqual({ name: "production", hash: "c".repeat(64) });
  });

  it("labels each traffic figure with its window: 24 h for services, 15 min for the baseline", () => {
    const md = buildEvidence(running(), [], verified, opts).markdown;
    expect(md).toContain(
      "- services by ApiName, TotalCalls by ApiName in the 24 h before the inventory was taken (inventory.takenAt): TextTranslation (4 calls)",
    );
    expect(md).toContain("- After baselineCalls (TotalCalls in the 15 min before preflight): 4");
    expect(md.split("\n").filter((l) => l.includes("24 h") && l.includes("15 min"))).toEqual([]);
  });

  it("names the point of no return once in a step title that already says it", () => {
    const plan = {
      ...standardPlan,
      steps: standardPlan.steps.map((s) =>
        s.pointOfNoReturn
          ? { ...s, title: "Regenerate key1 — POINT OF NO RETURN: the old key stops working" }
          : s,
      ),
    };
    const md = buildEvidence(running({ plan }), [], verified, opts).markdown;
    expect(md).toContain("### 6. Regenerate key1 — POINT OF NO RETURN: the old key stops working\n");
  });
});

describe("evidence pack: approvals and eligibility", () => {
  it("names the policy entry that made each approver eligible, from the approval or its event", () => {
    const c = running({
      approvals: [
        {
          by: bob,
          at: "2026-11-22T09:10:00.000Z",
          planHash: standardPlan.hash,
          afterTheFact: false,
          eligibleAs: "group:secops",
        },
        { by: carol, at: "2026-11-22T09:12:00.000Z", planHash: standardPlan.hash, afterTheFact: false },
        { by: bob, at: "2026-11-22T09:20:00.000Z", planHash: standardPlan.hash, afterTheFact: true },
      ],
    });
    const events = [
      ev(
        2,
        "approved",
        bob.id,
        { by: bob, planHash: standardPlan.hash, eligibleAs: "group:secops" },
        "2026-11-22T09:10:00.000Z",
      ),
      ev(
        3,
        "approved",
        carol.id,
        { by: carol, planHash: standardPlan.hash, eligibleAs: "person:carol" },
        "2026-11-22T09:12:00.000Z",
      ),
    ];
    const pack = buildEvidence(c, events, verified, opts);
    expect(pack.data.approvals.map((a) => [a.eligibleAsRecorded, a.eventSeq])).toEqual([
      ["group:secops", 2],
      ["person:carol", 3],
      [null, null],
    ]);
    expect(pack.markdown).toContain(
      `- Bob Okafor (${bob.id}) at 2026-11-22T09:10:00.000Z, plan aaaaaaaaaaaa; eligible as group:secops (event 2)`,
    );
    expect(pack.markdown).toContain(`eligible as person:carol (event 3)`);
    expect(pack.markdown).toContain(
      "eligible as not recorded — after the fact — NO approved event in the log records it",
    );
  });
});

describe("evidence pack: decisions and interruptions", () => {
  const pinned = { ...kvConsumer, id: "site:ivr/KEY", name: "speech-ivr", reload: "pinned" as const };
  const withPinned = () =>
    running({
      state: "cancelled",
      plan: { ...standardPlan, consumerIds: [kvConsumer.id, pinned.id], pinnedConsumerIds: [pinned.id] },
      inventory: { ...running().inventory, consumers: [kvConsumer, pinned] },
      waivedConsumerIds: [pinned.id],
      steps: [
        ...realSteps(),
        {
          index: 4,
          kind: "verify_cutover",
          startedAt: "2026-11-22T10:05:00.000Z",
          finishedAt: "2026-11-22T10:05:01.000Z",
          outcome: "gate_failed",
          after: { [kvConsumer.id]: "v2 sha256:222222222223", [pinned.id]: "waived by an approver" },
          validation: { query: "per consumer", result: "translator-key blocked", passed: false },
          rollback: "point the secrets back to the previous version",
          actor: "keyturn",
        },
      ],
    });
  const story = (): StoredEvent[] => [
    ev(1, "change_requested", people.alice.id, { plan: { hash: "a".repeat(64) } }),
    ev(2, "plan_revalidated", "keyturn", { plan: { hash: "b".repeat(64) } }),
    ev(3, "step_started", "keyturn", { index: 1 }),
    ev(4, "effect_intent", "keyturn", { index: 1, what: "regenerate" }),
    // keyturn was killed here; after the restart the step runs again
    ev(5, "step_started", "keyturn", { index: 1 }),
    ev(6, "step_succeeded", "keyturn", { index: 1 }),
    ev(7, "step_failed", "keyturn", { index: 4, code: "gate_failed", message: "speech-ivr pins version v1" }),
    ev(8, "consumer_waived", bob.id, {
      by: bob,
      consumerId: pinned.id,
      reason: "IVR is being decommissioned",
    }),
    ev(9, "consumer_included", carol.id, {
      by: carol,
      consumerId: "kv:x/copy",
      reason: "the batch job's own secret",
    }),
    ev(10, "rollback_requested", people.alice.id, {
      by: { ...bob, id: people.alice.id, displayName: "Alice Ng" },
    }),
    ev(11, "rollback_failed", "keyturn", {
      message: "Key Vault refused the write (403): grant Set on the vault",
    }),
    ev(12, "rollback_requested", people.alice.id, {}),
    ev(13, "cancelled", people.alice.id, {
      by: { platform: "slack", id: people.alice.id, displayName: "Alice Ng" },
      reason: "handled by hand",
    }),
  ];

  it("tells every decision and interruption with who and why, from the events", () => {
    const pack = buildEvidence(withPinned(), story(), verified, opts);
    expect(pack.data.history.map((h) => [h.seq, h.type, h.by, h.what, h.why])).toEqual([
      [
        2,
        "plan_revalidated",
        "keyturn",
        "plan changed before the first step (hash aaaaaaaaaaaa → bbbbbbbbbbbb): earlier approvals no longer count",
        "the inventory or the keys changed since approval",
      ],
      [
        5,
        "crash_resumed",
        "keyturn",
        "resumed step 2 (regenerate standby) after keyturn stopped during it (a crash, restart or runner take-over)",
        "the step had started at an earlier event and never finished; an intent (regenerate) was recorded before it stopped, so live keys decided what had already happened",
      ],
      [7, "step_failed", "keyturn", "paused at step 5 (gate_failed)", "speech-ivr pins version v1"],
      [
        8,
        "consumer_waived",
        `Bob Okafor (${bob.id})`,
        `waived speech-ivr (${pinned.id}) for the cutover check`,
        "IVR is being decommissioned",
      ],
      [
        9,
        "consumer_included",
        `Carol Diaz (${carol.id})`,
        "included NEW holder kv:x/copy",
        "the batch job's own secret",
      ],
      [
        10,
        "rollback_requested",
        `Alice Ng (${people.alice.id})`,
        "asked to roll back (secrets back to the previous key)",
        null,
      ],
      [
        11,
        "rollback_failed",
        "keyturn",
        "rollback FAILED: the change stays paused",
        "Key Vault refused the write (403): grant Set on the vault",
      ],
      [
        12,
        "rollback_requested",
        `Alice Ng (${people.alice.id})`,
        "asked to roll back (secrets back to the previous key)",
        null,
      ],
      [
        12,
        "rollback_unfinished",
        "keyturn",
        "rollback did not complete",
        "no rolled-back event followed; the change stayed paused until it was cancelled",
      ],
      [13, "cancelled", `Alice Ng (${people.alice.id})`, "cancelled the change", "handled by hand"],
    ]);
    expect(pack.markdown).toMatch(
      /## Decisions and interruptions\n\n- 2026-11-22T09:02:00.000Z \(event 2\) keyturn: plan changed/,
    );
    expect(pack.markdown).toContain(
      `(event 13) Alice Ng (${people.alice.id}): cancelled the change: handled by hand`,
    );
  });

  it("names the waiver's author and reason in the waivers section and in the gate step, not only in the history", () => {
    const md = buildEvidence(withPinned(), story(), verified, opts).markdown;
    const waiver = `waived speech-ivr (${pinned.id}) by Bob Okafor (${bob.id}) at 2026-11-22T09:08:00.000Z (event 8): IVR is being decommissioned`;
    expect(md).toMatch(
      new RegExp(`## Waivers and inclusions\\n\\n- ${waiver.replace(/[()|.*+?[\]]/g, "\\$&")}`),
    );
    const gate = md.slice(md.indexOf("### 5. verify_cutover"), md.indexOf("### 6."));
    expect(gate).toContain(
      `- Waived: speech-ivr by Bob Okafor (${bob.id}) (event 8): IVR is being decommissioned`,
    );
    expect(gate).toContain(
      "| speech-ivr | waived by an approver: not checked (see Decisions and interruptions) | waived by an approver | yes |",
    );
  });

  it("records expiry, rejection and a rollback that has no result yet", () => {
    const h = buildEvidence(
      running(),
      [
        ev(1, "expired", "keyturn", {}),
        ev(2, "rejected", carol.id, { by: carol, reason: "wrong account" }),
        ev(3, "rollback_requested", bob.id, { by: bob }),
      ],
      verified,
      opts,
    ).data.history;
    expect(h.map((x) => [x.type, x.detail])).toEqual([
      ["expired", "expired: the approvals did not come in time"],
      ["rejected", "rejected the change: wrong account"],
      ["rollback_requested", "asked to roll back (secrets back to the previous key)"],
      [
        "rollback_unfinished",
        "rollback asked: no result recorded yet: it is running, or it failed (the thread says why)",
      ],
    ]);
  });
});

describe("evidence pack: findings and tampering", () => {
  it("lists the findings of a change that completed with findings", () => {
    const finding = {
      stepIndex: 6,
      kind: "soak" as const,
      what: "9 × 401 from 203.0.113.9",
      next: "find the caller by its IP",
    };
    // a change that ended with findings carries them
    const withFindings = {
      ...running({ state: "completed_with_findings" as string as Change["state"] }),
      findings: [finding],
    } as Change;
    const pack = buildEvidence(withFindings, [], verified, opts);
    expect(pack.markdown).toContain("| State | completed_with_findings |");
    expect(pack.markdown).toContain(
      "## Findings\n\n- step 7 (soak): 9 × 401 from 203.0.113.9 — next: find the caller by its IP",
    );
    expect(pack.data.findings).toEqual([finding]);
  });

  it("puts a tampered chain's warning first", () => {
    const bad: VerifyResult = {
      ok: false,
      events: 6,
      firstBadSeq: 3,
      problem: "hash does not match the event's content",
    };
    const md = buildEvidence(completed, chain(), bad, opts).markdown;
    expect(md.indexOf("TAMPERED: event 3")).toBeLessThan(md.indexOf("## Change"));
  });
});
