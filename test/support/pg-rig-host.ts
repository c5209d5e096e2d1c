/**
 * The built keyturn under a host name of its own (a UTS namespace: root only, as CI runs), as a
 * replica on another machine: a standby there cannot see the runner's pid.
 */
import { spawnKeyturn, type RunningProgram } from "./spawn-keyturn.js";

/** The built keyturn in its own UTS namespace, under `host` (as on another machine). */
export function spawnOnHost(
  host: string,
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<RunningProgram> {
  return spawnKeyturn(env, timeoutMs, [], host);
}
