import type { Platform } from "../core/domain.js";
import type { ChatGateway } from "../core/ports.js";

/** The chat gateways of the platforms that are running; a change's thread lives on the platform it was requested from. */
export class ChatRegistry {
  readonly #gateways = new Map<Platform, ChatGateway>();

  register(gateway: ChatGateway): void {
    this.#gateways.set(gateway.platform, gateway);
  }

  get(platform: Platform): ChatGateway | undefined {
    return this.#gateways.get(platform);
  }

  all(): ChatGateway[] {
    return [...this.#gateways.values()];
  }
}
