// Debian Chromium driven by playwright-core (never a downloaded browser).
import fs from "node:fs";
import path from "node:path";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll } from "vitest";
import { createParleyClient } from "@parley/client";
import { freshDatabase, spawnServer, type ServerProcess } from "./server";

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/**
 * Playwright gives every launch a fresh, temporary profile directory.
 * `extraArgs` adds flags, e.g. `--host-resolver-rules=MAP rebind.example 127.0.0.1`.
 */
export async function launchChromium(extraArgs: string[] = []): Promise<{ browser: Browser; close: () => Promise<void> }> {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}: install it with \`apt-get install -y chromium\` (.ci/run does).`);
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...extraArgs,
    ],
  });
  return {
    browser,
    close: () => browser.close(),
  };
}

export const artifactsDir = path.resolve(import.meta.dirname, "..", "..", "test-results");

/** What a browser test file runs against (filled in by its beforeAll). */
export interface BrowserSuite {
  server: ServerProcess;
  chromium: Awaited<ReturnType<typeof launchChromium>>;
  api: ReturnType<typeof createParleyClient>;
}

/**
 * For one test file: the real server process (`npm start`'s entry, on a fresh
 * database copy that `prepare` may fill first), Chromium and a typed client,
 * started before its tests and stopped after them.
 */
export function browserSuite(env: Record<string, string>, prepare?: (databaseUrl: string) => Promise<void>): BrowserSuite {
  const suite = {} as BrowserSuite;
  let dbDir: string | undefined;
  beforeAll(async () => {
    const db = freshDatabase();
    dbDir = db.dir;
    await prepare?.(db.url);
    suite.server = await spawnServer({ DATABASE_URL: db.url, LOG_LEVEL: "warn", ...env });
    suite.chromium = await launchChromium();
    suite.api = createParleyClient({ url: suite.server.url });
    fs.mkdirSync(artifactsDir, { recursive: true });
  }, 180_000);
  afterAll(async () => {
    await suite.api?.close();
    await suite.chromium?.close();
    suite.server?.child.kill("SIGTERM");
    await suite.server?.exited;
    if (dbDir) fs.rmSync(dbDir, { recursive: true, force: true });
  });
  return suite;
}
