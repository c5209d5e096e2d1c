/** The policy file's schema (YAML or JSON): every problem is reported at once, with its path and a fix. */
import { z } from "zod";
import { parseDuration } from "./duration.js";
import { clockMinutes, isTimeZone, WEEKDAYS } from "./schedule-window.js";

/** Messages read "expected …" then " — " and the fix; the loader inserts what it got between them. */
const duration = z
  .union([z.string(), z.number()], { error: "expected a duration — write it as 90s, 5m, 4h or 1d" })
  .refine((v) => parseDuration(v) !== null, {
    message: "expected a duration — write it as 90s, 5m, 4h or 1d",
  });

const identity = z
  .string({
    error:
      "expected an identity — write an e-mail, slack:U123, slackgroup:S123, aad:<object id>, console:<name> or group:<name>",
  })
  .min(1, {
    error:
      "expected an identity — write an e-mail, slack:U123, slackgroup:S123, aad:<object id>, console:<name> or group:<name>",
  });
const identities = z.array(identity, {
  error: "expected a list — write it as [bob@contoso.com, group:secops]",
});
/** The roles of the authorisation matrix (approve is `approvers`). */
export const ROLES = ["read", "request", "operate", "consumers", "audit"] as const;
export type Role = (typeof ROLES)[number] | "approve";

const roles = z
  .object(
    {
      read: identities.optional(),
      request: identities.optional(),
      operate: identities.optional(),
      consumers: identities.optional(),
      audit: identities.optional(),
    },
    { error: "expected roles — write role: [member, …] pairs, e.g. audit: [group:auditors]" },
  )
  .strict();

const person = z
  .object(
    {
      name: z.string({ error: "expected a display name — write it as text, e.g. Bob Okafor" }).optional(),
      identities: identities,
    },
    { error: "expected a person — write name: … and identities: [e-mail, slack:U…, aad:<object id>]" },
  )
  .strict();

const positiveInt = (what: string, example: number) =>
  z
    .number({ error: `expected ${what} — write a number such as ${example}` })
    .int({ error: `expected ${what} — write a whole number such as ${example}` })
    .positive({ error: `expected ${what} — write a number such as ${example}` });

const DAYS_FIX = "write days: [mon, tue, wed, thu, fri] (mon, tue, wed, thu, fri, sat, sun)";
const clockTime = (which: "from" | "to") =>
  z
    .string({
      error: `expected a time of day — write ${which}: "${which === "from" ? "02:00" : "05:00"}" (24-hour HH:MM, quoted)`,
    })
    .refine((v) => clockMinutes(v) !== null, {
      message: `expected a time of day — write ${which}: "${which === "from" ? "02:00" : "05:00"}" (24-hour HH:MM, quoted)`,
    });

/** A maintenance window: scheduled rotations start inside it (a `to` not after `from` ends the next day). */
export const windowSchema = z
  .object(
    {
      days: z
        .array(
          z
            .string({ error: `expected a day — ${DAYS_FIX}` })
            .transform((d) => d.trim().toLowerCase().slice(0, 3))
            .refine((d) => (WEEKDAYS as readonly string[]).includes(d), {
              message: `expected a day — ${DAYS_FIX}`,
            }),
          { error: `expected a list of days — ${DAYS_FIX}` },
        )
        .min(1, { error: `expected at least one day — ${DAYS_FIX}` }),
      from: clockTime("from"),
      to: clockTime("to"),
      timezone: z
        .string({ error: "expected a time zone — write timezone: UTC or an IANA name such as Europe/Berlin" })
        .refine(isTimeZone, {
          message: "expected a time zone — write timezone: UTC or an IANA name such as Europe/Berlin",
        })
        .optional(),
    },
    {
      error:
        'expected a maintenance window — write window: { days: [mon, tue, wed, thu, fri], from: "02:00", to: "05:00", timezone: UTC }',
    },
  )
  .strict()
  .refine((w) => clockMinutes(w.from) !== clockMinutes(w.to) || clockMinutes(w.from) === null, {
    message:
      'expected a window of some length — from and to are the same time; write e.g. from: "02:00", to: "05:00"',
  });

