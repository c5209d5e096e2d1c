/**
 * The local console: act as any of the sandbox's people, type commands, press buttons by number,
 * read evidence threads and DMs as text. Also runs a file of commands (demos, docs, tests).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import type { Principal, PrincipalRef, ThreadRef } from "../../src/core/domain.js";
import type { Attachment, Button, ChannelRef, Message, Reply } from "../../src/core/messages.js";
import type { ChatGateway, KeyturnService, AsyncStore } from "../../src/core/ports.js";
import { addToInbox, type Pressable, replaceInInbox, showInbox } from "./inbox.js";
import { expandLast } from "./last-change.js";
import { renderText } from "./render.js";

export interface ConsoleUser {
  readonly name: string;
  readonly displayName: string;
  readonly email: string;
  readonly role: string;
  readonly slackId?: string;
  readonly aadObjectId?: string;
}

export interface ConsoleAdapter {
  readonly gateway: ChatGateway;
  /** Runs one line as the current user; resolves when its reply is printed. */
  runLine(line: string): Promise<void>;
  runScript(lines: readonly string[]): Promise<void>;
  /**
   * Reads commands from `input` until it ends or someone types quit. `echo` (piped input) prints
   * each line after its prompt, as a script does; a terminal echoes what is typed by itself.
   */
  run(input: Readable, opts?: { echo?: boolean }): Promise<"quit" | "ctrl-c" | "end">;
  readonly currentUser: () => string;
}

const CHANNEL: ChannelRef = { platform: "console", id: "incident-room" };
/** Console DMs are addressed as `dm:<name>`; their root is the index in that person's inbox. */
const DM_PREFIX = "dm:";

