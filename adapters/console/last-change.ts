/**
 * `last` (or `$LAST`) in a console line names the newest change, so a script can follow the change
 * it just opened without knowing its number: `wait last completed`, `thread last`, `evidence last`.
 */
import type { AsyncStore } from "../../src/core/ports.js";

/** Commands whose first argument is a change id. */
const TAKES_CHANGE = new Set([
  "approve",
  "reject",
  "cancel",
  "resume",
  "rollback",
  "evidence",
  "waive",
  "include",
  "wait",
  "thread",
]);

/** The line with `last` replaced by the newest change id, or a problem to show instead. */
export async function expandLast(
  line: string,
  store: AsyncStore,
): Promise<{ line: string } | { problem: string }> {
  const words = line.split(/\s+/);
  const cmd = (words[0] ?? "").toLowerCase();
  const placeholder = (w: string | undefined) => w === "$LAST" || (w ?? "").toLowerCase() === "last";
  const atArg = TAKES_CHANGE.has(cmd) && placeholder(words[1]);
  const anywhere = /\$LAST\b/.test(line);
  if (!atArg && !anywhere) return { line };
  const newest = (await store.listChanges({ limit: 1 }))[0];
  if (!newest)
    return {
      problem:
        '`last` names the newest change, and there is none yet: open one with `rotate <account> --reason "…"`.',
    };
  const replaced = atArg ? line.replace(/^(\S+\s+)\S+/, `$1${newest.id}`) : line;
  return { line: replaced.replace(/\$LAST\b/g, newest.id) };
}
