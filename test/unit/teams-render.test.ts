import { describe, expect, it } from "vitest";
import { escapeText, messageTextOf, toCard } from "../../adapters/teams/render.js";
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

describe("Teams message text keeps keyturn's own inline code", () => {
  const reason = "see `rm -rf` [click](https://evil.example/phish) **loud**";

  it("shows keyturn's command as code and the user's reason as typed", () => {
    const shown = asMessageText(
      messageTextOf({
        text: `Rejected: ${reason}. Verify with \`keyturn audit verify\`.`,
        userText: [reason],
      }),
    );
    expect(shown.html).toContain("<code>keyturn audit verify</code>");
    expect(shown.html).not.toContain("<code>rm -rf</code>");
    expect(shown.html).not.toContain("<strong>");
    expect(shown.html).not.toContain(">click</a>");
    expect(shown.shown).toBe(`Rejected: ${reason}. Verify with keyturn audit verify.`);
  });

  it("treats everything as the user's when the message lists no user text but the code is unsafe", () => {
    const shown = asMessageText(messageTextOf({ text: "`<at>x</at>` and `a*b*`" }));
    expect(shown.html).not.toMatch(/<(code|at|em)\b/);
  });
});
