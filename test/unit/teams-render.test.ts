import { describe, expect, it } from "vitest";
import { escapeText, toCard } from "../../adapters/teams/render.js";
import { asMessageText, asTextBlock, cardTexts } from "../support/teams-visible.js";

const typed = [
  "# not a heading",
  "> not a quote",
  "- not a list",
  "1. not numbered",
  "`not code` ~~not struck~~ \\*kept\\* &lt;typed&gt; <b>no html</b>",
].join("\n\n");

describe("Teams rendering keeps user text as typed", () => {
  it("in card TextBlocks (Markdown, no HTML)", () => {
    const [block] = cardTexts(toCard({ text: typed })).map(asTextBlock);
    expect(block!.shown.split(/\n+/)).toEqual(typed.split("\n\n"));
    expect(block!.html).not.toMatch(/<(h1|blockquote|ul|ol|code|s|del|b)>/);
  });

  it("in message text (Markdown with HTML)", () => {
    const shown = asMessageText(escapeText(typed));
    expect(shown.shown.split(/\n+/)).toEqual(typed.split("\n\n"));
    expect(shown.html).not.toMatch(/<(h1|blockquote|ul|ol|code|s|del|b)>/);
  });
});
