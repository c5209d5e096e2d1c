/** Domain types shared by every part of keyturn. Plain data: JSON-serialisable, no key values. */

export type KeySlot = "key1" | "key2";
export type LeakedSlot = KeySlot | "unknown";
export type Platform = "slack" | "teams" | "console";

export const otherSlot = (slot: KeySlot): KeySlot => (slot === "key1" ? "key2" : "key1");
/** Azure's name for a slot in `regenerateKey` bodies. */
export const azureKeyName = (slot: KeySlot): "Key1" | "Key2" => (slot === "key1" ? "Key1" : "Key2");

/**
 * Someone acting through a chat platform or the console.
 * `id` is unique across platforms (`slack:T1:U1`, `teams:<aadObjectId>`, `console:alice`).
 * `identities` are the lower-cased names policy entries are matched against: e-mail / UPN,
 * `slack:U…`, `slackgroup:S…`, `aad:<objectId>`, `console:<name>`, `group:<policy group>` is
 * resolved by policy, not here.
 */
export interface Principal {
  readonly platform: Platform;
  readonly id: string;
  readonly displayName: string;
  readonly identities: readonly string[];
  /**
   * The person the policy resolved this chat identity to (`person:<key>` for a person the policy
   * defines, `id:<identity>` for an identity the policy names on its own); absent = nobody the
   * policy knows. Approvals, separation of duties and break-glass count persons, not chat accounts.
   */
  readonly person?: string;
}

/** What is stored about a principal (events, approvals): no group memberships. */
export interface PrincipalRef {
  readonly platform: Platform;
  readonly id: string;
  readonly displayName: string;
  readonly person?: string;
}

export const toRef = (p: Principal): PrincipalRef => ({
  platform: p.platform,
  id: p.id,
  displayName: p.displayName,
  ...(p.person ? { person: p.person } : {}),
});

/** Who a principal is for counting: the policy's person, else the chat account (never two votes for one person). */
export const personKey = (p: PrincipalRef): string => p.person ?? p.id;

/** Whether two principals are the same person. */
export const samePerson = (a: PrincipalRef, b: PrincipalRef): boolean => personKey(a) === personKey(b);

/** A `Microsoft.CognitiveServices/accounts` resource. */
export interface Account {
  readonly id: string; // full ARM resource id
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly name: string;
  readonly kind: string;
  readonly location: string;
  readonly endpoint: string;
  readonly disableLocalAuth: boolean;
  readonly provisioningState: string;
  readonly tags: Readonly<Record<string, string>>;
}

export interface KeyFingerprints {
  readonly key1: string;
  readonly key2: string;
}

/** Where a Key Vault secret lives. `version` absent = the current version. */
export interface SecretLocator {
  readonly vaultUrl: string;
  readonly name: string;
  readonly version?: string;
}

export type ConsumerSource =
  | "keyvault-secret" // a secret whose value matches a slot fingerprint
  | "keyvault-tagged" // a secret tagged by keyturn for this account
  | "app-setting-reference" // App Service / Functions Key Vault reference
  | "app-setting-literal" // a literal copy of the key in an app setting
  | "listkeys-caller" // Activity Log: someone called listKeys (an unmanaged copy may exist)
  | "declared"; // declared by hand (`consumer add`)

export type ReloadMode =
  | "versionless" // reads the latest secret version by itself within a window
  | "refreshable" // keyturn can force a refresh (App Service config references)
  | "pinned" // pins a secret version: will not move until re-pinned
  | "manual" // a person must act (owner is notified)
  | "unknown";

export interface Consumer {
  readonly id: string; // stable within an account, e.g. "kv:contoso-kv/translator-key" or "site:<siteId>/TRANSLATOR_KEY"
  readonly name: string;
  readonly source: ConsumerSource;
  readonly slot: KeySlot | "unknown";
  readonly reload: ReloadMode;
  readonly owner?: string;
  readonly secret?: SecretLocator; // the secret it reads (for references, the referenced secret)
  readonly siteId?: string; // App Service site, when the consumer is one
  readonly settingName?: string;
  readonly evidence: string; // how keyturn knows, in one sentence
  /**
   * Whether a completed rotation delivered to this holder or an approver declared it. `false` = NEW:
   * found for the first time. Absent = keyturn did not consult its record (treated as known).
   */
  readonly known?: boolean;
  /** When and by whom the holder's copy was created, as Azure records it (null = not recorded). */
  readonly firstSeen?: { readonly createdAt: string | null; readonly createdBy: string | null };
  /**
   * Addresses its calls come from, as Azure reports them (an App Service site's outbound IPs, a
   * listKeys caller's IP): 401s from these after the cut can be attributed to this holder.
   */
  readonly callerIps?: readonly string[];
}

