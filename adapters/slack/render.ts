/**
 * Message → Block Kit. All text is escaped for mrkdwn (&, <, >) so user-provided reasons and names
 * can never ping (`<!channel>`, `<@U…>`) or link; Block Kit limits are respected by truncating.
 */
import type { ActionRequest, Button, Message } from "../../src/core/messages.js";

export const escapeMrkdwn = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const cut = (s: string, n: number) => (s.length > n ? s.slice(0, n - 1) + "…" : s);

export type Block = Record<string, unknown>;

export function actionId(a: ActionRequest, i: number): string {
  return `keyturn:${a.kind}:${a.changeId}:${i}`;
}

function button(b: Button, i: number): Block {
  const value = JSON.stringify({ ...b.action, needsReason: b.needsReason ?? false });
  return {
    type: "button",
    action_id: actionId(b.action, i),
    text: { type: "plain_text", text: cut(b.label, 75) },
    value: cut(value, 2000),
    ...(b.style ? { style: b.style } : {}),
    ...(b.confirm
      ? {
          confirm: {
            title: { type: "plain_text", text: cut(b.confirm.title, 100) },
            text: { type: "mrkdwn", text: cut(escapeMrkdwn(b.confirm.text), 300) },
            confirm: { type: "plain_text", text: cut(b.confirm.confirm, 30) },
            deny: { type: "plain_text", text: cut(b.confirm.deny, 30) },
            ...(b.style === "danger" ? { style: "danger" } : {}),
          },
        }
      : {}),
  };
}

const TONE: Record<string, string> = {
  success: ":white_check_mark:",
  warning: ":warning:",
  danger: ":rotating_light:",
  info: ":key:",
};

export function toBlocks(m: Message): { text: string; blocks: Block[] } {
  const blocks: Block[] = [];
  if (m.title)
    blocks.push({
      type: "header",
      text: { type: "plain_text", text: cut(`${m.tone === "danger" ? "🚨 " : ""}${m.title}`, 150) },
    });
  const fields = (m.fields ?? []).map((f) => ({
    type: "mrkdwn",
    text: cut(`*${escapeMrkdwn(f.label)}*\n${escapeMrkdwn(f.value)}`, 2000),
  }));
  for (let i = 0; i < fields.length; i += 10)
    blocks.push({ type: "section", fields: fields.slice(i, i + 10) });
  for (const s of m.sections ?? []) {
    const body = `${s.heading ? `*${escapeMrkdwn(s.heading)}*\n` : ""}${s.lines.map(escapeMrkdwn).join("\n")}`;
    if (body.trim()) blocks.push({ type: "section", text: { type: "mrkdwn", text: cut(body, 3000) } });
  }
  if (m.link)
    blocks.push({
      type: "section",
      text: { type: "mrkdwn", text: `<${m.link.url}|${escapeMrkdwn(m.link.label)}>` },
    });
  if (m.buttons?.length) blocks.push({ type: "actions", elements: m.buttons.slice(0, 25).map(button) });
  if (m.context?.length)
    blocks.push({
      type: "context",
      elements: [
        {
          type: "mrkdwn",
          text: cut(`${TONE[m.tone ?? "info"] ?? ""} ${m.context.map(escapeMrkdwn).join(" · ")}`, 3000),
        },
      ],
    });
  return { text: cut(escapeMrkdwn(m.text), 3000), blocks: blocks.slice(0, 50) };
}
