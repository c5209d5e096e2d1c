import { readFileSync } from "node:fs";
import { request } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSimulatorCredential, startSimulator, type Simulator } from "../../src/sandbox/index.js";

/**
 * The simulator's answers against Azure's published example responses: every key path of the example
 * exists in the simulator's answer with the same JSON type (recursively; arrays by their first
 * element). `tags` is a free-form map, so only its type is compared. The simulator may carry more
 * properties than an example shows (real accounts do: endpoints, disableLocalAuth, systemData…).
 */
type Shape = Map<string, string>;

function shapeOf(v: unknown, path = "$", out: Shape = new Map()): Shape {
  const type = v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
  out.set(path, type);
  if (type === "array" && (v as unknown[]).length > 0) shapeOf((v as unknown[])[0], `${path}[0]`, out);
  else if (type === "object" && !path.endsWith(".tags"))
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) shapeOf(x, `${path}.${k}`, out);
  return out;
}

function missingFrom(actual: unknown, example: unknown): string[] {
  const a = shapeOf(actual);
  return [...shapeOf(example)]
    .filter(([p, t]) => a.get(p) !== t)
    .map(([p, t]) => `${p}: example ${t}, simulator ${a.get(p) ?? "absent"}`);
}

const example = (name: string) =>
  (
    JSON.parse(readFileSync(new URL(`../fixtures/azure-specs/${name}.json`, import.meta.url), "utf8")) as {
      responses: { "200": { body: unknown } };
    }
  ).responses["200"].body;

const PROD = "00000000-0000-4000-8000-0000000000a1";
const base = `/subscriptions/${PROD}/resourceGroups/rg-ai-prod/providers/Microsoft.CognitiveServices/accounts/contoso-translator`;
let sim: Simulator;
let token = "";

function arm(method: string, path: string, body?: unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${sim.armEndpoint}${path}`,
      {
        method,
        ca: sim.caPem,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString("utf8")));
        res.on("end", () =>
          res.statusCode === 200 ? resolve(JSON.parse(text)) : reject(new Error(`${res.statusCode} ${text}`)),
        );
      },
    );
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

beforeAll(async () => {
  sim = await startSimulator({ consumers: false });
  token = (await createSimulatorCredential().getToken("https://management.azure.com/.default"))!.token;
});
afterAll(async () => {
  await sim.close();
});

describe("simulator responses have the shapes of Azure's REST spec examples (2025-09-01)", () => {
  it("GetAccount", async () => {
    expect(missingFrom(await arm("GET", `${base}?api-version=2025-09-01`), example("GetAccount"))).toEqual(
      [],
    );
  });
  it("ListAccountsBySubscription", async () => {
    expect(
      missingFrom(
        await arm(
          "GET",
          `/subscriptions/${PROD}/providers/Microsoft.CognitiveServices/accounts?api-version=2025-09-01`,
        ),
        example("ListAccountsBySubscription"),
      ),
    ).toEqual([]);
  });
  it("ListKeys", async () => {
    expect(
      missingFrom(await arm("POST", `${base}/listKeys?api-version=2025-09-01`), example("ListKeys")),
    ).toEqual([]);
  });
  it("RegenerateKey", async () => {
    expect(
      missingFrom(
        await arm("POST", `${base}/regenerateKey?api-version=2025-09-01`, { keyName: "Key2" }),
        example("RegenerateKey"),
      ),
    ).toEqual([]);
  });
  it("the comparison notices a wrong shape", () => {
    expect(missingFrom({ key1: "a" }, example("ListKeys"))).toEqual([
      "$.key2: example string, simulator absent",
    ]);
    expect(missingFrom({ value: [{ id: 1 }] }, example("ListAccountsBySubscription"))).toContain(
      "$.value[0].id: example string, simulator number",
    );
  });
});
