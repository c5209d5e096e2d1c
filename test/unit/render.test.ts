import { describe, expect, it } from "vitest";
import { toBlocks } from "../../adapters/slack/render.js";
import { toCard } from "../../adapters/teams/render.js";
import { renderChangeCard } from "../../src/core/render/index.js";
import { change, standardPlan } from "../support/change-fixture.js";

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
});
