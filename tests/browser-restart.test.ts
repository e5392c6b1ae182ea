// The web UI across a server restart (a second server on the same port and
// database): the badge goes reconnecting → connected, messages posted
// meanwhile appear once, and messages written while the server is down are
// queued visibly and sent once each, in order, after it is back. A post whose
// answer is lost after the server stored it is retried with the same
// clientKey and still stored once.
import fs from "node:fs";
import path from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createParleyClient } from "@parley/client";
import { artifactsDir, launchChromium } from "./helpers/browser";
import { freshDatabase, restartableServer, type RestartableServer } from "./helpers/server";

let server: RestartableServer;
let chromium: Awaited<ReturnType<typeof launchChromium>>;
let db: { url: string; dir: string };

const poll = { timeout: 30_000, interval: 100 };

beforeAll(async () => {
  db = freshDatabase();
  server = restartableServer({ DATABASE_URL: db.url, LOG_LEVEL: "warn" });
  await server.start();
  chromium = await launchChromium();
  fs.mkdirSync(artifactsDir, { recursive: true });
}, 90_000);
afterAll(async () => {
  await chromium?.close();
  await server?.stop();
  fs.rmSync(db.dir, { recursive: true, force: true });
});

const badge = (page: Page) => page.getByTestId("connection-badge").getAttribute("data-state");
const texts = (page: Page) => page.locator('[data-testid="message-content"]').allTextContents();

describe("web UI across a server restart", () => {
  it("shows reconnecting then connected, and messages posted meanwhile appear once", async () => {
    const url = server.url;
    const api = createParleyClient({ url });
    const session = await api.api.session.create.mutate({ title: "Restart" });
    await api.api.message.post.mutate({ sessionId: session.id, content: "before the restart", author: "api" });
    await api.close();

    const page = await chromium.browser.newPage();
    await page.goto(`${url}/s/${session.id}`);
    await expect.poll(() => page.getByTestId("live-state").textContent(), poll).toBe("live");
    await expect.poll(() => badge(page), poll).toBe("connected");

    await server.stop();
    await expect.poll(() => badge(page), poll).toMatch(/reconnecting|offline/);
    await page.screenshot({ path: path.join(artifactsDir, "session-reconnecting.png") });
    await server.start();
    const again = createParleyClient({ url });
    await again.api.message.post.mutate({ sessionId: session.id, content: "posted while the page was away", author: "api" });
    await again.close();

    await expect.poll(() => badge(page), poll).toBe("connected");
    await expect.poll(() => texts(page), poll).toEqual(["before the restart", "posted while the page was away"]);
    await page.close();
  });

  it("queues messages written while the server is down and sends each once, in order", async () => {
    const url = server.url;
    const api = createParleyClient({ url });
    const session = await api.api.session.create.mutate({ title: "Offline queue" });
    await api.close();
    const page = await chromium.browser.newPage();
    await page.goto(`${url}/s/${session.id}`);
    await expect.poll(() => page.getByTestId("live-state").textContent(), poll).toBe("live");

    await server.stop();
    await expect.poll(() => badge(page), poll).toMatch(/reconnecting|offline/);
    const box = page.getByRole("textbox", { name: "Message" });
    await box.fill("first while offline");
    await box.press("Enter");
    await box.fill("second while offline");
    await box.press("Enter");
    await expect.poll(() => page.getByTestId("queued-message").count(), poll).toBe(2);
    await page.screenshot({ path: path.join(artifactsDir, "session-offline-queue.png") });

    await server.start();
    await expect.poll(() => badge(page), poll).toBe("connected");
    await expect.poll(() => page.getByTestId("queued-message").count(), poll).toBe(0);
    await expect.poll(() => texts(page), poll).toEqual(["first while offline", "second while offline"]);
    // Exactly once on the server too, in this order.
    const check = createParleyClient({ url });
    const { items } = await check.api.message.list.query({ sessionId: session.id });
    expect(items.map((m) => m.content)).toEqual(["first while offline", "second while offline"]);
    // Each was sent with its own idempotency key.
    expect(new Set(items.map((m) => m.clientKey)).size).toBe(2);
    expect(items.every((m) => m.clientKey !== null)).toBe(true);
    await check.close();
    await page.close();
  });

  it("stores a message once when the answer to its post is lost: the retry carries the same clientKey", async () => {
    const url = server.url;
    const api = createParleyClient({ url });
    const session = await api.api.session.create.mutate({ title: "Lost acknowledgement" });
    const page = await chromium.browser.newPage();
    await page.goto(`${url}/s/${session.id}`);
    await expect.poll(() => page.getByTestId("live-state").textContent(), poll).toBe("live");

    // The first message.post reaches the server, which stores it; its response never reaches the page.
    const keys: string[] = [];
    await page.route("**/api/trpc/message.post**", async (route) => {
      keys.push(/"clientKey":"([A-Za-z0-9_-]+)"/.exec(route.request().postData() ?? "")?.[1] ?? "none");
      if (keys.length > 1) return route.continue();
      await route.fetch();
      await route.abort("connectionreset");
    });
    const box = page.getByRole("textbox", { name: "Message" });
    await box.fill("sent once despite a lost answer");
    await box.press("Enter");

    await expect.poll(() => keys.length, poll).toBe(2);
    expect(keys[1]).toBe(keys[0]);
    expect(keys[0]).not.toBe("none");
    await expect.poll(() => page.getByTestId("queued-message").count(), poll).toBe(0);
    await expect.poll(() => texts(page), poll).toEqual(["sent once despite a lost answer"]);
    const { items } = await api.api.message.list.query({ sessionId: session.id });
    expect(items.map((m) => [m.content, m.clientKey])).toEqual([["sent once despite a lost answer", keys[0]]]);
    await api.close();
    await page.close();
  });
});
