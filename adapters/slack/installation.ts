/**
 * The Slack workspace (or Enterprise Grid organisation) keyturn is installed in, and the check every
 * command and interaction passes: a validly signed request from another workspace — the app distributed
 * further than intended, or a Slack Connect guest from another organisation — is refused before anything runs.
 */
import type { WebClient } from "@slack/web-api";
import type { Logger } from "../../src/core/ports.js";
import { slackErrorCode } from "./gateway.js";

export interface Installation {
  readonly teamId: string;
  readonly enterpriseId?: string;
  /** Installed org-wide: any workspace of the organisation may call, identified by the enterprise. */
  readonly enterpriseInstall: boolean;
  readonly botUserId?: string;
  readonly botId?: string;
  /** Slack's auth.test confirmed it: then no enterprise id also means "not in an Enterprise Grid". */
  readonly confirmed?: boolean;
}

/** Between two auth.test attempts while the installation is still unknown. */
const RELEARN_MS = 15_000;

export class InstalledWorkspace {
  #known: Installation | null;
  #learning: Promise<Installation | null> | null = null;
  #lastTry = -Infinity;

  constructor(
    private readonly client: Pick<WebClient, "auth">,
    /** SLACK_TEAM_ID (and the ids that come with it), when the operator set them. */
    private readonly configured: Partial<Installation>,
    private readonly log: Logger,
  ) {
    this.#known = configured.teamId
      ? { ...configured, teamId: configured.teamId, enterpriseInstall: configured.enterpriseInstall ?? false }
      : null;
  }

  get current(): Installation | null {
    return this.#known;
  }

  /** The key a user's principal id is scoped by: the workspace, or the organisation for an org-wide install. */
  get scope(): string {
    const i = this.#known;
    return i ? (i.enterpriseInstall && i.enterpriseId ? i.enterpriseId : i.teamId) : "";
  }

  /**
   * Asks Slack (auth.test) which workspace the bot token belongs to. A configured SLACK_TEAM_ID stays in force;
   * a token of another workspace is reported as the configuration error it is.
   */
  learn(): Promise<Installation | null> {
    this.#learning ??= this.#authTest().finally(() => {
      this.#learning = null;
    });
    return this.#learning;
  }

  /** The installation, trying auth.test again (at most `waitMs`) when it is not known yet. */
  async ensure(waitMs: number): Promise<Installation | null> {
    if (this.#known) return this.#known;
    if (!this.#learning && Date.now() - this.#lastTry < RELEARN_MS) return null;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((r) => (timer = setTimeout(() => r(null), waitMs)));
    try {
      return await Promise.race([this.learn(), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #authTest(): Promise<Installation | null> {
    this.#lastTry = Date.now();
    try {
      const r = await this.client.auth.test();
      const learned: Installation = {
        teamId: r.team_id ?? "",
        ...(r.enterprise_id ? { enterpriseId: r.enterprise_id } : {}),
        enterpriseInstall: r.is_enterprise_install === true,
        ...(r.user_id ? { botUserId: r.user_id } : {}),
        ...(r.bot_id ? { botId: r.bot_id } : {}),
        confirmed: true,
      };
      if (!learned.teamId && !learned.enterpriseId) return this.#known;
      const configured = this.#known;
      if (configured && this.configured.teamId) {
        if (configured.teamId !== learned.teamId && !learned.enterpriseInstall)
          this.log.error(
            { configured: configured.teamId, token: learned.teamId },
            "SLACK_TEAM_ID names another workspace than the bot token's: only requests from SLACK_TEAM_ID are served; correct SLACK_TEAM_ID or SLACK_BOT_TOKEN",
          );
        // the operator's ids stand; auth.test only adds what they left out
        this.#known = {
          ...learned,
          ...configured,
          confirmed: configured.teamId === learned.teamId,
          ...((configured.enterpriseId ?? learned.enterpriseId)
            ? { enterpriseId: configured.enterpriseId ?? learned.enterpriseId }
            : {}),
        };
      } else {
        this.#known = learned;
        this.log.info(
          {
            teamId: learned.teamId,
            enterpriseId: learned.enterpriseId,
            enterpriseInstall: learned.enterpriseInstall,
          },
          "Slack installation confirmed by auth.test",
        );
      }
      return this.#known;
    } catch (e) {
      this.log.warn(
        { error: slackErrorCode(e) },
        this.#known
          ? "auth.test failed; serving the workspace in SLACK_TEAM_ID"
          : "auth.test failed: Slack requests are refused until keyturn knows its workspace (set SLACK_TEAM_ID, or check SLACK_BOT_TOKEN and access to Slack)",
      );
      return this.#known;
    }
  }
}

interface SignedBody {
  team_id?: unknown;
  enterprise_id?: unknown;
  team?: { id?: unknown; enterprise_id?: unknown } | null;
  enterprise?: { id?: unknown } | null;
  user?: { team_id?: unknown } | null;
  view?: { team_id?: unknown } | null;
}

const ids = (...v: unknown[]): string[] => v.filter((x): x is string => typeof x === "string" && x !== "");

/** Where a signed request says it comes from. */
export function originOf(body: unknown): {
  workspaces: string[];
  userTeams: string[];
  enterprises: string[];
} {
  const b = (body && typeof body === "object" ? body : {}) as SignedBody;
  return {
    workspaces: ids(b.team_id, b.team?.id, b.view?.team_id),
    userTeams: ids(b.user?.team_id),
    enterprises: ids(b.enterprise_id, b.enterprise?.id, b.team?.enterprise_id),
  };
}

/** Why a request is refused, or null when it comes from the installation. */
export function refusalFor(inst: Installation | null, body: unknown): string | null {
  if (!inst)
    return "keyturn has not yet confirmed which Slack workspace it serves (Slack did not answer auth.test), so it acts on nothing: try again in a minute, and tell its operators if this repeats.";
  const o = originOf(body);
  const other = (what: string) =>
    `This keyturn serves one Slack ${inst.enterpriseInstall ? "organisation" : "workspace"}, and this request came from another ${what}: nothing was done. Use keyturn from the workspace it is installed in, or ask its operators to install it for yours.`;
  const sameOrg = (list: string[]) =>
    !!inst.enterpriseId && list.length > 0 && list.every((e) => e === inst.enterpriseId);
  if (inst.enterpriseInstall) return sameOrg(o.enterprises) ? null : other("organisation");
  if (o.workspaces.length === 0 || o.workspaces.some((t) => t !== inst.teamId)) return other("workspace");
  const foreignOrg = inst.enterpriseId
    ? o.enterprises.some((e) => e !== inst.enterpriseId)
    : inst.confirmed === true && o.enterprises.length > 0;
  if (foreignOrg) return other("organisation");
  // a user of another workspace (Slack Connect), unless it is a workspace of the same organisation
  if (o.userTeams.some((t) => t !== inst.teamId) && !sameOrg(o.enterprises))
    return other("workspace (you are a member of a different one)");
  return null;
}
