/**
 * The planner: which steps, on which slots, with which windows. Never regenerate the key consumers
 * use until they have moved off it (the point of no return comes after the cutover check).
 */
import type {
  Account,
  Consumer,
  Inventory,
  KeySlot,
  LeakedSlot,
  Plan,
  PlanStep,
  PlanVariant,
  PolicySnapshot,
  StepKind,
} from "./domain.js";
import { otherSlot } from "./domain.js";
import { KeyturnError } from "./errors.js";
import { buildKeyFreePlan } from "./key-free-plan.js";
import { canonicalJson, sha256Hex } from "./secret.js";

export interface PlanInput {
  readonly account: Account;
  readonly inventory: Inventory;
  readonly exposure: boolean;
  readonly leakedSlot: LeakedSlot | null;
  readonly killNow: boolean;
  readonly policy: PolicySnapshot;
  /** The change's kind: absent = a rotation; "disable-local-auth" turns keys off instead. */
  readonly variant?: "disable-local-auth";
}

export function buildPlan(input: PlanInput): Plan {
  if (input.variant === "disable-local-auth") return buildKeyFreePlan(input);
  const { account, inventory, policy } = input;
  if (inventory.keyFree || account.disableLocalAuth) {
    throw new KeyturnError(
      "key_free",
      `${account.name} has disableLocalAuth=true: it has no keys to rotate; nothing to do.`,
    );
  }
  const notes: string[] = [];
  let active = inventory.activeSlot;
  if (!active) {
    const used = slotsOf(inventory.consumers);
    const knownUsed = slotsOf(inventory.consumers.filter((c) => c.known !== false));
    if (used.size > 1 && knownUsed.size === 1) {
      // NEW holders on the other key do not decide which key is live: the ones keyturn knows do
      active = [...knownUsed][0]!;
      const odd = inventory.consumers.filter(
        (c) => c.known === false && c.slot !== "unknown" && c.slot !== active,
      );
      notes.push(
        `Known consumers use ${active}; NEW holder(s) ${odd.map((c) => `${c.name} (${c.slot})`).join(", ")} hold the other key.`,
      );
    } else {
      if (used.size > 1) {
        const who = inventory.consumers
          .filter((c) => c.slot !== "unknown")
          .map((c) => `${c.name} (${c.slot})`)
          .join(", ");
        throw new KeyturnError(
          "no_active_slot",
          `Consumers of ${account.name} use both keys (${who}), so no key can be regenerated without an outage. Move them all to one key (publish it to their secrets), then request the rotation again.`,
        );
      }
      active = "key1";
      notes.push(
        "No consumer with a known key was found: key1 is taken as the active key. Declare consumers keyturn cannot see with `consumer add`.",
      );
    }
  }
  const standby = otherSlot(active);
  const variant = variantOf(input, active);
  const steps = stepsFor(variant, active, standby, policy);
  const moved = inventory.consumers.filter(
    (c) => c.secret || c.source === "app-setting-literal" || c.source === "declared",
  );
  const fresh = moved.filter((c) => c.known === false);
  const excluded = new Set(fresh.filter((c) => input.exposure || !reconcilable(c)).map((c) => c.id));
  const consumerIds = moved
    .filter((c) => !excluded.has(c.id))
    .map((c) => c.id)
    .sort();
  const pinnedConsumerIds = inventory.consumers
    .filter((c) => c.reload === "pinned" && !excluded.has(c.id))
    .map((c) => c.id)
    .sort();
  const newConsumerIds = fresh.map((c) => c.id).sort();
  const excludedConsumerIds = [...excluded].sort();
  const delivered = fresh.filter((c) => !excluded.has(c.id));
  const publishes = steps.some((s) => s.kind === "publish");
  if (excludedConsumerIds.length && publishes)
    notes.push(
      `${excludedConsumerIds.length} NEW holder(s) receive nothing${input.exposure ? " in this exposure rotation" : ""} unless an approver includes them: ${fresh
        .filter((c) => excluded.has(c.id))
        .map((c) => c.name)
        .join(", ")}.`,
    );
  if (delivered.length && publishes)
    notes.push(
      `${delivered.length} NEW holder(s) receive the new key in this standard rotation: ${delivered.map((c) => c.name).join(", ")}. Approving approves delivering to them.`,
    );
  const unpinnedHash = {
    variant,
    accountId: account.id,
    activeSlot: active,
    standbySlot: standby,
    steps: steps.map((s) => ({ kind: s.kind, slot: s.slot ?? null, waitSeconds: s.waitSeconds })),
    consumers: inventory.consumers
      .map((c) => ({
        id: c.id,
        slot: c.slot,
        reload: c.reload,
        secret: c.secret ? `${c.secret.vaultUrl}/${c.secret.name}/${c.secret.version ?? ""}` : null,
        ...(c.known === false ? { new: true } : {}),
      }))
      .sort((a, b) => a.id.localeCompare(b.id)),
    ...(excludedConsumerIds.length ? { excluded: excludedConsumerIds } : {}),
  };
  if (variant === "exposure-standby")
    notes.push(`The leaked ${standby} is not used by any known consumer: regenerating it affects no one.`);
  return {
    variant,
    accountId: account.id,
    activeSlot: active,
    standbySlot: standby,
    steps,
    consumerIds,
    pinnedConsumerIds,
    hash: planHash(unpinnedHash),
    ...(notes.length ? { notes } : {}),
    ...(newConsumerIds.length ? { newConsumerIds } : {}),
    ...(excludedConsumerIds.length ? { excludedConsumerIds } : {}),
  };
}

