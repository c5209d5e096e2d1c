/**
 * Approver DMs: who an approver identity is (the policy's person and name), where each DM of a change
 * is (recorded in the store, so an update after a restart still finds it), and whether an approval was
 * given by the person a DM went to.
 */
import { personKey, type PrincipalRef, type ThreadRef } from "../core/domain.js";
import type { Message } from "../core/messages.js";
import type { PolicyBook } from "../core/policy.js";
import type { AsyncStore } from "../core/ports.js";

/** Who an approver identity (an e-mail, a platform id) is: the policy's person and their name. */
export type People = (identity: string) => { readonly name: string; readonly person?: string } | undefined;

/** The policy's people, as `People`. */
export const policyPeople =
  (policy: Pick<PolicyBook, "identify">): People =>
  (identity) => {
    try {
      const p = policy.identify({
        platform: "console",
        id: identity,
        displayName: identity,
        identities: [identity],
      });
      return p.person ? { name: p.displayName, person: p.person } : undefined;
    } catch {
      return undefined; // an identity the policy gives to two people names nobody
    }
  };

/** One approver asked for a change: where their DM is (null: keyturn could not reach them). */
export interface ApproverDm {
  readonly who: string;
  readonly name: string;
  readonly person?: string;
  readonly ref: ThreadRef | null;
}

const DM_KV = "approver-dms";
export const PLATFORM_NAMES: Readonly<Record<string, string>> = {
  slack: "Slack",
  teams: "Teams",
  console: "the console",
};
export const UNREACHED_KV = "approver-dms-unreached";

/** Whether an approver identity names the requester (never DM people to approve their own change). */
export function samePerson(identity: string, requester: PrincipalRef, person?: string): boolean {
  if (person && requester.person === person) return true;
  const id = requester.id.toLowerCase();
  const tail = id.split(":").pop() ?? id;
  return identity === id || identity.endsWith(`:${tail}`);
}

const tailOf = (id: string): string => (id.split(":").pop() ?? id).toLowerCase();

/** Whether an approval was given by the person an approver DM went to (the same person on any platform). */
export function approvedBy(dm: ApproverDm, by: PrincipalRef): boolean {
  if (dm.person && personKey(by) === dm.person) return true;
  if (by.person === `id:${dm.who.toLowerCase()}`) return true;
  const tail = tailOf(by.id);
  return tail === tailOf(dm.who) || tail === dm.ref?.data?.user?.toLowerCase();
}

/** What a DM says to its reader: its sentence and its buttons. */
export const dmSays = (m: Message): string => JSON.stringify([m.text, (m.buttons ?? []).map((b) => b.label)]);

export const refKey = (r: ThreadRef): string => `${r.platform}:${r.channel}:${r.root}`;

const sameRef = (a: ThreadRef | null, b: ThreadRef | null): boolean =>
  !!a && !!b && a.platform === b.platform && a.channel === b.channel && a.root === b.root;

/** The DMs of a change, as recorded. */
export async function dmsOf(store: Pick<AsyncStore, "getKv">, changeId: string): Promise<ApproverDm[]> {
  return (await store.getKv<ApproverDm[]>(DM_KV, changeId)) ?? [];
}

/** Where one approver's DM is (replaces what was recorded for the same person and DM). */
export async function recordDm(
  store: Pick<AsyncStore, "getKv" | "putKv">,
  changeId: string,
  dm: ApproverDm,
): Promise<void> {
  const all = await dmsOf(store, changeId);
  const at = all.findIndex((d) => d.who === dm.who && (d.ref === null || sameRef(d.ref, dm.ref)));
  if (at >= 0) all[at] = dm;
  else all.push(dm);
  await store.putKv(DM_KV, changeId, all);
}
