/**
 * App Service / Functions sites as key consumers: their app settings (Key Vault references or
 * literal copies), forcing a reference refresh, and which secret version each one really uses.
 */
import type { Consumer, SecretLocator } from "../core/domain.js";
import type { ConsumerControlPort } from "../core/ports.js";
import type { ArmRest } from "./arm-rest.js";
import { classifyAzureError } from "./errors.js";

const WEB_API = "2024-11-01";
const REFRESH_API = "2022-03-01";

export interface SiteSetting {
  readonly siteId: string;
  readonly siteName: string;
  readonly owner?: string;
  readonly name: string;
  readonly reference?: SecretLocator; // version set when pinned
  readonly literal?: string;
  /** The site's outbound addresses (`outboundIpAddresses`, `possibleOutboundIpAddresses`): where its calls come from. */
  readonly callerIps?: readonly string[];
}

export function parseReference(value: string): SecretLocator | undefined {
  const uri = /^@Microsoft\.KeyVault\(SecretUri=(https:\/\/[^/]+)\/secrets\/([^/)]+)\/?([^/)]*)\)$/i.exec(
    value,
  );
  if (uri) return { vaultUrl: uri[1]!, name: uri[2]!, ...(uri[3] ? { version: uri[3] } : {}) };
  const named =
    /^@Microsoft\.KeyVault\(VaultName=([^;]+);SecretName=([^;)]+)(?:;SecretVersion=([^)]+))?\)$/i.exec(value);
  if (named)
    return {
      vaultUrl: `https://${named[1]}.vault.azure.net`,
      name: named[2]!,
      ...(named[3] ? { version: named[3] } : {}),
    };
  return undefined;
}

export class Sites implements ConsumerControlPort {
  constructor(
    private readonly arm: ArmRest,
    private readonly subscriptionIds: readonly string[],
  ) {}

  /** Every app setting of every site in the subscriptions (values stay in memory, for fingerprinting). */
  async settings(): Promise<SiteSetting[]> {
    const out: SiteSetting[] = [];
    for (const sub of this.subscriptionIds) {
      const sites = await this.arm.list<{
        id: string;
        name: string;
        tags?: Record<string, string>;
        properties?: { outboundIpAddresses?: string; possibleOutboundIpAddresses?: string };
      }>(
        `/subscriptions/${sub}/providers/Microsoft.Web/sites`,
        WEB_API,
      );
      for (const site of sites) {
        const res = await this.arm.call<{ properties?: Record<string, string> }>(
          "POST",
          `${site.id}/config/appsettings/list`,
          WEB_API,
        );
        const callerIps = [
          ...new Set(
            [site.properties?.outboundIpAddresses, site.properties?.possibleOutboundIpAddresses]
              .flatMap((x) => (x ?? "").split(","))
              .map((x) => x.trim())
              .filter(Boolean),
          ),
        ];
        for (const [name, value] of Object.entries(res.properties ?? {})) {
          const reference = parseReference(value);
          out.push({
            siteId: site.id,
            siteName: site.name,
            ...(site.tags?.owner ? { owner: site.tags.owner } : {}),
            name,
            ...(reference ? { reference } : { literal: value }),
            ...(callerIps.length ? { callerIps } : {}),
          });
        }
      }
    }
    return out;
  }

  async refresh(consumer: Consumer): Promise<boolean> {
    if (!consumer.siteId) return false;
    try {
      await this.arm.call(
        "POST",
        `${consumer.siteId}/config/configreferences/appsettings/refresh`,
        REFRESH_API,
      );
      return true;
    } catch (e) {
      throw classifyAzureError(e, { action: "Microsoft.Web/sites/config/write", scope: consumer.siteId });
    }
  }

  async activeVersion(consumer: Consumer): Promise<string | undefined> {
    if (!consumer.siteId || !consumer.settingName) return undefined;
    try {
      const r = await this.arm.call<{
        value?: { name: string; properties?: { activeVersion?: string; secretVersion?: string } }[];
      }>("GET", `${consumer.siteId}/config/configreferences/appsettings`, WEB_API);
      const s = r.value?.find((x) => x.name === consumer.settingName);
      return s?.properties?.activeVersion || s?.properties?.secretVersion || undefined;
    } catch (e) {
      throw classifyAzureError(e, {
        action: "Microsoft.Web/sites/config/list/action",
        scope: consumer.siteId,
      });
    }
  }
}
