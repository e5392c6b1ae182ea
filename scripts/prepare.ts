// Everything `npm start` needs before the server runs, idempotent and fast
// when there is nothing to do:
//   1. the Prisma client is generated (postinstall does it; this repairs a skipped install),
//   2. the SQLite directory exists and committed migrations are applied (`migrate deploy`,
//      only when one is missing: Prisma's schema engine cannot open a file that a
//      running server holds, and `npm run token` runs this beside `npm start`),
//   3. with --build, the Next.js app is built unless a build of the current sources exists
//      (--force rebuilds). A failed build exits non-zero: never start on a broken .next.
import { spawnSync } from "node:child_process";
import Database from "better-sqlite3";
import fs from "node:fs";
import path from "node:path";
import { isPostgresUrl, parseConfig, sqlitePath } from "../src/server/env";
import { committedMigrations } from "./migrations";
import { ensureWebBuild } from "./web-build";

const root = path.resolve(import.meta.dirname, "..");
const args = new Set(process.argv.slice(2));
const bin = (name: string) => path.join(root, "node_modules", ".bin", name);

/** Run a step; on failure print its output, what `explain` makes of it, and exit. */
function run(label: string, command: string, commandArgs: string[], env: NodeJS.ProcessEnv = process.env, explain?: (output: string) => string | null) {
  const started = Date.now();
  const result = spawnSync(command, commandArgs, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
  if (result.status !== 0) {
    const output = `${result.stdout ?? ""}${result.stderr ?? ""}`;
    process.stderr.write(output);
    console.error(`\n✗ ${label} failed (exit ${result.status ?? result.signal}). Nothing was started.`);
    const why = explain?.(output);
    if (why) console.error(why);
    process.exit(1);
  }
  console.log(`✓ ${label} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

const config = parseConfig(process.env);

if (!fs.existsSync(path.join(root, "src", "generated", "prisma", "client.ts"))) {
  run("Prisma client generated", bin("prisma"), ["generate"]);
}
if (!fs.existsSync(path.join(root, "src", "generated", "prisma-pg", "client.ts"))) {
  run("Prisma client (PostgreSQL) generated", bin("prisma"), ["generate", "--schema", "prisma/postgres/schema.prisma"]);
}

// prisma.config.ts picks the schema and migrations (SQLite or PostgreSQL) from DATABASE_URL.
const postgres = isPostgresUrl(config.DATABASE_URL);
const sqliteFile = postgres ? null : path.resolve(root, sqlitePath(config.DATABASE_URL));
if (sqliteFile) fs.mkdirSync(path.dirname(sqliteFile), { recursive: true });
const shownUrl = postgres ? config.DATABASE_URL.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@") : config.DATABASE_URL;
// PostgreSQL: scripts/postgres-migrate.ts, since Prisma 6.19's JS engine cannot migrate through adapter-pg.
const [migrateCommand, migrateArgs] = postgres
  ? [bin("tsx"), ["scripts/postgres-migrate.ts"]]
  : [bin("prisma"), ["migrate", "deploy"]];
const committed = sqliteFile ? committedMigrations(path.join(root, "prisma", "migrations")) : [];
const pending = sqliteFile ? pendingSqliteMigrations(sqliteFile, committed) : null;
if (pending?.length === 0) {
  console.log(`✓ database ready at ${shownUrl} (every migration applied)`);
} else {
  if (pending && pending.length < committed.length) console.log(`… not yet applied: ${pending.join(", ")}`);
  run(`database ready at ${shownUrl}`, migrateCommand, migrateArgs, { ...process.env, DATABASE_URL: config.DATABASE_URL }, (output) =>
    // Prisma's schema engine needs the SQLite file to itself; its driver adapter reports the wait that ran out as `SocketTimeout`.
    sqliteFile && output.includes("SocketTimeout")
      ? `${sqliteFile} is in use by another process (a Parley server on it?): stop it, then run this again to apply ${pending?.join(", ")}.`
      : null,
  );
}

/**
 * The `committed` migrations a SQLite file has not recorded as applied, read
 * through a read-only connection (which a running server does not block);
 * every one of them when the file or Prisma's table is missing.
 */
function pendingSqliteMigrations(file: string, committed: string[]): string[] {
  if (!fs.existsSync(file)) return committed;
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_prisma_migrations'").get();
    if (!table) return committed;
    const rows = db
      .prepare("SELECT migration_name AS name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL")
      .all() as { name: string }[];
    const applied = new Set(rows.map((row) => row.name));
    return committed.filter((name) => !applied.has(name));
  } finally {
    db.close();
  }
}

if (args.has("--build")) {
  console.log("… checking the web build");
  try {
    const result = ensureWebBuild({ force: args.has("--force") });
    console.log(result.built ? `✓ web app built (${result.seconds.toFixed(1)} s)` : "✓ web build is current");
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    console.error("\n✗ the web build failed. Nothing was started.");
    process.exit(1);
  }
}
