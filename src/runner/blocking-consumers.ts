/**
 * Consumers that will hold up the cutover check, found when the rotation is requested rather than
 * after approval: a reference pinned to one secret version does not move by itself, and a literal
 * copy of the key in an app setting moves only when its owner pastes the new key.
 */
import type { Consumer, Plan } from "../core/domain.js";
import { versionLabel } from "../core/render/plain.js";

export function blockingConsumers(changeId: string, plan: Plan, consumers: readonly Consumer[]): string[] {
  if (!plan.steps.some((s) => s.kind === "verify_cutover")) return [];
  const byId = new Map(consumers.map((c) => [c.id, c]));
  const waive = (c: Consumer) => `\`waive ${changeId} ${c.name} --reason "…"\``;
  const out: string[] = [];
  for (const id of plan.pinnedConsumerIds) {
    const c = byId.get(id);
    if (!c) continue;
    out.push(
      `${c.name} pins ${c.secret?.version ? versionLabel(c.secret.version) : "a fixed version"} of ${c.secret?.name ?? "its secret"}: the cutover check waits until it is re-pinned to the version keyturn publishes, or an approver waives it (${waive(c)}).`,
    );
  }
  for (const id of plan.consumerIds) {
    const c = byId.get(id);
    if (c?.source !== "app-setting-literal" || plan.pinnedConsumerIds.includes(id)) continue;
    out.push(
      `${c.name} holds a literal copy of ${c.slot} in ${c.settingName ?? "an app setting"}: the cutover check waits until ${c.owner ?? "its owner"} pastes the new key there, or an approver waives it (${waive(c)}).`,
    );
  }
  return out;
}

/** The plan with a BLOCKS THE CUTOVER note per blocking consumer: at request time and whenever the plan is rebuilt. */
export function withBlockingNotes(changeId: string, plan: Plan, consumers: readonly Consumer[]): Plan {
  const blocking = blockingConsumers(changeId, plan, consumers);
  return blocking.length
    ? { ...plan, notes: [...(plan.notes ?? []), ...blocking.map((b) => `BLOCKS THE CUTOVER: ${b}`)] }
    : plan;
}
