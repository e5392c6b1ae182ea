// Live revocation across instances: revoking a token or removing a member
// through instance A ends the affected streams held by instance B within one
// second, and B closes the revoked token's sockets. Database polling is slowed
// to a minute here, so only the bus (Redis) can carry the change in time.
import fs from "node:fs";
import type { TRPCClientError } from "@trpc/client";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { AppRouter } from "../src/server/routers/_app";
import { makePrincipal, type TestPrincipal } from "./helpers/auth";
import { redisSkipReason, startRedis, type RedisServer } from "./helpers/redis";
import { freshDatabase, startTestServer, waitFor, type TestServer } from "./helpers/server";

type ClientError = TRPCClientError<AppRouter>;

let redis: RedisServer;
let a: TestServer;
let b: TestServer;
let dbDir: string;
let admin: TestPrincipal;
let owner: TestPrincipal;

const run = redisSkipReason ? it.skip : it;
if (redisSkipReason) console.warn(`scale-out-auth.test.ts: ${redisSkipReason}`);

beforeAll(async () => {
  if (redisSkipReason) return;
  redis = await startRedis();
  const db = freshDatabase();
  dbDir = db.dir;
  const env = { REDIS_URL: redis.url, DATABASE_URL: db.url, PARLEY_AUTH: "on", AUTH_REVOCATION_POLL_MS: "60000" };
  a = await startTestServer({ ...env, PARLEY_INSTANCE: "instance-a" });
  b = await startTestServer({ ...env, PARLEY_INSTANCE: "instance-b" });
  admin = await makePrincipal(a, "admin", "admin");
  owner = await makePrincipal(a, "member", "owner");
}, 60_000);

afterAll(async () => {
  await a?.close();
  await b?.close();
  await redis?.close();
  if (dbDir) fs.rmSync(dbDir, { recursive: true, force: true });
});

/** `who` follows `sessionId` on instance B; resolves once B holds the subscription. */
async function followOnB(who: TestPrincipal, sessionId: string) {
  const errors: unknown[] = [];
  let events = 0;
  b.client({ token: who.token }).api.session.events.subscribe({ sessionId }, { onData: () => events++, onError: (e) => errors.push(e) });
  await waitFor(() => b.server.deps.connections.list().some((c) => c.principal.id === who.id && c.subscriptions.length > 0), "subscribed on B");
  return { errors, events: () => events };
}

run("a token revoked through A ends its stream on B within 1 s, and B closes its socket", async () => {
  const bot = await makePrincipal(a, "agent", "revoked on A");
  const ownerOnA = a.client({ token: owner.token });
  const session = await ownerOnA.api.session.create.mutate({ title: "revoke across" });
  await ownerOnA.api.session.addMember.mutate({ sessionId: session.id, principalId: bot.id, role: "agent" });
  const onB = await followOnB(bot, session.id);
  await ownerOnA.api.message.post.mutate({ sessionId: session.id, content: "before" });
  await waitFor(() => onB.events() === 1, "the first event on B");

  const revokedAt = Date.now();
  await a.client({ token: admin.token }).api.auth.revokeToken.mutate({ id: bot.tokenId });
  await waitFor(() => onB.errors.length > 0, "the stream on B to end", 5_000);
  expect(Date.now() - revokedAt).toBeLessThan(1_000);
  expect((onB.errors[0] as ClientError).data?.code).toBe("UNAUTHORIZED");
  await waitFor(() => !b.server.deps.connections.list().some((c) => c.principal.tokenId === bot.tokenId), "B to close the token's socket", 1_000);
  const refused = await b.client({ token: bot.token }).api.message.list.query({ sessionId: session.id }).catch((e: ClientError) => e);
  expect((refused as ClientError).data?.code).toBe("UNAUTHORIZED");
});

run("a member removed through A loses its stream on B within 1 s", async () => {
  const reader = await makePrincipal(a, "member", "removed on A");
  const ownerOnA = a.client({ token: owner.token });
  const session = await ownerOnA.api.session.create.mutate({ title: "membership across" });
  await ownerOnA.api.session.addMember.mutate({ sessionId: session.id, principalId: reader.id, role: "viewer" });
  const onB = await followOnB(reader, session.id);

  const removedAt = Date.now();
  await ownerOnA.api.session.removeMember.mutate({ sessionId: session.id, principalId: reader.id });
  await waitFor(() => onB.errors.length > 0, "the stream on B to end", 5_000);
  expect(Date.now() - removedAt).toBeLessThan(1_000);
  expect((onB.errors[0] as ClientError).data?.code).toBe("FORBIDDEN");
});
