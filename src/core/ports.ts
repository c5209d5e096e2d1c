/**
 * Ports: what the core and the runner need from the outside world. Implementations live in
 * src/azure (real SDKs), src/store (SQLite), adapters/* (chat) and test fakes.
 */
import type {
  Account,
  Change,
  Consumer,
  Inventory,
  KeyAuthTraffic,
  KeySlot,
  Principal,
  PrincipalRef,
  SecretLocator,
  ThreadRef,
} from "./domain.js";
import type { SignedCheckpoint, Witness } from "./checkpoint.js";
import type { ActionRequest, Attachment, ChannelRef, Message, Reply } from "./messages.js";
import type { SecretValue } from "./secret.js";

export interface Clock {
  now(): Date;
}

export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

// ---------------------------------------------------------------- Azure

export interface KeyPair {
  readonly key1: SecretValue;
  readonly key2: SecretValue;
}

/** Cognitive Services accounts and their keys (ARM). Errors are KeyturnErrors with azure_* codes. */
export interface AccountsPort {
  /** Every account in the configured subscriptions (all pages). */
  listAccounts(): Promise<Account[]>;
  getAccount(accountId: string): Promise<Account>;
  listKeys(accountId: string): Promise<KeyPair>;
  /** Regenerates one slot. The SDK may re-send the POST after a 5xx: callers re-read fingerprints. */
  regenerateKey(accountId: string, slot: KeySlot): Promise<KeyPair>;
  /**
   * Sets `properties.disableLocalAuth` (ARM PATCH of the account): true turns keys off (Entra ID
   * only), false turns them back on. Returns the account as ARM reads it afterwards.
   */
  setLocalAuth?(accountId: string, disableLocalAuth: boolean): Promise<Account>;
}

export interface SecretVersionInfo {
  readonly locator: Required<SecretLocator>;
  readonly enabled: boolean;
  readonly createdOn: string | null;
  readonly tags: Readonly<Record<string, string>>;
}

/** Key Vault secrets in the configured vaults. */
export interface SecretsPort {
  /** Current versions of every secret in the configured vaults (no values). */
  listSecrets(): Promise<SecretVersionInfo[]>;
  getSecret(locator: SecretLocator): Promise<{ value: SecretValue; info: SecretVersionInfo }>;
  /** Creates a new version; returns its locator. */
  publish(
    locator: SecretLocator,
    value: SecretValue,
    tags: Readonly<Record<string, string>>,
  ): Promise<SecretVersionInfo>;
  listVersions(locator: SecretLocator): Promise<SecretVersionInfo[]>;
}

export interface MetricPoint {
  readonly at: string;
  readonly total: number;
}

export interface MetricSeries {
  readonly name: string; // TotalCalls, ClientErrors, ...
  readonly dimension?: Readonly<Record<string, string>>; // ApiName=..., StatusCode=...
  readonly points: readonly MetricPoint[];
}

export interface ActivityEvent {
  readonly at: string;
  readonly operation: string; // Microsoft.CognitiveServices/accounts/listKeys/action
  readonly caller: string;
  readonly callerIp?: string;
  readonly status: string; // Succeeded / Failed
}

export interface CallerErrors {
  readonly callerIp: string;
  readonly operation: string;
  readonly count: number;
}

/** Azure Monitor: metrics, Activity Log, optional Log Analytics. */
export interface TelemetryPort {
  metrics(
    accountId: string,
    q: { from: Date; to: Date; names: readonly string[]; splitBy?: string; intervalMinutes?: number },
  ): Promise<MetricSeries[]>;
  activityLog(
    accountId: string,
    q: { from: Date; to: Date; operations?: readonly string[] },
  ): Promise<ActivityEvent[]>;
  /** 401s by caller IP from diagnostic logs; undefined when no workspace is configured. */
  unauthorizedCallers?(accountId: string, q: { from: Date; to: Date }): Promise<CallerErrors[]>;
  /** Calls by key and by Entra token from diagnostic logs, or why that cannot be known for this account. */
  keyAuthTraffic?(account: Account, q: { from: Date; to: Date }): Promise<KeyAuthTraffic>;
  /**
   * How long after a moment its metrics and log rows are known to have arrived (ingestion latency):
   * a window is judged only after its end plus this.
   */
  readonly ingestionLatency?: { readonly metricsMs: number; readonly logsMs: number };
}

/** Calls the account's data-plane endpoint with a key: 401 = dead, 2xx = live. */
export interface DataPlanePort {
  probe(account: Account, key: SecretValue): Promise<{ status: number } | { unreachable: string }>;
  /** How long the dead-key proof keeps probing a regenerated key before it reports it still answers. */
  readonly proofBoundMs?: number;
}

