import { describe, expect, it } from "vitest";
import { messageDeepLink } from "../../adapters/teams/deep-link.js";

describe("Teams message deep links", () => {
  it("a card posted as a new channel post is its own parent", () => {
    expect(
      messageDeepLink({
        conversationId: "19:general@thread.tacv2",
        messageId: "1772446530000",
        tenantId: "t-1",
        groupId: "g-1",
        teamName: "Ops",
        channelName: "General",
        createdTime: "1772446530000",
      }),
    ).toBe(
      "https://teams.microsoft.com/l/message/19:general@thread.tacv2/1772446530000?tenantId=t-1&groupId=g-1&parentMessageId=1772446530000&teamName=Ops&channelName=General&createdTime=1772446530000",
    );
  });

  it("a message in a group chat links to the chat", () => {
    expect(
      messageDeepLink({ conversationId: "19:abc@thread.v2", messageId: "1700000000001", tenantId: "t-1" }),
    ).toBe(
      "https://teams.microsoft.com/l/message/19:abc@thread.v2/1700000000001?tenantId=t-1&context=%7B%22contextType%22%3A%22chat%22%7D",
    );
  });
});
