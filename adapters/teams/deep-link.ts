/**
 * A link that opens one message in Teams, as documented for channel conversations:
 * https://teams.microsoft.com/l/message/<channelId>/<messageId>?tenantId=…&groupId=…&parentMessageId=…&teamName=…&channelName=…&createdTime=…
 * (groupId is the team's Microsoft 365 group; parentMessageId the thread's first message). A message in
 * a chat (group or personal) has no team: its link names the chat.
 */
export interface MessageLinkParts {
  /** The conversation id as the Bot Connector gives it (`19:…@thread.tacv2;messageid=<root>` in a channel thread). */
  readonly conversationId: string;
  readonly messageId: string;
  readonly tenantId?: string | undefined;
  readonly groupId?: string | undefined;
  readonly teamName?: string | undefined;
  readonly channelName?: string | undefined;
  /** Milliseconds since the epoch. */
  readonly createdTime?: string | undefined;
}

export function messageDeepLink(p: MessageLinkParts): string {
  const [channelId = p.conversationId, ...rest] = p.conversationId.split(";");
  const parent = rest.map((r) => /^messageid=(.+)$/.exec(r)?.[1]).find(Boolean) ?? p.messageId;
  const base = `https://teams.microsoft.com/l/message/${channelId}/${encodeURIComponent(p.messageId)}`;
  const channel = /@thread\.(tacv2|skype)$/.test(channelId);
  const params: [string, string | undefined][] = channel
    ? [
        ["tenantId", p.tenantId],
        ["groupId", p.groupId],
        ["parentMessageId", parent],
        ["teamName", p.teamName],
        ["channelName", p.channelName],
        ["createdTime", p.createdTime],
      ]
    : [
        ["tenantId", p.tenantId],
        ["context", JSON.stringify({ contextType: "chat" })],
        ["createdTime", p.createdTime],
      ];
  const query = params
    .filter((e): e is [string, string] => !!e[1])
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
    .join("&");
  return query ? `${base}?${query}` : base;
}
