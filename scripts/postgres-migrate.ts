// `prisma migrate deploy` for PostgreSQL, done with `pg` directly. Prisma
// 6.19's JavaScript schema engine cannot migrate through @prisma/adapter-pg
// ("Column type 'name' could not be deserialized", prisma/orm#27403), and the
// native engine cannot be downloaded here. This applies the committed
// prisma/postgres/migrations in name order, each in its own transaction, and
// records them in Prisma's own `_prisma_migrations` table (same columns and
// checksum), so `prisma migrate status/deploy` agree once that bug is fixed.
// An advisory lock makes instances that start together apply each migration once.
//
//   tsx scripts/postgres-migrate.ts            (DATABASE_URL=postgresql://...)
import { createHash, randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import pg from "pg";
import { committedMigrations } from "./migrations";

export const POSTGRES_MIGRATIONS_DIR = path.resolve(import.meta.dirname, "..", "prisma", "postgres", "migrations");

/** Any constant: the key of the advisory lock held while migrating. */
const LOCK_KEY = 72_616_001;

/** Apply pending migrations; returns the names applied. Throws on a failed or edited migration. */
export async function deployPostgresMigrations(databaseUrl: string, dir = POSTGRES_MIGRATIONS_DIR): Promise<string[]> {
  const migrations = committedMigrations(dir);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const applied: string[] = [];
  try {
    await client.query("SELECT pg_advisory_lock($1)", [LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
      "id" VARCHAR(36) PRIMARY KEY NOT NULL,
      "checksum" VARCHAR(64) NOT NULL,
      "finished_at" TIMESTAMPTZ,
      "migration_name" VARCHAR(255) NOT NULL,
      "logs" TEXT,
      "rolled_back_at" TIMESTAMPTZ,
      "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
      "applied_steps_count" INTEGER NOT NULL DEFAULT 0
    )`);
    const done = await client.query<{ migration_name: string; checksum: string; finished_at: Date | null }>(
      `SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" WHERE rolled_back_at IS NULL`,
    );
    const known = new Map(done.rows.map((row) => [row.migration_name, row]));
    for (const name of migrations) {
      const sql = fs.readFileSync(path.join(dir, name, "migration.sql"), "utf8");
      const checksum = createHash("sha256").update(sql).digest("hex");
      const row = known.get(name);
      if (row) {
        if (!row.finished_at) throw new Error(`migration ${name} failed earlier: fix the database, then mark it rolled back`);
        if (row.checksum !== checksum) throw new Error(`migration ${name} was edited after it was applied`);
        continue;
      }
      await client.query("BEGIN");
      try {
        await client.query(sql);
        await client.query(
          `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, applied_steps_count) VALUES ($1, $2, now(), $3, 1)`,
          [randomUUID(), checksum, name],
        );
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK");
        throw new Error(`migration ${name} failed: ${(error as Error).message}`, { cause: error });
      }
      applied.push(name);
    }
  } finally {
    await client.end(); // also releases the advisory lock
  }
  return applied;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const url = process.env.DATABASE_URL ?? "";
  if (!/^postgres(ql)?:\/\//.test(url)) {
    console.error("DATABASE_URL must be a PostgreSQL URL (postgresql://...)");
    process.exit(2);
  }
  deployPostgresMigrations(url).then(
    (applied) => console.log(applied.length ? `applied: ${applied.join(", ")}` : "no pending migrations"),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(1);
    },
  );
}
