// The Prisma client on the better-sqlite3 driver adapter, with the SQLite
// settings Parley's durability promise rests on (see README, Reliability):
// WAL journal, synchronous=NORMAL (an acknowledged write survives a process
// crash; a power loss may drop the last transactions), and a busy timeout so
// concurrent writers wait instead of failing.
import fs from "node:fs";
import path from "node:path";
import { PrismaBetterSQLite3 } from "@prisma/adapter-better-sqlite3";
import { PrismaClient } from "../generated/prisma/client";
import { sqlitePath } from "./env";

export type Db = PrismaClient;

export async function createDb(databaseUrl: string): Promise<Db> {
  const file = sqlitePath(databaseUrl);
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const db = new PrismaClient({ adapter: new PrismaBetterSQLite3({ url: databaseUrl }) });
  await db.$queryRawUnsafe("PRAGMA journal_mode = WAL");
  await db.$executeRawUnsafe("PRAGMA synchronous = NORMAL");
  await db.$queryRawUnsafe("PRAGMA busy_timeout = 5000");
  return db;
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
