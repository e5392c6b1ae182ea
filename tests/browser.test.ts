// The web UI in Debian Chromium against the production build served by
// server.ts: sessions, the live timeline in two contexts, streaming answers
// with Stop, safe markdown, keyboard-only use, and the dashboards.
import path from "node:path";
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { createParleyClient } from "@parley/client";
import { artifactsDir, browserSuite } from "./helpers/browser";

// A slower built-in assistant so an answer streams over a few seconds.
const suite = browserSuite({ CHAT_BUILTIN_CHUNK_DELAY_MS: "90" });
const poll = { timeout: 20_000, interval: 100 };

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(artifactsDir, `${name}.png`) });
const badge = (page: Page) => page.getByTestId("connection-badge").getAttribute("data-state");

async function openSession(page: Page, id: string) {
  await page.goto(`${suite.server.url}/s/${id}`);
  await expect.poll(() => page.getByTestId("live-state").textContent(), poll).toBe("live");
}

/** Pick an option of a Radix Select with the keyboard. */
async function pick(page: Page, label: string, option: RegExp) {
  await page.getByRole("combobox", { name: label }).focus();
  await page.keyboard.press("Enter");
  const item = page.getByRole("option", { name: option });
  await item.waitFor();
  await item.focus();
  await page.keyboard.press("Enter");
  await expect.poll(() => page.getByRole("listbox").count(), poll).toBe(0);
}

