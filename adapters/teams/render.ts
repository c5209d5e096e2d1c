/**
 * Message → Adaptive Card 1.5. User text is escaped for Teams Markdown (and XML in message text) so a
 * reason can never mention (<at>), link ([x](y)) or format (**x**); buttons are Action.Execute (the card is replaced
 * in place), reasons are collected with Input.Text in a ShowCard, confirmations with a ShowCard.
 */
import type { Button, Message } from "../../src/core/messages.js";

/**
 * Markdown made literal: the characters that make links, emphasis, code and strike-through, and the
 * ones that start a heading, quote or list at the start of a line, get a backslash (CommonMark's
 * escape, honoured by Teams messages and Adaptive Card TextBlocks alike).
 */
export const escapeMarkdown = (s: string): string => markdownLiteral(s).replace(/^(\s*)>/gm, "$1\\>");

/** All but the quote marker, which message text turns into an entity (an entity starts no quote). */
const markdownLiteral = (s: string): string =>
  s
    .replace(/[\\`*_[\]~]/g, "\\$&")
    .replace(/^(\s*)([#+-])/gm, "$1\\$2")
    .replace(/^(\s*\d+)([.)])/gm, "$1\\$2");

/** For an activity's `text` (shown above the card, and in notifications): Markdown, then XML, made literal. */
export const escapeText = (s: string): string =>
  markdownLiteral(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** What keyturn's own inline code may hold to stay code: a command, an id (nothing that needs escaping). */
const SAFE_CODE = /^[^`\\*_[\]~&<>\n]+$/;

/**
 * An activity's `text` from a message: every user-written string (`userText`) made literal, markers
 * and all; keyturn's own `inline code` stays code, as Teams renders it in message text.
 */
export function messageTextOf(m: Pick<Message, "text" | "userText">): string {
  const users = [...new Set(m.userText ?? [])]
    .filter((u) => u.length > 0)
    .sort((a, b) => b.length - a.length);
  // backticks pair in order (first with second, third with fourth); a pair holding anything unsafe is text
  const own = (part: string): string => {
    const chunks = part.split("`");
    let out = escapeText(chunks[0] ?? "");
    for (let i = 1; i < chunks.length; i += 2) {
      const code = chunks[i] ?? "";
      const after = chunks[i + 1];
      if (after !== undefined && SAFE_CODE.test(code)) out += "`" + code + "`" + escapeText(after);
      else out += escapeText("`" + code + (after === undefined ? "" : "`" + after));
    }
    return out;
  };
  const pieces = (rest: string): string => {
    if (!rest) return "";
    let at = -1;
    let found = "";
    for (const u of users) {
      const i = rest.indexOf(u);
      if (i >= 0 && (at < 0 || i < at)) [at, found] = [i, u];
    }
    if (at < 0) return own(rest);
    return own(rest.slice(0, at)) + escapeText(found) + pieces(rest.slice(at + found.length));
  };
  return pieces(m.text);
}

/**
 * For card text: Adaptive Cards render Markdown (bold, italic, lists, links) and no HTML; an `<at>` tag
 * is a mention where the card lists it, so a typed one is shown with look-alike brackets; `&` is
 * escaped so a typed entity (`&lt;`) stays as typed.
 */
export const escapeTeams = (s: string): string =>
  escapeMarkdown(s)
    .replace(/&/g, "\\&")
    .replace(/<(\/?)at>/gi, "‹$1at›");

const COLOR: Record<string, string> = {
  success: "Good",
  warning: "Warning",
  danger: "Attention",
  info: "Accent",
};

export type Card = Record<string, unknown>;

function execute(b: Button, title: string, withReason = false): Card {
  return {
    type: "Action.Execute",
    title,
    verb: `keyturn.${b.action.kind}`,
    data: { action: b.action },
    ...(withReason ? { associatedInputs: "auto" } : {}),
    ...(b.style === "danger" ? { style: "destructive" } : b.style === "primary" ? { style: "positive" } : {}),
  };
}

function action(b: Button): Card {
  if (b.needsReason) {
    return {
      type: "Action.ShowCard",
      title: b.label,
      card: {
        type: "AdaptiveCard",
        body: [
          {
            type: "Input.Text",
            id: "reason",
            label: "Reason (kept in the evidence)",
            isRequired: true,
            isMultiline: true,
            maxLength: 500,
            errorMessage: "A reason is required",
          },
        ],
        actions: [execute(b, `${b.label} — submit`, true)],
      },
    };
  }
  if (b.confirm) {
    return {
      type: "Action.ShowCard",
      title: b.label,
      card: {
        type: "AdaptiveCard",
        body: [{ type: "TextBlock", text: escapeTeams(`${b.confirm.title} ${b.confirm.text}`), wrap: true }],
        actions: [execute(b, b.confirm.confirm)],
      },
    };
  }
  return execute(b, b.label);
}

export function toCard(m: Message): Card {
  const body: Card[] = [];
  if (m.title)
    body.push({
      type: "TextBlock",
      text: escapeTeams(m.title),
      weight: "Bolder",
      size: "Medium",
      wrap: true,
      color: COLOR[m.tone ?? "info"] ?? "Default",
    });
  // the sentence leads the card when no title says it, or when nothing follows the title (as on Slack):
  // the activity carries no text of its own, so the card must say it
  if (m.text.trim() && (!m.title || (!m.fields?.length && !m.sections?.length)))
    body.push({ type: "TextBlock", text: escapeTeams(m.text), wrap: true });
  if (m.fields?.length)
    body.push({
      type: "FactSet",
      facts: m.fields.map((f) => ({ title: escapeTeams(f.label), value: escapeTeams(f.value) })),
    });
  for (const s of m.sections ?? []) {
    const items: Card[] = [];
    if (s.heading)
      items.push({ type: "TextBlock", text: escapeTeams(s.heading), weight: "Bolder", wrap: true });
    for (const l of s.lines)
      items.push({ type: "TextBlock", text: escapeTeams(l), wrap: true, spacing: "None" });
    body.push({ type: "Container", items });
  }
  if (m.context?.length)
    body.push({
      type: "TextBlock",
      text: escapeTeams(m.context.join(" · ")),
      isSubtle: true,
      size: "Small",
      wrap: true,
    });
  const actions: Card[] = (m.buttons ?? []).map(action);
  if (m.link) actions.push({ type: "Action.OpenUrl", title: m.link.label, url: m.link.url });
  return {
    type: "AdaptiveCard",
    $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
    version: "1.5",
    body,
    ...(actions.length ? { actions } : {}),
  };
}

/** Whether a message needs a card (anything beyond its sentence and small print). */
export const needsCard = (m: Message): boolean =>
  !!(m.title || m.fields?.length || m.sections?.length || m.buttons?.length || m.link);

/**
 * A message as a Teams activity. Teams shows an activity's `text` above its card, so a message with a
 * card is sent as the card alone, its sentence as the activity's `summary` (the Bot Framework's text for
 * where cards are not rendered: notifications and the chat list's preview). A message that is only a
 * sentence stays text, its small print after it when the sentence does not already say it.
 */
export function activityOf(
  m: Message,
  files: readonly Record<string, unknown>[] = [],
): Record<string, unknown> {
  if (!needsCard(m)) {
    const extra = (m.context ?? []).filter((x) => !m.text.includes(x));
    return {
      type: "message",
      text: messageTextOf(m) + (extra.length ? ` (${escapeText(extra.join(" · "))})` : ""),
      ...(files.length ? { attachments: [...files] } : {}),
    };
  }
  return { type: "message", summary: m.text, attachments: [cardAttachment(m), ...files] };
}

export const cardAttachment = (m: Message) => ({
  contentType: "application/vnd.microsoft.card.adaptive",
  content: toCard(m),
});

/** A file (the evidence pack) as an inline attachment: bots cannot upload into channels without Graph. */
export function fileAttachment(a: { filename: string; contentType: string; content: string }) {
  return {
    contentType: a.contentType,
    name: a.filename,
    contentUrl: `data:${a.contentType};base64,${Buffer.from(a.content).toString("base64")}`,
  };
}
