/**
 * Teams text as a person sees it. A message's `text` is Markdown with HTML (mentions, entities); an
 * Adaptive Card TextBlock is Markdown without HTML. Both are rendered here with markdown-it, a
 * CommonMark renderer (the adaptivecards JS renderer uses it for TextBlocks), URLs autolinked as
 * Teams does; `shown` is what is read on screen, `links` every link with what it says and where it goes.
 */
import MarkdownIt from "markdown-it";

const messageMd = new MarkdownIt({ html: true, linkify: true });
const cardMd = new MarkdownIt({ html: false, linkify: true });

export interface Rendered {
  readonly html: string;
  readonly shown: string;
  readonly links: readonly { readonly says: string; readonly to: string }[];
  /** Text shown bold or italic. */
  readonly emphasised: readonly string[];
}

export const asMessageText = (text: string): Rendered => rendered(messageMd.render(text));
export const asTextBlock = (text: string): Rendered => rendered(cardMd.render(text));

/** Every TextBlock and FactSet line of a card (with its ShowCards), in order. */
export function cardTexts(card: unknown): string[] {
  const out: string[] = [];
  const walk = (n: unknown): void => {
    if (Array.isArray(n)) return n.forEach(walk);
    if (!n || typeof n !== "object") return;
    const o = n as Record<string, unknown>;
    if (o.type === "TextBlock" && typeof o.text === "string") out.push(o.text);
    if (o.type === "FactSet")
      for (const f of (o.facts ?? []) as { title: string; value: string }[]) out.push(f.title, f.value);
    for (const k of ["body", "items", "columns", "actions", "card"]) walk(o[k]);
  };
  walk(card);
  return out;
}

function rendered(html: string): Rendered {
  const links = [...html.matchAll(/<a href="([^"]*)"[^>]*>(.*?)<\/a>/gs)].map((m) => ({
    to: decode(m[1]!),
    says: text(m[2]!),
  }));
  const emphasised = [...html.matchAll(/<(strong|em|b|i)>(.*?)<\/\1>/gs)].map((m) => text(m[2]!));
  return { html, shown: text(html).trim(), links, emphasised };
}

const text = (html: string) => decode(html.replace(/<[^>]+>/g, ""));
const decode = (s: string) =>
  s
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#(\d+);/g, (_m, n: string) => String.fromCodePoint(Number(n)))
    .replace(/&amp;/g, "&");

/** Everything a person reads of one Teams message activity: its text (if any), then its cards' text. */
export function shownOf(activity: Record<string, unknown> | undefined): string[] {
  const out: string[] = [];
  if (typeof activity?.text === "string" && activity.text) out.push(asMessageText(activity.text).shown);
  for (const a of (activity?.attachments ?? []) as { contentType?: string; content?: unknown }[])
    if (a.contentType === "application/vnd.microsoft.card.adaptive")
      out.push(...cardTexts(a.content).map((t) => asTextBlock(t).shown));
  return out;
}
