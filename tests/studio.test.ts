// Prisma Studio (`npm run studio`) as an operator uses it, on SQLite and on
// PostgreSQL: the real script as its own process on a database Parley has
// written to, and Debian Chromium. The page loads offline (no request leaves
// the Studio server), shows a Session row and, through its relation link, that
// session's Messages, and an edit made in Studio is what Parley's Prisma client
// reads afterwards. The server binds to loopback and refuses requests addressed
// to other names.
import { spawn, type ChildProcess } from "node:child_process";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStorage } from "../src/server/db";
import { artifactsDir, launchChromium } from "./helpers/browser";
import { postgresSkipReason, startPostgres, type PostgresServer } from "./helpers/postgres";
import { repoRoot, startTestServer, testDatabase } from "./helpers/server";

interface Studio {
  url: string;
  child: ChildProcess;
  output: () => string;
}

/** `npm run studio`'s server (scripts/studio.ts) on `databaseUrl`, on a free port, with STUDIO_HOST left to its default. */
async function startStudio(databaseUrl: string): Promise<Studio> {
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: databaseUrl, STUDIO_PORT: "0", LOG_LEVEL: "warn" };
  delete env.STUDIO_HOST;
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/studio.ts"], { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Studio did not start:\n${output}`)), 90_000);
    child.stdout?.on("data", () => {
      const match = /Prisma Studio is running at (http:\/\/\S+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`Studio exited (${code}) before starting:\n${output}`));
    });
  });
  return { url, child, output: () => output };
}

async function stopStudio(studio: Studio | undefined): Promise<void> {
  if (!studio || studio.child.exitCode !== null) return;
  const exited = new Promise((resolve) => studio.child.once("exit", resolve));
  studio.child.kill("SIGTERM");
  await exited;
}

/** A raw GET with its own Host header (what a DNS-rebinding page would send). */
function getWithHost(url: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
  });
}

