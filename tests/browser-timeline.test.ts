// The session page in Debian Chromium against the production build: Regenerate
// and switching between regenerated answers, answer metadata on hover (the
// deterministic built-in assistant), typing and presence seen from a second
// context, older pages loading when scrolled up, and a 10,000-message session
// that keeps only a window of rows in the DOM while scrolling through it.
import path from "node:path";
import type { Locator, Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { MemoryBus } from "../src/server/bus/memory";
import { openStorage } from "../src/server/db";
import { MessageWriter } from "../src/server/services/message-writer";
import { postMessage } from "../src/server/services/messages";
import { SessionLog } from "../src/server/services/session-log";
import { artifactsDir, browserSuite } from "./helpers/browser";

const BIG = 10_000;

let bigSessionId = "";
const poll = { timeout: 20_000, interval: 100 };

const suite = browserSuite({ CHAT_BUILTIN_CHUNK_DELAY_MS: "20" }, async (databaseUrl) => {
  // 10,000 messages written through the server's own message service (group
  // commit), before the server starts on the same database.
  const storage = await openStorage(databaseUrl);
  const session = await storage.db.session.create({ data: { title: "Ten thousand messages", metadata: {} } });
  bigSessionId = session.id;
  const writer = new MessageWriter(storage, new SessionLog(storage, new MemoryBus()));
  for (let start = 1; start <= BIG; start += 500) {
    await Promise.all(
      Array.from({ length: 500 }, (_, i) =>
        postMessage(writer, { maxContentBytes: 65_536 }, {
          sessionId: session.id,
          content: `Message number ${start + i}`,
          role: "user",
          visibility: "public",
        }, { id: null, name: "seeder" }),
      ),
    );
  }
  await storage.close();
});

async function openSession(page: Page, id: string) {
  await page.goto(`${suite.server.url}/s/${id}`);
  await expect.poll(() => page.getByTestId("live-state").textContent(), poll).toBe("live");
}

/** Pick an option of a Radix Select. */
async function pick(page: Page, label: string, option: RegExp) {
  await page.getByRole("combobox", { name: label }).click();
  await page.getByRole("option", { name: option }).click();
  await expect.poll(() => page.getByRole("listbox").count(), poll).toBe(0);
}

const answers = (page: Page) => page.locator('[data-testid="message"][aria-label$=", assistant"]');

/** The seqs of the message rows in the DOM, in document order. */
const renderedSeqs = (page: Page) =>
  page.locator('[data-testid="message"]').evaluateAll((rows) => rows.map((row) => Number(row.getAttribute("data-seq"))));

/** "N loaded" from the session header. */
const loadedCount = (page: Page) =>
  page.getByTestId("live-state").evaluate((el) => Number(/(\d+) loaded/.exec(el.parentElement?.textContent ?? "")?.[1] ?? -1));

/** Rows are consecutive seqs, each once, in order (sorted by position: virtual rows may be in any DOM order). */
async function windowOfRows(page: Page): Promise<number[]> {
  const seqs = await page.locator('[data-testid="message"]').evaluateAll((rows) =>
    rows
      .map((row) => ({ seq: Number(row.getAttribute("data-seq")), top: row.getBoundingClientRect().top }))
      .sort((a, b) => a.top - b.top)
      .map((r) => r.seq),
  );
  for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe((seqs[i - 1] ?? 0) + 1);
  return seqs;
}

async function details(page: Page, answer: Locator): Promise<Record<string, string>> {
  await answer.getByRole("button", { name: "Answer details" }).hover();
  const tip = page.getByTestId("answer-details").first();
  await tip.waitFor();
  const pairs = await tip
    .locator("dt")
    .evaluateAll((dts) => dts.map((dt): [string, string] => [dt.textContent ?? "", dt.nextElementSibling?.textContent ?? ""]));
  await page.mouse.move(0, 0);
  return Object.fromEntries(pairs);
}

describe("session page", () => {
  it("regenerates an answer, switches between the versions, and shows each one's metadata on hover", async () => {
    const session = await suite.api.api.session.create.mutate({ title: "Regenerate" });
    await suite.api.api.message.post.mutate({ sessionId: session.id, content: "The release train leaves on Thursday at 10:00.", author: "planner" });
    const page = await suite.chromium.browser.newPage();
    await openSession(page, session.id);
    await pick(page, "Agent", /retrieval/i);
    await page.getByRole("textbox", { name: "Message" }).fill("When does the release train leave?");
    await page.getByRole("textbox", { name: "Message" }).press("Enter");
    await expect.poll(() => answers(page).getAttribute("data-status"), poll).toBe("complete");
    const firstId = await answers(page).getAttribute("data-message-id");
    const firstText = await answers(page).getByTestId("message-content").textContent();
    expect(firstText).toContain("Thursday");

    // Metadata of the built-in assistant: model, tokens, tokens/s, time to first token.
    const meta = await details(page, answers(page));
    expect(meta.Model).toBe("parley-retrieval (builtin)");
    expect(meta.Tokens).toMatch(/\d+ out/);
    expect(meta.Speed).toMatch(/^\d+(\.\d)? tok\/s$/);
    expect(meta["First token"]).toMatch(/^\d+ ms$/);
    expect(meta.Finish).toBe("stop");
    await page.screenshot({ path: path.join(artifactsDir, "session-answer-details.png") });

    // Regenerate: a second answer to the same question replaces the first in place.
    await answers(page).getByRole("button", { name: "Regenerate" }).click();
    await expect.poll(() => answers(page).getByTestId("sibling-position").textContent(), poll).toBe("2/2");
    await expect.poll(() => answers(page).getAttribute("data-status"), poll).toBe("complete");
    const secondId = await answers(page).getAttribute("data-message-id");
    expect(secondId).not.toBe(firstId);
    expect(await answers(page).count()).toBe(1);
    expect((await details(page, answers(page))).Model).toBe("parley-retrieval (builtin)");

    // Switch back and forth between the siblings.
    await answers(page).getByRole("button", { name: "Previous answer" }).click();
    await expect.poll(() => answers(page).getByTestId("sibling-position").textContent(), poll).toBe("1/2");
    expect(await answers(page).getAttribute("data-message-id")).toBe(firstId);
    expect(await answers(page).getByTestId("message-content").textContent()).toBe(firstText);
    expect(await answers(page).getByRole("button", { name: "Previous answer" }).isDisabled()).toBe(true);
    await answers(page).getByRole("button", { name: "Next answer" }).click();
    await expect.poll(() => answers(page).getAttribute("data-message-id"), poll).toBe(secondId);
    expect(await answers(page).getByTestId("sibling-position").textContent()).toBe("2/2");

    // A third version: the switcher counts it and shows it.
    await answers(page).getByRole("button", { name: "Regenerate" }).click();
    await expect.poll(() => answers(page).getByTestId("sibling-position").textContent(), poll).toBe("3/3");
    await expect.poll(() => answers(page).getAttribute("data-status"), poll).toBe("complete");
    await page.screenshot({ path: path.join(artifactsDir, "session-regenerated.png") });
    await page.close();
  });

  it("shows who is here and who is typing to another context", async () => {
    const session = await suite.api.api.session.create.mutate({ title: "Presence" });
    const contexts = await Promise.all([suite.chromium.browser.newContext(), suite.chromium.browser.newContext()]);
    const [a, b] = await Promise.all(contexts.map((c) => c.newPage()));
    if (!a || !b) throw new Error("pages did not open");
    await openSession(a, session.id);
    await openSession(b, session.id);
    const nameOf = (page: Page) => page.evaluate(() => window.localStorage.getItem("parley.name") ?? "");
    const [nameA, nameB] = [await nameOf(a), await nameOf(b)];
    expect(nameA).not.toBe(nameB);

    // Both avatars, in both contexts.
    for (const page of [a, b]) {
      await expect.poll(() => page.getByTestId("presence").locator(`[title="${nameA}"]`).count(), poll).toBe(1);
      await expect.poll(() => page.getByTestId("presence").locator(`[title="${nameB}"]`).count(), poll).toBe(1);
    }

    // A types: B sees it; A does not see itself typing.
    await a.getByRole("textbox", { name: "Message" }).pressSequentially("half a thought", { delay: 20 });
    await expect.poll(() => b.getByTestId("typing").textContent(), poll).toBe(`${nameA} is typing…`);
    await b.screenshot({ path: path.join(artifactsDir, "session-typing.png") });
    expect(await a.getByTestId("typing").textContent()).not.toContain("typing");
    // Sending clears the mark.
    await a.getByRole("textbox", { name: "Message" }).press("Enter");
    await expect.poll(() => b.getByTestId("typing").textContent(), poll).not.toContain("typing");

    // A leaves: its avatar disappears from B.
    await contexts[0]?.close();
    await expect.poll(() => b.getByTestId("presence").locator(`[title="${nameA}"]`).count(), poll).toBe(0);
    expect(await b.getByTestId("presence").locator(`[title="${nameB}"]`).count()).toBe(1);
    await contexts[1]?.close();
  });

  it("loads older messages when scrolled up, each once and in order", async () => {
    const page = await suite.chromium.browser.newPage();
    await openSession(page, bigSessionId);
    const log = page.getByRole("log", { name: "Messages" });
    await expect.poll(() => loadedCount(page), poll).toBe(50);
    await expect.poll(async () => Math.max(...(await renderedSeqs(page))), poll).toBe(BIG);
    expect(await page.getByText("Scroll up for older messages").count()).toBe(1);

    let oldest = BIG - 49;
    for (let pageNo = 2; pageNo <= 4; pageNo++) {
      // Scrolling to the top loads (at least) one more page of 50; the second
      // scroll, to see it, may already ask for the next one.
      await log.evaluate((el) => el.scrollTo({ top: 0 }));
      await expect.poll(() => loadedCount(page), poll).toBeGreaterThanOrEqual(50 * pageNo);
      await log.evaluate((el) => el.scrollTo({ top: 0 }));
      await expect.poll(async () => Math.min(...(await renderedSeqs(page))), poll).toBeLessThan(oldest);
      oldest = Math.min(...(await renderedSeqs(page)));
      await windowOfRows(page);
    }
    // Whole pages loaded, each seq once: the store holds exactly BIG-loaded+1 … BIG.
    const loaded = await loadedCount(page);
    expect(loaded % 50).toBe(0);
    expect(loaded).toBeGreaterThanOrEqual(200);
    expect(oldest).toBeGreaterThanOrEqual(BIG - loaded + 1);
    await page.screenshot({ path: path.join(artifactsDir, "session-older.png") });
    await page.close();
  });

  it("keeps only a window of rows in the DOM with 10,000 messages, and scrolls through all of them", async () => {
    const page = await suite.chromium.browser.newPage();
    await openSession(page, bigSessionId);
    const log = page.getByRole("log", { name: "Messages" });
    await expect.poll(() => loadedCount(page), poll).toBe(50);
    // Scroll to the top until the start of the session: every page of 50 loads.
    while ((await page.getByText("Start of the session").count()) === 0) {
      const before = await loadedCount(page);
      await log.evaluate((el) => el.scrollTo({ top: 0 }));
      await expect
        .poll(async () => (await loadedCount(page)) > before || (await page.getByText("Start of the session").count()) > 0, poll)
        .toBe(true);
      // The DOM stays a window however many are loaded.
      expect(await page.locator('[data-testid="message"]').count()).toBeLessThan(60);
    }
    expect(await loadedCount(page)).toBe(BIG);

    // Top: message 1 is there; then through the middle to the end.
    await log.evaluate((el) => el.scrollTo({ top: 0 }));
    await expect.poll(async () => (await windowOfRows(page))[0], poll).toBe(1);
    const scrollHeight = await log.evaluate((el) => el.scrollHeight);
    const rowCounts: number[] = [];
    for (const fraction of [0.1, 0.25, 0.5, 0.75, 0.9]) {
      await log.evaluate((el, f) => el.scrollTo({ top: el.scrollHeight * f }), fraction);
      await expect
        .poll(async () => {
          const seqs = await windowOfRows(page);
          const middle = seqs[Math.floor(seqs.length / 2)] ?? 0;
          return Math.abs(middle - BIG * fraction) < BIG * 0.1;
        }, poll)
        .toBe(true);
      rowCounts.push(await page.locator('[data-testid="message"]').count());
    }
    // Wheel scrolling moves the window too.
    const before = (await windowOfRows(page))[0] ?? 0;
    await log.hover();
    for (let i = 0; i < 10; i++) await page.mouse.wheel(0, 1_000);
    await expect.poll(async () => (await windowOfRows(page))[0] ?? 0, poll).toBeGreaterThan(before);
    // The end: the newest message, and the layout did not grow while scrolling.
    await log.evaluate((el) => el.scrollTo({ top: el.scrollHeight }));
    await expect.poll(async () => (await windowOfRows(page)).at(-1), poll).toBe(BIG);
    expect(await log.evaluate((el) => el.scrollHeight)).toBeGreaterThanOrEqual(scrollHeight * 0.9);
    for (const count of rowCounts) expect(count).toBeLessThan(60);
    expect(Math.max(...rowCounts)).toBeGreaterThan(5);
    await page.screenshot({ path: path.join(artifactsDir, "session-10k.png") });
    await page.close();
  }, 300_000);
});
