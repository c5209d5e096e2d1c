import { describe, expect, it } from "vitest";
import type { StepEvidence } from "../../src/core/domain.js";
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
    expect(pack.markdown).toContain(`${bob.id}: resumed`);

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
    expect(md).toContain("None: the change was never paused.");
  });
});
