/** Message → plain text for the console: title, aligned fields, sections, numbered buttons, small print. */
import type { Button, Message } from "../../src/core/messages.js";

const TONE: Record<string, string> = { success: "✔", warning: "!", danger: "✖", info: "•" };

export function renderText(
  m: Message,
  opts: { buttonsFrom?: number } = {},
): { text: string; buttons: Button[] } {
  const out: string[] = [];
  if (m.title) out.push(`${TONE[m.tone ?? "info"] ?? "•"} ${m.title}`);
  else out.push(m.text);
  const width = Math.max(0, ...(m.fields ?? []).map((f) => f.label.length));
  for (const f of m.fields ?? []) out.push(`  ${f.label.padEnd(width)}  ${f.value}`);
  for (const s of m.sections ?? []) {
    if (s.heading) out.push(`  ${s.heading}`);
    for (const l of s.lines) out.push(`    ${l}`);
  }
  if (m.link) out.push(`  ${m.link.label}: ${m.link.url}`);
  const buttons = [...(m.buttons ?? [])];
  if (buttons.length) {
    const from = opts.buttonsFrom ?? 1;
    out.push("  " + buttons.map((b, i) => `[${from + i}] ${b.label}`).join("  "));
  }
  if (m.context?.length) out.push(`  (${m.context.join(" · ")})`);
  return { text: out.join("\n"), buttons };
}
