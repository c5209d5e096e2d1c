/**
 * A small KQL evaluator for the simulated Log Analytics: the subset keyturn and an operator's
 * diagnostics use — `T | where … | extend … | summarize count(), max(…) … by … | project … |
 * order by … | take n` with ==, !=, =~, !~, <, <=, >, >=, in, !in, between, has, contains,
 * startswith, and/or/not, ago(), now(), datetime(), ingestion_time() and timespans such as 5m.
 * Anything else is refused the way Log Analytics refuses it (a SyntaxError or SemanticError), so a
 * query the simulator cannot evaluate never returns rows that look right.
 */
import {
  AGGREGATES,
  end,
  KqlError,
  Parser,
  splitPipes,
  tokenize,
  type Column,
  type Expr,
  type Row,
  type Table,
  type Value,
} from "./kql-parse.js";

export { KqlError, type Column, type Row, type Table, type Value } from "./kql-parse.js";

// ---------------------------------------------------------------- evaluation

const ms = (v: Value): number | null =>
  v instanceof Date ? v.getTime() : typeof v === "number" ? v : v && typeof v === "object" ? v.ms : null;

function compare(a: Value, b: Value): number | null {
  if (a === null || b === null) return null;
  if (typeof a === "string" || typeof b === "string") {
    const x = str(a);
    const y = str(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  const x = ms(a);
  const y = ms(b);
  return x === null || y === null ? null : x - y;
}

const str = (v: Value): string =>
  v === null ? "" : v instanceof Date ? v.toISOString() : typeof v === "object" ? String(v.ms) : String(v);

interface Ctx {
  row: Row;
  columns: Map<string, Column>;
  now: number;
  op: string;
}

function evalExpr(e: Expr, c: Ctx): Value {
  switch (e.k) {
    case "lit":
      return e.v;
    case "col": {
      if (!c.columns.has(e.name))
        throw new KqlError(
          "SemanticError",
          `'${c.op}' operator: Failed to resolve column or scalar expression named '${e.name}'`,
        );
      return c.row[e.name] ?? null;
    }
    case "not":
      return !evalExpr(e.a, c);
    case "in": {
      const a = str(evalExpr(e.a, c));
      const hit = e.list.some((x) =>
        e.ci ? str(evalExpr(x, c)).toLowerCase() === a.toLowerCase() : str(evalExpr(x, c)) === a,
      );
      return e.neg ? !hit : hit;
    }
    case "between": {
      const a = evalExpr(e.a, c);
      const lo = compare(a, evalExpr(e.lo, c));
      const hi = compare(a, evalExpr(e.hi, c));
      const inside = lo !== null && hi !== null && lo >= 0 && hi <= 0;
      return e.neg ? !inside : inside;
    }
    case "call": {
      const args = e.args.map((x) => evalExpr(x, c));
      switch (e.fn) {
        case "now":
          return new Date(c.now + (ms(args[0] ?? null) ?? 0));
        case "ago":
          return new Date(c.now - (ms(args[0] ?? null) ?? 0));
        case "todatetime":
        case "datetime": {
          const t = Date.parse(str(args[0] ?? null));
          return Number.isNaN(t) ? null : new Date(t);
        }
        case "ingestion_time":
          return c.row["__ingested"] ?? null;
        case "tostring":
          return str(args[0] ?? null);
        case "tolower":
          return str(args[0] ?? null).toLowerCase();
        default:
          throw new KqlError("SemanticError", `'${e.fn}' is an aggregation: it belongs in summarize.`);
      }
    }
    case "bin": {
      if (e.op === "and") return !!evalExpr(e.a, c) && !!evalExpr(e.b, c);
      if (e.op === "or") return !!evalExpr(e.a, c) || !!evalExpr(e.b, c);
      const a = evalExpr(e.a, c);
      const b = evalExpr(e.b, c);
      switch (e.op) {
        case "==":
          return compare(a, b) === 0;
        case "!=":
          return compare(a, b) !== 0;
        case "=~":
          return str(a).toLowerCase() === str(b).toLowerCase();
        case "!~":
          return str(a).toLowerCase() !== str(b).toLowerCase();
        case "<":
        case "<=":
        case ">":
        case ">=": {
          const d = compare(a, b);
          if (d === null) return false;
          return e.op === "<" ? d < 0 : e.op === "<=" ? d <= 0 : e.op === ">" ? d > 0 : d >= 0;
        }
        case "has":
          return new RegExp(`(^|[^A-Za-z0-9])${escape(str(b))}($|[^A-Za-z0-9])`, "i").test(str(a));
        case "contains":
          return str(a).toLowerCase().includes(str(b).toLowerCase());
        case "startswith":
          return str(a).toLowerCase().startsWith(str(b).toLowerCase());
        case "endswith":
          return str(a).toLowerCase().endsWith(str(b).toLowerCase());
        case "+":
        case "-": {
          const sign = e.op === "+" ? 1 : -1;
          if (a instanceof Date) return new Date(a.getTime() + sign * (ms(b) ?? 0));
          if (typeof a === "number" && typeof b === "number") return a + sign * b;
          return { ms: (ms(a) ?? 0) + sign * (ms(b) ?? 0) };
        }
      }
      throw new KqlError("SyntaxError", `Unsupported operator '${e.op}'`);
    }
  }
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function typeOf(v: Value, fallback: Column["type"] = "string"): Column["type"] {
  if (v instanceof Date) return "datetime";
  if (typeof v === "number") return Number.isInteger(v) ? "long" : "real";
  if (typeof v === "boolean") return "bool";
  if (v && typeof v === "object") return "timespan";
  return v === null ? fallback : "string";
}

/** Column names as KQL derives them: `count_`, `max_TimeGenerated`, `max_` for an expression. */
function aggregateName(e: Expr): string {
  if (e.k !== "call") return "Column1";
  const arg = e.args[0];
  return `${e.fn}_${arg?.k === "col" ? arg.name : ""}`;
}

/** Runs `query` over the named tables; rows not ingested by `now` must already be left out. */
export function runKql(query: string, tables: Record<string, Table>, now: number): Table {
  const stages = splitPipes(query);
  const source = stages.shift()!.trim();
  const table = Object.entries(tables).find(([n]) => n === source)?.[1];
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(source))
    throw new KqlError("SyntaxError", `Query could not be parsed at '${source.slice(0, 40)}'`);
  if (!table) throw new KqlError("SemanticError", `Failed to resolve table expression named '${source}'`);
  let columns = new Map(table.columns.map((c) => [c.name, c]));
  let rows = table.rows;
  for (const stage of stages) {
    const p = new Parser(tokenize(stage), stage);
    const op = p.take().v;
    const ctx = (row: Row): Ctx => ({ row, columns, now, op });
    switch (op) {
      case "where": {
        const e = p.expr();
        end(p);
        evalExpr(e, ctx(blank(columns))); // an unknown column is an error even when no row is left
        rows = rows.filter((r) => !!evalExpr(e, ctx(r)));
        break;
      }
      case "extend": {
        const adds: [string, Expr][] = [];
        do {
          const name = p.take().v;
          p.take("=");
          adds.push([name, p.expr()]);
        } while (p.accept(","));
        end(p);
        rows = rows.map((r) => {
          const out = { ...r };
          for (const [n, e] of adds) out[n] = evalExpr(e, ctx(r));
          return out;
        });
        const next = new Map(columns);
        for (const [n, e] of adds)
          next.set(n, { name: n, type: typeOf(rows[0] ? rows[0][n]! : evalConst(e, now)) });
        columns = next;
        break;
      }
      case "project": {
        const names: [string, Expr][] = [];
        do {
          const first = p.take();
          if (p.accept("=")) names.push([first.v, p.expr()]);
          else names.push([first.v, { k: "col", name: first.v }]);
        } while (p.accept(","));
        end(p);
        for (const [, e] of names) if (rows.length === 0) evalExpr(e, ctx(blank(columns)));
        const next = new Map<string, Column>();
        for (const [n, e] of names)
          next.set(n, e.k === "col" ? { ...columns.get(e.name)!, name: n } : { name: n, type: "string" });
        rows = rows.map((r) => Object.fromEntries(names.map(([n, e]) => [n, evalExpr(e, ctx(r))])));
        columns = next;
        break;
      }
      case "summarize": {
        const aggs: [string, Expr & { k: "call" }][] = [];
        if (!p.peek("by"))
          do {
            let name: string | undefined;
            if (p.toks[p.i + 1]?.v === "=") {
              name = p.take().v;
              p.take("=");
            }
            const e = p.term();
            if (e.k !== "call" || !AGGREGATES.has(e.fn))
              throw new KqlError("SemanticError", "summarize takes aggregations such as count() or max(x).");
            aggs.push([name ?? aggregateName(e), e]);
          } while (p.accept(","));
        const by: string[] = [];
        if (p.accept("by"))
          do {
            const t = p.take();
            if (!columns.has(t.v))
              throw new KqlError(
                "SemanticError",
                `'summarize' operator: Failed to resolve column or scalar expression named '${t.v}'`,
              );
            by.push(t.v);
          } while (p.accept(","));
        end(p);
        const groups = new Map<string, Row[]>();
        for (const r of rows) {
          const k = JSON.stringify(by.map((b) => str(r[b] ?? null)));
          groups.set(k, [...(groups.get(k) ?? []), r]);
        }
        if (by.length === 0 && groups.size === 0) groups.set("[]", []);
        const out: Row[] = [];
        for (const members of groups.values()) {
          const row: Row = {};
          for (const b of by) row[b] = members[0]?.[b] ?? null;
          for (const [n, e] of aggs) row[n] = aggregate(e, members, (r) => ctx(r));
          out.push(row);
        }
        const next = new Map<string, Column>();
        for (const b of by) next.set(b, columns.get(b)!);
        for (const [n, e] of aggs) {
          const argCol = e.args[0]?.k === "col" ? columns.get(e.args[0].name) : undefined;
          const type: Column["type"] =
            e.fn === "count" || e.fn === "dcount"
              ? "long"
              : e.args[0]?.k === "call" && e.args[0].fn === "ingestion_time"
                ? "datetime"
                : (argCol?.type ?? "real");
          next.set(n, { name: n, type });
        }
        rows = out;
        columns = next;
        break;
      }
      case "take":
      case "limit": {
        const n = Number(p.take().v);
        end(p);
        rows = rows.slice(0, Number.isFinite(n) ? n : 0);
        break;
      }
      case "order":
      case "sort": {
        p.take("by");
        const keys: [string, boolean][] = [];
        do {
          const name = p.take().v;
          if (!columns.has(name))
            throw new KqlError(
              "SemanticError",
              `'${op}' operator: Failed to resolve column or scalar expression named '${name}'`,
            );
          const asc = p.accept("asc") ? true : (p.accept("desc"), false);
          keys.push([name, asc]);
        } while (p.accept(","));
        end(p);
        rows = [...rows].sort((x, y) => {
          for (const [k, asc] of keys) {
            const d = compare(x[k] ?? null, y[k] ?? null) ?? 0;
            if (d !== 0) return asc ? d : -d;
          }
          return 0;
        });
        break;
      }
      default:
        throw new KqlError(
          "SyntaxError",
          `'${op}' is not supported by the simulated workspace (supported: where, extend, project, summarize, order by, take/limit)`,
        );
    }
  }
  return { columns: [...columns.values()].filter((c) => !c.name.startsWith("__")), rows };
}

function evalConst(e: Expr, now: number): Value {
  return evalExpr(e, { row: {}, columns: new Map(), now, op: "extend" });
}

function blank(columns: Map<string, Column>): Row {
  return Object.fromEntries([...columns.keys()].map((k) => [k, null]));
}

function aggregate(e: Expr & { k: "call" }, rows: Row[], ctx: (r: Row) => Ctx): Value {
  if (e.fn === "count") return rows.length;
  const arg = e.args[0];
  if (!arg) throw new KqlError("SemanticError", `${e.fn}() needs an argument.`);
  const values = rows.map((r) => evalExpr(arg, ctx(r))).filter((v) => v !== null);
  if (e.fn === "dcount") return new Set(values.map(str)).size;
  if (e.fn === "sum") return values.reduce<number>((n, v) => n + (ms(v) ?? 0), 0);
  if (values.length === 0) return null;
  return values.reduce((best, v) => {
    const d = compare(v, best) ?? 0;
    return (e.fn === "max" ? d > 0 : d < 0) ? v : best;
  });
}

/** Splits on `|` outside string literals. */
export function wireValue(v: Value): string | number | boolean | null {
  if (v instanceof Date) return v.toISOString();
  if (v && typeof v === "object") {
    const s = Math.floor(v.ms / 1000);
    const pad = (n: number) => String(n).padStart(2, "0");
    return `${pad(Math.floor(s / 3600))}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
  }
  return v;
}
