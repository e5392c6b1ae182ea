// The web UI as `npm run dev` serves it (server.ts --dev: Next's development
// build, React's development checks on): the sessions page hydrates and goes
// live without React warnings or errors in the browser console.
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium } from "./helpers/browser";
import { freshDatabase, spawnServer, type ServerProcess } from "./helpers/server";

let server: ServerProcess;
let chromium: Awaited<ReturnType<typeof launchChromium>>;
let dir = "";
beforeAll(async () => {
  const db = freshDatabase();
  dir = db.dir;
  server = await spawnServer({ DATABASE_URL: db.url, LOG_LEVEL: "warn" }, ["--dev"]);
  chromium = await launchChromium();
}, 180_000);
afterAll(async () => {
  await chromium?.close();
  server?.child.kill("SIGTERM");
  await server?.exited;
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe("npm run dev", () => {
  it("renders / with no React warning (getServerSnapshot is cached) and no console error", async () => {
    const page = await chromium.browser.newPage();
    const console: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error" || message.type() === "warning") console.push(`${message.type()}: ${message.text()}`);
    });
    page.on("pageerror", (error) => console.push(`page error: ${error.message}`));
    // The first request compiles the page (Turbopack, development): allow for it.
    await page.goto(server.url, { timeout: 120_000 });
    await expect.poll(() => page.getByTestId("connection-badge").getAttribute("data-state"), { timeout: 60_000, interval: 100 }).toBe("connected");
    await page.waitForTimeout(500);
    expect(console.filter((line) => /getServerSnapshot/.test(line))).toEqual([]);
    expect(console).toEqual([]);
    await page.close();
  }, 180_000);
});