/** App Service / Functions sites that read keys through Key Vault references. */
export interface ConsumerControlPort {
  /** Forces a re-read of Key Vault references; false where the consumer cannot be refreshed. */
  refresh(consumer: Consumer): Promise<boolean>;
  /** The secret version the consumer currently uses, where it can tell (proof of cutover). */
  activeVersion(consumer: Consumer): Promise<string | undefined>;
}

export interface InventoryPort {
  take(account: Account): Promise<Inventory>;
  /** Forgets cached listings, so the next `take` reads Azure afresh. */
  invalidate?(): void;
}

export interface AzurePorts {
  readonly accounts: AccountsPort;
  readonly secrets: SecretsPort;
  readonly telemetry: TelemetryPort;
  readonly dataPlane: DataPlanePort;
  readonly consumers: ConsumerControlPort;
  readonly inventory: InventoryPort;
  /** "SANDBOX" when this is the simulated tenant; shown on everything it touches. */
  readonly label?: string;
}

// ---------------------------------------------------------------- Chat

/** Outbound chat for one platform. Adapters implement it; the runner posts evidence through it. */
export interface ChatGateway {
  readonly platform: Principal["platform"];
  postRoot(channel: ChannelRef, message: Message): Promise<ThreadRef>;
  updateRoot(thread: ThreadRef, message: Message): Promise<void>;
  reply(thread: ThreadRef, message: Message): Promise<void>;
  /**
   * A direct message to a person (approver, owner): where it was posted, so `updateRoot` can change it
   * later (the DM follows the change); null when they cannot be reached.
   */
  notify(user: PrincipalRef | string, message: Message): Promise<ThreadRef | null>;
  permalink(thread: ThreadRef): Promise<string | undefined>;
  attach(thread: ThreadRef, attachment: Attachment): Promise<void>;
}

// ---------------------------------------------------------------- Service (what adapters call)

export interface Invocation {
  readonly principal: Principal;
  readonly channel: ChannelRef;
  /** Platform retry / double-click protection: same key, same effect (e.g. Slack action_ts + user). */
  readonly idempotencyKey?: string;
}

export interface KeyturnService {
  /** A typed command (`status contoso-translator`, `rotate … --reason "…"`). Never throws: errors become replies. */
  handleText(inv: Invocation, text: string): Promise<Reply>;
  /** A button press. Never throws: errors become replies. */
  handleAction(inv: Invocation, action: ActionRequest): Promise<Reply>;
  /**
   * The reply to a command when it needs no I/O at all (help, a command that does not parse, a
   * refusal known at once), else null: an adapter may put it in its acknowledgement. `who` is for the log.
   */
  answerNow?(text: string, who: string): Reply | null;
}

// ---------------------------------------------------------------- Store

export interface StoredEvent {
  readonly seq: number;
  readonly changeId: string | null;
  readonly type: string;
  readonly at: string;
  readonly actor: string | null;
  readonly payload: unknown; // never key values
  readonly prevHash: string;
  readonly hash: string;
}

export interface NewEvent {
  readonly changeId: string | null;
  readonly type: string;
  readonly at: string;
  readonly actor: string | null;
  readonly payload: unknown;
}

export type VerifyResult =
  | {
      readonly ok: true;
      readonly events: number;
      readonly head: string;
      /** Changes rebuilt from their events that matched the changes table. */
      readonly changes?: number;
      /** Witnesses the log still reaches ("pack.json: event 152"). */
      readonly witnessed?: readonly string[];
    }
  | {
      readonly ok: false;
      readonly events: number;
      readonly firstBadSeq: number;
      readonly problem: string;
      /** Every problem found (the first is `problem`): chain, witnesses, changes table. */
      readonly problems?: readonly string[];
    };

export interface Timer {
  readonly id: string; // unique, e.g. "CHG-3:expiry"
  readonly changeId: string | null;
  readonly kind: string; // approval_expiry | step_wait | break_glass_deadline | reminder | digest
  readonly dueAt: string;
  readonly payload?: unknown;
}

export interface DeclaredConsumer {
  readonly accountId: string;
  readonly name: string;
  readonly owner: string;
  readonly secret?: SecretLocator;
  readonly reload: Consumer["reload"];
  readonly addedBy: string;
  readonly addedAt: string;
}

/** Which keyturn process drives changes from a store: one at a time. */
export interface RunnerLease {
  readonly holder: string; // unique per process
  readonly pid: number;
  readonly host: string;
  /** The fencing token: grows by one on every acquisition, never on a renewal. */
  readonly token: number;
  readonly acquiredAt: string;
  readonly renewedAt: string;
  readonly expiresAt: string;
}

export interface LeaseClaim {
  readonly holder: string;
  readonly pid: number;
  readonly host: string;
}

