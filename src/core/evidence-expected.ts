/**
 * The state each step is expected to leave, derived from the plan and the state before it, set
 * beside the state the step recorded: after "regenerate standby" the standby fingerprint is new and
 * the other unchanged; after publish every planned secret holds the new key's fingerprint; and so on.
 */
import type { Change, KeySlot, PlanStep, StepEvidence } from "./domain.js";
import type { ExpectedCheck } from "./evidence-runbook.js";
import { isDisableLocalAuth } from "./domain.js";
import { keyFreeExpected } from "./evidence-key-free.js";
import {
  activeAfter,
  excluded,
  fingerprintAt,
  fpOf,
  nextReading,
  planned,
  plannedSecrets,
  secretKey,
  short,
  versionOf,
} from "./evidence-state.js";

export function expectedFor(change: Change, p: PlanStep, s: StepEvidence | undefined): ExpectedCheck[] {
  const checks: ExpectedCheck[] = [];
  const ran = !!s?.finishedAt || !!s?.actedAt;
  const check = (item: string, expected: string, actual: string | null | undefined, met: boolean | null) =>
    checks.push({ item, expected, actual: actual ?? null, met: actual == null || !ran ? null : met });
  if (isDisableLocalAuth(change)) return keyFreeExpected(change, p, s);
  const waived = new Set(change.waivedConsumerIds);
  switch (p.kind) {
    case "preflight": {
      const inv = change.inventory.fingerprints;
      for (const slot of ["key1", "key2"] as const) {
        const want = inv?.[slot];
        const got = s?.after?.[slot];
        check(
          slot,
          want ? `unchanged since planning: ${want}` : "read (no planning fingerprint)",
          got,
          want ? got === want : true,
        );
      }
      check(
        "active slot",
        `consumers read ${change.plan.activeSlot}`,
        s?.validation?.result,
        s?.validation?.passed ?? null,
      );
      break;
    }
    case "regenerate_standby":
    case "regenerate_old":
    case "kill_leaked": {
      const slot = p.slot ?? change.plan.standbySlot;
      const other: KeySlot = slot === "key1" ? "key2" : "key1";
      const old = fingerprintAt(change, slot, p.index);
      const got = s?.after?.[slot];
      check(
        slot,
        `a new fingerprint (not ${short(old)}); the old value is refused by the data plane (401)`,
        got,
        !!got && got !== old,
      );
      const keep = fingerprintAt(change, other, p.index);
      const later = nextReading(change, other, p.index);
      check(
        other,
        `unchanged: ${short(keep)}`,
        later ? `${later.fp} (read at step ${later.at + 1})` : null,
        later ? later.fp === keep : null,
      );
      break;
    }
    case "publish": {
      const slot = p.slot ?? change.plan.standbySlot;
      const target = fingerprintAt(change, slot, p.index);
      for (const sec of plannedSecrets(change)) {
        const got = s?.after?.[sec.key];
        const was = versionOf(s?.before?.[sec.key]);
        check(
          `secret ${sec.name}`,
          `a new version holding ${slot} (${short(target)})`,
          got,
          fpOf(got) === target &&
            (was === undefined || versionOf(got) !== was || fpOf(s?.before?.[sec.key]) === target),
        );
      }
      for (const c of excluded(change))
        check(
          c.name,
          "unchanged: a NEW holder this change excludes receives nothing",
          c.secret && s?.after?.[secretKey(c.secret.vaultUrl, c.secret.name)]
            ? "published"
            : s
              ? "not published"
              : null,
          !(c.secret && s?.after?.[secretKey(c.secret.vaultUrl, c.secret.name)]),
        );
      if (!plannedSecrets(change).length && !excluded(change).length)
        check(
          "secrets",
          "nothing to publish: no consumer reads the key from Key Vault",
          s?.validation?.result,
          true,
        );
      break;
    }
    case "move_consumers": {
      for (const c of planned(change)) {
        const got = s?.after?.[c.id];
        if (waived.has(c.id)) {
          check(c.name, "waived: not moved", got, null);
          continue;
        }
        const want =
          c.reload === "refreshable"
            ? "refresh requested"
            : c.reload === "versionless"
              ? "re-reads the latest version by itself"
              : c.reload === "pinned"
                ? "pinned: re-pinned by its owner (or waived) before the cutover check"
                : `owner ${c.owner ?? "(none recorded)"} notified to update it`;
        check(
          c.name,
          want,
          got,
          c.reload === "refreshable" || c.reload === "versionless"
            ? !!got?.startsWith(want.split(" ")[0]!)
            : null,
        );
      }
      break;
    }
    case "verify_cutover": {
      const slot = change.plan.steps.find((x) => x.kind === "publish")?.slot ?? change.plan.standbySlot;
      const target = fingerprintAt(change, slot, p.index);
      const pub = change.steps.find((x) => x.kind === "publish");
      for (const c of planned(change)) {
        const got = s?.after?.[c.id];
        if (waived.has(c.id)) {
          check(
            c.name,
            "waived by an approver: not checked (see Decisions and interruptions)",
            got,
            got ? /waived/.test(got) : null,
          );
          continue;
        }
        const version = c.secret
          ? versionOf(pub?.after?.[secretKey(c.secret.vaultUrl, c.secret.name)])
          : undefined;
        if (c.siteId && c.secret)
          check(
            c.name,
            `uses version ${version ?? "(the published one)"} (holding ${slot})`,
            got,
            !!version && got === `uses version ${version}`,
          );
        else if (c.secret) check(c.name, `reads ${slot} (${short(target)})`, got, fpOf(got) === target);
        else if (c.source === "app-setting-literal")
          check(c.name, `holds ${slot}`, got, got === `holds ${slot}`);
        else check(c.name, "cannot be verified by keyturn: the soak window watches for 401s", got, null);
      }
      for (const c of excluded(change))
        check(c.name, "NEW holder excluded: not delivered to, not checked", s?.after?.[c.id], null);
      check(
        "client errors since publish",
        "no spike beyond the baseline",
        s?.validation?.result,
        s?.validation?.passed ?? null,
      );
      break;
    }
    case "soak": {
      const expectedFailures = [
        ...planned(change)
          .filter((c) => waived.has(c.id))
          .map((c) => `${c.name} (waived)`),
        ...excluded(change).map((c) => `${c.name} (NEW holder, excluded)`),
      ];
      check(
        "401s after the old key died",
        `none beyond keyturn's own dead-key probes${expectedFailures.length ? `; expected from ${expectedFailures.join(", ")}, which kept the old key` : ""}`,
        s?.validation?.result,
        s?.validation?.passed ?? null,
      );
      break;
    }
    case "complete": {
      const active = activeAfter(change);
      check("active slot", active, s?.after?.activeSlot, s?.after?.activeSlot === active);
      for (const slot of ["key1", "key2"] as const) {
        const want = fingerprintAt(change, slot, p.index);
        check(
          slot,
          `${short(want)} (as the regenerate steps left it)`,
          s?.after?.[slot],
          s?.after?.[slot] === want,
        );
      }
      const done = s?.finishedAt ?? s?.actedAt;
      check(
        "next due",
        `${change.policy.cadenceDays} days after the rotation${done ? ` (${new Date(Date.parse(done) + change.policy.cadenceDays * 86_400_000).toISOString().slice(0, 10)})` : ""}`,
        s?.after?.nextDue,
        s?.after?.nextDue && done
          ? Math.abs(
              Date.parse(s.after.nextDue) - (Date.parse(done) + change.policy.cadenceDays * 86_400_000),
            ) < 86_400_000
          : null,
      );
      break;
    }
  }
  return checks;
}
