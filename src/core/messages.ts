/**
 * The chat-neutral message model. The core builds these; each adapter renders them
 * (Block Kit, Adaptive Cards, console text). Every string is plain text written by keyturn or
 * quoted from a user: adapters escape all of it for their platform (no pings, mentions or links).
 * keyturn's own text may mark a command as `inline code`; the user-written strings a message quotes are
 * listed in `userText`, so a platform can keep their formatting markers literal.
 */
import type { Platform } from "./domain.js";

export type Tone = "info" | "success" | "warning" | "danger";

export interface Field {
  readonly label: string;
  readonly value: string;
}

export interface Section {
  readonly heading?: string;
  readonly lines: readonly string[];
}

/** What a button asks the service to do; adapters carry it in the button's value and hand it back. */
export type ActionKind = "approve" | "reject" | "cancel" | "resume" | "rollback" | "waive";

export interface ActionRequest {
  readonly kind: ActionKind;
  readonly changeId: string;
  readonly planHash?: string; // approve binds to the plan the approver saw
  readonly reason?: string; // reject, cancel
  readonly consumerId?: string; // waive a pinned consumer
}

export interface Confirm {
  readonly title: string;
  readonly text: string;
  readonly confirm: string;
  readonly deny: string;
}

export interface Button {
  readonly label: string;
  readonly style?: "primary" | "danger";
  readonly action: ActionRequest;
  readonly confirm?: Confirm; // shown before the action is sent (point of no return)
  readonly needsReason?: boolean; // the adapter collects a reason (Slack modal, Teams input, console prompt)
}

export interface Message {
  /** One line, plain: notification text and fallback for clients that cannot render the rest. */
  readonly text: string;
  readonly title?: string;
  readonly tone?: Tone;
  readonly fields?: readonly Field[];
  readonly sections?: readonly Section[];
  readonly buttons?: readonly Button[];
  /** Small print under the message (e.g. "SANDBOX — simulated Azure tenant", change id, hash). */
  readonly context?: readonly string[];
  /** A link shown with the message (e.g. the evidence thread's permalink). */
  readonly link?: { readonly label: string; readonly url: string };
  /**
   * Strings in this message that users wrote (reasons, names). Platforms whose text has formatting
   * keep these literal, while keyturn's own `inline code` stays code.
   */
  readonly userText?: readonly string[];
}

export interface Attachment {
  readonly filename: string;
  readonly contentType: string;
  readonly content: string;
}

export interface Reply {
  readonly visibility: "ephemeral" | "in_channel";
  readonly message: Message;
  readonly attachments?: readonly Attachment[];
  /** After a button press: the change card as it now stands, for platforms that replace the card in place (Teams). */
  readonly card?: Message;
}

/** Where a command was typed. `ref` is the platform's own reference (Teams conversation reference …), JSON. */
export interface ChannelRef {
  readonly platform: Platform;
  readonly id: string;
  readonly ref?: Readonly<Record<string, unknown>>;
}
