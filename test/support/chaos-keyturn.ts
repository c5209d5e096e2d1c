/**
 * keyturn as a child process that the reliability suite may SIGKILL and restart, driven by signed
 * Slack slash commands, with its SQLite file read (read-only) to follow each change.
 */
import Database from "better-sqlite3";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Change } from "../../src/core/domain.js";
import { FakeSlack } from "../fakes/slack-api.js";
import { sign, slashCommand } from "../fakes/slack-sign.js";
import { spawnKeyturn, type RunningProgram } from "./spawn-keyturn.js";

/** How a ChaosKeyturn starts its program (default: `spawnKeyturn`, on this host). */
export type SpawnProgram = (env: Record<string, string>) => Promise<RunningProgram>;

export interface ChaosKeyturnOptions {
  readonly spawn?: SpawnProgram;
  /** One Slack workspace for several processes (replicas of one app); the caller starts and stops it. */
  readonly slack?: FakeSlack;
  /** Prefix of this process's response URLs, so its answers are told apart in a shared Slack. */
  readonly tag?: string;
}

export const SLACK_IDS = {
  alice: "U0ALICE",
  bob: "U0BOB",
  carol: "U0CAROL",
  dave: "U0DAVE",
  erin: "U0ERIN",
} as const;

export class ChaosKeyturn {
  readonly slack: FakeSlack;
  readonly outputs: string[] = [];
  readonly secret = "chaos-signing-secret-" + Math.random().toString(36).slice(2);
  kt: RunningProgram | null = null;
  kills = 0;
  #n = 0;

  constructor(
    readonly dir: string,
    readonly env: Record<string, string>,
    private readonly opts: ChaosKeyturnOptions = {},
  ) {
    this.slack = opts.slack ?? new FakeSlack();
  }

  /** Slash commands sent so far: the last one's answer is the response `…c<commandsSent>`. */
  get commandsSent(): number {
    return this.#n;
  }

  /** The answers Slack received to this process's slash commands. */
  get responses(): FakeSlack["responses"] {
    const tag = this.opts.tag ?? "";
    return this.slack.responses.filter((r) => r.id.startsWith(`${tag}c`));
  }

  get dbPath(): string {
    return join(this.dir, "keyturn.db");
  }

  async start(): Promise<this> {
    if (!this.slack.url) await this.slack.start();
    this.kt = await (this.opts.spawn ?? spawnKeyturn)({
      KEYTURN_DATA_DIR: this.dir,
      SLACK_BOT_TOKEN: "xoxb-chaos",
      SLACK_SIGNING_SECRET: this.secret,
      SLACK_API_URL: this.slack.apiUrl,
      SLACK_BOT_USER_ID: "U0KEYTURN",
      SLACK_TEAM_ID: "T0CONTOSO",
      ...this.env,
    });
    return this;
  }

  /** SIGKILL: no shutdown hook runs, whatever was in flight is cut off. */
  async kill(): Promise<void> {
    const kt = this.kt;
    if (!kt) return;
    this.kt = null;
    const exited = new Promise((r) => (kt.child.exitCode !== null ? r(null) : kt.child.once("exit", r)));
    kt.child.kill("SIGKILL");
    await exited;
    this.outputs.push(kt.output());
    this.kills++;
  }

  async stop(): Promise<void> {
    const kt = this.kt;
    this.kt = null;
    if (kt) {
      await kt.stop();
      this.outputs.push(kt.output());
    }
    if (!this.opts.slack) await this.slack.stop();
  }

  output(): string {
    return [...this.outputs, this.kt?.output() ?? ""].join("\n");
  }

  /** Sends a slash command; while keyturn is down (killed), waits for it to come back. */
  async command(user: string, text: string, timeoutMs = 60_000): Promise<number> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const kt = this.kt;
      if (kt) {
        const body = slashCommand({
          user,
          channel: "C0CHAOS",
          text,
          responseUrl: this.slack.responseUrl(`${this.opts.tag ?? ""}c${++this.#n}`),
        });
        try {
          const r = await fetch(`${kt.url}/slack/events`, {
            method: "POST",
            headers: sign(this.secret, body),
            body,
          });
          await r.arrayBuffer();
          return r.status;
        } catch {
          // killed while the request was in flight: like a user, try again
        }
      }
      if (Date.now() > end) throw new Error(`keyturn did not take "${text}" within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Every change as keyturn last committed it (read-only; the writer may be dead or alive). */
  changes(): Change[] {
    if (!existsSync(this.dbPath)) return [];
    const db = new Database(this.dbPath, { readonly: true, fileMustExist: true });
    try {
      db.pragma("busy_timeout = 5000");
      return (db.prepare("SELECT doc FROM changes ORDER BY created_at").all() as { doc: string }[]).map(
        (r) => JSON.parse(r.doc) as Change,
      );
    } catch {
      return [];
    } finally {
      db.close();
    }
  }

  events(changeId: string): { seq: number; type: string }[] {
    const db = new Database(this.dbPath, { readonly: true, fileMustExist: true });
    try {
      return db.prepare("SELECT seq, type FROM events WHERE change_id = ? ORDER BY seq").all(changeId) as {
        seq: number;
        type: string;
      }[];
    } finally {
      db.close();
    }
  }
}
