/**
 * The one error type keyturn shows to people. A closed set of codes; each message says what to do.
 * Adapters render `userMessage`; anything that is not a KeyturnError is `internal` and gets a
 * correlation id instead of its text.
 */
export const ERROR_CODES = {
  malformed_command: "The command could not be read.",
  unknown_command: "There is no such command.",
  unknown_flag: "The command has a flag it does not know.",
  missing_argument: "The command is missing something it needs.",
  unknown_account: "No AI services account has that name.",
  ambiguous_account: "More than one account has that name.",
  unknown_change: "No change has that id.",
  key_free: "The account has local authentication disabled: there are no keys to rotate.",
  change_open: "The account already has an open change.",
  key_holders_remain: "Something still holds the account's key: local authentication cannot be disabled yet.",
  not_authorised: "You are not an approver for this change.",
  self_approval: "The requester cannot approve their own change.",
  already_approved: "You have already approved this change.",
  approval_expired: "The approval window has closed.",
  plan_changed: "The plan changed since it was approved.",
  invalid_state: "The change is not in a state that allows this.",
  no_active_slot: "keyturn cannot tell which key consumers use.",
  gate_failed: "The cutover check did not pass.",
  azure_auth: "keyturn could not authenticate to Azure.",
  azure_permission: "keyturn's identity lacks a permission in Azure.",
  azure_throttled: "Azure is throttling keyturn.",
  azure_not_found: "Azure does not know the resource.",
  azure_conflict: "Azure refused the operation because of a conflicting state.",
  azure_transient: "Azure failed temporarily.",
  azure_internal: "Azure answered in a way keyturn did not expect.",
  chat_failed: "The chat platform refused a message.",
  config_invalid: "The configuration is not valid.",
  tampered: "The audit log does not verify.",
  internal: "Something went wrong inside keyturn.",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Azure failure classes (STYLE.md), each mapped to an ErrorCode. */
export type AzureFailure =
  "auth" | "permission" | "throttled" | "not_found" | "conflict" | "transient" | "internal";
export const azureFailureCode = (f: AzureFailure): ErrorCode => `azure_${f}` as ErrorCode;

export interface ErrorDetails {
  readonly candidates?: readonly string[]; // ambiguous / unknown names
  readonly retryAfterSeconds?: number;
  readonly requestId?: string;
  readonly statusCode?: number;
  readonly scope?: string;
  readonly [key: string]: unknown;
}

export class KeyturnError extends Error {
  override readonly name = "KeyturnError";
  constructor(
    readonly code: ErrorCode,
    /** What happened and what to do, for a person. Never contains a key value. */
    readonly userMessage: string,
    readonly details: ErrorDetails = {},
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${userMessage}`, options);
  }

  /** Whether `resume` may succeed later without anyone changing anything. */
  get retryable(): boolean {
    return this.code === "azure_throttled" || this.code === "azure_transient" || this.code === "chat_failed";
  }
}

export const isKeyturnError = (e: unknown): e is KeyturnError =>
  e instanceof Error && e.name === "KeyturnError" && typeof (e as KeyturnError).code === "string";

export const fail = (code: ErrorCode, userMessage: string, details?: ErrorDetails): never => {
  throw new KeyturnError(code, userMessage, details);
};
