/**
 * The command grammar, the same on every platform. Adapters strip `/keyturn` or the bot mention;
 * a leading `keyturn` is tolerated. Every error names the problem and shows the usage line.
 */
import type { Command, CommandName } from "./command.js";
import type { LeakedSlot, ReloadMode } from "./domain.js";
import { KeyturnError } from "./errors.js";
import { closest } from "./suggest.js";

export const MAX_INPUT = 4000;
export const MAX_REASON = 500;

export const COMMAND_HELP: readonly { name: CommandName; usage: string; summary: string }[] = [
  { name: "help", usage: "help [command]", summary: "What keyturn can do, or how to use one command." },
  {
    name: "status",
    usage: "status <account>",
    summary: "Active key, where it is stored, last rotation and by whom, consumers, local auth.",
  },
  { name: "owner", usage: "owner <account>", summary: "Who owns an account's keys." },
  {
    name: "list",
    usage: "list [--overdue]",
    summary: "Every account keyturn can reach, with rotation due dates.",
  },
  {
    name: "inventory",
    usage: "inventory <account>",
    summary: "The blast radius: consumers, services, what could not be seen.",
  },
  {
    name: "rotate",
    usage: 'rotate <account> --reason "…" [--exposure [key1|key2|unknown]] [--kill-now] [--break-glass]',
    summary: "Request a staged rotation; --exposure when a key may have leaked.",
  },
  { name: "approve", usage: "approve <CHG>", summary: "Approve a change (approvers only; never your own)." },
  { name: "reject", usage: 'reject <CHG> --reason "…"', summary: "Reject a change." },
  { name: "cancel", usage: 'cancel <CHG> [--reason "…"]', summary: "Cancel a change that has not finished." },
  { name: "resume", usage: "resume <CHG>", summary: "Continue a paused change from the step that stopped." },
  {
    name: "rollback",
    usage: "rollback <CHG>",
    summary: "Point consumers back at the old key (before the point of no return only).",
  },
  {
    name: "waive",
    usage: 'waive <CHG> <consumer> --reason "…"',
    summary: "Let the cutover check pass without a pinned consumer (approvers).",
  },
  {
    name: "include",
    usage: 'include <CHG> <consumer> --reason "…"',
    summary: "Deliver the new key to a NEW holder an exposure rotation excludes (approvers).",
  },
  { name: "history", usage: "history <account>", summary: "Past changes of an account." },
  {
    name: "evidence",
    usage: "evidence <CHG>",
    summary: "Export the evidence pack (Markdown + JSON) of a change.",
  },
  { name: "verify", usage: "verify", summary: "Recompute the audit log's hash chain." },
  {
    name: "schedule",
    usage: "schedule [--days 90]",
    summary: "Calendar of scheduled rotations: what rotates when, how (auto, request, remind), and why not.",
  },
  {
    name: "disable-local-auth",
    usage: 'disable-local-auth <account> --reason "…"',
    summary:
      "Turn the account's keys off (Microsoft Entra ID only) under approval; refused while anything still holds a key. `rollback` turns them back on.",
  },
  {
    name: "report",
    usage: "report [--sort risk|name|due]",
    summary:
      "Fleet posture: overdue, exposed, NEW key holders, listKeys callers, key-free readiness; the full report as files.",
  },
  {
    name: "consumer",
    usage:
      "consumer add|remove <account> <name> [--owner x] [--secret https://<vault>/secrets/<name>[/<version>]] [--reload versionless|refreshable|pinned|manual]",
    summary: "Declare (or remove) a consumer keyturn cannot discover.",
  },
];

export function usageOf(name: string): string {
  return COMMAND_HELP.find((c) => c.name === name)?.usage ?? "help";
}

interface Token {
  readonly text: string;
  readonly quoted: boolean;
}

const QUOTES: Record<string, string> = {
  '"': '"',
  "'": "'",
  "\u201c": "\u201d",
  "\u2018": "\u2019",
  "\u201d": "\u201d",
};

