/**
 * Teams messages → an HTML page that renders each Adaptive Card with Microsoft's own renderer (the
 * `adaptivecards` package, loaded from node_modules in the browser) under a host configuration with
 * Teams' light-theme values, inside Teams-like message chrome. A message's `text`, where it has one, is
 * shown above its card, as Teams shows it, with the Markdown Teams renders in message text (bold, italics,
 * links); keyturn sends a card alone, its sentence as the activity's summary (notifications only).
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { esc } from "./slack-html.mjs";

const require = createRequire(import.meta.url);
const AC_DIR = dirname(require.resolve("adaptivecards/package.json"));
const AC_JS = pathToFileURL(join(AC_DIR, "dist", "adaptivecards.min.js")).href;

const fg = {
  default: { default: "#252424", subtle: "#bf252424" },
  dark: { default: "#252424", subtle: "#bf252424" },
  light: { default: "#ffffff", subtle: "#fff3f2f1" },
  accent: { default: "#6264a7", subtle: "#8b8cc7" },
  good: { default: "#237b4b", subtle: "#e5237b4b" },
  warning: { default: "#c4a000", subtle: "#e5c4a000" },
  attention: { default: "#c4314b", subtle: "#e5c4314b" },
};

/** Teams' light theme (the values Microsoft publishes for the Adaptive Cards designer's Teams host). */
export const TEAMS_HOST_CONFIG = {
  supportsInteractivity: true,
  spacing: { small: 8, default: 12, medium: 16, large: 20, extraLarge: 24, padding: 16 },
  separator: { lineThickness: 1, lineColor: "#EEEEEE" },
  fontFamily: "'Segoe UI', 'Liberation Sans', 'DejaVu Sans', sans-serif, 'Noto Color Emoji'",
  fontSizes: { small: 12, default: 14, medium: 14, large: 18, extraLarge: 24 },
  fontWeights: { lighter: 200, default: 400, bolder: 600 },
  containerStyles: {
    default: { backgroundColor: "#ffffff", foregroundColors: fg },
    emphasis: { backgroundColor: "#f9f8f7", foregroundColors: fg },
    accent: { backgroundColor: "#C7DEF9", foregroundColors: fg },
    good: { backgroundColor: "#CCFFCC", foregroundColors: fg },
    attention: { backgroundColor: "#FFC5B2", foregroundColors: fg },
    warning: { backgroundColor: "#FFE2B2", foregroundColors: fg },
  },
  actions: {
    maxActions: 6,
    spacing: "Default",
    buttonSpacing: 8,
    showCard: { actionMode: "Inline", inlineTopMargin: 16, style: "emphasis" },
    actionsOrientation: "Horizontal",
    actionAlignment: "Left",
  },
  adaptiveCard: { allowCustomStyle: false },
  factSet: {
    title: {
      size: "Default",
      color: "Default",
      isSubtle: false,
      weight: "Bolder",
      wrap: true,
      maxWidth: 150,
    },
    value: { size: "Default", color: "Default", isSubtle: false, weight: "Default", wrap: true },
    spacing: 16,
  },
};

const CSS = `
* { box-sizing: border-box; }
body { margin: 0; background: #f5f5f5; font: 14px/1.43 "Segoe UI", "Liberation Sans", "DejaVu Sans", sans-serif, "Noto Color Emoji"; color: #242424; }
#shot { padding: 12px 16px 20px; }
.title { font-weight: 700; font-size: 16px; padding: 4px 4px 12px; color: #424242; }
.post { display: flex; gap: 10px; margin: 10px 0; }
.post.reply { margin-left: 46px; }
.avatar { flex: 0 0 32px; height: 32px; border-radius: 50%; background: #6264a7; color: #fff; display: flex; align-items: center; justify-content: center; font-size: 16px; }
.bubble { flex: 1; min-width: 0; background: #fff; border-radius: 4px; box-shadow: 0 1px 2px rgba(0,0,0,.12); padding: 10px 14px 12px; }
.meta { font-size: 12px; color: #616161; margin-bottom: 4px; }
.meta b { color: #242424; font-weight: 600; margin-right: 8px; }
.text { margin: 2px 0 8px; overflow-wrap: anywhere; }
.text a { color: #5b5fc7; }
.card { border: 1px solid #e0e0e0; border-radius: 4px; overflow: hidden; }
.card .ac-pushButton { font-family: inherit; font-size: 14px; font-weight: 600; border: 1px solid #d1d1d1; border-radius: 4px; background: #fff; color: #242424; padding: 5px 12px; min-height: 32px; cursor: default; }
.card .ac-pushButton.style-positive { background: #5b5fc7; border-color: #5b5fc7; color: #fff; }
.card .ac-pushButton.style-destructive { background: #fff; border-color: #c4314b; color: #c4314b; }
.card .ac-pushButton.expanded { background: #ebebeb; }
.card .ac-textBlock p { margin: 0; }
.card .ac-input { font-family: inherit; font-size: 14px; border: 1px solid #d1d1d1; border-radius: 4px; padding: 6px 8px; }
.card .ac-input-container input, .card textarea { font-family: inherit; }
.notice { margin-top: 8px; background: #fdf3f4; border-left: 3px solid #c4314b; padding: 6px 10px; font-size: 13px; color: #242424; }
.notice.info { background: #f0f0fa; border-left-color: #5b5fc7; }
.label { font-size: 12px; color: #616161; margin: 14px 0 2px 42px; }
`;

