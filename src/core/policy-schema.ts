/** The policy file's schema (YAML or JSON): every problem is reported at once, with its path and a fix. */
import { z } from "zod";
import { parseDuration } from "./duration.js";

const duration = z
  .union([z.string(), z.number()])
  .refine((v) => parseDuration(v) !== null, { message: "expected a duration such as 90s, 5m, 4h or 1d" });

const identity = z
  .string()
  .min(1, "expected an identity such as bob@contoso.com, slack:U123, aad:<object id> or group:<name>");

export const settingsSchema = z
  .object({
    approvers: z.array(identity).optional(),
    approvalsRequired: z
      .number({ message: "expected a positive integer, e.g. 2" })
      .int("expected a whole number")
      .positive("expected at least 1")
      .optional(),
    approvalExpiry: duration.optional(),
    exposureApprovalExpiry: duration.optional(),
    breakGlass: z.array(identity).optional(),
    breakGlassApprovalWithin: duration.optional(),
    propagation: duration.optional(),
    exposurePropagation: duration.optional(),
    soak: duration.optional(),
    exposureSoak: duration.optional(),
    cadenceDays: z.number({ message: "expected a number of days, e.g. 90" }).int().positive().optional(),
    owner: z.string().optional(),
  })
  .strict();

export const policySchema = z
  .object({
    defaults: settingsSchema.optional(),
    groups: z.record(z.string(), z.array(identity)).optional(),
    policies: z
      .array(
        settingsSchema.extend({
          name: z.string().min(1, "give the policy a name"),
          match: z
            .object({
              tags: z.record(z.string(), z.string()).optional(),
              names: z.array(z.string()).optional(),
              subscriptions: z.array(z.string()).optional(),
            })
            .strict(),
        }),
      )
      .optional(),
  })
  .strict();

export type PolicySettings = z.infer<typeof settingsSchema>;
export type Policy = z.infer<typeof policySchema>;