const slotsOf = (consumers: readonly Consumer[]): Set<KeySlot> =>
  new Set(consumers.map((c) => c.slot).filter((s): s is KeySlot => s === "key1" || s === "key2"));

/**
 * A holder keyturn can reconcile holds one of the account's keys (or reads a secret that may): a
 * secret that only carries keyturn's tag and holds neither key has shown no need for the key.
 */
const reconcilable = (c: Consumer): boolean => c.source !== "keyvault-tagged";

/** SHA-256 of the canonical plan and inventory (no times, no fingerprints): approvals bind to it. */
export function planHash(material: unknown): string {
  return sha256Hex(canonicalJson(material));
}

function variantOf(input: PlanInput, active: KeySlot): PlanVariant {
  if (!input.exposure) return "standard";
  if (input.leakedSlot === "unknown" || input.leakedSlot === null) return "exposure-unknown";
  if (input.leakedSlot !== active) return "exposure-standby";
  return input.killNow ? "exposure-active-kill-now" : "exposure-active";
}

function stepsFor(variant: PlanVariant, active: KeySlot, standby: KeySlot, p: PolicySnapshot): PlanStep[] {
  const prevVersion = `point the secrets back to their previous version; ${active} still works`;
  const s = (kind: StepKind, title: string, extra: Partial<PlanStep> = {}): Omit<PlanStep, "index"> => ({
    kind,
    title,
    pointOfNoReturn: false,
    waitSeconds: 0,
    rollback: prevVersion,
    ...extra,
  });
  const preflight = s(
    "preflight",
    "Preflight: read the account and both fingerprints, confirm consumers use " +
      active +
      ", record the traffic baseline",
    {
      rollback: "nothing changed yet",
    },
  );
  const complete = s("complete", "Complete: record the rotation and the next due date", {
    rollback: "none needed",
  });
  let list: Omit<PlanStep, "index">[];
  if (variant === "exposure-standby") {
    list = [
      preflight,
      s("regenerate_standby", `Regenerate ${standby} (the leaked standby key — no consumer uses it)`, {
        slot: standby,
        rollback: `none needed: no consumer used ${standby}`,
      }),
      complete,
    ];
  } else if (variant === "exposure-active-kill-now") {
    list = [
      preflight,
      s(
        "kill_leaked",
        `Regenerate ${active} NOW — POINT OF NO RETURN: the leaked key dies and consumers fail until they move`,
        {
          slot: active,
          pointOfNoReturn: true,
          rollback: `none: ${active} is dead; move consumers to the new value`,
        },
      ),
      s("publish", `Publish the new ${active} to every consumer's Key Vault secret`, {
        slot: active,
        rollback: "none: the old value is dead",
      }),
      s("move_consumers", "Move consumers: refresh App Service references, notify owners", {
        waitSeconds: p.propagationSeconds,
        rollback: "none: the old value is dead",
      }),
      s("verify_cutover", "Verify consumers read the new key and calls succeed again", {
        rollback: "none: the old value is dead",
      }),
      s("soak", "Soak: watch for 401s from anyone still holding the leaked key", {
        waitSeconds: p.soakSeconds,
        rollback: "none needed",
      }),
      complete,
    ];
  } else {
    list = [
      preflight,
      s("regenerate_standby", `Regenerate ${standby} (standby — no consumer uses it)`, {
        slot: standby,
        rollback: `none needed: no consumer used ${standby}`,
      }),
      s("publish", `Publish ${standby} as a new version of every consumer's Key Vault secret`, {
        slot: standby,
      }),
      s(
        "move_consumers",
        "Move consumers: refresh App Service references, notify owners of manual ones, wait the propagation window",
        {
          waitSeconds: p.propagationSeconds,
        },
      ),
      s("verify_cutover", `Cutover check: every consumer reads ${standby}, no error spike (gate)`),
      s("regenerate_old", `Regenerate ${active} — POINT OF NO RETURN: the old key stops working`, {
        slot: active,
        pointOfNoReturn: true,
        rollback: `none: ${active} is dead; consumers on ${standby} are unaffected`,
      }),
      s("soak", `Soak: watch for 401s from anyone still holding the old ${active}`, {
        waitSeconds: p.soakSeconds,
        rollback: "none needed",
      }),
      complete,
    ];
  }
  return list.map((step, index) => ({ ...step, index }));
}
