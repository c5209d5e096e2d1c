/**
 * Plain ARM REST calls through the same authenticated pipeline as the SDK clients (bearer token,
 * retries, CA): App Service settings and Key Vault references, and the permissions API.
 */
import type { CognitiveServicesManagementClient } from "@azure/arm-cognitiveservices";
import { createHttpHeaders, createPipelineRequest, RestError } from "@azure/core-rest-pipeline";

export class ArmRest {
  constructor(
    private readonly client: () => CognitiveServicesManagementClient,
    private readonly armEndpoint: string,
  ) {}

  async call<T>(
    method: "GET" | "POST" | "PUT",
    path: string,
    apiVersion: string,
    body?: unknown,
  ): Promise<T> {
    const url = `${this.armEndpoint.replace(/\/+$/, "")}${path}${path.includes("?") ? "&" : "?"}api-version=${apiVersion}`;
    const request = createPipelineRequest({
      url,
      method,
      headers: createHttpHeaders({ "content-type": "application/json" }),
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const response = await this.client().sendRequest(request);
    const text = response.bodyAsText ?? "";
    if (response.status >= 400) {
      let code = "";
      let message = `HTTP ${response.status}`;
      try {
        const err = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
        code = err?.code ?? "";
        message = err?.message ?? message;
      } catch {
        // not JSON: keep the status line only (never echo bodies)
      }
      throw new RestError(message, { code, statusCode: response.status, request, response });
    }
    return (text ? JSON.parse(text) : {}) as T;
  }

  /** Follows nextLink pages. */
  async list<T>(path: string, apiVersion: string): Promise<T[]> {
    const out: T[] = [];
    let page = await this.call<{ value?: T[]; nextLink?: string }>("GET", path, apiVersion);
    out.push(...(page.value ?? []));
    while (page.nextLink) {
      const next = new URL(page.nextLink);
      page = await this.call<{ value?: T[]; nextLink?: string }>(
        "GET",
        next.pathname + next.search.replace(/([?&])api-version=[^&]*&?/, "$1").replace(/[?&]$/, ""),
        apiVersion,
      );
      out.push(...(page.value ?? []));
    }
    return out;
  }
}