/** Splits on whitespace; quotes (straight or smart) group; a backslash escapes a quote inside quotes. */
export function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    while (i < input.length && /\s/.test(input[i]!)) i++;
    if (i >= input.length) break;
    let text = "";
    let quoted = false;
    const opens = i;
    while (i < input.length && !/\s/.test(input[i]!)) {
      const close = QUOTES[input[i]!];
      if (close) {
        const start = i;
        // only a token that opens with a quote is literal text; `--reason="a b"` is still a flag
        if (start === opens) quoted = true;
        i++;
        while (i < input.length && input[i] !== close) {
          if (input[i] === "\\" && (input[i + 1] === close || input[i + 1] === "\\")) i++;
          text += input[i];
          i++;
        }
        if (i >= input.length) {
          throw new KeyturnError(
            "malformed_command",
            `Unterminated quote starting at character ${start + 1}: close it with ${close}.`,
          );
        }
        i++;
      } else {
        text += input[i];
        i++;
      }
    }
    tokens.push({ text, quoted });
  }
  return tokens;
}

type FlagSpec = { readonly value: "none" | "required" | "optional" };
const FLAGS: Partial<Record<CommandName, Record<string, FlagSpec>>> = {
  list: { overdue: { value: "none" } },
  schedule: { days: { value: "required" } },
  report: { sort: { value: "required" } },
  "disable-local-auth": { reason: { value: "required" } },
  rotate: {
    reason: { value: "required" },
    exposure: { value: "optional" },
    "kill-now": { value: "none" },
    "break-glass": { value: "none" },
  },
  reject: { reason: { value: "required" } },
  cancel: { reason: { value: "required" } },
  waive: { reason: { value: "required" } },
  include: { reason: { value: "required" } },
  consumer: { owner: { value: "required" }, secret: { value: "required" }, reload: { value: "required" } },
};

const bad = (
  code: "malformed_command" | "unknown_flag" | "missing_argument",
  name: string,
  message: string,
): KeyturnError => new KeyturnError(code, `${message}\nUsage: ${usageOf(name)}`);

export function parseCommand(raw: string): Command {
  // eslint-disable-next-line no-control-regex -- control characters are stripped on purpose
  const text = raw.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, " ").trim();
  if (text.length > MAX_INPUT) {
    throw new KeyturnError(
      "malformed_command",
      `The command is ${text.length} characters long; keyturn reads at most ${MAX_INPUT}.\n${hintFor(text)}`,
    );
  }
  let tokens: Token[];
  try {
    tokens = tokenize(text);
  } catch (e) {
    if (e instanceof KeyturnError) throw new KeyturnError(e.code, `${e.userMessage}\n${hintFor(text)}`);
    throw e;
  }
  if (tokens[0] && !tokens[0].quoted && tokens[0].text.toLowerCase().replace(/^\//, "") === "keyturn")
    tokens.shift();
  if (tokens.length === 0) return { name: "help" };
  let word = tokens[0]!.text.toLowerCase();
  if (word === "audit" && tokens[1]?.text.toLowerCase() === "verify") {
    tokens.shift();
    word = "verify";
  }
  const known = COMMAND_HELP.find((c) => c.name === word);
  if (!known) {
    const near = closest(
      word,
      COMMAND_HELP.map((c) => c.name),
    );
    throw new KeyturnError(
      "unknown_command",
      `Unknown command "${tokens[0]!.text}".${near.length ? ` Did you mean ${near[0]}?` : ""} Type \`help\` for the list of commands.`,
    );
  }
  const name = known.name;
  const { positionals, flags } = splitArgs(name, tokens.slice(1));
  return build(name, positionals, flags);
}

/** The usage line of the command the text starts with, for errors found before the words are split. */
function hintFor(text: string): string {
  const word = /^(?:\/?keyturn\s+)?(?:audit\s+)?([a-z]+)/i.exec(text)?.[1]?.toLowerCase();
  return COMMAND_HELP.some((c) => c.name === word)
    ? `Usage: ${usageOf(word!)}`
    : "Type `help` for the list of commands.";
}

function splitArgs(
  name: CommandName,
  tokens: Token[],
): { positionals: string[]; flags: Map<string, string | true> } {
  const spec = FLAGS[name] ?? {};
  const positionals: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.quoted || !t.text.startsWith("--")) {
      positionals.push(t.text);
      continue;
    }
    const [flagName, inline] = splitFlag(t.text.slice(2).toLowerCase(), t.text);
    const s = spec[flagName];
    if (!s) {
      const near = closest(flagName, Object.keys(spec));
      throw bad(
        "unknown_flag",
        name,
        `unknown flag --${flagName}${
          near.length
            ? ` — did you mean --${near[0]}?`
            : ` — ${name} takes ${
                Object.keys(spec).length
                  ? Object.keys(spec)
                      .map((f) => `--${f}`)
                      .join(", ")
                  : "no flags"
              }`
        }`,
      );
    }
    if (flags.has(flagName)) throw bad("malformed_command", name, `--${flagName} is given twice.`);
    if (s.value === "none") {
      if (inline !== undefined) throw bad("malformed_command", name, `--${flagName} takes no value.`);
      flags.set(flagName, true);
    } else if (inline !== undefined) {
      flags.set(flagName, inline);
    } else {
      const next = tokens[i + 1];
      const takesNext =
        next &&
        (next.quoted || !next.text.startsWith("--")) &&
        (s.value === "required" || /^(key\d+|unknown)$/i.test(next.text));
      if (takesNext) {
        flags.set(flagName, next.text);
        i++;
      } else if (s.value === "required") {
        throw bad("missing_argument", name, `--${flagName} needs a value.`);
      } else {
        flags.set(flagName, true);
      }
    }
  }
  return { positionals, flags };
}

