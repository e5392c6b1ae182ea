// Every page of the web UI, as a person opens it: it names itself in the tab
// ("Metrics · Parley"; a session by its title), shows Parley's icon, and
// leaves nothing in the browser console: no failed request (no 404, e.g. for
// a favicon), no error, no warning.
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { browserSuite } from "./helpers/browser";

const suite = browserSuite({});
const poll = { timeout: 20_000, interval: 100 };

/** Open `path` in a fresh page and collect what the console and the network report against it. */
async function visit(path: string, ready: (page: Page) => Promise<void>) {
  const page = await suite.chromium.browser.newPage();
  const problems: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning") problems.push(`${message.type()}: ${message.text()} (${message.location().url})`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("response", (response) => {
    if (response.status() >= 400) problems.push(`${response.status()} ${response.url()}`);
  });
  page.on("requestfailed", (request) => {
    // A stream the page closes as it leaves is not a failure.
    if (request.failure()?.errorText !== "net::ERR_ABORTED") problems.push(`failed ${request.url()}: ${request.failure()?.errorText}`);
  });
  await page.goto(`${suite.server.url}${path}`);
  await ready(page);
  // Late requests (the icon, lazy chunks) have landed.
  await page.waitForLoadState("networkidle").catch(() => undefined);
  return { page, problems };
}

const connected = async (page: Page) => {
  await expect.poll(() => page.getByTestId("connection-badge").getAttribute("data-state"), poll).toBe("connected");
};

describe("every page", () => {
  it("has its own title, Parley's icon, and a clean console", async () => {
    const session = await suite.api.api.session.create.mutate({ title: "Quarterly roadmap" });
    await suite.api.api.message.post.mutate({ sessionId: session.id, content: "First item: the SDK split", author: "ana" });
    const pages: [string, string, (page: Page) => Promise<void>][] = [
      ["/", "Sessions · Parley", async (page) => {
        await connected(page);
        await page.getByRole("link", { name: /Quarterly roadmap/ }).waitFor(poll);
      }],
      [`/s/${session.id}`, "Quarterly roadmap · Parley", async (page) => {
        await expect.poll(() => page.getByTestId("live-state").textContent(), poll).toBe("live");
      }],
      ["/metrics", "Metrics · Parley", async (page) => {
        await expect.poll(() => page.locator(".uplot").count(), poll).toBeGreaterThan(0);
      }],
      ["/events", "Events · Parley", connected],
      ["/memory", "Memory · Parley", async (page) => {
        await connected(page);
        await page.getByLabel("Recall query").waitFor(poll);
      }],
      ["/connections", "Connections · Parley", async (page) => {
        await expect.poll(() => page.getByText("session.events").or(page.getByText("metrics.live")).or(page.getByText(/connection/i)).count(), poll).toBeGreaterThan(0);
      }],
      ["/diagnostics", "Diagnostics · Parley", async (page) => {
        // The checks write (a session, posts): they run on a click, never on page load.
        await page.getByRole("button", { name: "Run checks" }).click();
        await expect.poll(() => page.getByTestId("check-ws").getAttribute("data-status"), { ...poll, timeout: 40_000 }).toBe("ok");
      }],
      ["/signin", "Sign in · Parley", async (page) => {
        await page.getByRole("heading").first().waitFor(poll);
      }],
    ];
    const report: Record<string, string[]> = {};
    for (const [path, title, ready] of pages) {
      const { page, problems } = await visit(path, ready);
      await expect.poll(() => page.title(), poll).toBe(title);
      const icon = await page.locator('link[rel="icon"]').first().getAttribute("href");
      expect(icon, `${path}: an icon link`).toBeTruthy();
      const served = await page.request.get(new URL(icon ?? "", suite.server.url).toString());
      expect(served.status(), `${path}: the icon`).toBe(200);
      expect(served.headers()["content-type"]).toContain("image/svg+xml");
      report[path] = problems;
      await page.close();
    }
    expect(report).toEqual(Object.fromEntries(pages.map(([path]) => [path, []])));
  }, 150_000);
});
