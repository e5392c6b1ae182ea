// People for browser tests of a server with PARLEY_AUTH=on: a user principal
// made on the server's database (as `npm run token -- user` does), signed in
// through its one-time link in a browser context of their own, and an API
// client acting as them for setting things up.
import type { Browser, BrowserContext, Page } from "playwright-core";
import { expect } from "vitest";
import { createParleyClient, type ParleyClient } from "@parley/client";
import type { Role } from "../../src/generated/prisma/client";
import { createToken, signInTokenFor } from "../../src/server/auth/tokens";
import { openStorage, type Storage } from "../../src/server/db";

export interface Person {
  id: string;
  name: string;
  context: BrowserContext;
  page: Page;
  /** The API as this person (an API token of theirs). */
  api: ParleyClient;
  close: () => Promise<void>;
}

/** The server's database, opened beside it (SQLite allows both). */
export function openDatabase(url: string): Promise<Storage> {
  return openStorage(url);
}

export async function signIn(storage: Storage, browser: Browser, baseUrl: string, name: string, role: Role = "member"): Promise<Person> {
  const { db } = storage;
  const principal = await db.principal.create({ data: { name, kind: role === "admin" ? "admin" : "user", role } });
  const { token } = await createToken(db, { principalId: principal.id, name: `${name}'s test client`, kind: "api", expiresAt: null });
  const context = await browser.newContext({ colorScheme: "dark", viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${baseUrl}/signin?token=${await signInTokenFor(db, principal.id, 60_000)}`);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${baseUrl}/`);
  const api = createParleyClient({ url: baseUrl, token });
  return {
    id: principal.id,
    name,
    context,
    page,
    api,
    close: async () => {
      await api.close();
      await context.close();
    },
  };
}

/** Open a session's page and wait until its stream is live. */
export async function openSession(page: Page, baseUrl: string, sessionId: string): Promise<void> {
  await page.goto(`${baseUrl}/s/${sessionId}`);
  await expect.poll(() => page.getByTestId("live-state").textContent(), { timeout: 20_000 }).toBe("live");
}
