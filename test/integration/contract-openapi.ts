/**
 * Azure's published API contract, from the OpenAPI (Swagger 2.0) files vendored under
 * test/fixtures/azure-specs/openapi: each file is added to a draft-04 validator under its repository
 * path, so cross-file `$ref`s (common-types, CommonDefinitions, common.json) resolve as they do in
 * Azure/azure-rest-api-specs. `check` judges one answer against one operation: declared status, the
 * headers Azure sends, the body against the response schema, and the error envelope.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import AjvDraft04Module from "ajv-draft-04";
import addFormatsModule from "ajv-formats";

// both packages are CommonJS whose default export is on `.default` under NodeNext resolution
const Ajv = AjvDraft04Module.default;
const addFormats = addFormatsModule.default;

export const SPEC_ROOT = join(import.meta.dirname, "../fixtures/azure-specs/openapi/specification");
const BASE = "https://specs.invalid/specification/";

/** Swagger 2.0 is draft-04 plus Azure's extensions: `x-nullable` admits null, `x-ms-enum.modelAsString` makes an enum open. */
function toJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (!node || typeof node !== "object") return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) out[k] = toJsonSchema(v);
  if (out["x-nullable"] === true && typeof out.type === "string") out.type = [out.type, "null"];
  const xEnum = out["x-ms-enum"] as { modelAsString?: boolean } | undefined;
  if (Array.isArray(out.enum) && xEnum?.modelAsString === true) delete out.enum;
  // Key Vault ends a listing with `"nextLink": null` (ARM's paging guideline allows null or absent);
  // the definitions type it string, and every Azure SDK reads null as the last page
  const props = out.properties as Record<string, { type?: unknown }> | undefined;
  if (props?.nextLink?.type === "string") props.nextLink = { ...props.nextLink, type: ["string", "null"] };
  return out;
}

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith(".json") ? [join(dir, e.name)] : [],
  );
}

/**
 * Where a published definition says what Azure does not do, named one by one (never a whole
 * operation): the check reports everything else.
 */
const ERRATA: { operation: string; problem: string; why: string }[] = [
  {
    operation: "/subscriptions",
    problem: `(body) must have required property 'nextLink' {"missingProperty":"nextLink"}`,
    why: "Subscriptions 2022-12-01 marks nextLink required; ARM omits it on the last page, as its paging guideline says, and the SDK reads it as optional",
  },
];

export interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
}

interface OperationRef {
  file: string;
  path: string;
  method: string;
  op: {
    responses: Record<string, { schema?: unknown; headers?: Record<string, unknown> }>;
    "x-ms-pageable"?: { nextLinkName?: string | null };
  };
}

export class Contract {
  readonly ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
  readonly #docs = new Map<string, { paths: Record<string, Record<string, { operationId?: string }>> }>();
  /** Schemas compiled and answers validated, for the report. */
  readonly validated = new Set<string>();

  constructor() {
    addFormats(this.ajv);
    for (const f of ["unixtime", "arm-id", "base64url", "duration"]) this.ajv.addFormat(f, true);
    for (const abs of files(SPEC_ROOT)) {
      const rel = relative(SPEC_ROOT, abs).split("\\").join("/");
      const doc = toJsonSchema(JSON.parse(readFileSync(abs, "utf8"))) as Record<string, unknown>;
      // the vendored files are definitions, not instances: only their schemas are compiled
      this.ajv.addSchema({ ...doc, $schema: undefined, id: BASE + rel }, BASE + rel);
      this.#docs.set(rel, doc as never);
    }
  }

  operation(file: string, operationId: string): OperationRef {
    const doc = this.#docs.get(file);
    if (!doc) throw new Error(`no vendored spec ${file}`);
    for (const [path, item] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(item))
        if (op.operationId === operationId) return { file, path, method, op: op as OperationRef["op"] };
    throw new Error(`${file} has no operation ${operationId}`);
  }

