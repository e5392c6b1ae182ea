// The committed migrations of a migrations folder (prisma/migrations for
// SQLite, prisma/postgres/migrations for PostgreSQL): each folder with a
// migration.sql, by name, oldest first (names start with a timestamp).
import fs from "node:fs";
import path from "node:path";

export function committedMigrations(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && fs.existsSync(path.join(dir, entry.name, "migration.sql")))
    .map((entry) => entry.name)
    .sort();
}