export function createConsoleAdapter(deps: {
  service: KeyturnService;
  store: AsyncStore;
  users: readonly ConsoleUser[];
  output: Writable;
  evidenceDir: string;
  label?: string | undefined;
}): ConsoleAdapter {
  const { service, store, users, output } = deps;
  let current = users[0]?.name ?? "operator";
  /** The buttons `press N` acts on: those of the last message shown with buttons, or of the DMs `inbox` listed. */
  let pressable: Pressable[] = [];
  let pressableFrom = "the last message";
  // threads are numbered on from those already in the store
  const threadsBefore = store.listKv<unknown>("console.thread").then((l) => l.length);
  let threadSeq = 0;
  const print = (s: string) => output.write(s + "\n");

  const principal = (name: string): Principal => {
    const u = users.find((x) => x.name === name);
    const identities = [`console:${name}`];
    if (u) {
      identities.push(u.email.toLowerCase());
      if (u.slackId) identities.push(`slack:${u.slackId.toLowerCase()}`);
      if (u.aadObjectId) identities.push(`aad:${u.aadObjectId.toLowerCase()}`);
    }
    return { platform: "console", id: `console:${name}`, displayName: u?.displayName ?? name, identities };
  };

  const offer = (buttons: readonly Button[], source: string) => {
    pressable = buttons.map((button) => ({ button, source }));
    pressableFrom = source;
  };

  const show = (m: Message, prefix = "", source = m.text) => {
    const r = renderText(m);
    if (r.buttons.length) offer(r.buttons, source);
    print(
      r.text
        .split("\n")
        .map((l) => prefix + l)
        .join("\n"),
    );
  };

  const saveFiles = (files: readonly Attachment[]) => {
    mkdirSync(deps.evidenceDir, { recursive: true });
    for (const a of files) {
      const path = join(deps.evidenceDir, a.filename);
      writeFileSync(path, a.content);
      print(`  saved ${path}`);
    }
  };

  const userOf = (who: PrincipalRef | string): ConsoleUser | undefined => {
    const key = (typeof who === "string" ? who : who.id).toLowerCase();
    return users.find((u) =>
      [
        u.email,
        `console:${u.name}`,
        `slack:${u.slackId ?? ""}`.toLowerCase(),
        `aad:${u.aadObjectId ?? ""}`,
      ].includes(key),
    );
  };

  const gateway: ChatGateway = {
    platform: "console",
    async postRoot(channel, message) {
      const before = await threadsBefore;
      const root = String(before + ++threadSeq);
      await store.putKv("console.thread", root, {
        channel: channel.id,
        messages: [renderText(message).text],
      });
      print(`\n── thread #${root} in #${channel.id} ──`);
      show(message, "│ ", `thread #${root} (${message.text})`);
      return { platform: "console", channel: channel.id, root };
    },
    async updateRoot(thread, message) {
      if (thread.channel.startsWith(DM_PREFIX)) {
        // a DM follows the change: its entry in the person's inbox is replaced
        await replaceInInbox(store, thread.channel.slice(DM_PREFIX.length), Number(thread.root), message);
        return;
      }
      const t = await store.getKv<{ channel: string; messages: string[] }>("console.thread", thread.root);
      if (t)
        await store.putKv("console.thread", thread.root, {
          ...t,
          messages: [renderText(message).text, ...t.messages.slice(1)],
        });
      print(`── thread #${thread.root} updated: ${message.text}`);
      if (message.buttons?.length) {
        offer(message.buttons, `thread #${thread.root} (${message.text})`);
        print("│ " + message.buttons.map((b, i) => `[${i + 1}] ${b.label}`).join("  "));
      }
    },
    async reply(thread, message) {
      const t = await store.getKv<{ channel: string; messages: string[] }>("console.thread", thread.root);
      const text = renderText(message).text;
      if (t) await store.putKv("console.thread", thread.root, { ...t, messages: [...t.messages, text] });
      print(
        text
          .split("\n")
          .map((l) => `  ↳ ${l}`)
          .join("\n"),
      );
    },
    async notify(user, message) {
      const u = userOf(user);
      if (!u) return null;
      const index = await addToInbox(store, u.name, message);
      print(`  (DM to ${u.name}: ${message.text})`);
      return { platform: "console", channel: `${DM_PREFIX}${u.name}`, root: String(index) };
    },
    async permalink(thread: ThreadRef) {
      return `console://thread/${thread.root}`;
    },
    async attach(_thread, attachment) {
      saveFiles([attachment]);
    },
  };

  const deliver = (r: Reply) => {
    show(r.message);
    if (r.attachments?.length) saveFiles(r.attachments);
  };

  const local = async (words: string[], line: string): Promise<boolean> => {
    const [cmd, ...rest] = words;
    switch (cmd) {
      case "as": {
        const name = (rest[0] ?? "").toLowerCase();
        if (!users.some((u) => u.name === name)) {
          print(`No such person "${rest[0] ?? ""}". People: ${users.map((u) => u.name).join(", ")}`);
          return true;
        }
        current = name;
        print(`You are now ${principal(name).displayName} (${users.find((u) => u.name === name)?.role}).`);
        return true;
      }
      case "users":
        for (const u of users)
          print(`  ${u.name.padEnd(6)} ${u.displayName.padEnd(12)} ${u.email.padEnd(20)} ${u.role}`);
        return true;
      case "inbox": {
        const shown = await showInbox(store, current, principal(current).displayName);
        print(shown.text);
        pressable = shown.pressable;
        pressableFrom = `${principal(current).displayName}'s inbox`;
        return true;
      }
      case "thread": {
        const id = (rest[0] ?? "").toUpperCase().replace(/^(\d+)$/, "CHG-$1");
        const change = await store.getChange(id);
        const t = change?.thread
          ? await store.getKv<{ messages: string[] }>("console.thread", change.thread.root)
          : undefined;
        if (!t) print(`No console thread for ${rest[0] ?? "?"}.`);
        else print(t.messages.join("\n\n"));
        return true;
      }
      case "press": {
        const n = Number(rest[0]);
        const picked = pressable[n - 1];
        if (!picked) {
          print(
            `No button [${rest[0] ?? ""}] on ${pressableFrom}${pressable.length ? ` (it has ${pressable.map((p, i) => `[${i + 1}] ${p.button.label}`).join(", ")})` : ""}. Show the message again (\`thread <CHG>\`, \`inbox\`) and press one of its numbers.`,
          );
          return true;
        }
        const b = picked.button;
        const reason = rest.slice(1).join(" ").replace(/^"|"$/g, "");
        if (b.needsReason && !reason) {
          print(`${b.label} needs a reason: press ${n} <reason>`);
          return true;
        }
        print(`  (pressing ${b.label} on ${picked.source})`);
        if (b.confirm) print(`  (confirmed: ${b.confirm.title} ${b.confirm.text})`);
        const action = { ...b.action, ...(reason ? { reason } : {}) };
        const r = await service.handleAction(
          {
            principal: principal(current),
            channel: CHANNEL,
            idempotencyKey: `console:${Date.now()}:${Math.random()}`,
          },
          action,
        );
        deliver(r);
        return true;
      }
      case "wait": {
        const id = (rest[0] ?? "").toUpperCase();
        const states = (rest[1] ?? "completed").split("|");
        const deadline = Date.now() + Number(rest[2] ?? "120") * 1000;
        for (;;) {
          const c = await store.getChange(id);
          if (c && states.includes(c.state)) {
            print(`${id} is ${c.state}.`);
            return true;
          }
          if (Date.now() > deadline) {
            print(`${id} is ${c?.state ?? "unknown"}, not ${states.join("|")}, after ${rest[2] ?? "120"} s.`);
            return true;
          }
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      case "sleep":
        await new Promise((r) => setTimeout(r, Number(rest[0] ?? "1") * 1000));
        return true;
      default:
        if (/^\d+$/.test(cmd ?? "")) return local(["press", ...words], line);
        return false;
    }
  };

  /** One command line (already echoed): `last` expanded, then a console command or keyturn's. */
  const execute = async (typed: string) => {
    const expanded = await expandLast(typed, store);
    if ("problem" in expanded) {
      print(expanded.problem);
      return;
    }
    const line = expanded.line;
    if (line !== typed) print(`  (last → ${line})`);
    const words = line.split(/\s+/);
    if (await local(words, line)) return;
    deliver(await service.handleText({ principal: principal(current), channel: CHANNEL }, line));
  };

  const runLine = async (raw: string) => {
    const line = raw.trim();
    if (!line || line.startsWith("#")) return;
    print(`${current}> ${line}`);
    await execute(line);
  };

  return {
    gateway,
    runLine,
    currentUser: () => current,
    async runScript(lines) {
      for (const l of lines) await runLine(l);
    },
    async run(input, opts = {}) {
      const rl = createInterface({
        input,
        output,
        prompt: "",
        ...(opts.echo ? { terminal: false } : {}),
      });
      // Ctrl-C at the prompt ends the console like quit; the caller says what happens to open changes
      let how: "quit" | "ctrl-c" | "end" = "end";
      rl.on("SIGINT", () => {
        how = "ctrl-c";
        rl.close();
      });
      const prompt = () => {
        if (!opts.echo) output.write(`${current}> `);
      };
      prompt();
      for await (const raw of rl) {
        const line = raw.trim();
        if (/^(quit|exit)$/i.test(line)) {
          how = "quit";
          break;
        }
        if (opts.echo) await runLine(line);
        else if (line) await execute(line);
        prompt();
      }
      rl.close();
      return how;
    },
  };
}
