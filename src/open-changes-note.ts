/**
 * What happens to each open change when keyturn stops: said to whoever stopped it (Ctrl-C, end of
 * piped input, end of a script), so no one walks away from a rotation believing it finished.
 */
import type { Change } from "./core/domain.js";
import type { AsyncStore } from "./core/ports.js";

const utc = (iso: string) => iso.replace("T", " ").slice(0, 16) + " UTC";

export async function openChangesNote(
  store: Pick<AsyncStore, "listChanges">,
  dataDir: string,
): Promise<string[]> {
  const open = await store.listChanges({ open: true });
  if (open.length === 0) return ["No change is open."];
  return open.map((c) => describe(c, dataDir));
}

function describe(c: Change, dataDir: string): string {
  const again = `when keyturn starts again on this data dir (${dataDir})`;
  const who = `${c.id} (${c.accountName})`;
  switch (c.state) {
    case "requested":
    case "awaiting_approval":
      return `${who} awaits approval${c.approvalDeadline ? ` until ${utc(c.approvalDeadline)}` : ""}: approve it ${again}; if no one does by then, it expires.`;
    case "approved":
    case "running": {
      const done = c.steps.filter((s) => s.outcome === "succeeded").length;
      return `${who} is rotating (${done} of ${c.plan.steps.length} steps done): it resumes ${again}.`;
    }
    case "paused":
      return `${who} is paused${c.pause ? ` at step ${c.pause.stepIndex + 1}` : ""}: resume, roll back or cancel it ${again}.`;
    default:
      return `${who} is ${c.state.replace(/_/g, " ")}.`;
  }
}
