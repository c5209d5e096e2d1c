/**
 * The vitest configuration StrykerJS runs (see stryker.config.json and docs/mutation-testing.md):
 * the unit project of vitest.config.ts alone, so that a mutant never starts the slower tiers.
 */
import { defineConfig } from "vitest/config";
import base from "./vitest.config.ts";

const unit = base.test.projects.find((p) => p.test.name === "unit");
if (!unit) throw new Error('vitest.config.ts has no "unit" project: name the unit tier "unit" again');

export default defineConfig({ test: { ...unit.test, name: undefined } });
