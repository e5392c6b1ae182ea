// The base URL of printed sign-in links. A running server records where it
// can be reached (PUBLIC_URL, else the address it listens on) for its
// database, in the temp directory, so `npm run token -- signin | user` run in
// another shell prints links to that server and not to the default port.
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { isPostgresUrl, sqlitePath, type Config } from "../env";

interface ServerRecord {
  url: string;
  pid: number;
}

/** One record per database: a SQLite file by its absolute path, PostgreSQL by its URL (hashed: it may hold a password). */
function recordFile(databaseUrl: string): string {
  const identity = isPostgresUrl(databaseUrl) ? databaseUrl : path.resolve(sqlitePath(databaseUrl));
  const digest = createHash("sha256").update(identity).digest("hex").slice(0, 16);
  return path.join(os.tmpdir(), `parley-server-${digest}.json`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Record that this process serves `config.DATABASE_URL` at `listeningUrl`
 * (PUBLIC_URL when set). Returns what removes the record again (only while
 * it is still this process's: another server may have started on the same
 * database since).
 */
export function recordSignInBase(config: Pick<Config, "DATABASE_URL" | "PUBLIC_URL">, listeningUrl: string): () => void {
  const file = recordFile(config.DATABASE_URL);
  const record: ServerRecord = { url: config.PUBLIC_URL ?? listeningUrl, pid: process.pid };
  try {
    fs.writeFileSync(file, JSON.stringify(record), { mode: 0o600 });
  } catch {
    return () => undefined; // an unwritable temp directory costs only the convenience
  }
  return () => {
    if (readRecord(file)?.pid === process.pid) fs.rmSync(file, { force: true });
  };
}

function readRecord(file: string): ServerRecord | null {
  try {
    const value: unknown = JSON.parse(fs.readFileSync(file, "utf8"));
    if (typeof value === "object" && value !== null && "url" in value && "pid" in value && typeof value.url === "string" && typeof value.pid === "number") {
      return { url: value.url, pid: value.pid };
    }
  } catch {
    // none, or unreadable: as if none
  }
  return null;
}

/** Where links should point, and how that was decided (for the person reading them). */
export interface SignInBase {
  url: string;
  source: "PUBLIC_URL" | "running server" | "configuration";
}

/**
 * The base for sign-in links printed outside the server: PUBLIC_URL; else
 * the address a running server on the same database recorded; else HOST and
 * PORT from this process's configuration (which may not be the server's).
 */
export function signInBase(config: Pick<Config, "DATABASE_URL" | "PUBLIC_URL" | "HOST" | "PORT">): SignInBase {
  if (config.PUBLIC_URL) return { url: config.PUBLIC_URL, source: "PUBLIC_URL" };
  const record = readRecord(recordFile(config.DATABASE_URL));
  if (record && alive(record.pid)) return { url: record.url, source: "running server" };
  const host = config.HOST.includes(":") ? `[${config.HOST}]` : config.HOST;
  return { url: `http://${host}:${config.PORT}`, source: "configuration" };
}
