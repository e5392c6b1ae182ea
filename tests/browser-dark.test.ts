// The dark theme (the system's colour scheme, here Chromium's emulated
// `prefers-color-scheme: dark`): every main page renders with the dark
// palette, and a screenshot of each is saved beside the light ones
// (test-results/<page>-dark.png) for a person to look at.
import path from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { beforeAll, describe, expect, it } from "vitest";
import { createParleyClient } from "@parley/client";
import { artifactsDir, browserSuite } from "./helpers/browser";

const suite = browserSuite({ CHAT_BUILTIN_CHUNK_DELAY_MS: "40" });
let dark: BrowserContext;
const poll = { timeout: 20_000, interval: 100 };

beforeAll(async () => {
  dark = await suite.chromium.browser.newContext({ colorScheme: "dark", viewport: { width: 1280, height: 800 } });
});

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(artifactsDir, `${name}-dark.png`) });
const badge = (page: Page) => page.getByTestId("connection-badge").getAttribute("data-state");

/** The page background and text colours: the dark palette's, not the light one's. */
async function expectDarkPalette(page: Page) {
  const colours = await page.evaluate(() => {
    const style = getComputedStyle(document.body);
    return { background: style.backgroundColor, text: style.color, scheme: matchMedia("(prefers-color-scheme: dark)").matches };
  });
  expect(colours).toEqual({ background: "rgb(15, 16, 19)", text: "rgb(236, 238, 243)", scheme: true });
}

describe("dark theme", () => {
  it("renders the sessions list and a session (markdown, code, a stopped and a finished answer, an open tooltip)", async () => {
    const planning = await suite.api.api.session.create.mutate({ title: "Launch planning" });
    await suite.api.api.session.create.mutate({ title: "Incident review" });
    await suite.api.api.session.create.mutate({ title: "Weekly sync" });
    const posts = [
      "The launch checklist: **rollout plan**, database backups, dashboards and the on-call rota.",
      "Run the migration first:\n\n```ts\nconst result = await db.migrate({ target: \"latest\", dryRun: false });\nconsole.log(`applied ${result.count} migrations`);\n```",
      "| step | owner |\n|---|---|\n| backups | Ana |\n| dashboards | Bo |\n\n> Remember: `npm start` rebuilds only when sources changed.",
    ];
    for (const content of posts) await suite.api.api.message.post.mutate({ sessionId: planning.id, content, author: "planner" });
    await suite.api.api.message.post.mutate({ sessionId: planning.id, content: "A private note", author: "planner", visibility: "private" });
    const asked = await suite.api.api.chat.send.mutate({ sessionId: planning.id, content: "What is on the launch checklist?", author: "ana" });
    for await (const item of suite.api.followRun(asked.runId)) if (item.type === "done") break;

    const page = await dark.newPage();
    await page.goto(suite.server.url);
    await expect.poll(() => badge(page), poll).toBe("connected");
    await expect.poll(() => page.getByRole("link", { name: /Launch planning/ }).count(), poll).toBe(1);
    await expectDarkPalette(page);
    await shot(page, "sessions");
    await page.getByRole("button", { name: "New session" }).click();
    await page.getByLabel("New session title").fill("Retro");
    await shot(page, "new-session-dialog");
    await page.keyboard.press("Escape");
    await expect.poll(() => page.getByRole("dialog").count(), poll).toBe(0);

    await page.goto(`${suite.server.url}/s/${planning.id}`);
    await expect.poll(() => page.getByTestId("live-state").textContent(), poll).toBe("live");
    await expect.poll(() => page.locator('[data-testid="message"][data-status="complete"]').count(), poll).toBe(6);
    await expectDarkPalette(page);
    await page.getByRole("button", { name: "Answer details" }).hover();
    await page.getByTestId("answer-details").first().waitFor();
    await shot(page, "session");
    await page.mouse.move(0, 0);

    // A stopped answer and the offline/queued states are styled too.
    await page.getByRole("combobox", { name: "Agent" }).click();
    await page.getByRole("option", { name: /retrieval/i }).click();
    await expect.poll(() => page.getByRole("listbox").count(), poll).toBe(0);
    await page.getByRole("textbox", { name: "Message" }).fill("Who owns the backups?");
    await page.getByRole("textbox", { name: "Message" }).press("Enter");
    await expect.poll(() => page.locator('[data-testid="message"][data-status="streaming"] [data-testid="message-content"]').textContent(), poll).not.toBe("");
    await page.getByRole("textbox", { name: "Message" }).press("Escape");
    await expect.poll(() => page.locator('[data-testid="message"][data-status="stopped"]').count(), poll).toBe(1);
    await page.getByRole("textbox", { name: "Message" }).fill("A draft");
    await shot(page, "session-answers");
    // The composer draws one focus indicator (its rounded border), not a second ring around the text box.
    const outline = await page.getByRole("textbox", { name: "Message" }).evaluate((el) => getComputedStyle(el).outlineStyle);
    expect(outline).toBe("none");
    await page.close();
  });

  it("renders the metrics, events, connections and diagnostics pages", async () => {
    const page = await dark.newPage();
    await page.goto(`${suite.server.url}/metrics`);
    await expect.poll(() => page.locator(".uplot").count(), poll).toBe(10);
    const charts = page.getByTestId("metrics-charts");
    const first = Number(await charts.getAttribute("data-last"));
    await expect.poll(async () => Number(await charts.getAttribute("data-last")), poll).toBeGreaterThan(first + 2);
    await expectDarkPalette(page);
    await shot(page, "metrics");

    await page.goto(`${suite.server.url}/events`);
    await expect.poll(() => badge(page), poll).toBe("connected");
    await page.getByRole("button", { name: "Run demo flow" }).click();
    await expect.poll(() => page.locator('[data-testid="event-row"][data-type="tts.result"]').count(), poll).toBeGreaterThanOrEqual(1);
    await expectDarkPalette(page);
    await shot(page, "events");

    const watcher = createParleyClient({ url: suite.server.url });
    const session = await watcher.api.session.create.mutate({ title: "Watched" });
    const sub = watcher.api.session.events.subscribe({ sessionId: session.id }, {});
    await page.goto(`${suite.server.url}/connections`);
    await expect.poll(() => page.getByText("session.events").count(), poll).toBeGreaterThanOrEqual(1);
    await expectDarkPalette(page);
    await shot(page, "connections");
    sub.unsubscribe();
    await watcher.close();

    await page.goto(`${suite.server.url}/diagnostics`);
    await page.getByRole("button", { name: "Run checks" }).click();
    for (const check of ["ws", "http", "sse", "resume"]) {
      await expect.poll(() => page.getByTestId(`check-${check}`).getAttribute("data-status"), { ...poll, timeout: 40_000 }).toBe("ok");
    }
    await expectDarkPalette(page);
    await shot(page, "diagnostics");
    await page.close();
  }, 90_000);
});
