// Real servers for tests: an in-process Parley on port 0 with its own SQLite
// file (a copy of the migrated template), or the real entry point as a child
// process (for shutdown, crash and browser tests).
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { inject } from "vitest";
import { createParleyClient, type ParleyClientOptions } from "@parley/client";
import { startServer, type ParleyServer, type StartOptions } from "../../src/server/app";
import { parseConfig } from "../../src/server/env";

export const repoRoot = path.resolve(import.meta.dirname, "..", "..");

/** A fresh database file in a temp dir, already migrated. */
export function freshDatabase(): { url: string; dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-test-"));
  const file = path.join(dir, "parley.db");
  fs.copyFileSync(inject("templateDb"), file);
  return { url: `file:${file}`, dir };
}

export interface TestServer {
  server: ParleyServer;
  url: string;
  /** A typed client; closed automatically by `close()`. */
  client: (options?: Partial<ParleyClientOptions>) => ReturnType<typeof createParleyClient>;
  close: () => Promise<void>;
}

/** A database for one test server, and how to remove it. */
export interface TestDatabase {
  url: string;
  drop: () => Promise<void>;
}

let databaseFactory: (() => Promise<TestDatabase>) | undefined;

/**
 * Make every later `startTestServer` without a DATABASE_URL in this test file
 * use databases from `factory` instead of SQLite copies (tests/postgres.test.ts
 * re-runs the session stream spec on PostgreSQL this way).
 */
export function setTestDatabaseFactory(factory: () => Promise<TestDatabase>): void {
  databaseFactory = factory;
}

/**
 * A fresh database for one test (a SQLite copy, or one from
 * `setTestDatabaseFactory`), and how to remove it. Servers get theirs here;
 * so does a test that opens its own client (tests/message-writer.test.ts).
 */
export async function testDatabase(): Promise<{ url: string; remove: () => Promise<void> }> {
  if (databaseFactory) {
    const db = await databaseFactory();
    return { url: db.url, remove: db.drop };
  }
  const { url, dir } = freshDatabase();
  return {
    url,
    remove: () => {
      fs.rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
}

/**
 * An in-process server on `port` (0: any free one) over `databaseUrl`, with
 * the test defaults (authentication off unless `env` turns it on; tests/auth*
 * do) and `env`. For tests that stop it and start it again on the same port
 * and database; `startTestServer` is the usual way.
 */
export function startServerAt(port: number, databaseUrl: string, env: Record<string, string> = {}, options: Omit<StartOptions, "config"> = {}): Promise<ParleyServer> {
  const config = parseConfig({ NODE_ENV: "test", LOG_LEVEL: "silent", PARLEY_AUTH: "off", ...env, PORT: String(port), DATABASE_URL: databaseUrl });
  return startServer({ ...options, config });
}

/**
 * An in-process server on port 0. Pass `env.DATABASE_URL` to share one
 * database between servers (scale-out tests: with `REDIS_URL` too); it is then
 * used as is and left in place by `close()`. Otherwise each server gets a
 * fresh database (a SQLite copy, or see `setTestDatabaseFactory`), removed on close.
 */
export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const db = env.DATABASE_URL ? { url: env.DATABASE_URL, remove: () => Promise.resolve() } : await testDatabase();
  const server = await startServerAt(0, db.url, env);
  const clients: ReturnType<typeof createParleyClient>[] = [];
  return {
    server,
    url: server.url,
    client(options = {}) {
      const client = createParleyClient({ url: server.url, retryDelayMs: () => 50, ...options });
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.all(clients.map((c) => c.close()));
      await server.close();
      await db.remove();
    },
  };
}

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
}

/**
 * Run `server.ts` as `npm start` does (after prepare), on a free port. One
 * process (node with tsx's loader, no wrapper), so a signal reaches the server
 * itself: SIGKILL really kills it.
 */
export async function spawnServer(env: Record<string, string>, args: string[] = []): Promise<ServerProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "server.ts", ...args], {
    cwd: repoRoot,
    // PARLEY_AUTH off unless the test passes it (tests/auth*.test.ts turn it on).
    env: { ...process.env, LOG_LEVEL: "info", PORT: "0", PARLEY_AUTH: "off", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown")),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 60_000);
    const check = () => {
      const match = /Parley (?:\(dev\) )?is running at (http:\/\/\S+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout?.on("data", check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before starting:\n${output}`));
    });
  });
  return { child, url, output: () => output, exited };
}

/** Wait until `predicate` holds, polling; throws with `what` after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A server process that a test stops and starts again on the same port and database: a restart. */
export interface RestartableServer {
  /** The base URL (the same across restarts once first started). */
  readonly url: string;
  /** Start it (the first time on a free port, then on that port again). */
  start: () => Promise<ServerProcess>;
  /** Stop it (SIGTERM) and wait for it to exit; nothing when it is not running. */
  stop: () => Promise<void>;
}

/** `spawnServer` with `env`, restartable (see RestartableServer). */
export function restartableServer(env: Record<string, string>): RestartableServer {
  let port = "0";
  let current: ServerProcess | null = null;
  return {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    async start() {
      current = await spawnServer({ ...env, PORT: port });
      port = new URL(current.url).port;
      return current;
    },
    async stop() {
      const running = current;
      current = null;
      running?.child.kill("SIGTERM");
      await running?.exited;
    },
  };
}
