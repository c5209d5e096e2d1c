import type { Account, KeySlot } from "../../core/domain.js";
import { isKeyturnError } from "../../core/errors.js";
import type { AzurePorts, KeyPair } from "../../core/ports.js";
import type { SecretValue } from "../../core/secret.js";
import { isLeaseLost } from "../runner-lease.js";
import { probeWithBackoff } from "./probe-backoff.js";
import type { StepContext, StepExecutor, StepResult } from "./context.js";
import { preflightFingerprints } from "./context.js";

/** Used where the data-plane port does not say (see DEFAULT_DEAD_KEY_PROOF_SECONDS in azure/data-plane.ts). */

/**
 * Regenerates one slot, exactly once. Before regenerating it compares the live fingerprint with the
 * one preflight recorded: if they differ the regenerate already happened (a crash after Azure did
 * it, or Azure re-sent the POST after a 5xx) and it is not repeated. The old value is held in memory
 * only long enough to prove, with a data-plane call, that it is dead.
 */
export const regenerate: StepExecutor = {
  async act(ctx: StepContext): Promise<StepResult> {
    const { change, index, account, azure } = ctx;
    const slot = change.plan.steps[index]?.slot;
    if (!slot) throw new Error(`${change.id}: step ${index + 1} has no slot`);
    const expected = preflightFingerprints(change)[slot];
    const before = { [slot]: expected };
    const alreadyDone = (live: KeyPair, why: string): StepResult => ({
      before,
      after: { [slot]: live[slot].fingerprint },
      validation: {
        query: `listKeys ${account.name} (${slot})`,
        result: `${slot} is already ${live[slot].fingerprint}, not ${expected}: not regenerated again (${why})`,
        passed: true,
      },
      notes: [
        `Proof by data-plane probe is not available for ${slot}: its old value was never held after the restart; the soak window's metrics are the evidence.`,
      ],
    });
    const first = await azure.accounts.listKeys(account.id);
    if (first[slot].fingerprint !== expected) {
      return alreadyDone(
        first,
        ctx.intentRecorded("regenerate")
          ? "keyturn had started this regenerate before a restart or an Azure retry; the live fingerprint shows it happened"
          : "the key changed outside keyturn since preflight",
      );
    }
    // the intent is a fenced commit: a process that lost the runner lease stops here
    await ctx.recordIntent("regenerate", { slot, fingerprint: expected });
    // inside the lease (just renewed): read the live key again right before acting; no other
    // keyturn can act while this process holds the lease, so what it reads now is what it acts on
    await ctx.fence();
    const live = await azure.accounts.listKeys(account.id);
    if (live[slot].fingerprint !== expected)
      return alreadyDone(live, "it changed while keyturn was about to regenerate it");
    const oldValue = live[slot];
    const { keys, notes } = await regenerateOnce(azure, account.id, slot, expected);
    const probe = await proveDead(ctx, account, oldValue, keys[slot]);
    return {
      before,
      after: { [slot]: keys[slot].fingerprint },
      validation: probe.validation,
      notes: [...notes, ...probe.notes],
      ...(probe.findings
        ? {
            findings: probe.findings,
            alert: `${ctx.change.id}: ${probe.findings.map((f) => `${f.what} What to do: ${f.next}`).join(" ")}`,
          }
        : {}),
    };
  },
};

async function regenerateOnce(
  azure: AzurePorts,
  accountId: string,
  slot: KeySlot,
  expected: string,
): Promise<{ keys: KeyPair; notes: string[] }> {
  try {
    return { keys: await azure.accounts.regenerateKey(accountId, slot), notes: [] };
  } catch (e) {
    // refused by fencing before anything was sent: this process is no longer the runner, it reads nothing more
    if (isLeaseLost(e)) throw e;
    // Azure may have regenerated before failing (or the SDK re-sent the POST): trust a fresh listKeys only.
    const fresh = await azure.accounts.listKeys(accountId);
    if (fresh[slot].fingerprint !== expected) {
      const code = isKeyturnError(e) ? e.code : "error";
      return {
        keys: fresh,
        notes: [
          `Azure answered ${code} to regenerateKey, but a fresh listKeys shows ${slot} changed: regenerated once, not repeated.`,
        ],
      };
    }
    throw e;
  }
}

async function proveDead(
  ctx: StepContext,
  account: Account,
  oldValue: SecretValue,
  newValue: SecretValue,
): Promise<{
  validation: NonNullable<StepResult["validation"]>;
  notes: string[];
  findings?: NonNullable<StepResult["findings"]>;
}> {
  const query = `data-plane call to ${account.endpoint} with the old key, then with the new key`;
  // a regenerated key may keep answering while the data plane's caches catch up: probed with backoff
  // until it is refused or the bound passes
  const r = await probeWithBackoff(ctx, account, oldValue, (status) => status === 401 || status === 403);
  if (r.kind === "unreachable") {
    return {
      validation: {
        query,
        // a kind with no documented key-only request says so itself (see azure/data-plane.ts)
        result: r.reason.startsWith("no documented key-only request")
          ? r.reason
          : `endpoint unreachable (${r.reason}); the soak window's metrics are the evidence`,
        passed: true,
      },
      notes: [],
    };
  }
  if (r.kind === "matched") {
    const n = await ctx.azure.dataPlane.probe(account, newValue);
    const newResult = "status" in n ? `new key → ${n.status}` : `new key: ${n.unreachable}`;
    const newOk = "status" in n && n.status < 400;
    const after = r.attempts > 1 ? ` after ${r.attempts} probes, ${r.waited} s after the regeneration` : "";
    return {
      validation: { query, result: `old key → ${r.status} (dead)${after}; ${newResult}`, passed: newOk },
      notes: newOk ? [] : [`The new key was not accepted by the data plane yet (${newResult}).`],
    };
  }
  const { last, attempts, waited, boundMs } = r;
  return {
    validation: {
      query,
      result: `OLD KEY STILL ANSWERED ${last} after ${attempts} probes over ${waited} s (the proof's bound is ${Math.round(boundMs / 1000)} s): the regenerated key was not yet refused`,
      passed: false,
    },
    notes: [],
    findings: [
      {
        stepIndex: ctx.index,
        kind: ctx.change.plan.steps[ctx.index]?.kind ?? "regenerate_old",
        what: `The old ${account.name} key still answered ${last} ${waited} s after it was regenerated (${attempts} probes): keyturn could not prove it dead.`,
        next: `Call ${account.name}'s endpoint with the old key again in a few minutes (a 401 proves it dead) and check the Activity Log shows the regenerateKey; if it still answers, regenerate that key again. To let keyturn probe longer, raise KEYTURN_DEAD_KEY_PROOF_SECONDS.`,
      },
    ],
  };
}