export const SCHEDULE_MODES = ["auto", "request", "remind"] as const;

/** Fleet-wide limits of scheduled rotation (top level of the file). */
export const fleetScheduleSchema = z
  .object(
    {
      concurrency: z
        .number({
          error:
            "expected a number of rotations — write concurrency: 4 (scheduled rotations open at once, fleet-wide)",
        })
        .int({ error: "expected a whole number — write concurrency: 4" })
        .positive({ error: "expected at least 1 — write concurrency: 4" })
        .max(50, {
          error:
            "expected at most 50 — ARM throttles a principal's writes per subscription; write concurrency: 4",
        })
        .optional(),
      jitter: duration.optional(),
    },
    {
      error:
        "expected fleet-wide schedule limits — write schedule: { concurrency: 4, jitter: 1h } (the mode auto, request or remind goes under defaults: or a policy)",
    },
  )
  .strict();

export const settingsSchema = z
  .object(
    {
      approvers: identities.optional(),
      approvalsRequired: positiveInt("a positive integer", 2).optional(),
      approvalExpiry: duration.optional(),
      exposureApprovalExpiry: duration.optional(),
      breakGlass: identities.optional(),
      breakGlassApprovalWithin: duration.optional(),
      propagation: duration.optional(),
      exposurePropagation: duration.optional(),
      soak: duration.optional(),
      exposureSoak: duration.optional(),
      cadenceDays: positiveInt("a positive number of days", 90).optional(),
      owner: z.string({ error: "expected text — write the owner's e-mail or team name" }).optional(),
      roles: roles.optional(),
      schedule: z
        .enum(SCHEDULE_MODES, {
          error:
            "expected auto, request or remind — write schedule: auto (keyturn rotates due keys in the window by itself), request (it opens the change and asks the approvers) or remind (reminders only)",
        })
        .optional(),
      window: windowSchema.optional(),
    },
    { error: "expected settings — write key: value pairs beneath it" },
  )
  .strict();

export const policySchema = z
  .object(
    {
      defaults: settingsSchema.optional(),
      /** Fleet-wide limits of scheduled rotation; the mode is per policy (`schedule: auto`). */
      schedule: fleetScheduleSchema.optional(),
      /** Slack guests (single- and multi-channel) may be identified by their e-mail and user groups. */
      allowSlackGuests: z
        .boolean({ error: "expected true or false — write allowSlackGuests: true to identify Slack guests" })
        .optional(),
      people: z
        .record(z.string(), person, {
          error: "expected people — write key: { name: …, identities: [...] } pairs beneath it",
        })
        .optional(),
      groups: z
        .record(z.string(), identities, {
          error: "expected groups — write name: [member, …] pairs beneath it",
        })
        .optional(),
      policies: z
        .array(
          settingsSchema.extend({
            name: z
              .string({ error: "expected a name — give the policy a name such as production" })
              .min(1, { error: "expected a name — give the policy a name such as production" }),
            match: z
              .object(
                {
                  tags: z
                    .record(
                      z.string(),
                      z.string({ error: "expected a tag value — write it as text, e.g. production" }),
                    )
                    .optional(),
                  names: z
                    .array(z.string(), {
                      error: 'expected a list of name patterns — write it as ["*-prod-*"]',
                    })
                    .optional(),
                  subscriptions: z
                    .array(z.string(), {
                      error: "expected a list of subscription ids — write it as [00000000-…]",
                    })
                    .optional(),
                  resourceGroups: z
                    .array(z.string(), {
                      error: 'expected a list of resource group patterns — write it as ["rg-ai-prod"]',
                    })
                    .optional(),
                },
                { error: "expected match conditions — write match: { resourceGroups: [rg-ai-prod] }" },
              )
              .strict(),
          }),
          { error: "expected a list of policies — write each as - name: …" },
        )
        .optional(),
    },
    { error: "expected a policy file of key: value pairs (defaults, groups, policies)" },
  )
  .strict();

export type PolicySettings = z.infer<typeof settingsSchema>;
export type Policy = z.infer<typeof policySchema>;
