import { KeyturnError } from "../core/errors.js";

/**
 * "contoso-translator already has an open change, CHG-3 (awaiting approval). …" — worded like the
 * service's own check, so a user sees one message whichever of the two caught the race.
 */
export function openChangeError(
  accountName: string,
  other: { id: string; state: string } | undefined,
): KeyturnError {
  const which = other ? `, ${other.id} (${other.state.replace(/_/g, " ")})` : "";
  return new KeyturnError(
    "change_open",
    `${accountName} already has an open change${which}. Finish, cancel or resume it first.`,
    other ? { changeId: other.id, state: other.state } : {},
  );
}
