import type { StepExecutor } from "./context.js";
import { callTotals, ownProbeCount, stepOf } from "./context.js";

/**
 * After the old key died: watch for 401s. A spike means an unknown consumer, or an attacker, still
 * holds the old key; the thread says so with what the logs show. Nothing to roll back: it informs.
 */
export const soak: StepExecutor = {
  async act({ clock }) {
    return { after: { soakStartedAt: clock.now().toISOString() } };
  },
  async check({ change, account, azure, clock }, acted) {
    const killed = stepOf(change, "regenerate_old") ?? stepOf(change, "kill_leaked");
    const from = new Date(killed?.finishedAt ?? acted.startedAt);
    const to = clock.now();
    let errors = 0;
    let calls = 0;
    let metricsRead = true;
    try {
      ({ clientErrors: errors, calls } = await callTotals({ azure, account }, from, to));
    } catch {
      metricsRead = false;
    }
    const callers = azure.telemetry.unauthorizedCallers
      ? await azure.telemetry.unauthorizedCallers(account.id, { from, to }).catch(() => [])
      : [];
    const ownProbes = ownProbeCount(change);
    const pre = stepOf(change, "preflight");
    const minutes = Math.max(1, (to.getTime() - from.getTime()) / 60_000);
    const allowed = ownProbes + 2 * (Number(pre?.after?.baselineClientErrors ?? "0") / 15) * minutes;
    const foreign = callers.filter((c) => c.operation !== "Probe");
    const who = foreign.map((c) => `${c.callerIp} (${c.operation}) × ${c.count}`).join(", ");
    const spike = errors > allowed || foreign.length > 0;
    const result = !metricsRead
      ? "metrics could not be read: check the account's ClientErrors in Azure Monitor"
      : spike
        ? `${errors} client errors of ${calls} calls since the old key died${who ? `; 401 callers: ${who}` : ""}`
        : `${calls} calls, ${errors} client error(s) since the old key died (${ownProbes} from keyturn's own dead-key probes): no one else is using it`;
    return {
      after: { clientErrors: String(errors), calls: String(calls) },
      validation: {
        query:
          "metrics ClientErrors, TotalCalls since the old key died; AzureDiagnostics 401s by CallerIPAddress",
        result,
        passed: !spike,
      },
      ...(spike
        ? {
            alert: `Soak: ${result}. An unknown consumer or an attacker still holds the old key of ${change.accountName}. Find it by the caller IPs; the old key stays dead.`,
          }
        : {}),
    };
  },
};
