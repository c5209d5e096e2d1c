import { describe, expect, it } from "vitest";
import { toBlocks } from "../../adapters/slack/render.js";
import { toCard } from "../../adapters/teams/render.js";
import { KeyturnError } from "../../src/core/errors.js";
import type { Message } from "../../src/core/messages.js";
import {
  renderApprovalRequest,
  renderChangeCard,
  renderError,
  renderHelp,
  renderStepReply,
  renderVerify,
} from "../../src/core/render/index.js";
import { COMMAND_HELP } from "../../src/core/parse-command.js";
import { change, people, standardPlan } from "../support/change-fixture.js";

const all = (m: Message) =>
  [
    m.text,
    m.title ?? "",
    ...(m.fields ?? []).flatMap((f) => [f.label, f.value]),
    ...(m.sections ?? []).flatMap((x) => [x.heading ?? "", ...x.lines]),
    ...(m.context ?? []),
  ].join("\n");
const ref = (p: typeof people.bob) => ({ platform: p.platform, id: p.id, displayName: p.displayName });

const evil =
  "leaked <!channel> <@U0BOB> <https://evil.example|click> [x](https://evil.example) <at>Bob</at> *bold*";

describe("rendering", () => {
  it("the card offers Approve/Reject while awaiting approval, binds Approve to the plan hash, confirms the point of no return", () => {
    const card = renderChangeCard(change({ state: "awaiting_approval" }));
    const approve = card.buttons?.find((b) => b.label === "Approve");
    expect(approve?.action).toEqual({ kind: "approve", changeId: "CHG-1", planHash: standardPlan.hash });
    expect(approve?.confirm?.text).toMatch(/Regenerate|key1/);
    expect(card.buttons?.find((b) => b.label === "Reject")?.needsReason).toBe(true);
    expect(card.sections?.flatMap((s) => s.lines).join("\n")).toMatch(/point of no return/);
  });

  it("paused offers resume, rollback before the point of no return, waivers for pinned consumers; closed changes offer nothing", () => {
    const paused = renderChangeCard(
      change({ state: "paused", plan: { ...standardPlan, pinnedConsumerIds: ["site:ivr/K"] } }),
    );
    expect(paused.buttons?.map((b) => b.label)).toEqual([
      "Resume",
      "Roll back",
      "Waive site:ivr/K",
      "Cancel",
    ]);
    expect(renderChangeCard(change({ state: "completed" })).buttons).toEqual([]);
  });

  it("user text stays plain in the model and is escaped by each platform", () => {
    const card = renderChangeCard(change({ state: "awaiting_approval", reason: evil }));
    expect(card.fields?.find((f) => f.label === "Reason")?.value).toBe(evil);
    const slack = JSON.stringify(toBlocks(card));
    expect(slack).not.toContain("<!channel>");
    expect(slack).not.toContain("<@U0BOB>");
    expect(slack).not.toContain("<https://evil.example|");
    expect(slack).toContain("&lt;!channel&gt;");
    const teams = JSON.stringify(toCard(card));
    expect(teams).not.toContain("<at>");
    expect(teams).not.toMatch(/\[x\]\(https/);
  });

  it("Slack blocks respect Block Kit limits", () => {
    const big = renderChangeCard(change({ state: "awaiting_approval", reason: "r".repeat(5000) }));
    const { blocks } = toBlocks(big);
    expect(blocks.length).toBeLessThanOrEqual(50);
    for (const b of blocks) {
      const text = (b.text as { text?: string } | undefined)?.text ?? "";
      expect(text.length).toBeLessThanOrEqual(3000);
      for (const f of (b.fields as { text: string }[] | undefined) ?? [])
        expect(f.text.length).toBeLessThanOrEqual(2000);
    }
  });

  it("shows counted approvals with names, the account, the subscription and the plan hash", () => {
    const card = renderChangeCard(
      change({
        state: "awaiting_approval",
        approvals: [
          {
            by: ref(people.bob),
            at: "2026-11-22T09:10:00.000Z",
            planHash: standardPlan.hash,
            afterTheFact: false,
          },
          {
            by: ref(people.carol),
            at: "2026-11-22T09:11:00.000Z",
            planHash: "0".repeat(64),
            afterTheFact: false,
          },
        ],
        approvalDeadline: "2026-11-22T13:00:00.000Z",
      }),
      { label: "SANDBOX" },
    );
    expect(card.title).toBe("CHG-1 · rotate contoso-translator");
    expect(card.fields?.find((f) => f.label === "Approvals")?.value).toBe(
      "1 of 2 — Bob Okafor, Carol Diaz (earlier plan, not counted)",
    );
    expect(card.fields?.find((f) => f.label === "Subscription")?.value).toBe("s");
    expect(card.fields?.find((f) => f.label === "Approve by")?.value).toBe("2026-11-22 13:00 UTC");
    expect(card.context).toEqual(["SANDBOX", "CHG-1", `plan ${standardPlan.hash.slice(0, 12)}`]);
  });

  it("marks done, running and pending steps and the point of no return", () => {
    const card = renderChangeCard(
      change({
        state: "running",
        steps: [
          {
            index: 0,
            kind: "preflight",
            startedAt: "t",
            finishedAt: "t",
            outcome: "succeeded",
            rollback: "",
            actor: "keyturn",
          },
          { index: 1, kind: "regenerate_standby", startedAt: "t", rollback: "", actor: "keyturn" },
        ],
      }),
    );
    const plan = card.sections?.find((x) => x.heading?.startsWith("Plan"))?.lines ?? [];
    expect(plan.slice(0, 3)).toEqual(["✓ 1. preflight", "▶ 2. regenerate_standby", "· 3. publish"]);
    expect(plan[5]).toBe("· 6. regenerate_old  ⚠ point of no return");
    expect(card.buttons).toEqual([]);
  });

  it("exposure and break-glass are loud; a running break-glass change still asks for approval after the fact", () => {
    const card = renderChangeCard(
      change({
        state: "running",
        exposure: true,
        leakedSlot: "key1",
        breakGlass: true,
        approvalDeadline: "2026-11-22T10:00:00.000Z",
      }),
    );
    expect(card.title).toBe("CHG-1 · rotate contoso-translator · EXPOSURE (key1) · BREAK-GLASS");
    expect(card.tone).toBe("danger");
    expect(card.buttons?.map((b) => b.label)).toEqual(["Approve"]);
    expect(card.fields?.find((f) => f.label === "Approve after the fact by")).toBeDefined();
  });

  it("the Approve confirm says the old key will be regenerated; a paused change past the point of no return cannot be rolled back", () => {
    const approve = renderChangeCard(change({ state: "awaiting_approval" })).buttons?.[0];
    expect(approve?.confirm).toMatchObject({
      title: "Approve rotation?",
      text: "contoso-translator: key1 will be regenerated after the cutover check; consumers still on it will fail.",
    });
    const past = renderChangeCard(
      change({
        state: "paused",
        pause: {
          code: "azure_throttled",
          message: "Azure is throttling: resume CHG-1 in a minute.",
          stepIndex: 6,
        },
        steps: [
          {
            index: 5,
            kind: "regenerate_old",
            startedAt: "t",
            finishedAt: "t",
            outcome: "succeeded",
            rollback: "",
            actor: "keyturn",
          },
        ],
      }),
    );
    expect(past.buttons?.map((b) => b.label)).toEqual(["Resume", "Cancel"]);
    expect(past.sections?.find((x) => x.heading === "Paused at step 7")?.lines).toEqual([
      "Azure is throttling: resume CHG-1 in a minute.",
    ]);
  });

  it("a step reply carries fingerprints, the validation query and result, the rollback note and the actor", () => {
    const reply = renderStepReply(change({ state: "running" }), {
      index: 4,
      kind: "verify_cutover",
      startedAt: "2026-11-22T10:00:00.000Z",
      finishedAt: "2026-11-22T10:05:00.000Z",
      outcome: "gate_failed",
      before: { key1: "sha256:aaaaaaaaaaaa" },
      after: { "translator-key": "version 3 (sha256:bbbbbbbbbbbb)" },
      validation: {
        query: "requests by key1 in the last 5 min",
        result: "translator-web: 12 calls",
        passed: false,
      },
      rollback: "point the secrets back to the previous version; key1 still works",
      actor: "keyturn",
    });
    expect(reply.title).toBe("Step 5/8 GATE FAILED: verify_cutover");
    expect(reply.tone).toBe("danger");
    const text = all(reply);
    for (const want of [
      "key1: sha256:aaaaaaaaaaaa",
      "translator-key: version 3 (sha256:bbbbbbbbbbbb)",
      "Validation — NOT passed",
      "Query: requests by key1 in the last 5 min",
      "Result: translator-web: 12 calls",
      "key1 still works",
      "keyturn",
    ]) {
      expect(text).toContain(want);
    }
  });

  it("the approval request names the requester and keeps the buttons", () => {
    const m = renderApprovalRequest(
      change({ state: "awaiting_approval" }),
      "https://slack.example/archives/C1/p1",
    );
    expect(m.text).toBe("Alice Ng asks you to approve CHG-1: rotate contoso-translator — leaked in PR 123");
    expect(m.buttons?.map((b) => b.label)).toEqual(["Approve", "Reject", "Cancel"]);
    expect(m.link?.url).toBe("https://slack.example/archives/C1/p1");
  });

  it("errors say what to do; internal ones give only a reference", () => {
    const e = renderError(
      new KeyturnError(
        "unknown_flag",
        'unknown flag --resaon — did you mean --reason?\nUsage: reject <CHG> --reason "…"',
      ),
    );
    expect(e.text).toBe("unknown flag --resaon — did you mean --reason?");
    expect(e.sections?.[0]?.lines).toEqual(['Usage: reject <CHG> --reason "…"']);
    const internal = renderError({ code: "internal", correlationId: "ref-123" });
    expect(internal.text).toMatch(
      /Something went wrong \(ref ref-123\)\..*tell your keyturn operator this reference/,
    );
  });

  it("help lists every command; verify reports tampering", () => {
    const help = all(renderHelp());
    for (const c of COMMAND_HELP) expect(help).toContain(c.usage);
    expect(renderHelp("rotate").sections?.[0]?.lines[0]).toMatch(/^Usage: rotate <account> --reason/);
    expect(renderHelp("rotat").text).toBe(
      'There is no command "rotat". Did you mean rotate? These are the commands:',
    );
    const bad = renderVerify({
      ok: false,
      events: 9,
      firstBadSeq: 4,
      problem: "event 4 (approved) hash does not match its content",
    });
    expect(bad.tone).toBe("danger");
    expect(bad.text).toMatch(
      /^Audit log does NOT verify\. TAMPERED: event 4 \(approved\) hash does not match its content\. Keep the database/,
    );
  });
});
