import { describe, expect, it } from "vitest";
import { parseButtonValue, readReasonSubmission, reasonModal } from "../../adapters/slack/interactions.js";
import { defuseFormatting, escapeMrkdwn, LIMITS, toBlocks, type Block } from "../../adapters/slack/render.js";
import type { Message } from "../../src/core/messages.js";

const ZWSP = "\u200b";
const texts = (blocks: Block[]): string[] => JSON.stringify(blocks).match(/"text":"(?:[^"\\]|\\.)*"/g) ?? [];

describe("Slack rendering", () => {
  it("shows pings, mentions and links from users literally", () => {
    const evil = "leaked <!channel> <@U0BOB> <https://evil.example|click> & more";
    const out = toBlocks({
      text: evil,
      title: evil,
      fields: [{ label: "Reason", value: evil }],
      sections: [{ heading: evil, lines: [evil] }],
      context: [evil],
    });
    const wire = JSON.stringify(out);
    expect(wire).not.toMatch(/<!channel>|<@U0BOB>|<https:\/\/evil/);
    expect(out.text).toBe(
      "leaked &lt;!channel&gt; &lt;@U0BOB&gt; &lt;https://evil.example|click&gt; &amp; more",
    );
  });

  it("keeps a user's *bold*, _italic_, ~strike~ and `code` from styling the card, but leaves snake_case names alone", () => {
    expect(defuseFormatting("*urgent* _now_ ~x~ `rm`")).toBe(
      `${ZWSP}*urgent* ${ZWSP}_now_ ${ZWSP}~x~ ${ZWSP}\`rm\``,
    );
    expect(defuseFormatting("rg_ai_prod contoso_translator")).toBe("rg_ai_prod contoso_translator");
    const { blocks } = toBlocks({ text: "x", fields: [{ label: "Reason", value: "*click here*" }] });
    expect(JSON.stringify(blocks)).toContain(`*Reason*\\n${ZWSP}*click here*`);
  });

  it("escapes & before < and > so entities are not double-decoded", () => {
    expect(escapeMrkdwn("&lt;!here&gt;")).toBe("&amp;lt;!here&amp;gt;");
  });

  it("renders buttons with keyturn action ids, the request in the value, style and confirm dialog", () => {
    const m: Message = {
      text: "CHG-7 awaiting approval",
      buttons: [
        {
          label: "Approve",
          style: "primary",
          action: { kind: "approve", changeId: "CHG-7", planHash: "h1" },
        },
        {
          label: "Go past the point of no return",
          style: "danger",
          action: { kind: "resume", changeId: "CHG-7" },
          confirm: { title: "Sure?", text: "Old key dies <!here>", confirm: "Yes", deny: "No" },
        },
        {
          label: "Waive a",
          action: { kind: "waive", changeId: "CHG-7", consumerId: "a" },
          needsReason: true,
        },
        {
          label: "Waive b",
          action: { kind: "waive", changeId: "CHG-7", consumerId: "b" },
          needsReason: true,
        },
      ],
    };
    const actions = toBlocks(m).blocks.find((b) => b.type === "actions") as {
      elements: {
        action_id: string;
        value: string;
        style?: string;
        confirm?: { text: { text: string }; style?: string };
      }[];
    };
    expect(actions.elements.map((e) => e.action_id)).toEqual([
      "keyturn:approve:CHG-7",
      "keyturn:resume:CHG-7",
      "keyturn:waive:CHG-7",
      "keyturn:waive:CHG-7:2",
    ]);
    expect(JSON.parse(actions.elements[0]!.value)).toEqual({
      kind: "approve",
      changeId: "CHG-7",
      planHash: "h1",
    });
    expect(actions.elements[0]!.style).toBe("primary");
    expect(actions.elements[1]!.confirm).toMatchObject({
      text: { text: "Old key dies &lt;!here&gt;" },
      style: "danger",
    });
    expect(parseButtonValue(actions.elements[3]!.value)).toEqual({
      action: { kind: "waive", changeId: "CHG-7", consumerId: "b" },
      needsReason: true,
    });
  });

  it("stays within Block Kit limits by truncating, and keeps the buttons of an over-long message", () => {
    const long = "x".repeat(5000);
    const m: Message = {
      text: long,
      title: long,
      fields: Array.from({ length: 25 }, (_, i) => ({ label: `f${i}`, value: long })),
      sections: Array.from({ length: 80 }, () => ({ lines: [long] })),
      context: [long],
      buttons: [{ label: long, action: { kind: "reject", changeId: "CHG-1", reason: long } }],
    };
    const { text, blocks } = toBlocks(m);
    expect(blocks.length).toBeLessThanOrEqual(LIMITS.blocks);
    expect(text.length).toBeLessThanOrEqual(LIMITS.text);
    expect(text.endsWith("…")).toBe(true);
    for (const t of texts(blocks)) expect(t.length).toBeLessThanOrEqual(LIMITS.text + 10);
    for (const b of blocks)
      if (b.fields) expect((b.fields as unknown[]).length).toBeLessThanOrEqual(LIMITS.fields);
    const actions = blocks.find((b) => b.type === "actions") as {
      elements: { value: string; text: { text: string } }[];
    };
    expect(actions.elements[0]!.value.length).toBeLessThanOrEqual(LIMITS.value);
    expect(actions.elements[0]!.text.text.length).toBeLessThanOrEqual(LIMITS.buttonText);
    expect(parseButtonValue(actions.elements[0]!.value)?.action.changeId).toBe("CHG-1");
    expect(blocks.at(-1)!.type).toBe("context");
    expect(JSON.stringify(blocks)).toContain("more block(s) not shown");
  });

  it("links only http(s) addresses", () => {
    expect(
      JSON.stringify(
        toBlocks({ text: "x", link: { label: "thread", url: "https://contoso.slack.com/archives/C1/p1" } })
          .blocks,
      ),
    ).toContain("<https://contoso.slack.com/archives/C1/p1|thread>");
    expect(
      JSON.stringify(toBlocks({ text: "x", link: { label: "x", url: "javascript:alert(1)" } }).blocks),
    ).not.toContain("javascript:");
  });
});

describe("button values and the reason modal", () => {
  it("refuses values keyturn did not render", () => {
    expect(parseButtonValue(undefined)).toBeNull();
    expect(parseButtonValue("{not json")).toBeNull();
    expect(parseButtonValue('{"kind":"selfdestruct","changeId":"CHG-1"}')).toBeNull();
    expect(parseButtonValue('{"kind":"approve"}')).toBeNull();
    expect(parseButtonValue('"CHG-1"')).toBeNull();
  });

  it("carries the action through the modal and back with the reason", () => {
    const view = reasonModal(
      { kind: "reject", changeId: "CHG-3" },
      { channel: "C0INCIDENT", teamId: "T0CONTOSO" },
    );
    expect(view.callback_id).toBe("keyturn_reason");
    const submitted = {
      private_metadata: view.private_metadata!,
      state: { values: { reason: { value: { value: "  wrong account  " } } } },
    };
    expect(readReasonSubmission(submitted)).toEqual({
      action: { kind: "reject", changeId: "CHG-3", reason: "wrong account" },
      channel: "C0INCIDENT",
      teamId: "T0CONTOSO",
    });
    expect(
      readReasonSubmission({ ...submitted, state: { values: { reason: { value: { value: " " } } } } }),
    ).toBeNull();
    expect(readReasonSubmission({ ...submitted, private_metadata: "{broken" })).toBeNull();
  });
});
