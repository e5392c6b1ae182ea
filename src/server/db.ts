// The Prisma client for DATABASE_URL. SQLite (`file:`, the embedded default)
// runs on the better-sqlite3 driver adapter, with the settings Parley's
// durability promise rests on (see README, Reliability): WAL journal,
// synchronous=NORMAL (an acknowledged write survives a process crash; a power
// loss may drop the last transactions), and a busy timeout so concurrent
// writers wait instead of failing. PostgreSQL (`postgres://`, for several
// instances) runs on the pg driver adapter with the client generated from
// prisma/postgres/schema.prisma, the same data model (scripts/postgres-schema.ts).
import fs from "node:fs";
import path from "node:path";
import { PrismaBetterSQLite3 } from "@prisma/adapter-better-sqlite3";
import SqliteDatabase from "better-sqlite3";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaClient, type Prisma as SqlitePrisma } from "../generated/prisma/client";
import { PrismaClient as PostgresPrismaClient, type Prisma as PostgresPrisma } from "../generated/prisma-pg/client";
import { isPostgresUrl, sqlitePath } from "./env";

/**
 * The database as services see it: the SQLite client's type, whichever
 * database runs. The two generated clients have the same model API (one data
 * model, generated twice), but TypeScript cannot relate their generic method
 * signatures across two sets of declarations, so the PostgreSQL client is
 * given this type by one cast in `openStorage`, which `ClientsAgree` below proves
 * sound at compile time.
 */
export type Db = PrismaClient;

type SqliteModels = SqlitePrisma.TypeMap["model"];
type PostgresModels = PostgresPrisma.TypeMap["model"];
/**
 * `never` when, for every model and every operation, (1) any arguments the
 * services can write against the SQLite types are accepted by the PostgreSQL
 * client, and (2) what the PostgreSQL client returns has the type services
 * expect. Otherwise a union naming each disagreement ("Message create args").
 * PostgreSQL accepts more (e.g. `mode: "insensitive"`); services cannot use
 * it, since they are typed for SQLite.
 */
type ClientDisagreements = {
  [M in keyof SqliteModels]: M extends keyof PostgresModels
    ? {
        [O in keyof SqliteModels[M]["operations"]]: O extends keyof PostgresModels[M]["operations"]
          ? SqliteModels[M]["operations"][O] extends { args: infer A; result: infer R }
            ? PostgresModels[M]["operations"][O] extends { args: infer PA; result: infer PR }
              ? [A] extends [PA]
                ? [PR] extends [R]
                  ? never
                  : `${M & string} ${O & string} result`
                : `${M & string} ${O & string} args`
              : never
            : never
          : `${M & string} ${O & string} missing`;
      }[keyof SqliteModels[M]["operations"]]
    : `${M & string} missing`;
}[keyof SqliteModels];
/** Fails to compile, naming the disagreements, if the two clients' model APIs ever differ. */
const clientsAgree: [ClientDisagreements] extends [never] ? true : ClientDisagreements = true;

/** Hears every statement a client sends: its SQL and the driver's time for it (ms). */
export type DbQueryListener = (sql: string, durationMs: number) => void;

/** Prisma's query events: the statement and the driver's duration, for every model and raw query. */
const queryEvents = [{ emit: "event", level: "query" }] as const;

export type Dialect = "sqlite" | "postgres";

/**
 * The database of one server: the Prisma client every service uses and,
 * beside it, the message writer's own connection: on SQLite a synchronous
 * one, on PostgreSQL a small pg pool. Made by `openStorage`, closed by
 * `close`. `onQuery` hears every statement of each (metrics feed their query
 * histogram with it).
 */
export interface Storage {
  readonly db: Db;
  readonly dialect: Dialect;
  /** SQLite only (null on PostgreSQL): see SqliteConnection. */
  readonly sqlite: SqliteConnection | null;
  /** PostgreSQL only (null on SQLite): see PostgresConnection. */
  readonly postgres: PostgresConnection | null;
  /** Close the Prisma client and the writer's connection. */
  close(): Promise<void>;
}

/**
 * Open DATABASE_URL. `onQuery` is called with every statement either
 * connection sends from now on (model queries, raw SQL, in and out of
 * transactions) and the driver's time for it.
 */