/** True when something accepts TCP connections at host:port. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: "/", timeout: 2_000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => {
      req.destroy();
      resolve(false);
    });
  });
}

const poll = { timeout: 20_000, interval: 100 };

function studioSpec(name: string, database: () => Promise<{ url: string; remove: () => Promise<void> }>) {
  describe(`Prisma Studio on ${name}`, () => {
    let db: { url: string; remove: () => Promise<void> };
    let studio: Studio | undefined;
    let chromium: Awaited<ReturnType<typeof launchChromium>>;
    let planningId = "";

    beforeAll(async () => {
      db = await database();
      // Parley writes the rows Studio is to show: two sessions, three messages.
      const parley = await startTestServer({ DATABASE_URL: db.url });
      const api = parley.client().api;
      const planning = await api.session.create.mutate({ title: "Launch planning" });
      planningId = planning.id;
      await api.message.post.mutate({ sessionId: planning.id, content: "Backups first", author: "ana" });
      await api.message.post.mutate({ sessionId: planning.id, content: "Then the dashboards", author: "bo" });
      const other = await api.session.create.mutate({ title: "Incident review" });
      await api.message.post.mutate({ sessionId: other.id, content: "Pager fired at 03:12", author: "cy" });
      await parley.close();
      studio = await startStudio(db.url);
      chromium = await launchChromium();
    }, 180_000);

    afterAll(async () => {
      await chromium?.close();
      await stopStudio(studio);
      await db?.remove();
    });

    it("binds to loopback and answers only requests addressed to a loopback name", async () => {
      if (!studio) throw new Error("Studio did not start");
      const url = new URL(studio.url);
      expect(url.hostname).toBe("127.0.0.1");
      expect(await getWithHost(studio.url, url.host)).toBe(200);
      expect(await getWithHost(studio.url, `localhost:${url.port}`)).toBe(200);
      expect(await getWithHost(studio.url, `studio.attacker.example:${url.port}`)).toBe(421);
      const external = Object.values(os.networkInterfaces())
        .flat()
        .find((address) => address && address.family === "IPv4" && !address.internal);
      if (external) expect(await accepts(external.address, Number(url.port))).toBe(false);
    });

    it("shows a Session row and its Messages, offline, and saves an edit Parley then reads", async () => {
      if (!studio) throw new Error("Studio did not start");
      const origin = new URL(studio.url).origin;
      const context = await chromium.browser.newContext({ colorScheme: "dark", viewport: { width: 1280, height: 800 } });
      const page: Page = await context.newPage();
      const elsewhere: string[] = [];
      const failures: string[] = [];
      page.on("request", (request) => {
        if (new URL(request.url()).origin !== origin && !request.url().startsWith("data:")) elsewhere.push(request.url());
      });
      page.on("response", (response) => {
        if (response.status() >= 400) failures.push(`${response.status()} ${response.url()}`);
      });
      page.on("console", (message) => {
        if (message.type() === "error") failures.push(`console: ${message.text()}`);
      });
      page.on("pageerror", (error) => failures.push(`page error: ${error.message}`));

      await page.goto(studio.url);
      expect(await page.title()).toBe("Prisma Studio · Parley");
      await page.getByRole("navigation", { name: "Tables" }).getByRole("link", { name: "Session", exact: true }).click();
      const planning = page.getByRole("row").filter({ hasText: "Launch planning" });
      await planning.waitFor(poll);
      await expect.poll(() => planning.textContent(), poll).toContain(planningId);
      await expect.poll(() => page.getByRole("row").filter({ hasText: "Incident review" }).count(), poll).toBe(1);
      await page.screenshot({ path: path.join(artifactsDir, `studio-${name.toLowerCase()}-dark.png`) });

      // The session's relation link opens Message filtered to it: its two messages, not the other session's.
      await planning.getByRole("link", { name: "Open Message" }).click();
      await expect.poll(() => page.url(), poll).toContain("table=Message");
      await expect.poll(() => page.getByRole("row").filter({ hasText: "Backups first" }).count(), poll).toBe(1);
      await expect.poll(() => page.getByRole("row").filter({ hasText: "Then the dashboards" }).count(), poll).toBe(1);
      expect(await page.getByRole("row").filter({ hasText: "Pager fired" }).count()).toBe(0);
      // The grid renders only the cells in view (on PostgreSQL, sessionId is off to the right), so the
      // session is read from Studio's filter in the URL rather than from the row's text.
      expect(decodeURIComponent(new URL(page.url()).hash)).toMatch(new RegExp(`"column":"sessionId","operator":"=","value":"${planningId}"`));

      // Edit the session's title in Studio; Parley's own Prisma client reads the new one.
      await page.getByRole("navigation", { name: "Tables" }).getByRole("link", { name: "Session", exact: true }).click();
      await planning.waitFor(poll);
      await planning.locator('td[data-grid-column-id="title"]').dblclick();
      await page.keyboard.press("ControlOrMeta+A");
      await page.keyboard.type("Launch planning (edited in Studio)");
      await page.keyboard.press("Enter");
      await page.getByRole("button", { name: "Save 1 row" }).click();
      await page.getByRole("button", { name: "yes, write to db" }).click();
      const parley = await openStorage(db.url);
      const parleyDb = parley.db;
      try {
        await expect
          .poll(async () => (await parleyDb.session.findUniqueOrThrow({ where: { id: planningId } })).title, poll)
          .toBe("Launch planning (edited in Studio)");
      } finally {
        await parley.close();
      }
      await page.screenshot({ path: path.join(artifactsDir, `studio-${name.toLowerCase()}-edited-dark.png`) });

      expect(elsewhere, "requests that left the Studio server").toEqual([]);
      expect(failures).toEqual([]);
      expect(studio.output()).not.toMatch(/ENOTFOUND|binaries\.prisma|query.engine/i);
      await context.close();
    }, 90_000);
  });
}

studioSpec("SQLite", testDatabase);

if (postgresSkipReason) {
  const reason = postgresSkipReason;
  describe.skip("Prisma Studio on PostgreSQL", () => {
    it(reason, () => undefined);
  });
} else {
  let postgres: PostgresServer | undefined;
  beforeAll(async () => {
    postgres = await startPostgres();
  }, 120_000);
  afterAll(() => postgres?.close());
  studioSpec("PostgreSQL", async () => {
    if (!postgres) throw new Error("PostgreSQL did not start");
    const fresh = await postgres.freshDatabase();
    return { url: fresh.url, remove: fresh.drop };
  });
}
