/** The tenant's state on disk: written atomically (temp file + rename) after every mutation, read at start. */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import type { Bucket } from "./dataplane.js";
import type {
  AccountState,
  ActivityRecord,
  ConsumerReport,
  ExternalState,
  SecretVersion,
  SiteState,
  UnauthorizedCall,
} from "./tenant.js";

export interface PersistedState {
  accounts: AccountState[];
  vaults: Record<string, Record<string, SecretVersion[]>>;
  sites: SiteState[];
  external: ExternalState[];
  activity: ActivityRecord[];
  issued: string[];
  keyOwner: [string, string][];
  reports: Record<string, ConsumerReport>;
  metrics: Record<string, Record<string, Bucket>>;
  unauthorized: UnauthorizedCall[];
}

export function readState(file: string | undefined): PersistedState | undefined {
  if (!file || !existsSync(file)) return undefined;
  const p = JSON.parse(readFileSync(file, "utf8")) as Partial<PersistedState>;
  if (!Array.isArray(p.accounts) || !p.vaults || !Array.isArray(p.sites))
    throw new Error(`state file ${file} is not a simulator state; remove it to start from the scenario`);
  return {
    external: [],
    activity: [],
    issued: [],
    keyOwner: [],
    reports: {},
    metrics: {},
    unauthorized: [],
    ...p,
  } as PersistedState;
}

export function writeState(file: string, state: PersistedState): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state));
  renameSync(tmp, file);
}
