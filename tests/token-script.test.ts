// `npm run token -- create | list | revoke` as a shell user runs it: the
// script as its own process on the database of a running server. A created
// token works against the server, list shows it (never the secret), and
// revoking it ends that token's live WebSocket stream within a second.
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recordSignInBase } from "../src/server/auth/sign-in-base";
import { openStorage } from "../src/server/db";
import { errorCode, outcome, signInWithLink } from "./helpers/auth";
import { sh, type CommandResult } from "./helpers/command";
import { freshDatabase, repoRoot, spawnServer, startTestServer, waitFor, type TestServer } from "./helpers/server";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ PARLEY_AUTH: "on", AUTH_REVOCATION_POLL_MS: "100" });
});
afterAll(async () => {
  await t?.close();
});

/** Run scripts/token.ts with `args` on `databaseUrl` (the test server's database by default), PORT and PUBLIC_URL unset unless `env` sets them. */
function tokenScript(args: string[], databaseUrl = t.server.deps.config.DATABASE_URL, env: Record<string, string> = {}): Promise<CommandResult> {
  const { PORT: _port, PUBLIC_URL: _public, HOST: _host, ...inherited } = process.env;
  return sh(process.execPath, ["--import", "tsx", "scripts/token.ts", ...args], repoRoot, {
    ...Object.fromEntries(Object.entries(inherited).filter((entry): entry is [string, string] => entry[1] !== undefined)),
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: "silent",
    ...env,
  });
}

/** The sign-in link a `signin` or `user` run printed. */
function link(stdout: string): URL {
  const printed = /^\s+(http\S+\/signin\?token=\S+)$/m.exec(stdout)?.[1];
  if (!printed) throw new Error(`no sign-in link in:\n${stdout}`);
  return new URL(printed);
}

/** The token and its id, as `create` prints them. */
function created(stdout: string): { token: string; id: string; expires: string } {
  const token = /^\s+(pt_\S+)$/m.exec(stdout)?.[1];
  const id = /created token (\S+)/.exec(stdout)?.[1];
  const expires = /^expires: (.+)$/m.exec(stdout)?.[1];
  if (!token || !id || !expires) throw new Error(`unexpected output of create:\n${stdout}`);
  return { token, id, expires };
}

