/**
 * Message → Block Kit. All text is escaped for mrkdwn (&, <, >) so user-provided reasons and names
 * can never ping (`<!channel>`, `<@U…>`) or link, and formatting markers a user wrote are defused so a
 * reason cannot restyle the card, while keyturn's own `inline code` stays code. Every sentence is in a
 * visible block (Slack shows `text` only in notifications). Block Kit limits are met by truncating,
 * never by failing.
 */
import type { ActionRequest, Button, Message } from "../../src/core/messages.js";

export type Block = Record<string, unknown>;

/** Block Kit limits (https://api.slack.com/reference/block-kit). */
export const LIMITS = {
  blocks: 50,
  text: 3000,
  field: 2000,
  fields: 10,
  header: 150,
  buttonText: 75,
  value: 2000,
  actionId: 255,
  elements: 25,
  context: 10,
} as const;

const ZWSP = "\u200b";

export const escapeMrkdwn = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/**
 * Slack styles `*x*`, `_x_`, `~x~` and `` `x` `` only when the opening marker starts a word; a zero-width
 * space in front of such a marker keeps it literal. Markers inside a word (snake_case names) are left
 * alone so identifiers stay copyable.
 */
export const defuseFormatting = (s: string): string => s.replace(/(^|[\s([{"'])([*_~`])/g, `$1${ZWSP}$2`);

/** `*`, `_` and `~` at a word's start kept literal; keyturn writes none, so only a user's can be there. */
const defuseEmphasis = (s: string): string => s.replace(/(^|[\s([{"'])([*_~])/g, `$1${ZWSP}$2`);

/**
 * Plain text from keyturn or a user, made safe for a mrkdwn text object. Every marker in the strings
 * users wrote (`userText`) stays literal, inline code included; keyturn's own `inline code` stays code.
 */
export function mrkdwnTextOf(s: string, userText: readonly string[] = []): string {
  let out = escapeMrkdwn(s);
  for (const u of [...userText].sort((a, b) => b.length - a.length)) {
    const e = escapeMrkdwn(u);
    if (!e.includes("`")) continue;
    const safe = defuseFormatting(e);
    if (safe !== e) out = out.split(e).join(safe);
  }
  return defuseEmphasis(out);
}

export const cut = (s: string, n: number): string => (s.length > n ? s.slice(0, n - 1) + "…" : s);

/** The button's value: the ActionRequest as JSON, within 2000 characters (an over-long reason is shortened). */
export function buttonValue(b: Button): string {
  const payload = { ...b.action, ...(b.needsReason ? { needsReason: true } : {}) };
  let value = JSON.stringify(payload);
  if (value.length > LIMITS.value && payload.reason) {
    value = JSON.stringify({
      ...payload,
      reason: cut(payload.reason, Math.max(1, payload.reason.length - (value.length - LIMITS.value) - 8)),
    });
  }
  return value;
}

/** `keyturn:<kind>:<changeId>`; a second button of the same kind on one message (per-consumer waive) gets a suffix. */
export function actionId(a: ActionRequest, taken: Set<string>): string {
  const base = cut(`keyturn:${a.kind}:${a.changeId}`, LIMITS.actionId - 8);
  let id = base;
  for (let n = 2; taken.has(id); n++) id = `${base}:${n}`;
  taken.add(id);
  return id;
}

function button(b: Button, taken: Set<string>, user: readonly string[]): Block {
  return {
    type: "button",
    action_id: actionId(b.action, taken),
    text: { type: "plain_text", text: cut(escapeMrkdwn(b.label), LIMITS.buttonText) },
    value: buttonValue(b),
    ...(b.style ? { style: b.style } : {}),
    ...(b.confirm
      ? {
          confirm: {
            title: { type: "plain_text", text: cut(escapeMrkdwn(b.confirm.title), 100) },
            text: { type: "mrkdwn", text: cut(mrkdwnTextOf(b.confirm.text, user), 300) },
            confirm: { type: "plain_text", text: cut(escapeMrkdwn(b.confirm.confirm), 30) },
            deny: { type: "plain_text", text: cut(escapeMrkdwn(b.confirm.deny), 30) },
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
  const user = m.userText ?? [];
  const mrkdwnText = (s: string) => mrkdwnTextOf(s, user);
  const head: Block[] = [];
  if (m.title)
    head.push({
      type: "header",
      text: {
        type: "plain_text",
        text: cut(escapeMrkdwn(`${m.tone === "danger" ? "🚨 " : ""}${m.title}`), LIMITS.header),
      },
    });
  const fields = (m.fields ?? []).map((f) => ({
    type: "mrkdwn",
    text: cut(`*${mrkdwnText(f.label)}*\n${mrkdwnText(f.value)}`, LIMITS.field),
  }));
  for (let i = 0; i < fields.length; i += LIMITS.fields)
    head.push({ type: "section", fields: fields.slice(i, i + LIMITS.fields) });
  for (const s of m.sections ?? []) {
    const body = `${s.heading ? `*${mrkdwnText(s.heading)}*\n` : ""}${s.lines.map((l) => mrkdwnText(l)).join("\n")}`;
    if (body.trim()) head.push({ type: "section", text: { type: "mrkdwn", text: cut(body, LIMITS.text) } });
  }
  // with blocks, Slack shows `text` only in notifications: without a title, the sentence leads the
  // message as a block of its own; a title says it otherwise, unless nothing follows the title
  if (m.text.trim() && (!m.title || (!m.fields?.length && !m.sections?.length)))
    head.splice(m.title ? 1 : 0, 0, {
      type: "section",
      text: { type: "mrkdwn", text: cut(mrkdwnText(m.text), LIMITS.text) },
    });
  if (m.link)
    head.push({
      type: "section",
      text: {
        type: "mrkdwn",
        text: cut(
          `<${linkTarget(m.link.url)}|${escapeMrkdwn(m.link.label).replace(/\|/g, "¦")}>`,
          LIMITS.text,
        ),
      },
    });

  // buttons and the small print always survive; the body gives way if the message is too long
  const tail: Block[] = [];
  if (m.buttons?.length) {
    const taken = new Set<string>();
    tail.push({
      type: "actions",
      elements: m.buttons.slice(0, LIMITS.elements).map((b) => button(b, taken, user)),
    });
  }
  if (m.context?.length) {
    const line = `${TONE[m.tone ?? "info"] ?? ""} ${m.context.map((c) => mrkdwnText(c)).join(" · ")}`;
    tail.push({ type: "context", elements: [{ type: "mrkdwn", text: cut(line, LIMITS.text) }] });
  }
  const room = LIMITS.blocks - tail.length;
  const body =
    head.length > room
      ? [
          ...head.slice(0, room - 1),
          {
            type: "context",
            elements: [{ type: "mrkdwn", text: `… ${head.length - room + 1} more block(s) not shown` }],
          },
        ]
      : head;
  return { text: cut(mrkdwnText(m.text), LIMITS.text), blocks: [...body, ...tail] };
}

/** Plain text from keyturn or a user, made safe for a mrkdwn text object (no user strings known). */
export function mrkdwnText(s: string): string {
  return mrkdwnTextOf(s);
}

/** Only http(s) links are rendered as links; `|` and `>` would end Slack's link syntax early. */
function linkTarget(url: string): string {
  return /^https?:\/\//i.test(url) ? url.replace(/[|>]/g, encodeURIComponent) : "about:blank";
}
