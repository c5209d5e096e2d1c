/**
 * A console person's direct messages. Each DM is kept as the message itself, so that `inbox` shows
 * its buttons as they now stand (a DM follows its change) and `press N` can act on them.
 */
import type { Button, Message } from "../../src/core/messages.js";
import type { AsyncStore } from "../../src/core/ports.js";
import { renderText } from "./render.js";

const NAMESPACE = "console.inbox";

/** Older data dirs kept DMs as rendered text only: they read back without buttons. */
type Stored = string | { readonly message: Message };

/** A button someone can press, with the message it belongs to (said back when it is pressed). */
export interface Pressable {
  readonly button: Button;
  readonly source: string;
}

export async function readInbox(store: AsyncStore, name: string): Promise<Stored[]> {
  return [...((await store.getKv<Stored[]>(NAMESPACE, name)) ?? [])];
}

/** Appends a DM; returns its index (the DM's root). */
export async function addToInbox(store: AsyncStore, name: string, message: Message): Promise<number> {
  const inbox = await readInbox(store, name);
  await store.putKv(NAMESPACE, name, [...inbox, { message }]);
  return inbox.length;
}

/** Replaces a DM as its change moves; false when there is no such DM. */
export async function replaceInInbox(
  store: AsyncStore,
  name: string,
  index: number,
  message: Message,
): Promise<boolean> {
  const inbox = await readInbox(store, name);
  if (inbox[index] === undefined) return false;
  inbox[index] = { message };
  await store.putKv(NAMESPACE, name, inbox);
  return true;
}

/**
 * The inbox as text, each DM numbered, with buttons numbered across the whole inbox so that every
 * number `press` accepts names one button of one DM.
 */
export async function showInbox(
  store: AsyncStore,
  name: string,
  displayName: string,
): Promise<{ text: string; pressable: Pressable[] }> {
  const inbox = await readInbox(store, name);
  if (inbox.length === 0) return { text: `${displayName} has no direct messages.`, pressable: [] };
  const pressable: Pressable[] = [];
  const parts: string[] = [];
  inbox.forEach((dm, i) => {
    const heading = `── DM ${i + 1} of ${inbox.length} to ${displayName} ──`;
    if (typeof dm === "string") {
      parts.push(`${heading}\n${dm}`);
      return;
    }
    const r = renderText(dm.message, { buttonsFrom: pressable.length + 1 });
    for (const button of r.buttons)
      pressable.push({ button, source: `${displayName}'s DM ${i + 1} (${dm.message.text})` });
    parts.push(`${heading}\n${r.text}`);
  });
  if (pressable.length) parts.push(`(press N acts on these DMs: [N] is the button so numbered above)`);
  return { text: parts.join("\n"), pressable };
}
