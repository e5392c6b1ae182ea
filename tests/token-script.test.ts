// `npm run token -- create | list | revoke` as a shell user runs it: the
// script as its own process on the database of a running server. A created
// token works against the server, list shows it (never the secret), and
// revoking it ends that token's live WebSocket stream within a second.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorCode, outcome } from "./helpers/auth";
import { sh, type CommandResult } from "./helpers/command";
import { repoRoot, startTestServer, waitFor, type TestServer } from "./helpers/server";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ PARLEY_AUTH: "on", AUTH_REVOCATION_POLL_MS: "100" });
});
afterAll(async () => {
  await t?.close();
});

/** Run scripts/token.ts with `args` on the test server's database; resolves when it exits. */
function tokenScript(args: string[]): Promise<CommandResult> {
  return sh(process.execPath, ["--import", "tsx", "scripts/token.ts", ...args], repoRoot, {
    DATABASE_URL: t.server.deps.config.DATABASE_URL,
    LOG_LEVEL: "silent",
  });
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
