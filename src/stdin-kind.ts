/**
 * What keyturn's standard input is: a terminal (the interactive console), a pipe or a file
 * (`printf 'help\n' | npm start`: commands read line by line, like a script), or nothing to read
 * (`/dev/null` under a service manager or `docker run` without -i: keyturn just serves).
 */
import { fstatSync } from "node:fs";
import type { Readable } from "node:stream";

export type StdinKind = "tty" | "pipe" | "none";

export function stdinKind(stream: Readable = process.stdin): StdinKind {
  if ((stream as { isTTY?: boolean }).isTTY) return "tty";
  // a stream handed in by a caller (tests, an embedding program) is read like a pipe
  if (stream !== process.stdin) return "pipe";
  try {
    const s = fstatSync(0);
    return s.isFIFO() || s.isFile() || s.isSocket() ? "pipe" : "none";
  } catch {
    return "none"; // no stdin at all (closed descriptor)
  }
}