export interface ServiceTraffic {
  readonly apiName: string;
  readonly calls: number;
}

/** The blast radius of an account's keys, with what could not be seen. */
export interface Inventory {
  readonly accountId: string;
  readonly takenAt: string; // ISO
  readonly keyFree: boolean; // disableLocalAuth: nothing to rotate
  readonly fingerprints: KeyFingerprints | null;
  readonly activeSlot: KeySlot | null; // null = no consumer found, or consumers disagree
  readonly consumers: readonly Consumer[];
  readonly services: readonly ServiceTraffic[];
  readonly unseen: readonly string[]; // e.g. "Activity Log: keyturn lacks Microsoft.Insights/eventtypes/values/read on /subscriptions/…"
}

export type StepKind =
  | "preflight"
  | "regenerate_standby"
  | "publish"
  | "move_consumers"
  | "verify_cutover"
  | "regenerate_old"
  | "kill_leaked" // "kill now": regenerate the leaked active key first and accept the outage
  | "soak"
  | "complete"
  // the disable-local-auth change (plan variant "disable-local-auth")
  | "key_free_preflight" // no key holder remains; key-authenticated traffic recorded
  | "disable_local_auth" // ARM: properties.disableLocalAuth = true
  | "prove_keys_refused" // a data-plane call with a key is refused
  | "key_free_complete" // record that the account is key-free
  | "enable_local_auth"; // the rollback: disableLocalAuth = false, keys work again

export interface PlanStep {
  readonly index: number;
  readonly kind: StepKind;
  readonly title: string;
  readonly slot?: KeySlot; // the slot a regenerate or publish acts on
  readonly pointOfNoReturn: boolean;
  readonly waitSeconds: number; // propagation / soak window after the action, 0 for none
  readonly rollback: string; // what an operator can do if this step fails
}

export type PlanVariant =
  | "standard"
  | "exposure-standby" // the leaked key is the standby: regenerate it, nothing else
  | "exposure-active" // the leaked key is active: staged, short windows
  | "exposure-active-kill-now" // regenerate the leaked key first, accept the outage
  | "exposure-unknown" // staged, both keys end fresh
  | "disable-local-auth"; // not a rotation: turn keys off (disableLocalAuth=true), Entra ID only

export interface Plan {
  readonly variant: PlanVariant;
  readonly accountId: string;
  readonly activeSlot: KeySlot;
  readonly standbySlot: KeySlot;
  readonly steps: readonly PlanStep[];
  /** Consumers the plan moves (ids), and pinned ones that block the gate unless waived. */
  readonly consumerIds: readonly string[];
  readonly pinnedConsumerIds: readonly string[];
  /** SHA-256 of the canonical plan and inventory: approvals bind to it. */
  readonly hash: string;
  /** Assumptions and warnings a reviewer must read (e.g. no consumer found). */
  readonly notes?: readonly string[];
  /** NEW holders (found for the first time), whether they receive the key or not. */
  readonly newConsumerIds?: readonly string[];
  /** NEW holders that receive nothing unless an approver includes them (`Change.includedConsumerIds`). */
  readonly excludedConsumerIds?: readonly string[];
}

export type ChangeState =
  | "requested"
  | "awaiting_approval"
  | "approved"
  | "running"
  | "paused"
  | "completed"
  /** Completed, but the soak saw what the rotation does not explain (401s from unknown callers): see `findings`. */
  | "completed_with_findings"
  | "rejected"
  | "expired"
  | "cancelled"
  | "rolled_back";

export const OPEN_STATES: readonly ChangeState[] = [
  "requested",
  "awaiting_approval",
  "approved",
  "running",
  "paused",
];
export const isOpen = (s: ChangeState): boolean => OPEN_STATES.includes(s);

/** The states of a change that ran its whole plan (with or without findings). */
export const COMPLETED_STATES: readonly ChangeState[] = ["completed", "completed_with_findings"];
export const isCompleted = (s: ChangeState): boolean => COMPLETED_STATES.includes(s);

export interface Approval {
  readonly by: PrincipalRef;
  readonly at: string; // ISO
  readonly planHash: string;
  readonly afterTheFact: boolean; // a break-glass change approved after it started
  /** The policy entry that made the approver eligible, as written (`group:secops`, `person:bob`, an e-mail). */
  readonly eligibleAs?: string;
}

