/**
 * docs/alerts.yml is a rule file Prometheus can load, and every keyturn metric its rules use is one
 * keyturn serves at /metrics (a renamed metric would otherwise leave an alert that never fires).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import YAML from "yaml";
import { registry } from "../../src/metrics.js";

interface Rule {
  alert?: string;
  expr?: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const doc = YAML.parse(readFileSync(new URL("../../docs/alerts.yml", import.meta.url), "utf8")) as {
  groups: { name: string; rules: Rule[] }[];
};
const rules = doc.groups.flatMap((g) => g.rules);

describe("docs/alerts.yml", () => {
  it("has the alerts operations.md promises, each with an expression, a severity and a summary", () => {
    const names = rules.map((r) => r.alert);
    for (const wanted of [
      "KeyturnChangePausedTooLong",
      "KeyturnKeyOverdue",
      "KeyturnChatPostsFailing",
      "KeyturnRunnerLeaseLost",
    ])
      expect(names).toContain(wanted);
    for (const r of rules) {
      expect(r.expr, r.alert).toMatch(/keyturn_/);
      expect(r.labels?.severity, r.alert).toMatch(/^(page|ticket|info)$/);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
      if (r.for) expect(r.for, r.alert).toMatch(/^\d+[smh]$/);
    }
  });

  it("uses only metrics keyturn serves", () => {
    const used = new Set(
      rules.flatMap((r) => [...(r.expr ?? "").matchAll(/\bkeyturn_[a-z_]+/g)].map((m) => m[0])),
    );
    expect(used.size).toBeGreaterThan(5);
    for (const name of used) {
      const base = name.replace(/_(bucket|sum|count)$/, "");
      expect(registry.getSingleMetric(base) ?? registry.getSingleMetric(name), name).toBeDefined();
    }
  });
});
