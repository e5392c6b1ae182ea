// The HTTP edge in Debian Chromium, which enforces what browsers enforce:
// DNS rebinding (a host-resolver rule maps rebind.example to 127.0.0.1),
// sign-in links printed by `npm run token -- user|signin` end to end, login
// CSRF from another site, and CORS for a listed origin. Other sites' pages
// come from a small static server on loopback under mapped names.
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sh } from "./helpers/command";
import { launchChromium } from "./helpers/browser";
import { freshDatabase, repoRoot, spawnServer, type ServerProcess } from "./helpers/server";

const CHROMIUM_ARGS = [
  "--host-resolver-rules=MAP rebind.example 127.0.0.1, MAP app.example 127.0.0.1, MAP attacker.example 127.0.0.1",
  // Chromium's Private Network Access blocks a public page's requests to loopback; Firefox and Safari do
  // not, and Chromium does not for every kind of request. Off, so these tests show what the server itself refuses.
  "--disable-features=BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights,PrivateNetworkAccessRespectPreflightResults,LocalNetworkAccessChecks",
];

/** Another site: serves `pages[path]` as HTML on a loopback port (reached as app.example or attacker.example). */
async function startSite(pages: Map<string, string>): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const page = pages.get(req.url ?? "/");
    res.writeHead(page === undefined ? 404 : 200, { "content-type": "text/html; charset=utf-8" });
    res.end(page ?? "not found");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

let chromium: Awaited<ReturnType<typeof launchChromium>>;
let site: Awaited<ReturnType<typeof startSite>>;
const pages = new Map<string, string>();
const servers: { server: ServerProcess; db: { url: string; dir: string } }[] = [];
async function spawn(env: Record<string, string>): Promise<ServerProcess> {
  const db = freshDatabase();
  const server = await spawnServer({ DATABASE_URL: db.url, LOG_LEVEL: "warn", ...env });
  servers.push({ server, db });
  return server;
}

let authOff: ServerProcess;
let authOn: ServerProcess;
let appOrigin: string;
beforeAll(async () => {
  site = await startSite(pages);
  appOrigin = `http://app.example:${site.port}`;
  [authOff, authOn] = await Promise.all([spawn({ PARLEY_AUTH: "off" }), spawn({ PARLEY_AUTH: "on", PARLEY_ALLOWED_ORIGINS: appOrigin })]);
  chromium = await launchChromium(CHROMIUM_ARGS);
}, 180_000);
afterAll(async () => {
  await chromium?.close();
  await site?.close();
  for (const { server, db } of servers) {
    server.child.kill("SIGTERM");
    await server.exited;
    fs.rmSync(db.dir, { recursive: true, force: true });
  }
});

/** Run `npm run token -- <args>` on `server`'s database; its stdout. */
async function tokenScript(server: ServerProcess, args: string[]): Promise<string> {
  const db = servers.find((s) => s.server === server)?.db;
  if (!db) throw new Error("not a server of this file");
  const run = await sh(process.execPath, ["--import", "tsx", "scripts/token.ts", ...args], repoRoot, {
    DATABASE_URL: db.url,
    LOG_LEVEL: "silent",
  });
  if (run.code !== 0) throw new Error(`token ${args.join(" ")} failed:\n${run.stderr}`);
  return run.stdout;
}

/** The sign-in link a token script printed, pointed at where `server` really listens. */
function printedLink(stdout: string, server: ServerProcess): string {
  const link = /(https?:\/\/\S+\/signin\?token=\S+)/.exec(stdout)?.[1];
  if (!link) throw new Error(`no sign-in link in:\n${stdout}`);
  return link.replace(/^https?:\/\/[^/]+/, server.url);
}

const sessionCookie = async (context: BrowserContext, url: string) => (await context.cookies(url)).find((c) => c.name === "parley_session");

