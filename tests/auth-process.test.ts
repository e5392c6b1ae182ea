// Authentication as `npm start` runs it: the server as a process with
// PARLEY_AUTH on, a fresh database and its most verbose logging (trace). The
// first start prints a one-time sign-in link on the console; signing in, a
// token made through auth.createToken and used over HTTP and the WebSocket,
// and a wrong token never put a secret in the server's output (the link's
// own line excepted); pages carry the security headers; a configured
// PARLEY_ALLOWED_ORIGINS adds to the server's own origin.
import fs from "node:fs";
import { z } from "zod";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createParleyClient } from "@parley/client";
import { signInWithLink, upgrade } from "./helpers/auth";
import { freshDatabase, spawnServer, waitFor, type ServerProcess } from "./helpers/server";

const ALLOWED = "https://app.example.com";

let server: ServerProcess;
let db: { url: string; dir: string };
beforeAll(async () => {
  db = freshDatabase();
  server = await spawnServer({ DATABASE_URL: db.url, PARLEY_AUTH: "on", LOG_LEVEL: "trace", PARLEY_ALLOWED_ORIGINS: ALLOWED });
  await waitFor(() => server.output().includes("/signin?token="), "the first-start sign-in link");
});
afterAll(async () => {
  server?.child.kill("SIGTERM");
  await server?.exited;
  if (db) fs.rmSync(db.dir, { recursive: true, force: true });
});

/** Signs in with the first-start link: the link, its token, and the session cookie it sets. */
let signedIn: Promise<{ link: string; signInToken: string; cookie: string }> | undefined;
function signIn() {
  signedIn ??= (async () => {
    const printed = /First start: sign in as admin with this one-time link:\s+(\S+)/.exec(server.output());
    if (!printed?.[1]) throw new Error(`no sign-in link in:\n${server.output()}`);
    const link = printed[1];
    const signInToken = new URL(link).searchParams.get("token") ?? "";
    const { page, response, cookie } = await signInWithLink(server.url, link);
    // The link opens the sign-in page, which signs in only through its form.
    expect(page.status).toBe(200);
    expect(page.headers.get("set-cookie")).toBeNull();
    expect(await page.text()).toContain('action="/api/auth/signin"');
    expect(response.status).toBe(303);
    return { link, signInToken, cookie };
  })();
  return signedIn;
}

describe("the server as a process, authentication on", () => {
  it("prints a one-time sign-in link on the console at the first start, which signs in as admin", async () => {
    const { link, cookie } = await signIn();
    expect(link).toMatch(new RegExp(`^${server.url}/signin\\?token=pt_[A-Za-z0-9_-]{43}$`));
    const me = await fetch(`${server.url}/api/trpc/auth.me`, { headers: { cookie } });
    expect(JSON.stringify(await me.json())).toContain('"role":"admin"');
  });

  it("sets the security headers on pages, not only on the API", async () => {
    const { cookie } = await signIn();
    for (const path of ["/", "/signin"]) {
      const page = await fetch(`${server.url}${path}`, { headers: { cookie } });
      expect(page.status, path).toBe(200);
      expect(page.headers.get("content-type"), path).toContain("text/html");
      expect(page.headers.get("x-content-type-options"), path).toBe("nosniff");
      expect(page.headers.get("referrer-policy"), path).toBe("no-referrer");
      expect(page.headers.get("x-frame-options"), path).toBe("DENY");
      expect(page.headers.get("content-security-policy"), path).toContain("frame-ancestors 'none'");
    }
  });

  it("with PARLEY_ALLOWED_ORIGINS, accepts the listed origin and its own (WebSocket and cookie) and refuses every other", async () => {
    const { cookie } = await signIn();
    const own = server.url;
    expect(await upgrade(server.url, { origin: ALLOWED, cookie })).toBe("open");
    expect(await upgrade(server.url, { origin: own, cookie })).toBe("open");
    expect(await upgrade(server.url, { origin: "https://evil.example", cookie })).toBe(403);
    const me = (origin: string) => fetch(`${server.url}/api/trpc/auth.me`, { headers: { cookie, origin } });
    expect((await me(ALLOWED)).status).toBe(200);
    expect((await me(own)).status).toBe(200);
    expect((await me("https://evil.example")).status).toBe(401);
  });

  it("never writes a secret to its output: sign-in link (beyond its one console line), cookie, API tokens, wrong tokens", async () => {
    const { signInToken, cookie } = await signIn();
    const headers = { cookie, "content-type": "application/json" };
    const created = await fetch(`${server.url}/api/trpc/auth.createToken`, {
      method: "POST",
      headers,
      body: JSON.stringify({ json: { name: "logged bot", role: "agent" } }),
    });
    const { token } = z.object({ result: z.object({ data: z.object({ json: z.object({ token: z.string() }) }) }) }).parse(await created.json()).result.data.json;

    // The token at work: HTTP, a WebSocket stream, then revoked while streaming.
    const bot = createParleyClient({ url: server.url, token, retryDelayMs: () => 50 });
    const session = await bot.api.session.create.mutate({ title: "secrets" });
    const ended: unknown[] = [];
    bot.api.session.events.subscribe({ sessionId: session.id }, { onData: () => undefined, onError: (e) => ended.push(e) });
    await bot.api.message.post.mutate({ sessionId: session.id, content: "hello" });
    const wrong = `pt_${"w".repeat(43)}`;
    expect((await fetch(`${server.url}/api/trpc/auth.me`, { headers: { authorization: `Bearer ${wrong}` } })).status).toBe(401);
    expect(await upgrade(server.url, { cookie: `parley_session=${wrong}` })).toBe("open");
    const list = await fetch(`${server.url}/api/trpc/auth.listTokens`, { headers });
    const listed = z.object({ result: z.object({ data: z.object({ json: z.array(z.object({ id: z.string(), name: z.string() })) }) }) }).parse(await list.json());
    const id = listed.result.data.json.find((t) => t.name === "logged bot")?.id;
    await fetch(`${server.url}/api/trpc/auth.revokeToken`, { method: "POST", headers, body: JSON.stringify({ json: { id } }) });
    await waitFor(() => ended.length > 0, "the revoked token's stream to end");
    await bot.close();
    await fetch(`${server.url}/api/auth/signout`, { method: "POST", headers: { cookie } });

    const output = server.output();
    // The revocation was logged (by token id): the server did log about this token.
    expect(output).toContain("closed connections of a revoked token");
    const occurrences = (secret: string) => output.split(secret).length - 1;
    expect(occurrences(signInToken)).toBe(1);
    expect(output).toMatch(new RegExp(`^ {4}${server.url}/signin\\?token=${signInToken}$`, "m"));
    expect(occurrences(cookie.split("=")[1] ?? "")).toBe(0);
    expect(occurrences(token)).toBe(0);
    expect(occurrences(wrong)).toBe(0);
    expect(occurrences("pt_")).toBe(1);
  });
});
