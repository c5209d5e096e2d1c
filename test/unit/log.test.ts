import { readFileSync } from "node:fs";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { KeyturnError } from "../../src/core/errors.js";
import { SecretValue } from "../../src/core/secret.js";
import { createLogger } from "../../src/log.js";
import { createTempDir } from "../support/temp-dir.js";

const KEY1 = "9fQ2xLr7Tb0aZk4WcN1vYp8sHd3GmE6uJi5oRt2qAw7yUe4IoPl0KjHgFdSaZx9CvBn1Mq2WeRt3YuIo4Pa5";
const KEY2 = "Zx9CvBn1Mq2WeRt3YuIo4Pa59fQ2xLr7Tb0aZk4WcN1vYp8sHd3GmE6uJi5oRt2qAw7yUe4IoPl0KjHgFdSa";

function capture(level = "debug") {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      cb();
    },
  });
  const logger = createLogger({ level, destination: stream, name: "keyturn-test" });
  return {
    logger,
    text: () => lines.join("\n"),
    records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** Shaped like @azure/core-rest-pipeline's RestError after a listKeys call: the body is the keys. */
class FakeRestError extends Error {
  override readonly name = "RestError";
  readonly code = "InternalServerError";
  readonly statusCode = 500;
  readonly details = { key1: KEY1, key2: KEY2 };
  readonly request = {
    requestId: "client-req-1",
    url: "https://management.azure.com/…/listKeys",
    headers: { authorization: `Bearer ${KEY2}` },
    body: KEY1,
  };
  readonly response = {
    status: 500,
    bodyAsText: JSON.stringify({ key1: KEY1, key2: KEY2 }),
    headers: { get: (n: string) => (n === "x-ms-request-id" ? "arm-req-42" : undefined) },
  };
  constructor() {
    super("Internal server error");
  }
}

describe("the logger", () => {
  it("never writes a SecretValue's value, at any depth", () => {
    const { logger, text } = capture();
    const key = new SecretValue(KEY1);
    logger.info({ key }, "top level");
    logger.info({ step: { evidence: { before: { a: { b: { slot: key } } } } } }, "deep");
    logger.info({ keys: [key, new SecretValue(KEY2)] }, "array");
    expect(text()).not.toContain(KEY1);
    expect(text()).not.toContain(KEY2);
    expect(text()).toContain(key.fingerprint);
  });

  it("censors key-like fields as plain strings, at any depth, and in child bindings", () => {
    const { logger, text, records } = capture();
    logger.info({ key1: KEY1, key2: KEY2 }, "flat");
    logger.info({ keys: { key1: KEY1, key2: KEY2 } }, "nested");
    logger.info({ a: { b: { c: { d: { key2: KEY2, apiKey: KEY1 } } } } }, "deep");
    logger.info({ headers: { authorization: `Bearer ${KEY1}` } }, "headers");
    logger.child({ change: "CHG-3", token: KEY1 }).warn({ slot: "key1", ok: true }, "child");
    expect(text()).not.toContain(KEY1);
    expect(text()).not.toContain(KEY2);
    const r = records();
    expect(r[0]).toMatchObject({ key1: "[redacted]", key2: "[redacted]", msg: "flat" });
    // what is not a key stays readable
    expect(r[4]).toMatchObject({ change: "CHG-3", slot: "key1", ok: true, msg: "child", level: 40 });
  });

  it("logs an Azure RestError with code, status, request id and stack, never its request or response", () => {
    const { logger, text, records } = capture();
    const e = new FakeRestError();
    logger.error({ err: e, account: "contoso-translator" }, "listKeys failed");
    logger.error({ step: { failure: e } }, "nested");
    logger.error(
      {
        err: new KeyturnError(
          "azure_transient",
          "Azure failed temporarily; resume CHG-3.",
          { statusCode: 500 },
          { cause: e },
        ),
      },
      "wrapped",
    );
    expect(text()).not.toContain(KEY1);
    expect(text()).not.toContain(KEY2);
    const [first, nested, wrapped] = records();
    expect(first?.err).toMatchObject({
      type: "RestError",
      code: "InternalServerError",
      statusCode: 500,
      requestId: "arm-req-42",
      clientRequestId: "client-req-1",
      message: "Internal server error",
    });
    expect(String((first?.err as { stack?: string }).stack)).toContain("log.test.ts");
    expect(first?.err).not.toHaveProperty("response");
    expect(first?.err).not.toHaveProperty("request");
    expect(first?.err).not.toHaveProperty("details");
    expect((nested?.step as { failure: unknown }).failure).toMatchObject({
      type: "RestError",
      requestId: "arm-req-42",
    });
    expect(wrapped?.err).toMatchObject({
      type: "KeyturnError",
      code: "azure_transient",
      userMessage: "Azure failed temporarily; resume CHG-3.",
      details: { statusCode: 500 },
      cause: { type: "RestError", statusCode: 500 },
    });
  });

  it("respects the level, and writes JSON lines to a file path", () => {
    const { logger, records } = capture("info");
    logger.debug({ n: 1 }, "hidden");
    logger.info({ n: 2 }, "shown");
    expect(records().map((r) => r.msg)).toEqual(["shown"]);

    const dir = createTempDir("keyturn-log-");
    try {
      const file = dir.file("logs", "keyturn.log");
      const fileLogger = createLogger({ destination: file, bindings: { mode: "sandbox" } });
      fileLogger.info({ key: KEY1, account: "contoso-openai" }, "to a file");
      const lines = readFileSync(file, "utf8").trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0] ?? "")).toMatchObject({
        msg: "to a file",
        account: "contoso-openai",
        mode: "sandbox",
        name: "keyturn",
        key: "[redacted]",
      });
    } finally {
      dir.remove();
    }
  });
});
