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
import Database from "better-sqlite3";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient, type Prisma as SqlitePrisma } from "../generated/prisma/client";
import { PrismaClient as PostgresPrismaClient, type Prisma as PostgresPrisma } from "../generated/prisma-pg/client";
import { isPostgresUrl, sqlitePath } from "./env";

/**
 * The database as services see it: the SQLite client's type, whichever
 * database runs. The two generated clients have the same model API (one data
 * model, generated twice), but TypeScript cannot relate their generic method
 * signatures across two sets of declarations, so the PostgreSQL client is
 * given this type by one cast in `createDb`, which `ClientsAgree` below proves
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

/** What `createDb` keeps beside each client it makes. */
interface ClientState {
  /** PostgreSQL (see `textContains`). */
  postgres: boolean;
  /** Set by `onDbQuery`; the client's query events (and the write connection's statements) call it. */
  queryListener: DbQueryListener | null;
  /** SQLite: the synchronous connection (see `sqliteWriteConnection`); null on PostgreSQL and once closed. */
  writer: Database.Database | null;
}
const clientStates = new WeakMap<Db, ClientState>();
/** Prisma's query events: the statement and the driver's duration, for every model and raw query. */
const queryEvents = [{ emit: "event", level: "query" }] as const;

/**
 * Call `listener` with every statement `db` sends from now on (model queries,
 * raw SQL, in and out of transactions) and the time the driver took (ms);
 * metrics/index.ts feeds the query latency histogram with it. One listener per
 * client: a later call replaces it. A client not made by `createDb` is ignored.
 */
export function onDbQuery(db: Db, listener: DbQueryListener): void {
  const state = clientStates.get(db);
  if (state) state.queryListener = listener;
}

export async function createDb(databaseUrl: string): Promise<Db> {
  const state: ClientState = { postgres: isPostgresUrl(databaseUrl), queryListener: null, writer: null };
  if (state.postgres) {
    const client = new PostgresPrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl }), log: [...queryEvents] });
    client.$on("query", (event) => state.queryListener?.(event.query, event.duration));
    // Fail at start-up, not on the first request, when PostgreSQL is unreachable.
    await client.$queryRawUnsafe("SELECT 1");
    // The one cast, sound by `clientsAgree` (see Db): same data model, same runtime.
    const db = clientsAgree && (client as unknown as Db);
    clientStates.set(db, state);
    return db;
  }
  const file = sqlitePath(databaseUrl);
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const client = new PrismaClient({ adapter: new PrismaBetterSQLite3({ url: databaseUrl }), log: [...queryEvents] });
  client.$on("query", (event) => state.queryListener?.(event.query, event.duration));
  // Typed without its log options, as services see it (`$on` is the only difference).
  const db: Db = client;
  clientStates.set(db, state);
  await db.$queryRawUnsafe("PRAGMA journal_mode = WAL");
  await db.$executeRawUnsafe("PRAGMA synchronous = NORMAL");
  await db.$queryRawUnsafe("PRAGMA busy_timeout = 5000");
  const writer = new Database(file, { timeout: 0 });
  writer.pragma("synchronous = NORMAL");
  reportStatements(writer, state);
  state.writer = writer;
  return db;
}

/**
 * The write connection's statements reach `onDbQuery` too, as Prisma's do:
 * each prepared statement's run/get/all is timed (synchronous, so the time is
 * SQLite's own). BEGIN and COMMIT of its transactions, which better-sqlite3
 * prepares internally, are not.
 */
function reportStatements(connection: Database.Database, state: ClientState): void {
  const prepare = connection.prepare.bind(connection);
  const timed = (source: string) => {
    const statement = prepare(source);
    const time =
      <A extends unknown[], R>(method: (...params: A) => R) =>
      (...params: A): R => {
        const started = performance.now();
        try {
          return method(...params);
        } finally {
          state.queryListener?.(source, performance.now() - started);
        }
      };
    statement.run = time(statement.run.bind(statement));
    statement.get = time(statement.get.bind(statement));
    statement.all = time(statement.all.bind(statement));
    return statement;
  };
  // prepare's type is generic in the statement's parameters and rows; `timed` returns the same statement.
  connection.prepare = timed as typeof connection.prepare;
}

const statementCaches = new WeakMap<Database.Database, Map<string, Database.Statement<unknown[], unknown>>>();

/**
 * `sql` prepared on `connection` the first time it is asked for, then the same
 * statement again (the SQL text is the key): the hot paths' statements
 * (message writer, back-fill, stream start) are prepared once per connection.
 * Only for statements run with run/get/all, which leave nothing behind.
 */
export function preparedStatement<P extends unknown[], R = unknown>(connection: Database.Database, sql: string): Database.Statement<P, R> {
  let statements = statementCaches.get(connection);
  if (!statements) {
    statements = new Map();
    statementCaches.set(connection, statements);
  }
  let statement = statements.get(sql);
  if (!statement) {
    statement = connection.prepare<unknown[], unknown>(sql);
    statements.set(sql, statement);
  }
  // Prepared from this very SQL text; the caller names its parameters and rows.
  return statement as Database.Statement<P, R>;
}

/**
 * SQLite only (null on PostgreSQL): a second, synchronous connection to the
 * same file, for the message writer's group commit (services/message-writer.ts),
 * which runs a whole batch inside one turn of the event loop. Its busy timeout
 * is 0: when Prisma's connection holds the write lock (an interactive
 * transaction waiting on the event loop), waiting here would block the loop
 * that transaction needs, so the writer gets SQLITE_BUSY at once and tries
 * again later. Prisma's connection never sees this one's lock, which is held
 * only while JavaScript runs. Closed by `closeDb`.
 */
export function sqliteWriteConnection(db: Db): Database.Database | null {
  return clientStates.get(db)?.writer ?? null;
}

/** Close the Prisma client and, on SQLite, the write connection. */
export async function closeDb(db: Db): Promise<void> {
  const state = clientStates.get(db);
  state?.writer?.close();
  if (state) state.writer = null;
  await db.$disconnect();
}

/**
 * A case-insensitive substring filter on either database. SQLite's LIKE (what
 * `contains` becomes) ignores ASCII case already; PostgreSQL's is
 * case-sensitive, so there it needs `mode: "insensitive"` (ILIKE), which the
 * SQLite-typed model API cannot name: the one place that adds it.
 */
export function textContains(db: Db, text: string): SqlitePrisma.StringFilter {
  return clientStates.get(db)?.postgres ? ({ contains: text, mode: "insensitive" } as SqlitePrisma.StringFilter) : { contains: text };
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