describe("web UI", () => {
  it("lists, searches and archives sessions, with a connected badge", async () => {
    const a = await suite.api.api.session.create.mutate({ title: "Quarterly planning" });
    await suite.api.api.session.create.mutate({ title: "Incident review" });
    await suite.api.api.message.post.mutate({ sessionId: a.id, content: "kick-off", author: "api" });
    const page = await suite.chromium.browser.newPage();
    await page.goto(suite.server.url);
    await expect.poll(() => badge(page), poll).toBe("connected");
    await expect.poll(() => page.getByRole("link", { name: /Quarterly planning/ }).count(), poll).toBe(1);
    // Live activity: a message posted elsewhere bumps the session.
    await suite.api.api.message.post.mutate({ sessionId: a.id, content: "another", author: "api" });
    await expect.poll(() => page.getByText("1 new").count(), poll).toBe(1);
    await shot(page, "sessions");
    await page.getByLabel("Search sessions").fill("incident");
    await expect.poll(() => page.getByRole("link", { name: /Quarterly planning/ }).count(), poll).toBe(0);
    await expect.poll(() => page.getByRole("link", { name: /Incident review/ }).count(), poll).toBe(1);
    await page.getByRole("button", { name: "Archive Incident review" }).click();
    await expect.poll(() => page.getByRole("link", { name: /Incident review/ }).count(), poll).toBe(0);
    await page.close();
  });

  it("shows a message posted in one context in the other, exactly once", async () => {
    const session = await suite.api.api.session.create.mutate({ title: "Two tabs" });
    await suite.api.api.message.post.mutate({ sessionId: session.id, content: "already here", author: "api" });
    const contexts = await Promise.all([suite.chromium.browser.newContext(), suite.chromium.browser.newContext()]);
    const [a, b] = await Promise.all(contexts.map((c) => c.newPage()));
    if (!a || !b) throw new Error("pages did not open");
    for (const page of [a, b]) {
      await openSession(page, session.id);
      await expect.poll(() => page.getByText("already here").count(), poll).toBe(1);
    }
    // Both are present.
    await expect.poll(() => a.getByTestId("presence").locator("span").count(), poll).toBeGreaterThanOrEqual(2);
    await a.getByRole("textbox", { name: "Message" }).fill("hello from tab A");
    await a.getByRole("textbox", { name: "Message" }).press("Enter");
    await expect.poll(() => b.getByText("hello from tab A").count(), poll).toBe(1);
    await expect.poll(() => a.getByText("hello from tab A").count(), poll).toBe(1);
    // Still once after the stream has settled (no duplicate from a back-fill racing the live event).
    await suite.api.api.message.post.mutate({ sessionId: session.id, content: "sentinel", author: "api" });
    await expect.poll(() => b.getByText("sentinel").count(), poll).toBe(1);
    expect(await b.getByTestId("message").count()).toBe(3);
    await shot(b, "session");
    await Promise.all(contexts.map((c) => c.close()));
  });

  it("streams an assistant answer progressively; Stop ends it and both contexts show it stopped", async () => {
    const session = await suite.api.api.session.create.mutate({ title: "Streaming" });
    for (let i = 0; i < 6; i++) {
      await suite.api.api.message.post.mutate({
        sessionId: session.id,
        content: `The launch checklist item ${i}: verify the rollout plan, the database backups, the dashboards and the on-call rota before shipping.`,
        author: "planner",
      });
    }
    const contexts = await Promise.all([suite.chromium.browser.newContext(), suite.chromium.browser.newContext()]);
    const [a, b] = await Promise.all(contexts.map((c) => c.newPage()));
    if (!a || !b) throw new Error("pages did not open");
    await openSession(a, session.id);
    await openSession(b, session.id);
    await pick(a, "Agent", /retrieval/i);
    await a.getByRole("textbox", { name: "Message" }).fill("What is on the launch checklist for the rollout plan?");
    await a.getByRole("textbox", { name: "Message" }).press("Enter");

    const answer = (page: Page) => page.locator('[data-testid="message"][data-status="streaming"] [data-testid="message-content"]');
    await expect.poll(() => answer(b).count(), poll).toBe(1);
    // The text grows over several frames.
    const lengths: number[] = [];
    await expect
      .poll(async () => {
        const text = (await answer(b).first().textContent({ timeout: 1_000 }).catch(() => "")) ?? "";
        if (lengths.at(-1) !== text.length) lengths.push(text.length);
        return lengths.filter((n) => n > 0).length;
      }, poll)
      .toBeGreaterThanOrEqual(4);
    expect([...lengths].sort((x, y) => x - y)).toEqual(lengths);
    await shot(a, "session-streaming");

    await a.getByRole("button", { name: "Stop answer" }).click();
    for (const page of [a, b]) {
      await expect.poll(() => page.locator('[data-testid="message"][data-status="stopped"]').count(), poll).toBe(1);
      await expect.poll(() => page.getByTestId("message-status").first().textContent(), poll).toBe("stopped");
    }
    await Promise.all(contexts.map((c) => c.close()));
  });

  it("renders markup and javascript: links in a message as inert text", async () => {
    const session = await suite.api.api.session.create.mutate({ title: "XSS" });
    const page = await suite.chromium.browser.newPage();
    const dialogs: string[] = [];
    page.on("dialog", (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await openSession(page, session.id);
    const evil = '<img src=x onerror=alert(1)> <script>alert(2)</script> [click me](javascript:alert(3)) **bold** `code`';
    await suite.api.api.message.post.mutate({ sessionId: session.id, content: evil, author: "mallory" });
    const content = page.locator('[data-testid="message-content"]').last();
    await expect.poll(() => content.textContent(), poll).toContain("<img src=x onerror=alert(1)>");
    expect(await content.textContent()).toContain("<script>alert(2)</script>");
    expect(await content.locator("img, script").count()).toBe(0);
    expect(await content.locator('a[href^="javascript"]').count()).toBe(0);
    expect(await content.locator("strong").textContent()).toBe("bold");
    await page.getByText("click me").click();
    await new Promise((r) => setTimeout(r, 300));
    expect(dialogs).toEqual([]);
    await page.close();
  });

  it("works keyboard-only: create a session, post, ask an agent and stop it", async () => {
    const page = await suite.chromium.browser.newPage();
    await page.goto(suite.server.url);
    await expect.poll(() => badge(page), poll).toBe("connected");
    await page.keyboard.press("c");
    await page.getByLabel("New session title").waitFor();
    await page.keyboard.type("Keyboard only");
    await page.keyboard.press("Enter");
    await page.waitForURL(/\/s\//);
    await expect.poll(() => page.getByTestId("live-state").textContent(), poll).toBe("live");
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute("aria-label")), poll).toBe("Message");
    await page.keyboard.type("typed without a mouse");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.getByText("typed without a mouse").count(), poll).toBe(1);
    // Tab to the agent picker, choose the assistant with arrows, Shift+Tab back.
    await page.keyboard.press("Tab");
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute("aria-label")), poll).toBe("Agent");
    await page.keyboard.press("Enter");
    await page.getByRole("listbox").waitFor();
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute("role")), poll).toBe("option");
    // Radix can focus the selected option ("No agent") again after the popup opens, undoing an
    // early ArrowDown (seen: the question went to "No agent"). Move down until the assistant has focus.
    await expect
      .poll(async () => {
        const focused = await page.evaluate(() => document.activeElement?.textContent ?? "");
        if (!focused.includes("assistant")) await page.keyboard.press("ArrowDown");
        return focused;
      }, poll)
      .toContain("assistant");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.getByRole("listbox").count(), poll).toBe(0);
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute("aria-label")), poll).toBe("Agent");
    await page.keyboard.press("Shift+Tab");
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute("aria-label")), poll).toBe("Message");
    await page.keyboard.type("mouse without typed?");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.locator('[data-testid="message"][data-status="streaming"]').count(), poll).toBe(1);
    await page.keyboard.press("Escape");
    await expect.poll(() => page.locator('[data-testid="message"][data-status="stopped"]').count(), poll).toBe(1);
    await page.close();
  });

  it("draws live metrics charts that update", async () => {
    const page = await suite.chromium.browser.newPage();
    await page.goto(`${suite.server.url}/metrics`);
    const charts = page.getByTestId("metrics-charts");
    await expect.poll(() => charts.count(), poll).toBe(1);
    // Connections, messages/s, errors/s, fan-out latency, event-loop delay, CPU, process and host memory, chat runs, tokens/s (no GPU here).
    await expect.poll(() => page.locator(".uplot").count(), poll).toBe(10);
    const first = Number(await charts.getAttribute("data-last"));
    await expect.poll(async () => Number(await charts.getAttribute("data-last")), poll).toBeGreaterThan(first);
    await shot(page, "metrics");
    // Pause freezes the charts.
    await page.getByRole("button", { name: "Pause" }).click();
    const frozen = await charts.getAttribute("data-last");
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await charts.getAttribute("data-last")).toBe(frozen);
    await page.getByRole("radio", { name: "5 s" }).click();
    await page.close();
  });

  it("shows the demo flow on the events page, filtered by pattern", async () => {
    const page = await suite.chromium.browser.newPage();
    await page.goto(`${suite.server.url}/events`);
    await expect.poll(() => badge(page), poll).toBe("connected");
    await page.getByRole("button", { name: "Run demo flow" }).click();
    await expect.poll(() => page.locator('[data-testid="event-row"][data-type="tts.result"]').count(), poll).toBeGreaterThanOrEqual(1);
    expect(await page.locator('[data-testid="event-row"][data-type^="llm."]').count()).toBeGreaterThan(0);
    await shot(page, "events");
    await page.getByLabel("Type filter").fill("llm.*");
    await page.getByRole("button", { name: "Apply" }).click();
    await expect.poll(() => page.locator('[data-testid="event-row"][data-type^="stt."]').count(), poll).toBe(0);
    await expect.poll(() => page.locator('[data-testid="event-row"][data-type^="llm."]').count(), poll).toBeGreaterThan(0);
    await page.close();
  });

  it("lists connections with their subscriptions and disconnects one", async () => {
    const watcher = createParleyClient({ url: suite.server.url });
    const session = await watcher.api.session.create.mutate({ title: "Watched" });
    const sub = watcher.api.session.events.subscribe({ sessionId: session.id }, {});
    const page = await suite.chromium.browser.newPage();
    await page.goto(`${suite.server.url}/connections`);
    await expect.poll(() => page.getByText("session.events").count(), poll).toBeGreaterThanOrEqual(1);
    await shot(page, "connections");
    await expect.poll(() => page.getByTestId("connection-row").count(), poll).toBeGreaterThanOrEqual(2);
    await page.getByTestId("connection-row").filter({ hasText: "session.events" }).getByRole("button", { name: /Disconnect/ }).click();
    await expect.poll(() => page.getByText("its client will reconnect and resume").count(), poll).toBe(1);
    sub.unsubscribe();
    await watcher.close();
    await page.close();
  });

  it("runs the diagnostics on a click, never on page load: transports reachable, forced reconnect resumes", async () => {
    const page = await suite.chromium.browser.newPage();
    const sessionsBefore = (await suite.api.api.session.list.query({ limit: 100, includeArchived: true })).items.length;
    await page.goto(`${suite.server.url}/diagnostics`);
    // Loaded and connected, and nothing has run (the checks write a scratch session): a link alone makes no writes.
    await expect.poll(() => badge(page), poll).toBe("connected");
    await expect.poll(() => page.getByTestId("server-summary").textContent(), poll).toContain("Version");
    for (const check of ["ws", "http", "sse", "resume"]) expect(await page.getByTestId(`check-${check}`).getAttribute("data-status")).toBe("idle");
    expect((await suite.api.api.session.list.query({ limit: 100, includeArchived: true })).items.length).toBe(sessionsBefore);
    await page.getByRole("button", { name: "Run checks" }).click();
    for (const check of ["ws", "http", "sse", "resume"]) {
      await expect.poll(() => page.getByTestId(`check-${check}`).getAttribute("data-status"), { ...poll, timeout: 40_000 }).toBe("ok");
    }
    await expect.poll(() => page.getByTestId("server-summary").textContent(), poll).toContain("Version");
    await shot(page, "diagnostics");
    await page.close();
  });
});
