/** The command grammar's result: one typed value per command in DESIGN.md. The parser is in parse-command.ts. */
import type { LeakedSlot, ReloadMode } from "./domain.js";

export type Command =
  | { readonly name: "help"; readonly topic?: string }
  | { readonly name: "status"; readonly account: string }
  | { readonly name: "owner"; readonly account: string }
  | { readonly name: "list"; readonly overdue: boolean }
  | { readonly name: "inventory"; readonly account: string }
  | {
      readonly name: "rotate";
      readonly account: string;
      readonly reason: string;
      readonly exposure: boolean;
      readonly leakedSlot: LeakedSlot | null; // null unless exposure; "unknown" when --exposure has no value
      readonly killNow: boolean; // --kill-now: regenerate the leaked active key first, accept the outage
      readonly breakGlass: boolean; // --break-glass: start before approval (named responders only)
    }
  /** Turn the account's keys off (disableLocalAuth=true) once nothing holds a key: a change under approval. */
  | { readonly name: "disable-local-auth"; readonly account: string; readonly reason: string }
  | { readonly name: "approve"; readonly changeId: string }
  | { readonly name: "reject"; readonly changeId: string; readonly reason: string }
  | { readonly name: "cancel"; readonly changeId: string; readonly reason?: string }
  | { readonly name: "resume"; readonly changeId: string }
  | { readonly name: "rollback"; readonly changeId: string }
  | { readonly name: "waive"; readonly changeId: string; readonly consumer: string; readonly reason: string }
  | {
      readonly name: "include";
      readonly changeId: string;
      readonly consumer: string;
      readonly reason: string;
    }
  | { readonly name: "history"; readonly account: string }
  | { readonly name: "evidence"; readonly changeId: string }
  | { readonly name: "verify" }
  /** The calendar of scheduled rotations over the next `days` (policy `schedule: auto | request`). */
  | { readonly name: "schedule"; readonly days: number }
  | { readonly name: "report"; readonly sort: "risk" | "name" | "due" }
  | {
      readonly name: "consumer";
      readonly op: "add";
      readonly account: string;
      readonly consumer: string;
      readonly owner?: string;
      readonly secret?: string; // https://<vault>/secrets/<name>[/<version>]
      readonly reload?: ReloadMode;
    }
  | { readonly name: "consumer"; readonly op: "remove"; readonly account: string; readonly consumer: string };

export type CommandName = Command["name"];