/** The policy that applied when the change was requested (a snapshot: later policy edits do not move it). */
export interface PolicySnapshot {
  readonly name: string;
  readonly approvers: readonly string[]; // identities or group:<name>, as written
  readonly resolvedApprovers: readonly string[]; // groups expanded to identities
  readonly approvalsRequired: number;
  readonly approvalExpirySeconds: number;
  readonly breakGlass: readonly string[];
  readonly breakGlassApprovalSeconds: number; // time to get the after-the-fact approval
  readonly propagationSeconds: number;
  readonly soakSeconds: number;
  readonly cadenceDays: number;
  /**
   * Who may operate the change (resume / rollback / cancel): identities, `person:<key>` and the
   * token `requester`, groups expanded. Absent in changes recorded before roles: the requester and the approvers.
   */
  readonly operators?: readonly string[];
  /** The approvers in words, names rather than policy ids ("Bob Okafor or Carol Diaz (group:secops)"). */
  readonly approverNames?: string;
  /** The operators in words. */
  readonly operatorNames?: string;
  /** Each approver entry as the policy wrote it, with the identities it stands for (who made an approver eligible). */
  readonly approverEntries?: readonly { readonly entry: string; readonly identities: readonly string[] }[];
  /** SHA-256 of the policy file's rules as parsed (changes whenever the policy does). */
  readonly hash?: string;
}

/**
 * `succeeded_with_findings`: the step did what it does, but its check saw something the rotation
 * does not explain (the soak's 401s from unknown callers); the change goes on and ends
 * `completed_with_findings`.
 */
export type StepOutcome = "succeeded" | "succeeded_with_findings" | "failed" | "gate_failed";

/** Something a step saw that needs a person: what was seen, and what to do about it. */
export interface Finding {
  readonly stepIndex: number;
  readonly kind: StepKind;
  readonly what: string;
  readonly next: string;
}

/** An approver's waiver of a consumer at the cutover check: not moved, not checked, stated in every outcome. */
export interface Waiver {
  readonly consumerId: string;
  readonly consumerName: string;
  readonly by: PrincipalRef;
  readonly reason: string;
  readonly at: string;
}

export interface StepEvidence {
  readonly index: number;
  readonly kind: StepKind;
  readonly startedAt: string;
  readonly actedAt?: string; // the step's action is done; its window (propagation / soak) runs until the check
  readonly finishedAt?: string;
  readonly outcome?: StepOutcome;
  readonly before?: Readonly<Record<string, string>>; // fingerprints, versions — never values
  readonly after?: Readonly<Record<string, string>>;
  readonly validation?: { readonly query: string; readonly result: string; readonly passed: boolean };
  readonly rollback: string;
  readonly actor: string; // keyturn's identity or the operator
  readonly notes?: readonly string[];
  /** What the step's check saw that needs a person (the outcome is then `succeeded_with_findings`). */
  readonly findings?: readonly Finding[];
}

export interface PauseReason {
  readonly code: string; // an ErrorCode or "gate_failed"
  readonly message: string; // says what to do
  readonly stepIndex: number;
}

/** Where a change's evidence thread lives, as the chat gateway returned it. */
export interface ThreadRef {
  readonly platform: Platform;
  readonly channel: string;
  readonly root: string; // Slack ts, Teams root activity id, console message number
  readonly data?: Readonly<Record<string, string>>; // platform extras (Teams conversation id / serviceUrl …)
}

export interface Change {
  readonly id: string; // CHG-<n>
  readonly accountId: string;
  readonly accountName: string;
  readonly accountKind: string;
  readonly reason: string;
  readonly exposure: boolean;
  readonly leakedSlot: LeakedSlot | null;
  readonly killNow: boolean;
  readonly breakGlass: boolean;
  readonly requester: PrincipalRef;
  readonly state: ChangeState;
  readonly policy: PolicySnapshot;
  readonly plan: Plan;
  readonly inventory: Inventory;
  readonly approvals: readonly Approval[];
  readonly createdAt: string;
  readonly approvalDeadline: string | null; // awaiting approval until then (or the break-glass after-the-fact deadline)
  readonly currentStep: number; // index of the next / running step
  readonly steps: readonly StepEvidence[];
  readonly waivedConsumerIds: readonly string[];
  readonly pause: PauseReason | null;
  readonly completedAt: string | null;
  readonly thread: ThreadRef | null;
  readonly sandbox: boolean;
  /** Break-glass: the after-the-fact approval did not come in time and approvers were alerted again. */
  readonly escalated?: boolean;
  /** Excluded NEW holders an approver included explicitly: publish delivers to them too. */
  readonly includedConsumerIds?: readonly string[];
  /** Who waived which consumer and why (the record behind `waivedConsumerIds`). */
  readonly waivers?: readonly Waiver[];
  /** Findings of its steps, in order: a completed change with any ends `completed_with_findings`. */
  readonly findings?: readonly Finding[];
  /** Opened by keyturn's scheduler under the policy's `schedule:` rule (absent = a person asked). */
  readonly scheduled?: ScheduledBy;
}

