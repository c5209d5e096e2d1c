/**
 * `keyturn schedule [--days 90] [--json]`: the calendar of scheduled rotations on the command line,
 * as chat's `schedule` shows it (read-only; the whole fleet, as the operator running keyturn sees it).
 */
import { parseArgs } from "node:util";
import { renderText } from "../adapters/console/render.js";
import { openReadContext } from "./cli-queries.js";
import { readConfig } from "./config/read-config.js";
import { isKeyturnError } from "./core/errors.js";
import { createPolicyBook } from "./core/policy.js";
import { calendar } from "./core/schedule.js";
import { renderSchedule, scheduleJson } from "./core/schedule-render.js";
import { scheduleEntries } from "./runner/scheduler.js";

export const SCHEDULE_HELP = `  keyturn schedule [--days 90] [--json]
                                    the calendar of scheduled rotations: what rotates when and how
                                    (policy schedule: auto, request or remind), and why a key will not
                                    (remind, key-free, an open change, no window it fits); exit 0, 2 usage, 3 Azure
`;

interface Out {
  write(text: string): void;
}

export async function runSchedule(
  args: readonly string[],
  io: { stdout: Out; stderr: Out } = { stdout: process.stdout, stderr: process.stderr },
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let json = args.includes("--json");
  const fail = (code: string, message: string, exit: number): number => {
    if (json) io.stdout.write(JSON.stringify({ error: { code, message } }) + "\n");
    io.stderr.write(`keyturn: ${message}\n`);
    return exit;
  };
  let days: number;
  try {
    const { values, positionals } = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: { json: { type: "boolean" }, days: { type: "string" } },
    });
    json = !!values.json;
    if (positionals.length)
      return fail("usage", `schedule takes no account: unexpected "${positionals[0]}"`, 2);
    days = values.days === undefined ? 90 : Number(values.days);
    if (!Number.isInteger(days) || days < 1 || days > 366)
      return fail(
        "usage",
        `--days takes a whole number of days from 1 to 366, not "${values.days}": e.g. keyturn schedule --days 30`,
        2,
      );
  } catch (e) {
    return fail(
      "usage",
      `schedule: ${(e as Error).message}. Usage: keyturn schedule [--days 90] [--json]`,
      2,
    );
  }
  let ctx;
  try {
    ctx = await openReadContext(readConfig(env));
  } catch (e) {
    return fail(isKeyturnError(e) ? e.code : "internal", isKeyturnError(e) ? e.userMessage : String(e), 2);
  }
  try {
    const policy = createPolicyBook(ctx.config.policy);
    const now = Date.now();
    const fleet = policy.fleetSchedule();
    const rows = calendar(
      await scheduleEntries({ policy, queries: ctx.queries }, await ctx.directory.list(true)),
      fleet,
      now,
      days,
    );
    io.stdout.write(
      json
        ? JSON.stringify(scheduleJson(rows, { days, fleet, now }), null, 2) + "\n"
        : renderText(renderSchedule(rows, { days, fleet })).text + "\n",
    );
    return 0;
  } catch (e) {
    const azure = isKeyturnError(e) && e.code.startsWith("azure_");
    return fail(
      isKeyturnError(e) ? e.code : "internal",
      isKeyturnError(e)
        ? `${e.userMessage}${azure ? " Check keyturn's access with `keyturn doctor`, then run it again." : ""}`
        : `unexpected error: ${String(e)}. Nothing was changed; run it again.`,
      azure || !isKeyturnError(e) ? 3 : 2,
    );
  } finally {
    await ctx.close();
  }
}
