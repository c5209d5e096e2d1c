/**
 * The built keyturn (one or more processes on one data directory) against the standalone simulator,
 * with the short policy and the translator account the chaos kit rotates: what the end-to-end tests of
 * several processes, shutdown and metrics share.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Change } from "../../src/core/domain.js";
import {
  azureEnv,
  ROTATABLE,
  startStandaloneSimulator,
  writeShortPolicy,
  type StandaloneSimulator,
} from "./chaos-kit.js";
import { ChaosKeyturn, SLACK_IDS } from "./chaos-keyturn.js";
import { waitUntil } from "./spawn-keyturn.js";

export const translator = ROTATABLE[0];

export interface StandaloneRig {
  readonly dir: string;
  readonly sim: StandaloneSimulator;
  readonly env: Record<string, string>;
  /** keyturn processes sharing `<dir>/data`; the first is started. */
  readonly processes: ChaosKeyturn[];
  /** The translator's change, as the first process's store has it. */
  theChange(): Change | undefined;
  /** Alice requests a rotation of the translator; Bob and Carol approve it. Returns it as requested. */
  requestApproved(reason: string): Promise<Change>;
  close(): Promise<void>;
}

export async function startStandaloneRig(
  prefix: string,
  opts: { processes?: number; env?: (dir: string) => Record<string, string> } = {},
): Promise<StandaloneRig> {
  const dir = mkdtempSync(join(tmpdir(), `keyturn-${prefix}-`));
  const sim = await startStandaloneSimulator(dir);
  const env = { ...azureEnv(sim), KEYTURN_POLICY_FILE: writeShortPolicy(dir), ...opts.env?.(dir) };
  const processes = Array.from(
    { length: opts.processes ?? 1 },
    () => new ChaosKeyturn(join(dir, "data"), env),
  );
  await processes[0]!.start();
  const first = processes[0]!;
  const theChange = (): Change | undefined =>
    first.changes().find((c) => c.accountId.toLowerCase() === translator.id.toLowerCase());
  return {
    dir,
    sim,
    env,
    processes,
    theChange,
    async requestApproved(reason) {
      await first.command(SLACK_IDS.alice, `rotate ${translator.name} --reason "${reason}"`);
      const requested = await waitUntil("the change to await approval", () =>
        theChange()?.state === "awaiting_approval" ? theChange() : undefined,
      );
      for (const who of [SLACK_IDS.bob, SLACK_IDS.carol]) await first.command(who, `approve ${requested.id}`);
      return requested;
    },
    async close() {
      for (const p of [...processes].reverse()) await p.stop();
      await sim.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
