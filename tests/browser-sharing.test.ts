// Sharing and profiles in the web UI, three people in three browser contexts:
// a display name and avatar colour set in the profile dialog show on posts and
// presence, typing shows the other person's display name, the owner invites
// one person by name and another by a link (then revokes it), changes a role,
// and a member leaves.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Storage } from "../src/server/db";
import { artifactsDir, browserSuite } from "./helpers/browser";
import { openDatabase, openSession, signIn, type Person } from "./helpers/people";

let databaseUrl = "";
const suite = browserSuite({ PARLEY_AUTH: "on" }, (url) => {
  databaseUrl = url;
  return Promise.resolve();
});
const poll = { timeout: 20_000, interval: 100 };
let storage: Storage;
const people: Person[] = [];
beforeAll(async () => {
  storage = await openDatabase(databaseUrl);
}, 60_000);
afterAll(async () => {
  for (const p of people) await p.close();
  await storage?.close();
});

async function person(name: string): Promise<Person> {
  const p = await signIn(storage, suite.chromium.browser, suite.server.url, name);
  people.push(p);
  return p;
}

describe("sharing and profiles in the web UI", () => {
  it("profiles show on posts, presence and typing; invite by name and by link; change a role; revoke; leave", async () => {
    const alice = await person("alice");
    const bob = await person("bob");
    const carol = await person("carol");
    await bob.api.api.auth.updateProfile.mutate({ displayName: "Bobby Tables" });

    // Alice's profile, from the avatar in the header.
    await alice.page.getByRole("button", { name: "Your profile" }).click();
    await alice.page.getByLabel("Display name").fill("Alice Liddell");
    await alice.page.getByRole("button", { name: "Colour #10b981" }).click();
    await alice.page.screenshot({ path: path.join(artifactsDir, "profile-dialog.png") });
    await alice.page.getByRole("button", { name: "Save profile" }).click();
    await expect.poll(() => alice.page.getByRole("button", { name: "Your profile" }).getByTestId("avatar").getAttribute("data-color"), poll).toBe("#10b981");

    const session = await alice.api.api.session.create.mutate({ title: "Garden party" });
    await openSession(alice.page, suite.server.url, session.id);
    await alice.page.getByRole("button", { name: "Share" }).click();
    await alice.page.getByLabel("Invite by name").fill("Bobby Tables");
    await alice.page.getByRole("button", { name: "Invite" }).click();
    const bobRow = alice.page.getByTestId("member").filter({ hasText: "Bobby Tables" });
    await expect.poll(() => bobRow.count(), poll).toBe(1);
    expect(await alice.page.getByLabel("Role of Bobby Tables").inputValue()).toBe("member");

    // A link for carol.
    await alice.page.getByLabel("Role for the link").selectOption("viewer");
    await alice.page.getByRole("button", { name: "Create link" }).click();
    const link = (await alice.page.getByTestId("new-invite-link").textContent()) ?? "";
    expect(link).toMatch(/\/invite\/\S+$/);
    await alice.page.screenshot({ path: path.join(artifactsDir, "share-dialog.png") });
    await carol.page.goto(link);
    await carol.page.waitForURL(`${suite.server.url}/s/${session.id}`);
    await expect.poll(() => carol.page.getByTestId("live-state").textContent(), poll).toBe("live");
    // A viewer: no Invite field, the roles read-only.
    await carol.page.getByRole("button", { name: "Share" }).click();
    await expect.poll(() => carol.page.getByTestId("member").count(), poll).toBe(3);
    expect(await carol.page.getByLabel("Invite by name").count()).toBe(0);
    await carol.page.keyboard.press("Escape");

    // Alice revokes the link: it shows as revoked, and it adds nobody any more.
    await alice.page.getByRole("button", { name: "Revoke" }).click();
    await expect.poll(() => alice.page.getByTestId("invite").first().textContent(), poll).toContain("revoked");
    const dave = await person("dave");
    await dave.page.goto(link);
    await expect.poll(() => dave.page.getByText("unknown or was revoked").count(), poll).toBe(1);
    // Bob becomes a viewer, then back a member.
    await alice.page.getByLabel("Role of Bobby Tables").selectOption("viewer");
    await expect.poll(async () => (await alice.api.api.session.members.query({ sessionId: session.id })).find((m) => m.principalId === bob.id)?.role, poll).toBe("viewer");
    await alice.page.getByLabel("Role of Bobby Tables").selectOption("member");
    await expect.poll(async () => (await alice.api.api.session.members.query({ sessionId: session.id })).find((m) => m.principalId === bob.id)?.role, poll).toBe("member");
    await alice.page.keyboard.press("Escape");

    // Presence and typing show display names and colours; posts show them too.
    await openSession(bob.page, suite.server.url, session.id);
    const aliceInBob = bob.page.getByTestId("presence").locator('[data-testid="avatar"][title="Alice Liddell"]');
    await expect.poll(() => aliceInBob.getAttribute("data-color"), poll).toBe("#10b981");
    await bob.page.getByRole("textbox", { name: "Message" }).fill("hello");
    await expect.poll(() => alice.page.getByTestId("typing").textContent(), poll).toContain("Bobby Tables is typing");
    await alice.page.getByRole("textbox", { name: "Message" }).fill("Welcome, everyone!");
    await alice.page.getByRole("textbox", { name: "Message" }).press("Enter");
    const post = bob.page.getByTestId("message").filter({ hasText: "Welcome, everyone!" });
    await expect.poll(() => post.getByTestId("message-author").textContent(), poll).toBe("Alice Liddell");
    expect(await post.getByTestId("avatar").getAttribute("data-color")).toBe("#10b981");
    await bob.page.screenshot({ path: path.join(artifactsDir, "session-profiles.png") });

    // Bob leaves.
    await bob.page.getByRole("button", { name: "Share" }).click();
    await bob.page.getByRole("button", { name: "Leave session" }).click();
    await bob.page.waitForURL(`${suite.server.url}/`);
    await expect.poll(async () => (await alice.api.api.session.members.query({ sessionId: session.id })).map((m) => m.principalId), poll).toEqual([carol.id]);
  }, 180_000);
});
