/**
 * The KQL subset the simulated Log Analytics reads (see kql.ts): tokens, expressions and the
 * pipeline's stages. What it cannot parse is a SyntaxError, as Log Analytics reports it.
 */
export type Value = string | number | boolean | Date | { ms: number } | null;
export type Row = Record<string, Value>;
export interface Column {
  name: string;
  type: "string" | "datetime" | "long" | "real" | "bool" | "timespan";
}
export interface Table {
  columns: Column[];
  rows: Row[];
}

export class KqlError extends Error {
  constructor(
    readonly kind: "SyntaxError" | "SemanticError",
    message: string,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------- tokens

type Tok = { t: "id" | "str" | "num" | "span" | "op"; v: string; pos: number };

const SPAN_UNITS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

export function tokenize(q: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < q.length) {
    const c = q[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "/" && q[i + 1] === "/") {
      while (i < q.length && q[i] !== "\n") i++;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      let v = "";
      while (j < q.length && q[j] !== c) {
        if (q[j] === "\\" && j + 1 < q.length) j++;
        v += q[j];
        j++;
      }
      if (j >= q.length) throw new KqlError("SyntaxError", `Query could not be parsed at '${q.slice(i)}'`);
      out.push({ t: "str", v, pos: i });
      i = j + 1;
      continue;
    }
    const num = /^(\d+(?:\.\d+)?)(ms|d|h|m|s)?\b/.exec(q.slice(i));
    if (num) {
      out.push(num[2] ? { t: "span", v: num[0], pos: i } : { t: "num", v: num[1]!, pos: i });
      i += num[0].length;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(q.slice(i));
    if (id) {
      out.push({ t: "id", v: id[0], pos: i });
      i += id[0].length;
      continue;
    }
    const op = /^(==|!=|=~|!~|<=|>=|\.\.|!in~|!in|in~|[|(),=<>+\-*!])/.exec(q.slice(i));
    if (op) {
      out.push({ t: "op", v: op[0], pos: i });
      i += op[0].length;
      // datetime(2024-01-01T00:00:00Z) takes its text unquoted
      if (op[0] === "(" && out.at(-2)?.v === "datetime") {
        const close = q.indexOf(")", i);
        if (close < 0) throw new KqlError("SyntaxError", `Query could not be parsed at 'datetime('`);
        out.push({
          t: "str",
          v: q
            .slice(i, close)
            .trim()
            .replace(/^["']|["']$/g, ""),
          pos: i,
        });
        i = close;
      }
      continue;
    }
    throw new KqlError("SyntaxError", `Query could not be parsed at '${c}' on line [1,${i}]`);
  }
  return out;
}

// ---------------------------------------------------------------- expressions

export type Expr =
  | { k: "lit"; v: Value }
  | { k: "col"; name: string }
  | { k: "call"; fn: string; args: Expr[] }
  | { k: "bin"; op: string; a: Expr; b: Expr }
  | { k: "in"; neg: boolean; ci: boolean; a: Expr; list: Expr[] }
  | { k: "between"; neg: boolean; a: Expr; lo: Expr; hi: Expr }
  | { k: "not"; a: Expr };

const FUNCTIONS = new Set(["ago", "now", "datetime", "todatetime", "ingestion_time", "tostring", "tolower"]);
export const AGGREGATES = new Set(["count", "max", "min", "dcount", "sum"]);

export class Parser {
  i = 0;
  constructor(
    readonly toks: Tok[],
    readonly text: string,
  ) {}
  peek(v?: string): Tok | undefined {
    const t = this.toks[this.i];
    return v === undefined || t?.v === v ? t : undefined;
  }
  take(v?: string): Tok {
    const t = this.toks[this.i];
    if (!t || (v !== undefined && t.v !== v))
      throw new KqlError(
        "SyntaxError",
        `Query could not be parsed at '${t?.v ?? "<end>"}'${v ? ` (expected '${v}')` : ""}`,
      );
    this.i++;
    return t;
  }
  accept(v: string): boolean {
    if (this.toks[this.i]?.v === v) {
      this.i++;
      return true;
    }
    return false;
  }
  done(): boolean {
    return this.i >= this.toks.length;
  }

  expr(): Expr {
    let a = this.and();
    while (this.accept("or")) a = { k: "bin", op: "or", a, b: this.and() };
    return a;
  }
  and(): Expr {
    let a = this.cmp();
    while (this.accept("and")) a = { k: "bin", op: "and", a, b: this.cmp() };
    return a;
  }
  cmp(): Expr {
    const a = this.add();
    const t = this.peek();
    if (!t) return a;
    if (["==", "!=", "=~", "!~", "<", "<=", ">", ">="].includes(t.v)) {
      this.i++;
      return { k: "bin", op: t.v, a, b: this.add() };
    }
    if (["in", "!in", "in~", "!in~"].includes(t.v)) {
      this.i++;
      this.take("(");
      const list: Expr[] = [];
      if (!this.peek(")"))
        do list.push(this.add());
        while (this.accept(","));
      this.take(")");
      return { k: "in", neg: t.v.startsWith("!"), ci: t.v.endsWith("~"), a, list };
    }
    if (t.v === "between" || (t.v === "!" && this.toks[this.i + 1]?.v === "between")) {
      const neg = t.v === "!";
      this.i += neg ? 2 : 1;
      this.take("(");
      const lo = this.add();
      this.take("..");
      const hi = this.add();
      this.take(")");
      return { k: "between", neg, a, lo, hi };
    }
    if (t.t === "id" && ["has", "contains", "startswith", "endswith"].includes(t.v)) {
      this.i++;
      return { k: "bin", op: t.v, a, b: this.add() };
    }
    return a;
  }
  add(): Expr {
    let a = this.term();
    for (;;) {
      const t = this.peek();
      if (t && (t.v === "+" || t.v === "-") && t.t === "op") {
        this.i++;
        a = { k: "bin", op: t.v, a, b: this.term() };
      } else return a;
    }
  }
  term(): Expr {
    const t = this.take();
    if (t.t === "str") return { k: "lit", v: t.v };
    if (t.t === "num") return { k: "lit", v: Number(t.v) };
    if (t.t === "span") {
      const m = /^(\d+(?:\.\d+)?)(ms|d|h|m|s)$/.exec(t.v)!;
      return { k: "lit", v: { ms: Number(m[1]) * SPAN_UNITS[m[2]!]! } };
    }
    if (t.v === "(") {
      const e = this.expr();
      this.take(")");
      return e;
    }
    if (t.v === "not" && this.peek("(")) {
      this.take("(");
      const e = this.expr();
      this.take(")");
      return { k: "not", a: e };
    }
    if (t.t === "id") {
      if (t.v === "true" || t.v === "false") return { k: "lit", v: t.v === "true" };
      if (this.peek("(")) {
        this.take("(");
        const args: Expr[] = [];
        if (!this.peek(")"))
          do args.push(this.expr());
          while (this.accept(","));
        this.take(")");
        if (!FUNCTIONS.has(t.v) && !AGGREGATES.has(t.v))
          throw new KqlError("SemanticError", `Unknown function: '${t.v}'.`);
        return { k: "call", fn: t.v, args };
      }
      return { k: "col", name: t.v };
    }
    throw new KqlError("SyntaxError", `Query could not be parsed at '${t.v}'`);
  }
}

export function splitPipes(q: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quote: string | null = null;
  for (let i = 0; i < q.length; i++) {
    const c = q[i]!;
    if (quote) {
      if (c === "\\") {
        cur += c + (q[++i] ?? "");
        continue;
      }
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "|") {
      out.push(cur);
      cur = "";
      continue;
    }
    cur += c;
  }
  out.push(cur);
  if (out.some((s) => s.trim() === ""))
    throw new KqlError("SyntaxError", "Query could not be parsed at '|': an empty pipeline stage");
  return out;
}

/** A value as the query API's JSON carries it. */
export function end(p: Parser): void {
  if (!p.done()) throw new KqlError("SyntaxError", `Query could not be parsed at '${p.peek()!.v}'`);
}
