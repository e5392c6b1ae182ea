// Prisma Studio's executors for Parley's two databases: what runs the SQL that
// Studio's query builders write (studio-core's `Executor` contract), on the
// drivers Parley already ships: better-sqlite3 for SQLite, pg for PostgreSQL.
// No Prisma engine is involved, so nothing is downloaded.
import type { Executor, ExecuteOptions, Query } from "@prisma/studio-core/data";
import type Database from "better-sqlite3";
import pg from "pg";

type Row = Record<string, unknown>;

/** Rows as Studio expects them: columns it marks `json-parse` arrive as JSON text and leave as values. */
function applyTransformations(rows: Row[], query: Query<unknown>): Row[] {
  const columns = Object.entries(query.transformations ?? {}).filter(([, how]) => how === "json-parse").map(([column]) => column);
  if (columns.length === 0) return rows;
  for (const row of rows) {
    for (const column of columns) {
      const value = row[column];
      if (typeof value !== "string") continue;
      try {
        row[column] = JSON.parse(value) as unknown;
      } catch {
        // Not JSON after all (a plain string in a JSON column): shown as it is.
      }
    }
  }
  return rows;
}

/** Studio's parameters are JSON values; SQLite binds numbers, strings, bigints, buffers and null only. */
function sqliteParameter(value: unknown): unknown {
  if (typeof value === "boolean") return value ? 1 : 0;
  if (value !== null && typeof value === "object" && !Buffer.isBuffer(value)) return JSON.stringify(value);
  return value;
}

/**
 * Studio on a SQLite file through better-sqlite3. Statements that return rows
 * (SELECT, and writes with RETURNING, which Studio's edits use) answer their
 * rows; others run and answer none. A transaction is all or nothing.
 */
export function sqliteExecutor(db: Database.Database): Executor {
  const run = (query: Query<unknown>): Row[] => {
    const statement = db.prepare<unknown[], Row>(query.sql);
    const parameters = query.parameters.map(sqliteParameter);
    if (!statement.reader) {
      statement.run(...parameters);
      return [];
    }
    return applyTransformations(statement.all(...parameters), query);
  };
  const all = db.transaction((queries: readonly Query<unknown>[]) => queries.map(run));
  return {
    execute<T>(query: Query<T>) {
      try {
        // Row shapes are Studio's to know (its query builder typed `T`); the driver answers plain rows.
        return Promise.resolve([null, run(query) as never]);
      } catch (error) {
        return Promise.resolve([asError(error)]);
      }
    },
    executeTransaction(queries: readonly Query<unknown>[]) {
      try {
        return Promise.resolve([null, all(queries) as never]);
      } catch (error) {
        return Promise.resolve([asError(error)]);
      }
    },
  };
}

// PostgreSQL type ids whose text Studio wants as text, not as a JS Date in the server's time zone.
const DATE = 1082;
const TIMESTAMP = 1114;

/**
 * pg's parsers, except: `date` stays `YYYY-MM-DD`, and `timestamp` (without
 * time zone, what Prisma's DateTime is on PostgreSQL) becomes an ISO string in
 * UTC, as Prisma reads it, instead of a Date shifted by the server's zone.
 */
const studioTypes: pg.CustomTypesConfig = {
  getTypeParser(id: number, format?: "text" | "binary"): unknown {
    if (id === DATE) return (text: string) => text;
    if (id === TIMESTAMP) return (text: string) => `${text.replace(" ", "T")}Z`;
    const parser: unknown = pg.types.getTypeParser(id, format);
    return parser;
  },
};

/** A pg pool for Studio on `connectionString` (a few connections: one person clicks). */
export function studioPostgresPool(connectionString: string): pg.Pool {
  return new pg.Pool({ connectionString, max: 4, types: studioTypes });
}

/** `SET LOCAL search_path` for a Studio request that names a schema (public stays on the path). */
function searchPath(schema: string): string {
  const quoted = `"${schema.replaceAll('"', '""')}"`;
  return schema === "public" ? quoted : `${quoted}, public`;
}

/**
 * Studio on PostgreSQL through a pg pool. A request that names a schema runs
 * in a transaction with that schema first on the search path; a transaction
 * is all or nothing (ROLLBACK on the first error).
 */
export function postgresExecutor(pool: pg.Pool): Executor {
  const inTransaction = async <R>(schema: string | undefined, work: (client: pg.PoolClient) => Promise<R>): Promise<R> => {
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      if (schema) await client.query(`SET LOCAL search_path TO ${searchPath(schema)}`);
      const result = await work(client);
      await client.query("COMMIT");
      return result;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  };
  const run = async (client: pg.Pool | pg.PoolClient, query: Query<unknown>): Promise<Row[]> => {
    const result = await client.query<Row>(query.sql, [...query.parameters]);
    return applyTransformations(result.rows, query);
  };
  return {
    async execute<T>(query: Query<T>, options?: ExecuteOptions) {
      try {
        const rows = options?.schema ? await inTransaction(options.schema, (client) => run(client, query)) : await run(pool, query);
        return [null, rows as never];
      } catch (error) {
        return [asError(error)];
      }
    },
    async executeTransaction(queries: readonly Query<unknown>[], options?: ExecuteOptions) {
      try {
        const results = await inTransaction(options?.schema, async (client) => {
          const all: Row[][] = [];
          for (const query of queries) all.push(await run(client, query));
          return all;
        });
        return [null, results];
      } catch (error) {
        return [asError(error)];
      }
    },
  };
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
