// A real PostgreSQL for tests: `initdb` + `pg_ctl start` in a temp dir on a
// free loopback port (trust auth, fsync off: test data only), a template
// database migrated once with the committed prisma/postgres/migrations (by
// scripts/postgres-migrate.ts, as `npm start` does), and a fresh
// database per test copied from it (CREATE DATABASE ... TEMPLATE). Stopped
// after the tests, and on process exit if a test forgets.
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { deployPostgresMigrations } from "../../scripts/postgres-migrate";
import { freePort } from "./redis";

/** The directory holding initdb/pg_ctl: `pg_config --bindir`, else /usr/lib/postgresql/<newest>/bin, else PATH. */
export const postgresBinDir: string | null = findPostgresBinDir();

/**
 * Why PostgreSQL tests are skipped; null when they run. With
 * PARLEY_REQUIRE_SERVERS set (.ci/run sets it) they never skip.
 */
export const postgresSkipReason =
  postgresBinDir || process.env.PARLEY_REQUIRE_SERVERS
    ? null
    : "PostgreSQL (initdb, pg_ctl) is not installed (apt-get install -y postgresql; .ci/run does it): PostgreSQL tests skipped";

function findPostgresBinDir(): string | null {
  const has = (dir: string) => fs.existsSync(path.join(dir, "initdb")) && fs.existsSync(path.join(dir, "pg_ctl"));
  if (process.env.PG_BINDIR) return has(process.env.PG_BINDIR) ? process.env.PG_BINDIR : null;
  try {
    const dir = execFileSync("pg_config", ["--bindir"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    if (has(dir)) return dir;
  } catch {
    // no pg_config
  }
  const base = "/usr/lib/postgresql";
  const versions = fs.existsSync(base)
    ? fs.readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((x, y) => Number(y) - Number(x))
    : [];
  for (const version of versions) if (has(path.join(base, version, "bin"))) return path.join(base, version, "bin");
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) if (dir && has(dir)) return dir;
  return null;
}

export interface PostgresServer {
  /** Superuser URL of the `postgres` database. */
  adminUrl: string;
  /** A new database with Parley's migrations applied; `drop` removes it. */
  freshDatabase: () => Promise<{ url: string; drop: () => Promise<void> }>;
  close: () => Promise<void>;
}

const running = new Set<() => void>();
process.once("exit", () => {
  for (const stop of running) stop();
});

const USER = "parley";
const TEMPLATE = "parley_template";
let databaseCounter = 0;

export async function startPostgres(): Promise<PostgresServer> {
  const binDir = postgresBinDir;
  if (!binDir) throw new Error("PostgreSQL is not installed: apt-get install -y postgresql (.ci/run does it)");
  const bin = (name: string) => path.join(binDir, name);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-pg-"));
  const data = path.join(dir, "data");
  const port = await freePort();

  // PostgreSQL refuses to run as root: run its binaries as the `postgres` user then.
  const asUser = process.getuid?.() === 0 ? systemUser("postgres") : undefined;
  if (asUser) fs.chownSync(dir, asUser.uid, asUser.gid);
  const run = (command: string, args: string[]) => {
    const result = spawnSync(bin(command), args, { encoding: "utf8", ...(asUser ?? {}) });
    if (result.status !== 0) {
      throw new Error(`${command} ${args.join(" ")} failed (${result.status ?? result.signal}):\n${result.stdout}\n${result.stderr}`);
    }
  };

  run("initdb", ["-D", data, "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"]);
  const options = [
    `-p ${port}`,
    `-k ${dir}`,
    "-c listen_addresses=127.0.0.1",
    "-c fsync=off",
    "-c synchronous_commit=off",
    "-c full_page_writes=off",
    "-c max_connections=200",
  ].join(" ");
  run("pg_ctl", ["-D", data, "-o", options, "-l", path.join(dir, "postgres.log"), "-w", "-t", "30", "start"]);
  const stopNow = () => {
    spawnSync(bin("pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"], { ...(asUser ?? {}), stdio: "ignore" });
  };
  running.add(stopNow);

  const urlFor = (database: string) => `postgresql://${USER}@127.0.0.1:${port}/${database}`;
  const adminUrl = urlFor("postgres");
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };

  try {
    await admin(`CREATE DATABASE ${TEMPLATE}`);
    // What `npm start` runs for a PostgreSQL DATABASE_URL (see scripts/prepare.ts).
    await deployPostgresMigrations(urlFor(TEMPLATE));
  } catch (error) {
    stopNow();
    running.delete(stopNow);
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  return {
    adminUrl,
    async freshDatabase() {
      const name = `parley_test_${process.pid}_${++databaseCounter}`;
      await admin(`CREATE DATABASE ${name} TEMPLATE ${TEMPLATE}`);
      return { url: urlFor(name), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
    },
    close() {
      stopNow();
      running.delete(stopNow);
      fs.rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
}

function systemUser(name: string): { uid: number; gid: number } {
  const uid = Number(execFileSync("id", ["-u", name], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", name], { encoding: "utf8" }).trim());
  return { uid, gid };
}
