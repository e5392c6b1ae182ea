// One data model: the PostgreSQL schema is generated from the SQLite one and
// must not drift; its committed migrations must exist and name PostgreSQL.
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { POSTGRES_MIGRATIONS, POSTGRES_SCHEMA, SQLITE_SCHEMA, postgresSchemaFrom } from "../scripts/postgres-schema";

describe("prisma/postgres/schema.prisma", () => {
  it("is exactly what scripts/postgres-schema.ts generates from prisma/schema.prisma (run `npm run postgres:schema` if not)", () => {
    const wanted = postgresSchemaFrom(fs.readFileSync(SQLITE_SCHEMA, "utf8"));
    expect(fs.readFileSync(POSTGRES_SCHEMA, "utf8")).toBe(wanted);
  });

  it("differs from the SQLite schema only in the provider, the placeholder url and the client's output", () => {
    const sqlite = fs.readFileSync(SQLITE_SCHEMA, "utf8").split("\n");
    const postgres = fs.readFileSync(POSTGRES_SCHEMA, "utf8").split("\n").filter((line) => !line.startsWith("// GENERATED") && !/^\/\/ (Change the SQLite|the PostgreSQL migration)/.test(line));
    expect(postgres).toHaveLength(sqlite.length);
    const changed = sqlite.flatMap((line, i) => (line === postgres[i] ? [] : [`${line.trim()} -> ${postgres[i]?.trim()}`]));
    expect(changed).toEqual([
      'output          = "../src/generated/prisma" -> output          = "../../src/generated/prisma-pg"',
      'provider = "sqlite" -> provider = "postgresql"',
      'url      = "file:../data/parley.db" -> url      = "postgresql://parley@localhost:5432/parley"',
    ]);
  });

  it("has committed PostgreSQL migrations", () => {
    const lock = fs.readFileSync(path.join(POSTGRES_MIGRATIONS, "migration_lock.toml"), "utf8");
    expect(lock).toContain('provider = "postgresql"');
    const migrations = fs.readdirSync(POSTGRES_MIGRATIONS).filter((name) => fs.existsSync(path.join(POSTGRES_MIGRATIONS, name, "migration.sql")));
    expect(migrations.length).toBeGreaterThan(0);
  });
});
