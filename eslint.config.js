import js from "@eslint/js";
import tseslint from "typescript-eslint";

const forbiddenInCore = [
  {
    group: ["@slack/*", "@azure/*", "@microsoft/*", "botbuilder*", "better-sqlite3", "pino", "express"],
    message: "src/core knows no SDK: put this behind a port.",
  },
  {
    group: [
      "node:fs",
      "node:fs/*",
      "node:http",
      "node:https",
      "node:net",
      "node:child_process",
      "node:dgram",
      "node:tls",
    ],
    message: "src/core does no I/O: put this behind a port.",
  },
  {
    group: ["../store/*", "../azure/*", "../runner/*", "../sandbox/*", "../../adapters/*"],
    message: "src/core depends on nothing outside it.",
  },
];

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "data/**", "coverage/**", "manifest/build/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/require-await": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/restrict-template-expressions": "off",
      "@typescript-eslint/no-misused-promises": [
        "error",
        { checksVoidReturn: { arguments: false, attributes: false } },
      ],
    },
  },
  {
    files: ["src/core/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: forbiddenInCore }] },
  },
  { files: ["**/*.js", "**/*.mjs", "**/*.cjs"], ...tseslint.configs.disableTypeChecked },
  {
    files: ["**/*.mjs"],
    languageOptions: { globals: { process: "readonly", URL: "readonly", console: "readonly" } },
  },
);
