/**
 * The sandbox tenant's applications, declared as a platform team declares its consumers before the
 * first incident (`consumer add … --secret …`): so an exposure rotation in the sandbox delivers the
 * new key to them, while a secret planted by anyone else is still a NEW holder that receives nothing.
 * Recorded in the event log like any declaration, by "sandbox setup"; a start that changes nothing
 * records nothing.
 */
import type { Clock, AsyncStore } from "../core/ports.js";

export interface SandboxConsumerSecret {
  readonly accountId: string;
  readonly vaultUrl: string;
  readonly name: string;
}

export const SANDBOX_SETUP = {
  platform: "console",
  id: "sandbox-setup",
  displayName: "sandbox setup",
} as const;

export async function declareSandboxConsumers(
  store: AsyncStore,
  secrets: readonly SandboxConsumerSecret[],
  clock: Clock,
): Promise<number> {
  let declared = 0;
  for (const s of secrets) {
    const name = `${s.name} (Key Vault)`;
    const existing = (await store.declaredConsumers(s.accountId)).find((d) => d.name === name);
    if (existing?.secret?.vaultUrl === s.vaultUrl && existing.secret.name === s.name) continue;
    const at = clock.now().toISOString();
    const secret = { vaultUrl: s.vaultUrl, name: s.name };
    await store.addDeclaredConsumer({
      accountId: s.accountId,
      name,
      owner: "sandbox setup",
      secret,
      reload: "versionless",
      addedBy: SANDBOX_SETUP.id,
      addedAt: at,
    });
    await store.commit(null, [
      {
        changeId: null,
        type: "consumer_declared",
        at,
        actor: SANDBOX_SETUP.id,
        payload: { accountId: s.accountId, name, secret, by: SANDBOX_SETUP },
      },
    ]);
    declared++;
  }
  return declared;
}
