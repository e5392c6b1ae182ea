// `npm run migration:new -- <name>`: write a migration for the changes in
// prisma/schema.prisma, offline. `prisma migrate dev` needs a shadow database
// and fails with the JavaScript engine, so this diffs the schema as of the
// last commit (or --from <file>) against the working copy, writes
// prisma/migrations/<timestamp>_<name>/migration.sql, applies it and regenerates the client.
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const argv = process.argv.slice(2);
const fromIndex = argv.indexOf("--from");
const fromFile = fromIndex >= 0 ? argv[fromIndex + 1] : undefined;
const name = argv.filter((_, i) => fromIndex < 0 || (i !== fromIndex && i !== fromIndex + 1))[0];
if (!name || !/^[a-z0-9_]+$/.test(name)) {
  console.error("usage: npm run migration:new -- <name_in_snake_case> [--from <previous schema.prisma>]");
  process.exit(2);
}

let previous = fromFile;
if (!previous) {
  previous = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "parley-schema-")), "schema.prisma");
  fs.writeFileSync(previous, execFileSync("git", ["show", "HEAD:prisma/schema.prisma"], { cwd: root }));
}

fs.mkdirSync(path.join(root, "data"), { recursive: true });
const diff = spawnSync(
  path.join(root, "node_modules", ".bin", "prisma"),
  ["migrate", "diff", "--from-schema-datamodel", previous, "--to-schema-datamodel", "prisma/schema.prisma", "--script"],
  { cwd: root, encoding: "utf8" },
);
if (diff.status !== 0) {
  console.error(diff.stderr);
  process.exit(1);
}
if (!/\b(CREATE|ALTER|DROP|INSERT)\b/.test(diff.stdout)) {
  console.log("No schema changes: nothing written.");
  process.exit(0);
}
const stamp = new Date().toISOString().replace(/\D/g, "").slice(0, 14);
const dir = path.join(root, "prisma", "migrations", `${stamp}_${name}`);
fs.mkdirSync(dir, { recursive: true });
fs.writeFileSync(path.join(dir, "migration.sql"), diff.stdout);
console.log(`wrote ${path.relative(root, dir)}/migration.sql`);
execFileSync(path.join(root, "node_modules", ".bin", "prisma"), ["migrate", "deploy"], { cwd: root, stdio: "inherit" });
// The SQLite client (src/generated/prisma) must know the new fields before typecheck and tests.
execFileSync(path.join(root, "node_modules", ".bin", "prisma"), ["generate"], { cwd: root, stdio: "inherit" });
// The same change for PostgreSQL: regenerate prisma/postgres/schema.prisma and
// write its migration (one data model; tests/postgres-schema.test.ts checks it).
execFileSync(path.join(root, "node_modules", ".bin", "tsx"), ["scripts/postgres-schema.ts", "--name", name], {
  cwd: root,
  stdio: "inherit",
});
