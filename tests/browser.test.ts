// The browser path: the production build served by server.ts, two Chromium
// contexts on one session; a message posted in one appears in the other, once.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createParleyClient } from "../src/client";
import { artifactsDir, launchChromium } from "./helpers/browser";
import { freshDatabase, spawnServer, type ServerProcess } from "./helpers/server";

let server: ServerProcess;
let chromium: Awaited<ReturnType<typeof launchChromium>>;
let dbDir: string;

beforeAll(async () => {
  const db = freshDatabase();
  dbDir = db.dir;
  server = await spawnServer({ DATABASE_URL: db.url });
  chromium = await launchChromium();
  fs.mkdirSync(artifactsDir, { recursive: true });
});
afterAll(async () => {
  await chromium?.close();
  server?.child.kill("SIGTERM");
  await server?.exited;
  fs.rmSync(dbDir, { recursive: true, force: true });
});

describe("web UI", () => {
  it("creates a session from the list page", async () => {
    const page = await chromium.browser.newPage();
    await page.goto(server.url);
    await page.getByLabel("New session title").fill("Made in the browser");
    await page.getByRole("button", { name: "Create" }).click();
    await page.waitForURL(/\/s\//);
    await expect.poll(() => page.locator("h1").textContent()).toBe("Made in the browser");
    await page.screenshot({ path: path.join(artifactsDir, "session-empty.png") });
    await page.goto(server.url);
    await expect.poll(() => page.getByRole("link", { name: /Made in the browser/ }).count()).toBe(1);
    await page.screenshot({ path: path.join(artifactsDir, "sessions.png") });
    await page.close();
  });

  it("shows a message posted in one context in the other, exactly once", async () => {
    const api = createParleyClient({ url: server.url });
    const session = await api.api.session.create.mutate({ title: "Two tabs" });
    await api.api.message.post.mutate({ sessionId: session.id, content: "already here", author: "api" });

    const contexts = await Promise.all([chromium.browser.newContext(), chromium.browser.newContext()]);
    const [a, b] = await Promise.all(contexts.map((c) => c.newPage()));
    if (!a || !b) throw new Error("pages did not open");
    for (const page of [a, b]) {
      await page.goto(`${server.url}/s/${session.id}`);
      await expect.poll(() => page.getByTestId("live-state").textContent()).toBe("live");
      await expect.poll(() => page.getByText("already here").count()).toBe(1);
    }

    await a.getByRole("textbox", { name: "Message" }).fill("hello from tab A");
    await a.getByRole("textbox", { name: "Message" }).press("Enter");

    await expect.poll(() => b.getByText("hello from tab A").count(), { timeout: 10_000 }).toBe(1);
    await expect.poll(() => a.getByText("hello from tab A").count()).toBe(1);
    // Still once after a moment (no duplicate from back-fill racing the live event).
    await new Promise((r) => setTimeout(r, 300));
    expect(await b.locator("li.message").count()).toBe(2);
    await b.screenshot({ path: path.join(artifactsDir, "session.png") });
    await Promise.all(contexts.map((c) => c.close()));
    await api.close();
  });
});