/** Teams renders this much Markdown in message text and TextBlocks: bold, italics, links, line breaks. */
const MARKDOWN = `
function md(s) {
  const e = s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  // a backslash keeps the Markdown character after it literal (CommonMark), and is not shown
  const held = [];
  const kept = e.replace(/\\\\([\\\\\`*_{}\\[\\]()#+.!-])/g, (_m, c) => "\\u0000" + (held.push(c) - 1) + "\\u0000");
  return kept
    .replace(/\\[([^\\]]+)\\]\\((https?:[^)\\s]+)\\)/g, '<a href="$2">$1</a>')
    .replace(/\\*\\*([^*]+)\\*\\*/g, "<b>$1</b>")
    .replace(/(^|\\s)_([^_]+)_(?=\\s|$)/g, "$1<i>$2</i>")
    .replace(/\\n/g, "<br>")
    .replace(/\\u0000(\\d+)\\u0000/g, (_m, i) => held[Number(i)]);
}`;

/**
 * A Teams page: `posts` are { text, card, reply?, notice?, label? } in order; `title` names the place
 * (channel thread, chat with keyturn).
 */
export function teamsPage(title, posts) {
  const data = JSON.stringify({ host: TEAMS_HOST_CONFIG, posts }).replace(/</g, "\\u003c");
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>${CSS}</style>
<script src="${AC_JS}"></script>
</head><body><div id="shot"><div class="title">${esc(title)}</div><div id="posts"></div></div>
<script>
${MARKDOWN}
const { host, posts } = ${data};
const AC = window.AdaptiveCards;
AC.AdaptiveCard.onProcessMarkdown = (text, result) => { result.outputHtml = md(text); result.didProcess = true; };
const root = document.getElementById("posts");
for (const p of posts) {
  if (p.label) { const l = document.createElement("div"); l.className = "label"; l.textContent = p.label; root.appendChild(l); }
  const post = document.createElement("div");
  post.className = "post" + (p.reply ? " reply" : "");
  post.innerHTML = '<div class="avatar">' + (p.person ? p.person[0] : "🔑") + '</div><div class="bubble"><div class="meta"><b></b>9:41 AM</div></div>';
  if (p.person) post.querySelector(".avatar").style.background = "#8e5ea2";
  post.querySelector(".meta b").textContent = p.person || "keyturn";
  const bubble = post.querySelector(".bubble");
  if (p.text) { const t = document.createElement("div"); t.className = "text"; t.innerHTML = md(p.text); bubble.appendChild(t); }
  if (p.card) {
    const card = new AC.AdaptiveCard();
    card.hostConfig = new AC.HostConfig(host);
    card.parse(p.card);
    const el = card.render();
    const box = document.createElement("div"); box.className = "card"; box.appendChild(el);
    bubble.appendChild(box);
    for (const b of el.querySelectorAll("button")) if (b.getAttribute("aria-expanded") === "true") b.classList.add("expanded");
    if (p.expand) for (const b of el.querySelectorAll("button")) if (b.textContent.trim() === p.expand) b.click();
  }
  if (p.notice) { const n = document.createElement("div"); n.className = "notice" + (p.noticeKind === "info" ? " info" : ""); n.textContent = p.notice; bubble.appendChild(n); }
  root.appendChild(post);
}
</script></body></html>`;
}
