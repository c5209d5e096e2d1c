/**
 * Block Kit → HTML that looks like Slack's desktop client: the block types keyturn sends (header,
 * section text and fields, context, actions, divider, modal input) and Slack's mrkdwn as Slack reads
 * it — *bold*, _italic_, ~strike~ and `code` only where the opening marker starts a word (a marker
 * after anything else, a zero-width space included, stays literal), <url|label> links, <@U…> and
 * <!here> mentions, and the :emoji: shortcodes keyturn uses. Text Slack would show literally is shown
 * literally: the point is to see what a person sees, mistakes included.
 */

const EMOJI = {
  rotating_light: "🚨",
  white_check_mark: "✅",
  heavy_check_mark: "✔️",
  warning: "⚠️",
  key: "🔑",
  x: "❌",
  no_entry: "⛔",
  no_entry_sign: "🚫",
  hourglass: "⌛",
  hourglass_flowing_sand: "⏳",
  lock: "🔒",
  unlock: "🔓",
  information_source: "ℹ️",
  stopwatch: "⏱️",
  arrows_counterclockwise: "🔄",
  repeat: "🔁",
  pause_button: "⏸️",
  double_vertical_bar: "⏸️",
  rewind: "⏪",
  bell: "🔔",
  eyes: "👀",
  skull: "💀",
  red_circle: "🔴",
  large_green_circle: "🟢",
  large_yellow_circle: "🟡",
  clipboard: "📋",
  page_facing_up: "📄",
  memo: "📝",
  link: "🔗",
  shield: "🛡️",
  fire: "🔥",
  stop_sign: "🛑",
  arrow_right: "➡️",
  bust_in_silhouette: "👤",
  busts_in_silhouette: "👥",
  robot_face: "🤖",
  hammer_and_wrench: "🛠️",
  construction: "🚧",
  mag: "🔍",
  white_circle: "⚪",
  black_circle: "⚫",
  heavy_minus_sign: "➖",
};

const PEOPLE = { U0ALICE: "alice", U0BOB: "bob", U0CAROL: "carol", U0DAVE: "dave", U0ERIN: "erin" };

export const esc = (s) =>
  String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** Slack's own escapes in message text, read back. */
const unescapeSlack = (s) => s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");

// A marker opens only at the start, after whitespace or after one of these; it closes before the end,
// whitespace or punctuation. Anything else in front (a letter, a zero-width space) leaves it literal.
const OPEN = `(^|[\\s(\\[{"'“‘/-])`;
const CLOSE = `(?=$|[\\s.,;:!?)\\]}"'”’/-])`;
const MARKERS = [
  { re: new RegExp(`${OPEN}\`([^\`\\n]+?)\`${CLOSE}`), tag: "code", inner: false },
  { re: new RegExp(`${OPEN}\\*(?=\\S)([^*\\n]+?)(?<=\\S)\\*${CLOSE}`), tag: "b", inner: true },
  { re: new RegExp(`${OPEN}_(?=\\S)([^_\\n]+?)(?<=\\S)_${CLOSE}`), tag: "i", inner: true },
  { re: new RegExp(`${OPEN}~(?=\\S)([^~\\n]+?)(?<=\\S)~${CLOSE}`), tag: "s", inner: true },
];

const emoji = (s) =>
  esc(s).replace(/:([a-z0-9_+-]+):/g, (m, name) =>
    EMOJI[name] ? `<span class="emoji">${EMOJI[name]}</span>` : m,
  );

/** Styled text: the earliest marker wins, its content formatted again (code content never). */
function styled(raw) {
  let best = null;
  for (const m of MARKERS) {
    const hit = m.re.exec(raw);
    if (hit && (!best || hit.index < best.hit.index)) best = { m, hit };
  }
  if (!best) return emoji(raw).replace(/\n/g, "<br>");
  const { m, hit } = best;
  const before = raw.slice(0, hit.index) + hit[1];
  const after = raw.slice(hit.index + hit[0].length);
  const inner = m.inner ? styled(hit[2]) : esc(hit[2]);
  return `${styled(before)}<${m.tag}>${inner}</${m.tag}>${styled(after)}`;
}

/** Slack mrkdwn (as sent, with &amp; &lt; &gt;) → HTML. */
export function mrkdwn(text) {
  let out = "";
  let rest = String(text);
  const token = /<([^<>]+)>/;
  for (;;) {
    const t = token.exec(rest);
    if (!t) break;
    out += styledSegment(rest.slice(0, t.index));
    out += special(t[1]);
    rest = rest.slice(t.index + t[0].length);
  }
  return out + styledSegment(rest);
}

const styledSegment = (s) => (s ? styled(unescapeSlack(s)) : "");