/** A change the scheduler opened, and the policy rule that authorised it. */
export interface ScheduledBy {
  /** auto: started with no approval; request: opened, and the approvers decide. */
  readonly mode: "auto" | "request";
  /** The policy (by name) whose `schedule:` rule authorised it. */
  readonly policy: string;
  /** The due date it was opened for (null: never rotated on record). */
  readonly due: string | null;
  /** Why a `schedule: auto` rotation asks a person instead (blocking consumers, NEW holders). */
  readonly asksPerson?: readonly string[];
}

/** What a rotation request fixes; the rest of a change starts empty. */
export type ChangeRequest = Pick<
  Change,
  | "id"
  | "accountId"
  | "accountName"
  | "accountKind"
  | "reason"
  | "exposure"
  | "leakedSlot"
  | "killNow"
  | "breakGlass"
  | "requester"
  | "policy"
  | "plan"
  | "inventory"
  | "createdAt"
  | "sandbox"
  | "scheduled"
>;

/** A change as it is requested, before anything happened to it (the service opens it; a replay starts from it). */
export const requestedChange = (r: ChangeRequest): Change => ({
  ...r,
  state: "requested",
  approvals: [],
  approvalDeadline: null,
  currentStep: 0,
  steps: [],
  waivedConsumerIds: [],
  pause: null,
  completedAt: null,
  thread: null,
});

export interface LastRotation {
  readonly at: string;
  readonly by: string;
  readonly source: "keyturn" | "activity-log" | "secret-version";
  readonly changeId?: string;
}

/** The answer to `status` / `owner` / a row of `list`. */
export interface AccountStatus {
  readonly account: Account;
  readonly owner: string | null;
  readonly ownerSource: "tag" | "policy" | null;
  readonly environment: string | null;
  readonly activeSlot: KeySlot | null;
  readonly storedIn: readonly SecretLocator[];
  readonly lastRotation: LastRotation | null;
  readonly nextDue: string | null; // ISO date
  readonly overdue: boolean;
  readonly cadenceDays: number;
  readonly localAuthAllowed: boolean;
  readonly consumers: readonly Consumer[];
  readonly openChangeId: string | null;
  /** True when every known consumer uses Entra ID and keys could be disabled. */
  readonly couldDisableLocalAuth: boolean;
  /**
   * A key regeneration Azure's Activity Log shows after the last rotation keyturn completed (by
   * someone else, or a change that did not complete): reported, never moves the due date.
   */
  readonly regeneratedOutside?: { readonly at: string; readonly by: string };
}

/** Whether a change turns an account's keys off rather than rotating them. */
export const isDisableLocalAuth = (c: Pick<Change, "plan">): boolean =>
  c.plan.variant === "disable-local-auth";

/** What a change does, in a few words: "rotate X" or "disable local auth of X". */
export const changeAction = (c: Pick<Change, "plan" | "accountName">): string =>
  isDisableLocalAuth(c) ? `disable local auth of ${c.accountName}` : `rotate ${c.accountName}`;

/**
 * Which calls to an account used a key and which a Microsoft Entra token, as far as Azure records
 * it: from the diagnostic logs where the kind's rows name the caller's identity, else why it cannot
 * be known.
 */
export type KeyAuthTraffic =
  | {
      readonly known: true;
      readonly from: string; // ISO, the window read
      readonly to: string;
      readonly keyCalls: number;
      readonly tokenCalls: number;
      readonly lastKeyCall: string | null; // ISO
      /** Where key calls came from: caller IP and operation, most calls first. */
      readonly keyCallers: readonly {
        readonly callerIp: string;
        readonly operation: string;
        readonly calls: number;
      }[];
      /** How keyturn knows, in one sentence (the table and field read). */
      readonly source: string;
    }
  | { readonly known: false; readonly why: string };
