/**
 * One incoming activity, handled: a message is a command (its reply a card in the same conversation),
 * an Adaptive Card Action.Execute is a button press (answered in the invoke response), installation
 * and conversation updates teach the directory where keyturn is.
 */
import { Activity } from "@microsoft/agents-activity";
import type { TurnContext } from "@microsoft/agents-hosting";
import type { Principal } from "../../src/core/domain.js";
import type { ActionRequest, Message } from "../../src/core/messages.js";
import type { KeyturnService, Logger } from "../../src/core/ports.js";
import type { MessageDedup } from "./dedup.js";
import type { TeamsDirectory } from "./directory.js";
import { commandText } from "./mentions.js";
import { activityOf, cardAttachment, fileAttachment } from "./render.js";

export function turnLogic(deps: {
  service: KeyturnService;
  directory: TeamsDirectory;
  principalOf: (ctx: TurnContext) => Promise<Principal>;
  dedup: MessageDedup;
  log: Logger;
}): (ctx: TurnContext) => Promise<void> {
  const { service, directory, principalOf, dedup, log } = deps;

  const onMessage = async (ctx: TurnContext) => {
    const a = ctx.activity;
    if (!(await dedup.firstDelivery(a.id))) {
      log.info({ activityId: a.id }, "Teams redelivered a message already handled: not run again");
      return;
    }
    await directory.learn(a);
    const principal = await principalOf(ctx);
    const reply = await service.handleText(
      {
        principal,
        channel: {
          platform: "teams",
          id: a.conversation?.id ?? "",
          ref: a.getConversationReference() as unknown as Record<string, unknown>,
        },
      },
      commandText(a),
    );
    await ctx.sendActivity(
      Activity.fromObject(activityOf(reply.message, (reply.attachments ?? []).map(fileAttachment))),
    );
  };

  const onCardAction = async (ctx: TurnContext) => {
    const a = ctx.activity;
    const value = (a.value ?? {}) as {
      action?: { verb?: string; data?: { action?: ActionRequest; reason?: string } };
    };
    const verb = value.action?.verb ?? "";
    const request = value.action?.data?.action;
    if (!verb.startsWith("keyturn.") || !request) {
      await ctx.sendActivity(
        invokeResponse(501, "application/vnd.microsoft.error", {
          code: "NotImplemented",
          message: `keyturn does not know the action ${verb}`,
        }),
      );
      return;
    }
    const reason = value.action?.data?.reason;
    const principal = await principalOf(ctx);
    const reply = await service.handleAction(
      {
        principal,
        channel: { platform: "teams", id: a.conversation?.id ?? "" },
        idempotencyKey: `teams:${a.id ?? ""}:${principal.id}`,
      },
      { ...request, ...(reason ? { reason } : {}) },
    );
    if (!reply.card) {
      // refused: Universal Actions' message response keeps the card as it is for everyone, and the
      // presser reads why (Teams shows the string under the card, to them only)
      await ctx.sendActivity(
        invokeResponse(200, "application/vnd.microsoft.activity.message", refusalText(reply.message)),
      );
      return;
    }
    const card = reply.card;
    await ctx.sendActivity(
      invokeResponse(
        200,
        "application/vnd.microsoft.card.adaptive",
        cardAttachment({ ...card, context: [...(card.context ?? []), reply.message.text] }).content,
      ),
    );
  };

  return async (ctx) => {
    const a = ctx.activity;
    if (a.type === "message") return onMessage(ctx);
    if (a.type === "invoke" && a.name === "adaptiveCard/action") return onCardAction(ctx);
    if (a.type === "conversationUpdate" || a.type === "installationUpdate") await directory.learn(a);
  };
}

/** The answer to an Adaptive Card Action.Execute: HTTP 200 carrying the card (or error) response. */
function invokeResponse(statusCode: number, type: string, value: unknown): Activity {
  return Activity.fromObject({
    type: "invokeResponse",
    value: { status: 200, body: { statusCode, type, value } },
  });
}

/** A refusal as one plain sentence (the message string is not Markdown): the reason in words, codes last. */
export function refusalText(m: Message): string {
  const words = [m.title, m.text, ...(m.sections ?? []).flatMap((s) => [s.heading, ...s.lines])]
    .filter((w): w is string => !!w && w.trim() !== "")
    .join(" ");
  return m.context?.length ? `${words} (${m.context.join(" · ")})` : words;
}