/** In `page`: fetch `url` with `init`; "status <n>: <body>" or "failed: <error>" (a CORS refusal is a TypeError). */
function fetchIn(page: Page, url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<string> {
  return page.evaluate(
    async ([u, i]) => {
      try {
        const response = await fetch(u, i);
        return `status ${response.status}: ${await response.text()}`;
      } catch (error) {
        return `failed: ${String(error)}`;
      }
    },
    [url, init] as const,
  );
}

/** In `page`: open a WebSocket to `url`; "open" or "refused". */
function socketIn(page: Page, url: string): Promise<string> {
  return page.evaluate(
    (u) =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(u);
        ws.onopen = () => {
          ws.close();
          resolve("open");
        };
        ws.onerror = () => resolve("refused");
      }),
    url,
  );
}

describe("in Chromium", () => {
  it("DNS rebinding: a page of rebind.example:<port>, its name now resolving to 127.0.0.1, gets nothing from a PARLEY_AUTH=off server", async () => {
    const port = new URL(authOff.url).port;
    const rebound = `http://rebind.example:${port}`;
    const context = await chromium.browser.newContext();
    const page = await context.newPage();
    try {
      // The server's own pages under the rebound name are refused too.
      const direct = await page.goto(`${rebound}/`);
      expect(direct?.status()).toBe(421);
      // The attacker's page was loaded while the name still pointed at the attacker; now it calls "its own" origin.
      await page.route(`${rebound}/attack`, (route) => route.fulfill({ status: 200, contentType: "text/html", body: "<!doctype html><title>attack</title>" }));
      await page.goto(`${rebound}/attack`);
      const input = encodeURIComponent(JSON.stringify({ json: {} }));
      expect(await fetchIn(page, `/api/trpc/session.list?input=${input}`)).toMatch(/^status 421/);
      expect(
        await fetchIn(page, "/api/trpc/session.create", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ json: { title: "rebound" } }) }),
      ).toMatch(/^status 421/);
      expect(await fetchIn(page, "/api/health")).toMatch(/^status 421/);
      expect(await socketIn(page, `ws://rebind.example:${port}/api/trpc-ws`)).toBe("refused");
      // Under its own names the same server works.
      const own = await page.goto(`${authOff.url}/`);
      expect(own?.status()).toBe(200);
      expect(await socketIn(page, `${authOff.url.replace(/^http/, "ws")}/api/trpc-ws`)).toBe("open");
      const listed = await fetchIn(page, `/api/trpc/session.list?input=${input}`);
      expect(listed).toMatch(/^status 200/);
      expect(listed).not.toContain("rebound");
    } finally {
      await context.close();
    }
  });

  it("a link from `npm run token -- user` opens the sign-in page, signs in on its button, and the person is signed in under their name", async () => {
    const link = printedLink(await tokenScript(authOn, ["user", "--name", "alice"]), authOn);
    const context = await chromium.browser.newContext();
    const page = await context.newPage();
    try {
      await page.goto(link);
      await expect.poll(() => page.getByTestId("signin-link-notice").count()).toBe(1);
      expect(await sessionCookie(context, authOn.url)).toBeUndefined();
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.waitForURL(`${authOn.url}/`);
      const cookie = await sessionCookie(context, authOn.url);
      expect(cookie?.httpOnly).toBe(true);
      expect(cookie?.sameSite).toBe("Lax");
      const me = await fetchIn(page, "/api/trpc/auth.me");
      expect(me).toMatch(/^status 200: /);
      expect(me).toContain('"name":"alice"');
      expect(me).toContain('"kind":"user"');

      // She posts under her own name; a bot's label shows beside its name, set apart as the poster's words.
      const created = await fetchIn(page, "/api/trpc/session.create", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ json: { title: "Signed-in names" } }),
      });
      const sessionId = /"id":"([^"]+)"/.exec(created)?.[1] ?? "";
      const bot = /^\s+(pt_\S+)$/m.exec(await tokenScript(authOn, ["create", "--name", "Deploy bot", "--role", "admin"]))?.[1] ?? "";
      await fetchIn(page, "/api/trpc/message.post", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${bot}` },
        body: JSON.stringify({ json: { sessionId, content: "deploy finished", author: "alice" } }),
      });
      await page.goto(`${authOn.url}/s/${sessionId}`);
      await expect.poll(() => page.getByTestId("live-state").textContent(), { timeout: 20_000 }).toBe("live");
      await page.getByRole("textbox", { name: "Message" }).fill("hello from alice");
      await page.getByRole("textbox", { name: "Message" }).press("Enter");
      const mine = page.getByTestId("message").filter({ hasText: "hello from alice" });
      await expect.poll(() => mine.getByTestId("message-author").textContent(), { timeout: 20_000 }).toBe("alice");
      expect(await mine.getByTestId("message-author-label").count()).toBe(0);
      const theirs = page.getByTestId("message").filter({ hasText: "deploy finished" });
      expect(await theirs.getByTestId("message-author").textContent()).toBe("Deploy bot");
      expect(await theirs.getByTestId("message-author-label").textContent()).toBe("“alice”");
    } finally {
      await context.close();
    }
  });

  it("a link from `npm run token -- signin` signs in the first admin the same way", async () => {
    const link = printedLink(await tokenScript(authOn, ["signin"]), authOn);
    const context = await chromium.browser.newContext();
    const page = await context.newPage();
    try {
      await page.goto(link);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.waitForURL(`${authOn.url}/`);
      expect(await fetchIn(page, "/api/trpc/auth.me")).toMatch(/^status 200: .*"role":"admin"/);
    } finally {
      await context.close();
    }
  });

  it("login CSRF: another site's auto-submitted form and its navigation to a sign-in link sign the visitor into nothing", async () => {
    const attackerLink = printedLink(await tokenScript(authOn, ["user", "--name", "mallory"]), authOn);
    const token = new URL(attackerLink).searchParams.get("token") ?? "";
    pages.set(
      "/form",
      `<!doctype html><form id="f" method="post" action="${authOn.url}/api/auth/signin"><input name="token" value="${token}"></form><script>document.getElementById("f").submit()</script>`,
    );
    pages.set("/navigate", `<!doctype html><script>location.href = ${JSON.stringify(attackerLink)}</script>`);
    const context = await chromium.browser.newContext();
    const page = await context.newPage();
    try {
      const posted = page.waitForResponse(`${authOn.url}/api/auth/signin`);
      await page.goto(`http://attacker.example:${site.port}/form`);
      expect((await posted).status()).toBe(403);
      expect(await sessionCookie(context, authOn.url)).toBeUndefined();

      await page.goto(`http://attacker.example:${site.port}/navigate`);
      await page.waitForURL(/\/signin\?token=/);
      await expect.poll(() => page.getByTestId("signin-link-notice").count()).toBe(1);
      expect(await sessionCookie(context, authOn.url)).toBeUndefined();
    } finally {
      await context.close();
    }
  });

  it("CORS: a page of a PARLEY_ALLOWED_ORIGINS origin calls the HTTP API with a Bearer token; another site's page cannot read it", async () => {
    const token = /^\s+(pt_\S+)$/m.exec(await tokenScript(authOn, ["create", "--name", "browser app", "--role", "member"]))?.[1] ?? "";
    pages.set("/app", "<!doctype html><title>app</title>");
    const context = await chromium.browser.newContext();
    const page = await context.newPage();
    try {
      const bearer = { authorization: `Bearer ${token}` };
      await page.goto(`${appOrigin}/app`);
      expect(await fetchIn(page, `${authOn.url}/api/trpc/auth.me`, { headers: bearer })).toMatch(/^status 200: .*"name":"browser app"/);
      const created = await fetchIn(page, `${authOn.url}/api/trpc/session.create`, {
        method: "POST",
        headers: { ...bearer, "content-type": "application/json" },
        body: JSON.stringify({ json: { title: "made by a browser app" } }),
      });
      expect(created).toMatch(/^status 200: .*"title":"made by a browser app"/);

      await page.goto(`http://attacker.example:${site.port}/app`);
      expect(await fetchIn(page, `${authOn.url}/api/trpc/auth.me`, { headers: bearer })).toMatch(/^failed: TypeError/);
    } finally {
      await context.close();
    }
  });
});
