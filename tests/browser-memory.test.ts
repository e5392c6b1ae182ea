// Memory and search in the web UI, in a real Chromium against the production
// server: global search from the keyboard, results grouped by session, a hit
// opens its message in its session; a memory added in one tab appears in
// another, and a delete there removes it from the first.
import path from "node:path";
import { describe, expect, it } from "vitest";
import { artifactsDir, browserSuite } from "./helpers/browser";

const suite = browserSuite({});
const poll = { timeout: 20_000, interval: 100 };

describe("search and memory in the web UI", () => {
  it("searches from anywhere with Ctrl+K and opens the hit in its session, marked", async () => {
    const launch = await suite.api.api.session.create.mutate({ title: "Launch" });
    const zoo = await suite.api.api.session.create.mutate({ title: "Zoo budget" });
    for (let i = 0; i < 60; i++) await suite.api.api.message.post.mutate({ sessionId: launch.id, content: `filler message ${i}`, author: "ada" });
    const early = await suite.api.api.message.post.mutate({ sessionId: zoo.id, content: "The flamingo enclosure needs a new pond.", author: "bo" });
    for (let i = 0; i < 60; i++) await suite.api.api.message.post.mutate({ sessionId: zoo.id, content: `zoo filler ${i}`, author: "bo" });
    await suite.api.api.message.post.mutate({ sessionId: launch.id, content: "Flamingo is the code name of the launch.", author: "ada" });

    const context = await suite.chromium.browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(suite.server.url);
    await expect.poll(() => page.getByTestId("connection-badge").getAttribute("data-state"), poll).toBe("connected");
    await page.keyboard.press("Control+k");
    await page.getByLabel("Search words").fill("flamingo");
    await expect.poll(() => page.getByTestId("search-hit").count(), poll).toBe(2);
    // Grouped by session, each hit's matched word marked.
    await expect.poll(async () => (await page.getByTestId("search-results").locator("section h3").allTextContents()).map((t) => t.toLowerCase()).sort(), poll).toEqual(["launch", "zoo budget"]);
    expect(await page.getByTestId("search-results").locator("mark").first().textContent()).toMatch(/flamingo/i);
    await page.screenshot({ path: path.join(artifactsDir, "search.png") });

    // Open the Zoo hit: an old message, beyond the first page of its session.
    await page.getByTestId("search-hit").filter({ hasText: "enclosure" }).click();
    await expect.poll(() => page.url(), poll).toBe(`${suite.server.url}/s/${zoo.id}#seq-${early.seq}`);
    const target = page.locator(`#seq-${early.seq}`);
    await expect.poll(() => target.isVisible(), poll).toBe(true);
    await expect.poll(() => page.locator('[data-target="true"]').locator(`#seq-${early.seq}`).count(), poll).toBe(1);
    expect(await target.textContent()).toContain("flamingo enclosure");
    await page.screenshot({ path: path.join(artifactsDir, "search-opened.png") });
    await context.close();
  }, 90_000);

  it("shows a memory added in one tab in another at once, and removes it there when deleted", async () => {
    const context = await suite.chromium.browser.newContext({ viewport: { width: 1280, height: 800 } });
    const first = await context.newPage();
    const second = await context.newPage();
    for (const page of [first, second]) {
      await page.goto(`${suite.server.url}/memory`);
      await expect.poll(() => page.getByTestId("connection-badge").getAttribute("data-state"), poll).toBe("connected");
    }
    await first.getByLabel("New memory", { exact: true }).fill("The staging database is refreshed every Sunday night.");
    await first.getByLabel("New memory title").fill("Staging refresh");
    await first.getByLabel("New memory tags").fill("ops, db");
    await first.getByRole("button", { name: "Add memory" }).click();
    const inSecond = second.getByTestId("memory").filter({ hasText: "refreshed every Sunday" });
    await expect.poll(() => inSecond.count(), poll).toBe(1);
    await expect.poll(() => inSecond.textContent(), poll).toContain("#ops");

    // An agent (the SDK) stores one too: both tabs show it.
    await suite.api.remember("Deploys freeze on Fridays.", { tags: ["ops"] });
    for (const page of [first, second]) await expect.poll(() => page.getByTestId("memory").filter({ hasText: "Deploys freeze" }).count(), poll).toBe(1);

    // Recall in the first tab ranks by words, marking them.
    await first.getByLabel("Recall query").fill("when is staging refreshed");
    await expect.poll(() => first.getByTestId("memory").count(), poll).toBe(1);
    expect((await first.getByTestId("memory").locator("mark").allTextContents()).join(" ")).toMatch(/refresh/i);
    await first.getByLabel("Recall query").fill("");
    await second.screenshot({ path: path.join(artifactsDir, "memory.png") });

    // Delete in the second tab: gone from the first.
    await inSecond.getByRole("button", { name: "Delete memory" }).click();
    await expect.poll(() => first.getByTestId("memory").filter({ hasText: "refreshed every Sunday" }).count(), poll).toBe(0);
    await context.close();
  });
});
