// Database query latency for every statement Prisma sends: model queries and
// raw SQL, on SQLite and PostgreSQL. The Prisma client reports each with the
// driver's own duration (db.ts `openStorage`'s listener); this names the statement with a
// label from a small fixed set, so the histogram's series stay bounded.
import { Prisma } from "../../generated/prisma/client";

const models: ReadonlySet<string> = new Set(Object.values(Prisma.ModelName));
const verbs: ReadonlySet<string> = new Set(["select", "insert", "update", "delete"]);
const transactionVerbs: ReadonlySet<string> = new Set(["begin", "commit", "rollback", "savepoint", "release"]);
/** The first table a statement names, quoted or not, with or without its schema (`main`.`Message`, "public"."Message", "Message"). */
const firstTable = /\b(?:from|into|update)\s+(?:[`"]?\w+[`"]?\.)?[`"]?(\w+)/i;

/** Statements seen often keep their label; Prisma's SQL repeats, but a list of ids makes new text, so the cache is capped. */
const CACHE_LIMIT = 500;

/**
 * Labels statements with their `operation`: `<Model>.<verb>` (`Message.insert`,
 * `Session.select`, … for the first table it names), `ping` for the health and
 * metrics `SELECT 1`, `transaction` for BEGIN/COMMIT/ROLLBACK, `raw` for
 * anything else (PRAGMAs, statements on no model's table). At most
 * 4 verbs × the models + 3 values.
 */
export class QueryLabels {
  private readonly cache = new Map<string, string>();

  /** The label of one statement. */
  of(sql: string): string {
    const known = this.cache.get(sql);
    if (known !== undefined) return known;
    const label = classify(sql);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(sql, label);
    return label;
  }
}

function classify(sql: string): string {
  if (sql === "SELECT 1") return "ping";
  const verb = /^\s*(\w+)/.exec(sql)?.[1]?.toLowerCase() ?? "";
  if (transactionVerbs.has(verb)) return "transaction";
  if (!verbs.has(verb)) return "raw";
  const table = firstTable.exec(sql)?.[1];
  return table !== undefined && models.has(table) ? `${table}.${verb}` : "raw";
}