function special(body) {
  const [target, label] = body.split("|");
  if (target.startsWith("@"))
    return `<span class="mention">@${esc(PEOPLE[target.slice(1)] ?? target.slice(1))}</span>`;
  if (target.startsWith("!")) return `<span class="mention">@${esc(target.slice(1).split("^")[0])}</span>`;
  if (target.startsWith("#")) return `<span class="mention">#${esc(label ?? target.slice(1))}</span>`;
  const url = unescapeSlack(target);
  return `<a href="${esc(url)}">${label !== undefined ? styled(unescapeSlack(label)) : esc(url)}</a>`;
}

const plain = (t) => emoji(unescapeSlack(t?.text ?? ""));
const textObject = (t) => (t?.type === "mrkdwn" ? mrkdwn(t.text) : plain(t));

function block(b, errors) {
  switch (b.type) {
    case "header":
      return `<div class="b-header">${plain(b.text)}</div>`;
    case "section": {
      const text = b.text ? `<div class="b-text">${textObject(b.text)}</div>` : "";
      const fields = b.fields?.length
        ? `<div class="b-fields">${b.fields.map((f) => `<div class="b-field">${textObject(f)}</div>`).join("")}</div>`
        : "";
      return `<div class="b-section">${text}${fields}</div>`;
    }
    case "context":
      return `<div class="b-context">${(b.elements ?? [])
        .map((e) => (e.type === "image" ? `<span class="ctx-img"></span>` : `<span>${textObject(e)}</span>`))
        .join("")}</div>`;
    case "divider":
      return `<hr class="b-divider">`;
    case "actions":
      return `<div class="b-actions">${(b.elements ?? [])
        .map((e) =>
          e.type === "button"
            ? `<span class="btn ${e.style ?? "default"}">${plain(e.text)}</span>`
            : `<span class="btn default">${plain(e.text ?? e.placeholder ?? { text: e.type })}</span>`,
        )
        .join("")}</div>`;
    case "input": {
      const error = errors?.[b.block_id];
      return `<div class="b-input"><div class="label">${plain(b.label)}</div><div class="field${error ? " invalid" : ""}${b.element?.multiline ? " multiline" : ""}">${esc(b.element?.placeholder?.text ?? "")}</div>${error ? `<div class="error">${esc(error)}</div>` : ""}${b.hint ? `<div class="hint">${plain(b.hint)}</div>` : ""}</div>`;
    }
    default:
      return `<div class="b-unknown">[${esc(b.type)} block]</div>`;
  }
}

export const blocksHtml = (blocks, errors) => (blocks ?? []).map((b) => block(b, errors)).join("\n");

const AVATAR = `<div class="avatar">🔑</div>`;
const PERSON = (name) =>
  `<div class="avatar person">${esc(
    name
      .split(" ")
      .map((w) => w[0])
      .join(""),
  )}</div>`;

/** One message from keyturn (or a person), as Slack lays it out. */
export function messageHtml(m, opts = {}) {
  const name = opts.person ?? "keyturn";
  const head = `<div class="meta"><span class="name">${esc(name)}</span>${opts.person ? "" : `<span class="app">APP</span>`}<span class="time">${esc(opts.time ?? "9:41 AM")}</span></div>`;
  const only = m.ephemeral ? `<div class="only">👁 Only visible to you</div>` : "";
  const body = m.blocks?.length ? blocksHtml(m.blocks) : `<div class="b-text">${mrkdwn(m.text ?? "")}</div>`;
  return `<div class="msg${m.ephemeral ? " ephemeral" : ""}">${only}<div class="row">${opts.person ? PERSON(name) : AVATAR}<div class="content">${head}${body}</div></div></div>`;
}