  /** Validates `value` against the schema at `pointer` (a JSON pointer) in `file`; returns the problems. */
  validate(file: string, pointer: string, value: unknown): string[] {
    const key = `${BASE}${file}#${pointer}`;
    const v = this.ajv.getSchema(key);
    if (!v) return [`no schema at ${file}#${pointer}`];
    this.validated.add(key);
    if (v(value)) return [];
    return (v.errors ?? []).map(
      (e: { instancePath: string; message?: string; params: unknown }) =>
        `${e.instancePath || "(body)"} ${e.message ?? ""} ${JSON.stringify(e.params)}`,
    );
  }

  definition(file: string, name: string, value: unknown): string[] {
    return this.validate(file, `/definitions/${name}`, value);
  }

  /**
   * One answer against one operation: its status is declared (2xx explicitly; errors may fall to
   * `default`), the request id header is there, the body fits the response schema, and an error body
   * is exactly the declared envelope (no member the schema does not name, none of it missing).
   */
  check(ref: OperationRef, a: Answer, opts: { armEnvelope?: boolean } = {}): string[] {
    const problems: string[] = [];
    const declared = Object.keys(ref.op.responses);
    const status = String(a.status);
    const key = declared.includes(status)
      ? status
      : a.status >= 400 && declared.includes("default")
        ? "default"
        : null;
    if (!key)
      return [
        `status ${a.status} is not declared by ${ref.op ? ref.method.toUpperCase() : ""} ${ref.path} (declares ${declared.join(", ")})`,
      ];
    if (!a.headers.get("x-ms-request-id")) problems.push("no x-ms-request-id header");
    const pointer = `/paths/${encodeURIComponent(ref.path.replace(/~/g, "~0").replace(/\//g, "~1"))}/${ref.method}/responses/${key}/schema`;
    const isError = a.status >= 400;
    // ARM's own refusals (before the resource provider) use ARM's common envelope whatever the RP declares
    const file = isError && opts.armEnvelope ? "common-types/resource-management/v2/types.json" : ref.file;
    const at = isError && opts.armEnvelope ? "/definitions/ErrorResponse" : pointer;
    if (ref.op.responses[key]?.schema || (isError && opts.armEnvelope))
      problems.push(...this.validate(file, at, a.body));
    if (isError && (ref.op.responses[key]?.schema || opts.armEnvelope))
      problems.push(...this.envelope(file, at, a.body));
    return problems.filter((p) => !ERRATA.some((e) => e.operation === ref.path && e.problem === p));
  }

  /** The error body's top-level members are exactly the declared envelope's (Azure never answers a bare `{code, message}` where it declares `{error: {…}}`). */
  envelope(file: string, pointer: string, body: unknown): string[] {
    const schema = this.#resolve(file, pointer);
    const props = Object.keys(schema?.properties ?? {});
    if (!body || typeof body !== "object" || Array.isArray(body)) return ["error body is not a JSON object"];
    const keys = Object.keys(body);
    const unknown = keys.filter((k) => !props.includes(k));
    const missing = props.length === 1 ? props.filter((p) => !keys.includes(p)) : [];
    return [
      ...unknown.map(
        (k) =>
          `error body has '${k}', which the error schema does not declare (declares ${props.join(", ")})`,
      ),
      ...missing.map((k) => `error body lacks '${k}'`),
    ];
  }

  #resolve(file: string, pointer: string): { properties?: Record<string, unknown> } | undefined {
    let node: unknown = this.#docs.get(file);
    for (const part of pointer.split("/").slice(1)) {
      node = (node as Record<string, unknown> | undefined)?.[
        decodeURIComponent(part).replace(/~1/g, "/").replace(/~0/g, "~")
      ];
    }
    let n = node as { $ref?: string; properties?: Record<string, unknown> } | undefined;
    for (let i = 0; i < 5 && n?.$ref; i++) {
      const [f, p] = n.$ref.split("#");
      const target = f ? new URL(f, BASE + file).href.slice(BASE.length) : file;
      file = target;
      n = this.#resolve(target, p ?? "");
    }
    return n;
  }
}
