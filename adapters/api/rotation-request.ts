/**
 * The body of `POST /api/v1/rotations`, read into the same `rotate` command chat types, under the same
 * rules (a reason of at most 500 characters; --kill-now only with the leaked key named).
 *
 *   { "account": "contoso-translator", "reason": "leaked in PR 123",
 *     "exposure": "key1" | "key2" | "unknown" | true,  "killNow": false, "breakGlass": false }
 */
import { z } from "zod";
import type { Command } from "../../src/core/command.js";
import { MAX_REASON } from "../../src/core/parse-command.js";

const body = z
  .object({
    account: z.string({ message: "account is required: the account's name or resource id" }).trim().min(1),
    reason: z
      .string({ message: "reason is required: say why, for the evidence record" })
      .trim()
      .min(1, "reason is empty: say why, for the evidence record")
      .max(MAX_REASON, `reason must be under ${MAX_REASON} characters`),
    exposure: z
      .union([z.boolean(), z.enum(["key1", "key2", "unknown"])], {
        message: 'exposure must be "key1", "key2", "unknown" (the key may have leaked) or false',
      })
      .optional(),
    killNow: z.boolean({ message: "killNow must be true or false" }).optional(),
    breakGlass: z.boolean({ message: "breakGlass must be true or false" }).optional(),
  })
  .strict();

export function parseRotation(
  raw: unknown,
): { command: Extract<Command, { name: "rotate" }> } | { error: string } {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    return { error: "Send a JSON object (Content-Type: application/json) with account and reason." };
  const r = body.safeParse(raw);
  if (!r.success) {
    const problems = r.error.issues.map((i) =>
      i.code === "unrecognized_keys"
        ? `unknown field(s) ${i.keys.join(", ")}: the fields are account, reason, exposure, killNow, breakGlass`
        : i.message,
    );
    return { error: `The rotation request is not valid: ${problems.join("; ")}.` };
  }
  const b = r.data;
  const leakedSlot = b.exposure === true ? "unknown" : b.exposure ? b.exposure : null;
  if (b.killNow && (leakedSlot === null || leakedSlot === "unknown"))
    return { error: 'killNow needs the leaked key: "exposure": "key1" or "key2".' };
  return {
    command: {
      name: "rotate",
      account: b.account,
      reason: b.reason,
      exposure: leakedSlot !== null,
      leakedSlot,
      killNow: b.killNow ?? false,
      breakGlass: b.breakGlass ?? false,
    },
  };
}
