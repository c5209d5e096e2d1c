/**
 * Chain heads witnessed outside the database: when a change closes, its thread gets the signed head
 * of the audit log (the weekly digest gets one too). A log cut or rewritten later no longer reaches
 * a head posted here: `keyturn audit verify --witness <seq>:<hash>` shows it.
 */
import { witnessLine } from "../core/checkpoint.js";
import { isKeyturnError } from "../core/errors.js";
import type { Logger, AsyncStore } from "../core/ports.js";

/** The signed head as a line of text; a signing failure still gives the head, and says why it is unsigned. */
export async function signedHeadLine(store: AsyncStore, at: string, logger: Logger): Promise<string> {
  try {
    return witnessLine(await store.checkpoint(at));
  } catch (e) {
    logger.warn({ err: e }, "audit log checkpoint not signed");
    const why = isKeyturnError(e) ? e.userMessage : e instanceof Error ? e.message : String(e);
    return `Audit log checkpoint at ${at} NOT signed: ${why}`;
  }
}

/** Posts the head to a change's thread once it has closed. */
export function witnessClose(
  store: AsyncStore,
  chat: { notice(changeId: string, text: string, tone: "info"): void },
  changeId: string,
  at: string,
  logger: Logger,
): Promise<void> {
  return signedHeadLine(store, at, logger).then((line) => chat.notice(changeId, line, "info"));
}
