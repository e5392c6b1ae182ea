// Prisma CLI configuration: the JavaScript schema engine through a driver
// adapter, so generate/migrate/studio work offline. DATABASE_URL picks the
// database: SQLite (`file:`, better-sqlite3, prisma/schema.prisma and
// prisma/migrations) or PostgreSQL (`postgres://`, pg, the generated
// prisma/postgres/schema.prisma and its own prisma/postgres/migrations).
import path from "node:path";
import { PrismaBetterSQLite3 } from "@prisma/adapter-better-sqlite3";
import { PrismaPg } from "@prisma/adapter-pg";
import { defineConfig } from "prisma/config";

const DEFAULT_DATABASE_URL = "file:./data/parley.db";
const url = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
const postgres = /^postgres(ql)?:\/\//.test(url);
const dir = postgres ? path.join("prisma", "postgres") : "prisma";

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: path.join(dir, "schema.prisma"),
  migrations: { path: path.join(dir, "migrations") },
  adapter: () =>
    Promise.resolve(postgres ? new PrismaPg({ connectionString: url }) : new PrismaBetterSQLite3({ url })),
});