export interface CommitOptions {
  /**
   * false: a command a person gave (a request, an approval, a note of where its thread is), which a
   * replica records whether or not it holds the runner lease. Default true: the runner's own record
   * (a step, its intent, a timer's event), refused to a process that lost the lease it held. A store
   * that is not a replica fences every commit.
   */
  readonly fenced?: boolean;
}

/** What a decision on a change commits: its new read model and the events that explain it. */
export interface ChangeCommit {
  readonly change: Change;
  readonly events: readonly NewEvent[];
}

export interface Store {
  /**
   * Takes the runner lease when it is free, expired, already this claim's, or held by `replacing`
   * (a holder known to be gone). Returns the lease as it now stands. While this store holds the
   * lease, every commit checks in its own transaction that it still does; a store that does not
   * hold it cannot commit while another holder's lease is live. Refusals throw an error named
   * `LeaseLost`.
   */
  acquireLease(
    claim: LeaseClaim,
    ttlMs: number,
    now: Date,
    replacing?: string,
  ): { readonly acquired: boolean; readonly lease: RunnerLease };
  /** Extends this store's lease (fencing check); throws `LeaseLost` when another holder took it. */
  renewLease(ttlMs: number, now: Date): RunnerLease;
  /** Gives the lease up (a clean stop): another process may take it at once. */
  releaseLease(now: Date): void;
  runnerLease(): RunnerLease | undefined;

  /** Reserves the next change id (CHG-<n>). */
  nextChangeId(): string;
  /**
   * Appends events and writes the change read model in one transaction. Creating a second open
   * change for an account throws KeyturnError("change_open").
   */
  commit(change: Change | null, events: readonly NewEvent[], opts?: CommitOptions): StoredEvent[];
  /**
   * Reads change `id` and commits what `decide` makes of it, in one transaction: no other writer
   * (another keyturn replica on the same database) commits in between, so a decision is never made
   * on a change someone else has just moved. `decide` is pure; null commits nothing. Returns the
   * change as it was read (undefined: no such change, and `decide` is not called).
   */
  commitOn(
    id: string,
    decide: (current: Change) => ChangeCommit | null,
    opts?: CommitOptions,
  ): Change | undefined;
  getChange(id: string): Change | undefined;
  listChanges(q?: { accountId?: string; open?: boolean; limit?: number }): Change[];
  lastRotation(accountId: string): { changeId: string; completedAt: string; by: PrincipalRef } | undefined;
  events(q?: { changeId?: string; afterSeq?: number; limit?: number }): StoredEvent[];
  /**
   * Recomputes the hash chain, checks it reaches every witness given (heads seen outside the
   * database), and rebuilds every change from its events to compare with the changes table.
   */
  verify(opts?: { readonly witnesses?: readonly Witness[] }): VerifyResult;
  /** The log's head, signed with the key kept outside the database (with `subject`, a digest it vouches for too). */
  checkpoint(at: string, subject?: string): SignedCheckpoint;
  /** A change as its events say it is (undefined: no such change; ok false: its events cannot be replayed). */
  changeFromEvents(
    id: string,
  ):
    | { readonly ok: true; readonly change: Change }
    | { readonly ok: false; readonly problem: string }
    | undefined;

  setTimer(t: Timer): void;
  clearTimer(id: string): void;
  dueTimers(now: Date): Timer[];

  /** True the first time a key is claimed, false for every repeat (platform retries, double clicks). */
  claimIdempotencyKey(key: string, at: string): boolean;

  addDeclaredConsumer(c: DeclaredConsumer): void;
  removeDeclaredConsumer(accountId: string, name: string): boolean;
  declaredConsumers(accountId: string): DeclaredConsumer[];

  /** Opaque per-platform data kept across restarts (Teams conversation references, reminders sent …). */
  putKv(namespace: string, key: string, value: unknown): void;
  getKv<T>(namespace: string, key: string): T | undefined;
  listKv<T>(namespace: string): { key: string; value: T }[];

  close(): void;
}

/** A function of the Store, answering through a promise. */
type Later<F> = F extends (...args: infer A) => infer R ? (...args: A) => Promise<R> : never;

/**
 * The store's contract with every answer asynchronous: what a store on a network database
 * (PostgreSQL) implements, and what the SQLite store offers through `asyncStore()`. Same methods,
 * same invariants as `Store`; `getKv`/`listKv` keep their type parameter.
 */
export type AsyncStore = {
  readonly [K in Exclude<keyof Store, "getKv" | "listKv">]: Later<Store[K]>;
} & {
  getKv<T>(namespace: string, key: string): Promise<T | undefined>;
  listKv<T>(namespace: string): Promise<{ key: string; value: T }[]>;
};
