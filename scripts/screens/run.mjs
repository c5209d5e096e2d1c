/**
 * `npm run screens`: runs a sandbox incident through keyturn with Slack and Teams on the test fakes,
 * renders what each platform received — Block Kit as Slack lays it out, Adaptive Cards with
 * Microsoft's renderer under Teams' host config — and screenshots every state with Chromium into
 * docs/screens/ (PNG files with fixed names, and a README listing them).
 * Run with: node --import tsx scripts/screens/run.mjs
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { driveIncident } from "./drive.mjs";
import { findChromium, shootAll } from "./shoot.mjs";
import { messageHtml, modalHtml, page } from "./slack-html.mjs";
import { teamsPage } from "./teams-html.mjs";

const OUT = resolve(process.env.SCREENS_OUT ?? "docs/screens");

const chromium = findChromium();
const started = Date.now();
process.stdout.write("screens: running a sandbox incident in Slack and Teams (about a minute)…\n");
const { slack: s, teams: t } = await driveIncident();

/** Every screen: file name, what it shows, and its page. */
const screens = [];
const slackShot = (name, caption, inner, opts = {}) =>
  screens.push({
    name,
    caption,
    html: page(opts.conversation ?? "# incident", inner, opts),
    width: opts.width ?? 760,
    scale: opts.scale,
  });
const teamsShot = (name, caption, title, posts, opts = {}) =>
  screens.push({ name, caption, html: teamsPage(title, posts), width: opts.width ?? 640, scale: opts.scale });
const thread = (th) =>
  messageHtml(th.root) +
  `<div class="replies">${th.replies.length} ${th.replies.length === 1 ? "reply" : "replies"}</div>` +
  th.replies.map((r) => messageHtml(r)).join("");

// Slack
slackShot(
  "slack-01-status-answer",
  "`/keyturn status contoso-translator`: the answer only the asker sees.",
  messageHtml(s.status),
  { subtitle: "Erin asked /keyturn status contoso-translator" },
);
slackShot(
  "slack-02-rotate-answer",
  "`/keyturn rotate … --exposure key1`: the requester's answer, with the link to the evidence thread.",
  messageHtml(s.requested),
  { subtitle: "Alice asked /keyturn rotate contoso-translator --exposure key1" },
);
slackShot(
  "slack-03-card-awaiting-approval",
  "The change card in the channel, awaiting two approvals.",
  messageHtml(s.awaiting),
);
slackShot(
  "slack-04-refusals",
  "Refusals: Erin is not an approver; Alice cannot approve her own change (each sees only their own).",
  messageHtml(s.refusal) + messageHtml(s.selfApproval),
  { subtitle: "Erin, then Alice, pressed Approve" },
);
slackShot(
  "slack-05-approval-counted",
  "Bob's approval counted (1 of 2), answered to Bob only.",
  messageHtml(s.approvedOne),
  { subtitle: "Bob pressed Approve" },
);
slackShot(
  "slack-06-card-running",
  "The card mid-rotation: done steps ✓, the step in progress ▶ with since when.",
  messageHtml(s.running),
);
slackShot("slack-07-card-completed", "The card when the change has completed.", messageHtml(s.completed));
slackShot(
  "slack-08-thread-step-replies",
  "The evidence thread: the card and one reply per step.",
  thread(s.thread),
  { scale: 1.25 },
);
slackShot(
  "slack-09-dm-approver-awaiting",
  "Bob's direct message asking for his approval.",
  messageHtml(s.dmAwaiting),
  { conversation: "keyturn", subtitle: "Bob's direct messages with the app" },
);
slackShot(
  "slack-10-dm-approver-after",
  "Bob's direct message after the change completed.",
  messageHtml(s.dmCompleted),
  { conversation: "keyturn", subtitle: "Bob's direct messages with the app" },
);
screens.push({
  name: "slack-11-reason-modal",
  caption: "Reject asks for a reason in a modal.",
  html: page("", modalHtml(s.modal.view)),
  width: 620,
});
screens.push({
  name: "slack-12-reason-modal-error",
  caption: "An empty reason keeps the modal open with the error under the field.",
  html: page("", modalHtml(s.modalError.view, s.modalError.errors)),
  width: 620,
});
slackShot("slack-13-card-rejected", "A rejected change: who rejected it and why.", messageHtml(s.rejected));
slackShot("slack-14-thread-rejected", "The rejected change's thread.", thread(s.rejectedThread), {
  scale: 1.25,
});