function splitFlag(body: string, original: string): [string, string | undefined] {
  const eq = body.indexOf("=");
  if (eq === -1) return [body, undefined];
  return [body.slice(0, eq), original.slice(2 + eq + 1)];
}

const ACCOUNT = /^[a-zA-Z0-9][a-zA-Z0-9-_.]{1,63}$/;
/** `resource-group/name` or `subscription/resource-group/name`: short enough to type, precise enough to pick one. */
const SCOPED_ACCOUNT = /^(?:[0-9a-fA-F-]{36}\/)?[\w.()-]{1,90}\/[a-zA-Z0-9][a-zA-Z0-9-_.]{1,63}$/;
const RESOURCE_ID =
  /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/microsoft\.cognitiveservices\/accounts\/[^/]+$/i;

function account(name: CommandName, value: string | undefined): string {
  if (!value)
    throw bad(
      "missing_argument",
      name,
      "Name the account: its name, resource-group/name, or its full resource id.",
    );
  if (ACCOUNT.test(value) || SCOPED_ACCOUNT.test(value) || RESOURCE_ID.test(value)) return value;
  throw bad(
    "malformed_command",
    name,
    `"${value}" is not an account name, resource-group/name or a Cognitive Services resource id.`,
  );
}

function changeId(name: CommandName, value: string | undefined): string {
  if (!value) throw bad("missing_argument", name, "Name the change, e.g. CHG-42.");
  const m = /^(?:chg-?)?(\d{1,9})$/i.exec(value);
  if (!m) throw bad("malformed_command", name, `"${value}" is not a change id: write it as CHG-42.`);
  return `CHG-${Number(m[1])}`;
}

function reason(name: CommandName, flags: Map<string, string | true>, required: boolean): string | undefined {
  const r = flags.get("reason");
  if (r === undefined || r === true) {
    if (required) throw bad("missing_argument", name, 'Give a reason: --reason "…".');
    return undefined;
  }
  const text = r.trim();
  if (!text) throw bad("missing_argument", name, "The reason is empty: say why, for the evidence record.");
  if (text.length > MAX_REASON)
    throw bad(
      "malformed_command",
      name,
      `The reason is ${text.length} characters; keep it under ${MAX_REASON}.`,
    );
  return text;
}

function noExtra(name: CommandName, positionals: string[], expected: number): void {
  if (positionals.length > expected) {
    throw bad(
      "malformed_command",
      name,
      `Unexpected argument "${positionals[expected]}"${name === "rotate" || name === "reject" ? ' (quote a reason with spaces: --reason "…")' : ""}.`,
    );
  }
}