export async function openStorage(databaseUrl: string, onQuery: DbQueryListener | null = null): Promise<Storage> {
  if (isPostgresUrl(databaseUrl)) {
    const client = new PostgresPrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl }), log: [...queryEvents] });
    if (onQuery) client.$on("query", (event) => onQuery(event.query, event.duration));
    // Fail at start-up, not on the first request, when PostgreSQL is unreachable.
    await client.$queryRawUnsafe("SELECT 1");
    // The one cast, sound by `clientsAgree` (see Db): same data model, same runtime.
    const db = clientsAgree && (client as unknown as Db);
    const postgres = new PostgresConnection(databaseUrl, onQuery);
    return {
      db,
      dialect: "postgres",
      sqlite: null,
      postgres,
      async close() {
        await postgres.close();
        await db.$disconnect();
      },
    };
  }
  const file = sqlitePath(databaseUrl);
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const client = new PrismaClient({ adapter: new PrismaBetterSQLite3({ url: databaseUrl }), log: [...queryEvents] });
  if (onQuery) client.$on("query", (event) => onQuery(event.query, event.duration));
  // Typed without its log options, as services see it (`$on` is the only difference).
  const db: Db = client;
  await db.$queryRawUnsafe("PRAGMA journal_mode = WAL");
  await db.$executeRawUnsafe("PRAGMA synchronous = NORMAL");
  await db.$queryRawUnsafe("PRAGMA busy_timeout = 5000");
  const sqlite = new SqliteConnection(file, onQuery);
  return {
    db,
    dialect: "sqlite",
    sqlite,
    postgres: null,
    async close() {
      sqlite.close();
      await db.$disconnect();
    },
  };
}

/**
 * SQLite only: a second, synchronous connection to the same file, for the
 * message writer's group commit (services/message-writer.ts), which runs a
 * whole batch inside one turn of the event loop, and for the session log's
 * reads (a back-fill reads thousands of rows, and Prisma's result mapping cost
 * more than the rest of the back-fill together). Its busy timeout is 0: when
 * Prisma's connection holds the write lock (an interactive transaction waiting
 * on the event loop), waiting here would block the loop that transaction
 * needs, so the writer gets SQLITE_BUSY at once and tries again later.
 * Prisma's connection never sees this one's lock, which is held only while
 * JavaScript runs.
 */
export class SqliteConnection {
  private readonly connection: SqliteDatabase.Database;
  private readonly statements = new Map<string, TimedStatement<unknown[], unknown>>();

  constructor(
    file: string,
    /** Hears each statement's run/get/all (synchronous, so the time is SQLite's own); BEGIN and COMMIT are not reported. */
    private readonly onQuery: DbQueryListener | null,
  ) {
    this.connection = new SqliteDatabase(file, { timeout: 0 });
    this.connection.pragma("synchronous = NORMAL");
  }

  /**
   * `sql` prepared the first time it is asked for, then the same statement
   * again (the SQL text is the key): the hot paths' statements are prepared
   * once. Only for statements run with run/get/all, which leave nothing behind.
   */
  statement<P extends unknown[], R = unknown>(sql: string): TimedStatement<P, R> {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = new TimedStatement(this.connection.prepare<unknown[], unknown>(sql), sql, this.onQuery);
      this.statements.set(sql, statement);
    }
    // Prepared from this very SQL text; the caller names its parameters and rows.
    return statement as unknown as TimedStatement<P, R>;
  }

  /** `body` in one IMMEDIATE transaction (it takes the write lock at once, or throws SQLITE_BUSY). */
  immediate<T>(body: () => T): T {
    return this.connection.transaction(body).immediate();
  }

  close(): void {
    this.statements.clear();
    if (this.connection.open) this.connection.close();
  }
}

/** A prepared statement whose run/get/all report their SQL and duration. */
export class TimedStatement<P extends unknown[], R> {
  constructor(
    private readonly statement: SqliteDatabase.Statement<P, R>,
    private readonly sql: string,
    private readonly onQuery: DbQueryListener | null,
  ) {}

  run(...params: P): SqliteDatabase.RunResult {
    const started = performance.now();
    try {
      return this.statement.run(...params);
    } finally {
      this.onQuery?.(this.sql, performance.now() - started);
    }
  }