// Teams
const T_THREAD = "Incident channel — keyturn's thread";
const T_DM = "Chat with keyturn (Bob)";
teamsShot(
  "teams-01-card-awaiting-approval",
  "The change card in the channel thread, awaiting two approvals.",
  T_THREAD,
  [t.awaiting],
);
teamsShot(
  "teams-02-refusal-not-approver",
  "Erin pressed Approve: the card stays, and Teams shows keyturn's answer to her.",
  T_THREAD,
  [
    {
      ...t.awaiting,
      notice:
        typeof t.refusal.invoke?.value === "string"
          ? t.refusal.invoke.value
          : JSON.stringify(t.refusal.invoke),
    },
  ],
);
teamsShot(
  "teams-03-card-running",
  "The card mid-rotation: done steps ✓, the step in progress ▶ with since when.",
  T_THREAD,
  [t.running],
);
teamsShot("teams-04-card-completed", "The card when the change has completed.", T_THREAD, [t.completed]);
teamsShot(
  "teams-05-thread-step-replies",
  "The channel thread: the card, keyturn's answer and one reply per step.",
  T_THREAD,
  t.thread.map((p, i) => ({ ...p, reply: i > 0 })),
  { scale: 1.25 },
);
teamsShot("teams-06-dm-approver-awaiting", "Bob's chat with keyturn: the approval request.", T_DM, [
  t.dmAwaiting,
]);
teamsShot("teams-07-dm-approver-after", "Bob's chat after the change completed.", T_DM, [t.dmCompleted]);
teamsShot("teams-08-card-rejected", "A rejected change: who rejected it and why.", T_THREAD, [t.rejected]);
teamsShot(
  "teams-09-card-paused",
  "A change paused at the cutover check (a consumer pins the old secret version).",
  T_THREAD,
  [t.paused],
);

mkdirSync(OUT, { recursive: true });
for (const f of readdirSync(OUT)) if (/^(slack|teams)-.*\.png$/.test(f)) unlinkSync(join(OUT, f));
const work = mkdtempSync(join(tmpdir(), "keyturn-screens-html-"));
try {
  shootAll(
    chromium,
    screens.map((sc) => ({
      ...sc,
      png: join(OUT, `${sc.name}.png`),
      done: () => process.stdout.write(`  ${sc.name}.png\n`),
    })),
    work,
  );
} finally {
  if (!process.env.SCREENS_KEEP_HTML) rmSync(work, { recursive: true, force: true });
  else process.stdout.write(`screens: HTML kept in ${work}\n`);
}

const list = (prefix) =>
  screens
    .filter((sc) => sc.name.startsWith(prefix))
    .map((sc) => `- [${sc.name}.png](${sc.name}.png) — ${sc.caption}`)
    .join("\n");
writeFileSync(
  join(OUT, "README.md"),
  `# What people see — screenshots

Generated by \`npm run screens\` (scripts/screens/): a sandbox incident driven through keyturn with Slack
and Teams set up against the test fakes, which speak the platforms' wire protocols. Slack messages are the
Block Kit keyturn sent, laid out as Slack's desktop client does (scripts/screens/slack-html.mjs: header,
section, fields, context, actions, modal input, and mrkdwn as Slack reads it — a formatting marker that
does not start a word stays literal). Teams messages are the Adaptive Cards keyturn sent, rendered by
Microsoft's \`adaptivecards\` renderer under Teams' light-theme host config, with a message's text above its
card wherever it has both, as Teams shows it (keyturn sends a card alone, its sentence as the summary Teams
notifies with, so no text repeats a card; a message that is only a sentence is text). The designer's sample
Teams host config draws \`good\` and \`warning\` text in #92c353 and #f8d22a; these pages use darker shades
of the same hues, so read a green or yellow title's legibility with that in mind. Screenshots by Chromium,
headless. Times, ids and fingerprints change from run to run; file names do not.

Needs Debian's \`chromium\` and \`fonts-noto-color-emoji\` (\`apt-get install -y chromium fonts-noto-color-emoji\`).

## Slack

${list("slack-")}

## Teams

${list("teams-")}
`,
);
process.stdout.write(
  `screens: ${screens.length} screenshots in ${OUT} (${Math.round((Date.now() - started) / 1000)} s)\n`,
);
process.exit(0);
