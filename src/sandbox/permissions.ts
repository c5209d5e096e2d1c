/**
 * `GET {scope}/providers/Microsoft.Authorization/permissions`: what the caller may do at a scope, from
 * the scenario's role assignments, minus actions an injected `forbidden` fault denies — so a
 * permission check sees the same refusal the operation would get.
 */
import type { Reply } from "./http.js";
import type { Tenant } from "./tenant.js";

export function permissions(t: Tenant, scope: string, denied: string[]): Reply {
  const lower = scope.toLowerCase();
  const roles = t.scenario.roleAssignments.filter(
    (r) => r.scope === "/" || lower.startsWith(r.scope.toLowerCase()),
  );
  return {
    status: 200,
    body: {
      value: roles.map((r, i) => ({
        actions: r.actions,
        notActions: [...r.notActions, ...(i === 0 ? denied : [])],
        dataActions: r.dataActions,
        notDataActions: [],
      })),
    },
  };
}