  get(...params: P): R | undefined {
    const started = performance.now();
    try {
      return this.statement.get(...params);
    } finally {
      this.onQuery?.(this.sql, performance.now() - started);
    }
  }

  all(...params: P): R[] {
    const started = performance.now();
    try {
      return this.statement.all(...params);
    } finally {
      this.onQuery?.(this.sql, performance.now() - started);
    }
  }
}

/** Runs statements on PostgreSQL: the pool, or one connection inside a transaction. */
export interface PostgresQueries {
  /**
   * One statement and its rows. `name` prepares it once per connection (the
   * SQL text must not vary under one name: pass lists as array parameters).
   */
  query<R>(name: string, sql: string, params: unknown[]): Promise<R[]>;
}

/**
 * PostgreSQL only: a small pg pool beside Prisma's, for the message writer's
 * group commit (services/message-writer.ts). Through Prisma, a batch was an
 * interactive transaction of six statements, each compiled by Prisma's query
 * compiler and each a round trip; here it is one prepared statement per
 * session, one round trip. Its own pool so that the writer never waits
 * behind Prisma's queries for a connection (nor they behind it).
 */
export class PostgresConnection implements PostgresQueries {
  private readonly pool: pg.Pool;

  constructor(
    connectionString: string,
    /** Hears each statement's SQL and time, from sending it to its rows (BEGIN and COMMIT are not reported). */
    private readonly onQuery: DbQueryListener | null,
  ) {
    // The writer runs one batch at a time; the second connection is for a
    // statement outside it (or the next batch while one is being given back).
    this.pool = new pg.Pool({ connectionString, max: 2 });
    // An idle connection that fails (PostgreSQL restarted) is dropped by the
    // pool, which opens another when asked; without a listener the error
    // would end the process. Failures of a statement reach its caller.
    this.pool.on("error", () => undefined);
  }

  query<R>(name: string, sql: string, params: unknown[]): Promise<R[]> {
    return timedQuery<R>(this.pool, name, sql, params, this.onQuery);
  }

  /** `body` inside BEGIN ... COMMIT on one connection; ROLLBACK when it throws. */
  async transaction<T>(body: (queries: PostgresQueries) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query("BEGIN");
      const result = await body({ query: (name, sql, params) => timedQuery(client, name, sql, params, this.onQuery) });
      await client.query("COMMIT");
      return result;
    } catch (error) {
      await client.query("ROLLBACK").catch((rollbackError: unknown) => {
        // A connection that cannot roll back is not given back to the pool.
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      });
      throw error;
    } finally {
      client.release(broken);
    }
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

async function timedQuery<R>(on: pg.Pool | pg.PoolClient, name: string, sql: string, params: unknown[], onQuery: DbQueryListener | null): Promise<R[]> {
  const started = performance.now();
  try {
    const result = await on.query<R & pg.QueryResultRow>({ name, text: sql, values: params });
    return result.rows;
  } finally {
    onQuery?.(sql, performance.now() - started);
  }
}

/** `?, ?, ?` for n parameters. */
export function placeholders(n: number): string {
  return Array(n).fill("?").join(", ");
}

/** The VALUES list of a multi-row insert: `rows` groups of `columns` placeholders. */
export function rowsOf(rows: number, columns: number): string {
  return Array.from({ length: rows }, () => `(${placeholders(columns)})`).join(", ");
}

/** How Prisma's SQLite adapter stores a DateTime (ISO 8601, "+00:00"). */
export function sqliteTimestamp(date: Date): string {
  return date.toISOString().replace("Z", "+00:00");
}

/**
 * A case-insensitive substring filter on either database. SQLite's LIKE (what
 * `contains` becomes) ignores ASCII case already; PostgreSQL's is
 * case-sensitive, so there it needs `mode: "insensitive"` (ILIKE), which the
 * SQLite-typed model API cannot name: the one place that adds it.
 */
export function textContains(dialect: Dialect, text: string): SqlitePrisma.StringFilter {
  return dialect === "postgres" ? ({ contains: text, mode: "insensitive" } as SqlitePrisma.StringFilter) : { contains: text };
}

/** A cheap round trip for health checks. */
export async function pingDb(db: Db): Promise<boolean> {
  try {
    await db.$queryRawUnsafe("SELECT 1");
    return true;
  } catch {
    return false;
  }
}
