// Editing and deleting messages in the web UI, two people in two browser
// contexts: an edit shows in the other tab with its history, a question edited
// after its answer offers to re-run it, a delete removes it from both, and
// only the author and the session's owner get a message's actions; asking
// privately; export and import.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Storage } from "../src/server/db";
import { artifactsDir, browserSuite } from "./helpers/browser";
import { openDatabase, openSession, signIn, type Person } from "./helpers/people";

let databaseUrl = "";
const suite = browserSuite({ PARLEY_AUTH: "on", CHAT_BUILTIN_CHUNK_DELAY_MS: "0" }, (url) => {
  databaseUrl = url;
  return Promise.resolve();
});
const poll = { timeout: 20_000, interval: 100 };
let storage: Storage;
let alice: Person;
let bob: Person;
beforeAll(async () => {
  storage = await openDatabase(databaseUrl);
  alice = await signIn(storage, suite.chromium.browser, suite.server.url, "alice");
  bob = await signIn(storage, suite.chromium.browser, suite.server.url, "bob");
}, 60_000);
afterAll(async () => {
  await alice?.close();
  await bob?.close();
  await storage?.close();
});

describe("messages in the web UI", () => {
  it("edits show in every tab with their history; only the author and the owner get the actions; a delete removes it everywhere", async () => {
    const session = await alice.api.api.session.create.mutate({ title: "Edits" });
    await alice.api.api.session.addMember.mutate({ sessionId: session.id, principalId: bob.id, role: "member" });
    await alice.api.api.message.post.mutate({ sessionId: session.id, content: "Lunch at noon, helo everyone" });
    await bob.api.api.message.post.mutate({ sessionId: session.id, content: "bob's own words" });
    for (const p of [alice, bob]) await openSession(p.page, suite.server.url, session.id);

    const inAlice = alice.page.getByTestId("message").filter({ hasText: "helo everyone" });
    await expect.poll(() => inAlice.count(), poll).toBe(1);
    // Bob may change his own message, not Alice's; Alice owns the session and may change both.
    const ownInBob = bob.page.getByTestId("message").filter({ hasText: "bob's own words" });
    await expect.poll(() => ownInBob.getByRole("button", { name: "Message actions" }).count(), poll).toBe(1);
    expect(await alice.page.getByTestId("message").filter({ hasText: "bob's own words" }).getByRole("button", { name: "Message actions" }).count()).toBe(1);
    await inAlice.hover();
    await inAlice.getByRole("button", { name: "Message actions" }).click();
    await alice.page.getByRole("menuitem", { name: "Edit" }).click();
    await alice.page.getByRole("textbox", { name: "Edit message" }).fill("Lunch at noon, hello everyone");
    await alice.page.getByRole("button", { name: "Save" }).click();

    const inBob = bob.page.getByTestId("message").filter({ hasText: "Lunch at noon" });
    await expect.poll(() => inBob.getByTestId("message-content").textContent(), poll).toBe("Lunch at noon, hello everyone");
    expect(await inBob.getByRole("button", { name: "Message actions" }).count()).toBe(0);
    await inBob.getByTestId("message-edited").click();
    const history = bob.page.getByTestId("edit-history");
    await expect.poll(() => history.textContent(), poll).toContain("Lunch at noon, helo everyone");
    expect(await history.textContent()).toContain("alice");
    await bob.page.screenshot({ path: path.join(artifactsDir, "message-edit-history.png") });
    await bob.page.keyboard.press("Escape");

    const editedInAlice = alice.page.getByTestId("message").filter({ hasText: "hello everyone" });
    await editedInAlice.hover();
    alice.page.once("dialog", (dialog) => void dialog.accept());
    await editedInAlice.getByRole("button", { name: "Message actions" }).click();
    await alice.page.getByRole("menuitem", { name: "Delete" }).click();
    for (const p of [alice, bob]) await expect.poll(() => p.page.getByTestId("message").filter({ hasText: "Lunch at noon" }).count(), poll).toBe(0);
    // After a reload too: the delete is in the log, not only in the open tab.
    await openSession(bob.page, suite.server.url, session.id);
    await expect.poll(() => bob.page.getByTestId("message").count(), poll).toBe(1);
  }, 120_000);

  it("editing a question that has an answer offers to re-run it, and the new answer shows in both tabs", async () => {
    const session = await alice.api.api.session.create.mutate({ title: "Re-run" });
    await alice.api.api.session.addMember.mutate({ sessionId: session.id, principalId: bob.id, role: "member" });
    const sent = await alice.api.api.chat.send.mutate({ sessionId: session.id, content: "what is parley?" });
    for (const p of [alice, bob]) await openSession(p.page, suite.server.url, session.id);
    await expect.poll(() => alice.page.locator(`[data-message-id="${sent.assistantMessageId}"]`).getAttribute("data-status"), poll).toBe("complete");

    const question = alice.page.getByTestId("message").filter({ hasText: "what is parley?" });
    await question.hover();
    await question.getByRole("button", { name: "Message actions" }).click();
    await alice.page.getByRole("menuitem", { name: "Edit" }).click();
    await alice.page.getByRole("textbox", { name: "Edit message" }).fill("what is a parley session?");
    await alice.page.getByRole("button", { name: "Save" }).click();
    await alice.page.getByRole("button", { name: "Re-run answer" }).click();
    for (const p of [alice, bob]) await expect.poll(() => p.page.getByTestId("sibling-position").textContent(), poll).toBe("2/2");
    await expect.poll(() => bob.page.getByTestId("message").filter({ hasText: "what is a parley session?" }).count(), poll).toBe(1);
    await alice.page.screenshot({ path: path.join(artifactsDir, "message-rerun.png") });
  }, 120_000);

  it("asks an agent privately: the question and its answer are private, and the other person sees neither nor the run's events", async () => {
    const session = await alice.api.api.session.create.mutate({ title: "Private question" });
    await alice.api.api.session.addMember.mutate({ sessionId: session.id, principalId: bob.id, role: "member" });
    for (const p of [alice, bob]) await openSession(p.page, suite.server.url, session.id);
    const bobsEvents: string[] = [];
    const sub = bob.api.api.events.subscribe.subscribe({ sessionId: session.id, replay: 0 }, { onData: ({ data }) => bobsEvents.push(data.type) });
    const page = alice.page;
    await page.getByRole("combobox", { name: "Agent" }).click();
    await page.getByRole("option", { name: /retrieval/i }).click();
    await page.getByRole("combobox", { name: "Visibility" }).click();
    await page.getByRole("option", { name: /Private/ }).click();
    expect(await page.getByRole("combobox", { name: "Visibility" }).isDisabled()).toBe(false);
    await page.getByRole("textbox", { name: "Message" }).fill("what did we decide about lunch?");
    await page.getByRole("textbox", { name: "Message" }).press("Enter");
    const answer = page.locator('[data-testid="message"][aria-label$=", assistant"]');
    await expect.poll(() => answer.getAttribute("data-status"), poll).toBe("complete");
    expect(await answer.textContent()).toContain("private");
    expect(await page.getByTestId("message").filter({ hasText: "what did we decide about lunch?" }).textContent()).toContain("private");
    await page.screenshot({ path: path.join(artifactsDir, "ask-privately.png") });

    // Bob: a public post arrives, the private question and answer never do; nor do the run's typed events.
    await alice.api.api.message.post.mutate({ sessionId: session.id, content: "public note" });
    await expect.poll(() => bob.page.getByTestId("message").filter({ hasText: "public note" }).count(), poll).toBe(1);
    expect(await bob.page.getByTestId("message").count()).toBe(1);
    const stored = await storage.db.event.findMany({ where: { sessionId: session.id }, select: { type: true, to: true } });
    expect(stored.map((e) => e.type)).toContain("llm.complete");
    expect(stored.every((e) => e.to === alice.id)).toBe(true);
    expect(bobsEvents).toEqual([]);
    sub.unsubscribe();
  }, 120_000);

  it("exports a session as Markdown and JSON, and imports the JSON back as a new session", async () => {
    const session = await alice.api.api.session.create.mutate({ title: "Recipes" });
    await alice.api.api.message.post.mutate({ sessionId: session.id, content: "Pancakes: flour, eggs, **milk**" });
    await alice.api.api.message.post.mutate({ sessionId: session.id, content: "Add a pinch of salt", author: "grandma" });
    const page = alice.page;
    await openSession(page, suite.server.url, session.id);
    const save = async (format: RegExp) => {
      await page.getByRole("button", { name: "Export" }).click();
      const downloading = page.waitForEvent("download");
      await page.getByRole("menuitem", { name: format }).click();
      const download = await downloading;
      const file = path.join(artifactsDir, download.suggestedFilename());
      await download.saveAs(file);
      return file;
    };
    const markdown = await save(/Markdown/);
    expect(path.basename(markdown)).toBe("recipes.md");
    expect(fs.readFileSync(markdown, "utf8")).toContain("Pancakes: flour, eggs, **milk**");
    const json = await save(/JSON/);
    expect(path.basename(json)).toBe("recipes.parley.json");

    await page.goto(suite.server.url);
    await page.getByLabel("Session file to import").setInputFiles(json);
    await page.waitForURL((url) => url.pathname.startsWith("/s/") && !url.pathname.endsWith(session.id), { timeout: 20_000 });
    await expect.poll(() => page.getByTestId("message").count(), poll).toBe(2);
    expect(await page.getByTestId("message").filter({ hasText: "pinch of salt" }).getByTestId("message-author-label").textContent()).toBe("“grandma”");
    await page.screenshot({ path: path.join(artifactsDir, "session-imported.png") });
  }, 120_000);
});