function build(name: CommandName, p: string[], flags: Map<string, string | true>): Command {
  switch (name) {
    case "help":
      noExtra(name, p, 1);
      return p[0] ? { name, topic: p[0].toLowerCase() } : { name };
    case "status":
    case "owner":
    case "inventory":
    case "history":
      noExtra(name, p, 1);
      return { name, account: account(name, p[0]) };
    case "list":
      noExtra(name, p, 0);
      return { name, overdue: flags.has("overdue") };
    case "verify":
      noExtra(name, p, 0);
      return { name };
    case "schedule": {
      noExtra(name, p, 0);
      const given = flags.get("days");
      const days = typeof given === "string" ? Number(given) : 90;
      if (!Number.isInteger(days) || days < 1 || days > 366)
        throw bad(
          "malformed_command",
          name,
          `--days takes a whole number of days from 1 to 366, not "${String(given)}": e.g. schedule --days 30.`,
        );
      return { name, days };
    }
    case "report": {
      noExtra(name, p, 0);
      const given = flags.get("sort");
      const sort = typeof given === "string" ? given.toLowerCase() : "risk";
      if (sort !== "risk" && sort !== "name" && sort !== "due")
        throw bad("malformed_command", name, `--sort takes risk, name or due, not "${sort}".`);
      return { name, sort };
    }
    case "disable-local-auth": {
      noExtra(name, p, 1);
      return { name, account: account(name, p[0]), reason: reason(name, flags, true)! };
    }
    case "rotate": {
      noExtra(name, p, 1);
      const acc = account(name, p[0]);
      const why = reason(name, flags, true)!;
      const exp = flags.get("exposure");
      let leakedSlot: LeakedSlot | null = null;
      if (exp !== undefined) {
        const v = exp === true ? "unknown" : exp.toLowerCase();
        if (v !== "key1" && v !== "key2" && v !== "unknown")
          throw bad("malformed_command", name, `--exposure takes key1, key2 or unknown, not "${exp}".`);
        leakedSlot = v;
      }
      const killNow = flags.has("kill-now");
      if (killNow && (leakedSlot === null || leakedSlot === "unknown")) {
        throw bad(
          "malformed_command",
          name,
          "--kill-now needs the leaked key: --exposure key1 or --exposure key2.",
        );
      }
      return {
        name,
        account: acc,
        reason: why,
        exposure: leakedSlot !== null,
        leakedSlot,
        killNow,
        breakGlass: flags.has("break-glass"),
      };
    }
    case "approve":
    case "resume":
    case "rollback":
    case "evidence":
      noExtra(name, p, 1);
      return { name, changeId: changeId(name, p[0]) };
    case "reject":
      noExtra(name, p, 1);
      return { name, changeId: changeId(name, p[0]), reason: reason(name, flags, true)! };
    case "cancel": {
      noExtra(name, p, 1);
      const r = reason(name, flags, false);
      return r
        ? { name, changeId: changeId(name, p[0]), reason: r }
        : { name, changeId: changeId(name, p[0]) };
    }
    case "waive":
    case "include": {
      noExtra(name, p, 2);
      const id = changeId(name, p[0]);
      if (!p[1]) throw bad("missing_argument", name, `Name the consumer to ${name}.`);
      return { name, changeId: id, consumer: p[1], reason: reason(name, flags, true)! };
    }
    case "consumer": {
      const op = p[0]?.toLowerCase();
      if (op !== "add" && op !== "remove") throw bad("missing_argument", name, "Say add or remove.");
      noExtra(name, p, 3);
      const acc = account(name, p[1]);
      if (!p[2]) throw bad("missing_argument", name, "Name the consumer.");
      if (op === "remove") return { name, op, account: acc, consumer: p[2] };
      const reload = flags.get("reload");
      const modes: ReloadMode[] = ["versionless", "refreshable", "pinned", "manual"];
      if (reload !== undefined && (reload === true || !modes.includes(reload as ReloadMode))) {
        throw bad("malformed_command", name, `--reload takes ${modes.join(", ")}.`);
      }
      const owner = flags.get("owner");
      const secret = flags.get("secret");
      return {
        name,
        op,
        account: acc,
        consumer: p[2],
        ...(typeof owner === "string" ? { owner } : {}),
        ...(typeof secret === "string" ? { secret } : {}),
        ...(typeof reload === "string" ? { reload: reload as ReloadMode } : {}),
      };
    }
  }
}
