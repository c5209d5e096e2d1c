/** The problems readConfig reports for an environment, one sentence each (none: it is accepted). */
import { readConfig } from "../../src/config/read-config.js";
import { isKeyturnError } from "../../src/core/errors.js";

export function configProblems(env: Record<string, string>): string[] {
  try {
    readConfig(env);
    return [];
  } catch (e) {
    if (isKeyturnError(e)) return (e.details.problems as string[]) ?? [e.userMessage];
    throw e;
  }
}