describe("npm run token", () => {
  it("create prints a token that works against the running server; list shows it without the secret; revoke ends its live stream within 1 s", async () => {
    const create = await tokenScript(["create", "--name", "script bot", "--role", "agent", "--expires-in", "2h"]);
    expect(create.code, create.stderr).toBe(0);
    const bot = created(create.stdout);
    const expiresInMs = new Date(bot.expires).getTime() - Date.now();
    expect(expiresInMs).toBeGreaterThan(3_600_000);
    expect(expiresInMs).toBeLessThanOrEqual(7_200_000);

    const client = t.client({ token: bot.token });
    expect(await client.api.auth.me.query()).toMatchObject({ name: "script bot", role: "agent", kind: "agent" });

    const list = await tokenScript(["list"]);
    expect(list.code, list.stderr).toBe(0);
    const line = list.stdout.split("\n").find((l) => l.startsWith(bot.id));
    expect(line).toMatch(/agent\s+"script bot"\s+active/);
    expect(list.stdout).not.toContain(bot.token);

    // A live stream over the WebSocket, then the revocation from another process (found by polling).
    const session = await client.api.session.create.mutate({ title: "revoked from the shell" });
    const errors: unknown[] = [];
    client.api.session.events.subscribe({ sessionId: session.id }, { onData: () => undefined, onError: (e) => errors.push(e) });
    await waitFor(() => t.server.deps.connections.list().some((c) => c.principal.tokenId === bot.id && c.subscriptions.length > 0), "subscribed");
    const revoke = await tokenScript(["revoke", bot.id]);
    expect(revoke.code, revoke.stderr).toBe(0);
    expect(revoke.stdout).toContain(`revoked ${bot.id}`);
    // Within a second of the script's exit: the stream ends and the server closes the socket.
    await waitFor(() => errors.length > 0 && !t.server.deps.connections.list().some((c) => c.principal.tokenId === bot.id), "the stream and socket to close", 1_000);
    expect(errorCode(errors[0])).toBe("UNAUTHORIZED");
    expect(await outcome(client.api.auth.me.query())).toBe("UNAUTHORIZED");

    const active = await tokenScript(["list"]);
    expect(active.stdout).not.toContain(bot.id);
    const all = await tokenScript(["list", "--all"]);
    expect(all.stdout.split("\n").find((l) => l.startsWith(bot.id))).toMatch(/revoked \d{4}-/);
  });

  it("create takes --expires as an alias of --expires-in, and refuses a duration it cannot read", async () => {
    const alias = await tokenScript(["create", "--name", "old spelling", "--role", "viewer", "--expires", "30d"]);
    expect(alias.code, alias.stderr).toBe(0);
    const expiresInDays = (new Date(created(alias.stdout).expires).getTime() - Date.now()) / 86_400_000;
    expect(Math.round(expiresInDays)).toBe(30);

    const never = await tokenScript(["create", "--name", "forever", "--role", "member"]);
    expect(created(never.stdout).expires).toBe("never (until revoked)");

    const bad = await tokenScript(["create", "--name", "bad", "--role", "agent", "--expires-in", "soon"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--expires-in "soon" is not a duration');
  });
});

describe("npm run token sign-in links", () => {
  it("point at the running server's real port, not 3000, and say so when no server runs on the database", async () => {
    const db = freshDatabase();
    try {
      const server = await spawnServer({ DATABASE_URL: db.url, PARLEY_AUTH: "on", LOG_LEVEL: "warn" });
      try {
        expect(new URL(server.url).port).not.toBe("3000");
        const signin = await tokenScript(["signin"], db.url);
        expect(signin.code, signin.stderr).toBe(0);
        expect(link(signin.stdout).origin).toBe(new URL(server.url).origin);
        expect(signin.stdout).not.toContain("No running Parley server");
        // The link works against that server: its page's form signs in (303 to / with a cookie).
        const { page, response } = await signInWithLink(server.url, link(signin.stdout).href);
        expect(page.status).toBe(200);
        expect(response.status).toBe(303);

        const user = await tokenScript(["user", "--name", "dana"], db.url);
        expect(user.code, user.stderr).toBe(0);
        expect(link(user.stdout).origin).toBe(new URL(server.url).origin);
      } finally {
        server.child.kill("SIGTERM");
        await server.exited;
      }
      // Stopped: the record is gone; the link falls back to HOST:PORT here and says so.
      const after = await tokenScript(["signin"], db.url);
      expect(after.code, after.stderr).toBe(0);
      expect(link(after.stdout).origin).toBe("http://127.0.0.1:3000");
      expect(after.stdout).toContain("No running Parley server was found on this database");
      // PORT or PUBLIC_URL given to the script win.
      expect(link((await tokenScript(["signin"], db.url, { PORT: "4100" })).stdout).origin).toBe("http://127.0.0.1:4100");
      expect(link((await tokenScript(["signin"], db.url, { PUBLIC_URL: "https://parley.example.com" })).stdout).origin).toBe("https://parley.example.com");
    } finally {
      fs.rmSync(db.dir, { recursive: true, force: true });
    }
  }, 120_000);

  it("use the PUBLIC_URL the running server was given", async () => {
    // This test process stands for a server started with PUBLIC_URL on the test server's database.
    const forget = recordSignInBase({ DATABASE_URL: t.server.deps.config.DATABASE_URL, PUBLIC_URL: "https://chat.example.org" }, "http://127.0.0.1:39999");
    try {
      const signin = await tokenScript(["signin"]);
      expect(link(signin.stdout).origin).toBe("https://chat.example.org");
    } finally {
      forget();
    }
    expect(link((await tokenScript(["signin"])).stdout).origin).toBe("http://127.0.0.1:3000");
  });

  it("user with a name that exists makes no second principal: the same person gets a new link, a different role or an agent's name is refused", async () => {
    const first = await tokenScript(["user", "--name", "erin"]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/created user "erin" \(role member, principal (\S+)\)/);
    const again = await tokenScript(["user", "--name", "erin"]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('"erin" exists (user, role member');
    expect(again.stdout).toContain("no new principal");
    expect(link(again.stdout).searchParams.get("token")).not.toBe(link(first.stdout).searchParams.get("token"));

    const promoted = await tokenScript(["user", "--name", "erin", "--role", "admin"]);
    expect(promoted.code).toBe(2);
    expect(promoted.stderr).toContain('"erin" exists with role member');

    const bot = await tokenScript(["create", "--name", "helper bot", "--role", "agent"]);
    expect(bot.code, bot.stderr).toBe(0);
    const clash = await tokenScript(["user", "--name", "helper bot"]);
    expect(clash.code).toBe(2);
    expect(clash.stderr).toContain('"helper bot" is already the name of a principal of kind agent');

    const storage = await openStorage(t.server.deps.config.DATABASE_URL);
    const db = storage.db;
    try {
      expect(await db.principal.count({ where: { name: "erin" } })).toBe(1);
      expect(await db.principal.count({ where: { name: "helper bot" } })).toBe(1);
    } finally {
      await storage.close();
    }
    // The second link signs erin in, as the one principal.
    const { response } = await signInWithLink(t.url, link(again.stdout).href);
    expect(response.status).toBe(303);
  });
});
