// People other than the first admin: `npm run token -- user` creates a user
// principal and prints a one-time sign-in link; signing in gives a cookie for
// that user, with the role it was given.
import { afterAll, beforeAll, expect, it } from "vitest";
import { signInWithLink } from "./helpers/auth";
import { runBounded } from "./helpers/command";
import { repoRoot, startTestServer, type TestServer } from "./helpers/server";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ PARLEY_AUTH: "on" });
});
afterAll(async () => {
  await t.close();
});

it("invites a person with a sign-in link that signs them in as a member", async () => {
  // Asynchronously: the server this script writes beside lives in this process and must keep running.
  const run = await runBounded(process.execPath, ["--import", "tsx", "scripts/token.ts", "user", "--name", "alice"], {
    cwd: repoRoot,
    env: { ...process.env, DATABASE_URL: t.server.deps.config.DATABASE_URL, PARLEY_AUTH: "on", LOG_LEVEL: "silent" },
    timeoutMs: 60_000,
  });
  expect(run.code, run.stderr).toBe(0);
  const link = /(https?:\/\/\S+\/signin\?token=\S+)/.exec(run.stdout)?.[1];
  expect(link).toBeDefined();
  const { response: signIn, cookie } = await signInWithLink(t.url, link!);
  expect(signIn.status).toBe(303);
  const me = await fetch(`${t.url}/api/trpc/auth.me`, { headers: { cookie } });
  const body = JSON.stringify(await me.json());
  expect(body).toContain('"name":"alice"');
  expect(body).toContain('"kind":"user"');
  expect(body).toContain('"role":"member"');

  const bad = await runBounded(process.execPath, ["--import", "tsx", "scripts/token.ts", "user", "--name", "bob", "--role", "agent"], {
    cwd: repoRoot,
    env: { ...process.env, DATABASE_URL: t.server.deps.config.DATABASE_URL },
    timeoutMs: 60_000,
  });
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain("viewer, member or admin");
});