const CSS = `
* { box-sizing: border-box; }
body { margin: 0; background: #fff; font: 15px/1.46668 Lato, "Liberation Sans", "DejaVu Sans", Arial, sans-serif, "Noto Color Emoji"; color: #1d1c1d; }
#shot { width: 100%; padding: 12px 0 16px; }
.title { font-weight: 900; font-size: 18px; padding: 10px 20px 12px; border-bottom: 1px solid #e2e2e2; margin-bottom: 8px; }
.title small { font-weight: 400; color: #616061; font-size: 13px; margin-left: 6px; }
.msg { padding: 8px 20px; }
.msg.ephemeral { background: #f8f8f8; }
.only { font-size: 12px; color: #616061; margin: 0 0 4px 48px; }
.row { display: flex; gap: 8px; }
.avatar { flex: 0 0 36px; height: 36px; border-radius: 6px; background: #1264a3; color: #fff; display: flex; align-items: center; justify-content: center; font-size: 20px; }
.avatar.person { background: #8e5ea2; font-size: 14px; font-weight: 700; }
.content { flex: 1; min-width: 0; }
.meta { line-height: 22px; }
.name { font-weight: 900; }
.app { font-size: 10px; font-weight: 700; color: #616061; background: #e8e8e8; border-radius: 2px; padding: 1px 3px; margin-left: 4px; vertical-align: 1px; }
.time { font-size: 12px; color: #616061; margin-left: 8px; }
.b-header { font-size: 18px; font-weight: 900; line-height: 1.33; margin: 4px 0; }
.b-section { margin: 4px 0; }
.b-text { white-space: normal; overflow-wrap: anywhere; }
.b-fields { display: grid; grid-template-columns: 1fr 1fr; gap: 8px 16px; margin-top: 4px; overflow-wrap: anywhere; }
.b-context { font-size: 13px; color: #616061; margin: 4px 0; }
.b-context span + span { margin-left: 8px; }
.b-divider { border: 0; border-top: 1px solid #e2e2e2; margin: 8px 0; }
.b-actions { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0 4px; }
.btn { display: inline-flex; align-items: center; height: 28px; padding: 0 12px; border-radius: 4px; font-size: 13px; font-weight: 700; border: 1px solid rgba(29,28,29,.3); background: #fff; color: #1d1c1d; }
.btn.primary { background: #007a5a; border-color: #007a5a; color: #fff; }
.btn.danger { background: #e01e5a; border-color: #e01e5a; color: #fff; }
b { font-weight: 900; }
code { font: 12px/1.5 Monaco, Menlo, "DejaVu Sans Mono", monospace; color: #e01e5a; background: rgba(29,28,29,.04); border: 1px solid rgba(29,28,29,.13); border-radius: 3px; padding: 2px 3px 1px; }
a { color: #1264a3; text-decoration: none; }
.mention { color: #1264a3; background: rgba(29,155,209,.1); border-radius: 3px; padding: 0 2px; }
.emoji { font-family: "Noto Color Emoji"; font-size: 1.05em; }
.replies { margin: 4px 20px 4px 64px; font-size: 13px; color: #1264a3; font-weight: 700; border-top: 1px solid #e2e2e2; padding-top: 8px; }
.modal-wrap { background: rgba(0,0,0,.45); padding: 28px; }
.modal { background: #fff; border-radius: 8px; width: 100%; box-shadow: 0 18px 48px rgba(0,0,0,.35); }
.modal .top { display: flex; align-items: center; gap: 10px; padding: 18px 24px; border-bottom: 1px solid #e2e2e2; }
.modal .top .avatar { flex-basis: 28px; height: 28px; font-size: 15px; }
.modal .top .t { font-size: 22px; font-weight: 900; flex: 1; }
.modal .top .x { color: #616061; font-size: 20px; }
.modal .body { padding: 16px 24px 8px; }
.modal .foot { display: flex; justify-content: flex-end; gap: 12px; padding: 16px 24px; border-top: 1px solid #e2e2e2; }
.modal .foot .btn { height: 36px; font-size: 15px; padding: 0 16px; }
.b-input .label { font-weight: 900; margin-bottom: 6px; }
.b-input .field { border: 1px solid rgba(29,28,29,.3); border-radius: 4px; height: 40px; padding: 8px 10px; color: #616061; }
.b-input .field.multiline { height: 84px; }
.b-input .field.invalid { border-color: #e01e5a; box-shadow: 0 0 0 1px #e01e5a; }
.b-input .error { color: #e01e5a; font-size: 13px; margin-top: 6px; }
.b-input .hint { color: #616061; font-size: 13px; margin-top: 6px; }
`;

/** A page showing `inner` under the conversation's name (`# incident`, or the app's name for a DM). */
export function page(conversation, inner, { subtitle } = {}) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(conversation)}</title><style>${CSS}</style></head>
<body><div id="shot">${conversation ? `<div class="title">${esc(conversation)}${subtitle ? `<small>${esc(subtitle)}</small>` : ""}</div>` : ""}${inner}</div></body></html>`;
}

/** A modal view (views.open), with field errors from a `response_action: "errors"` answer. */
export function modalHtml(view, errors) {
  return `<div class="modal-wrap"><div class="modal"><div class="top">${AVATAR}<div class="t">${plain(view.title)}</div><div class="x">✕</div></div><div class="body">${blocksHtml(view.blocks, errors)}</div><div class="foot">${view.close ? `<span class="btn default">${plain(view.close)}</span>` : ""}${view.submit ? `<span class="btn primary">${plain(view.submit)}</span>` : ""}</div></div></div>`;
}
