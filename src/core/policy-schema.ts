/** The policy file's schema (YAML or JSON): every problem is reported at once, with its path and a fix. */
import { z } from "zod";
import { parseDuration } from "./duration.js";

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
    },
    { error: "expected settings — write key: value pairs beneath it" },
  )
  .strict();

export const policySchema = z
  .object(
    {
      defaults: settingsSchema.optional(),
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
