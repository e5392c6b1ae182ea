// @parley/client/react in Debian Chromium: a page built only on the package's
// provider and hooks (tests/browser-sdk/hooks-probe.tsx, bundled with esbuild
// and served on the real server's origin through Playwright's routing) follows
// a session's events live (useSessionTail), streams an answer (useAsk), shows
// the connection (useConnectionState) and who is present (usePresence).
import path from "node:path";
import { build } from "esbuild";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium } from "./helpers/browser";
import { repoRoot, startTestServer, type TestServer } from "./helpers/server";

const poll = { timeout: 20_000, interval: 100 };
const clientSources = path.join(repoRoot, "packages", "client", "src");

let t: TestServer;
let chromium: Awaited<ReturnType<typeof launchChromium>>;
let bundle: string;

beforeAll(async () => {
  const built = await build({
    entryPoints: [path.join(import.meta.dirname, "browser-sdk", "hooks-probe.tsx")],
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    jsx: "automatic",
    define: { "process.env.NODE_ENV": '"production"' },
    alias: { "@parley/client/react": path.join(clientSources, "react.tsx"), "@parley/client": path.join(clientSources, "index.ts") },
    logLevel: "silent",
  });
  bundle = built.outputFiles[0]?.text ?? "";
  t = await startTestServer({ CHAT_BUILTIN_CHUNK_DELAY_MS: "20" });
  // A page Playwright serves counts as a public one to Chromium, which then blocks its requests to
  // 127.0.0.1 (Local Network Access); the real pages come from the server and are not blocked.
  chromium = await launchChromium(["--disable-features=LocalNetworkAccessChecks"]);
}, 180_000);
afterAll(async () => {
  await chromium?.close();
  await t?.close();
});

async function openProbe(sessionId: string): Promise<Page> {
  const page = await chromium.browser.newPage();
  // Same origin as the API: the page's client talks to the real server, as a Next.js app's would.
  await page.route(`${t.url}/hooks-probe`, (route) =>
    route.fulfill({ contentType: "text/html", body: '<!doctype html><div id="root"></div><script type="module" src="/hooks-probe.js"></script>' }),
  );
  await page.route(`${t.url}/hooks-probe.js`, (route) => route.fulfill({ contentType: "text/javascript", body: bundle }));
  await page.goto(`${t.url}/hooks-probe#${sessionId}`);
  return page;
}

const events = (page: Page) => page.getByTestId("events").locator("li").allTextContents();

describe("@parley/client/react in Chromium", () => {
  it("useSessionTail shows the history then live events; useConnectionState is open; usePresence lists the page", async () => {
    const api = t.client();
    const session = await api.api.session.create.mutate({ title: "hooks" });
    await api.api.message.post.mutate({ sessionId: session.id, content: "before the page", author: "api" });
    const page = await openProbe(session.id);
    try {
      await expect.poll(() => page.getByTestId("connection").textContent(), poll).toBe("open");
      await expect.poll(() => events(page), poll).toEqual(["message.created before the page"]);
      await api.api.message.post.mutate({ sessionId: session.id, content: "while it watches", author: "api" });
      await expect.poll(() => events(page), poll).toEqual(["message.created before the page", "message.created while it watches"]);
      await expect.poll(() => page.getByTestId("presence").textContent(), poll).toContain("hooks-probe");
    } finally {
      await page.close();
    }
  });

  it("useAsk renders the answer as it streams and ends with the persisted message, whose text it holds", async () => {
    const api = t.client();
    const session = await api.api.session.create.mutate({ title: "ask" });
    const page = await openProbe(session.id);
    try {
      await expect.poll(() => page.getByTestId("connection").textContent(), poll).toBe("open");
      await page.getByRole("button", { name: "ask" }).click();
      await expect.poll(() => page.getByTestId("ask-status").textContent(), poll).toBe("done");
      expect(await page.getByTestId("ask-message").textContent()).toBe("complete");
      expect(await page.getByTestId("ask-streamed").textContent()).toBe("yes");
      const { items } = await api.api.message.list.query({ sessionId: session.id });
      const answer = items.find((m) => m.role === "assistant");
      expect(answer?.content.length).toBeGreaterThan(0);
      expect(await page.getByTestId("ask-text").textContent()).toBe(answer?.content);
    } finally {
      await page.close();
    }
  });
});
