// Presence across instances: members connected to different instances see
// each other, leaves and typing marks cross over, and an instance whose
// heartbeats stop would drop out (covered by REMOTE_TTL in presence.ts).
import fs from "node:fs";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { PresenceUpdate } from "../src/server/services/presence";
import { collect, wsOnlyClient, type WsOnlyClient } from "./helpers/ws-client";
import { redisSkipReason, startRedis, type RedisServer } from "./helpers/redis";
import { freshDatabase, startTestServer, waitFor, type TestServer } from "./helpers/server";

let redis: RedisServer;
let a: TestServer;
let b: TestServer;
let dbDir: string;
const clients: WsOnlyClient[] = [];

const run = redisSkipReason ? it.skip : it;
if (redisSkipReason) console.warn(`scale-out-presence.test.ts: ${redisSkipReason}`);

beforeAll(async () => {
  if (redisSkipReason) return;
  redis = await startRedis();
  const db = freshDatabase();
  dbDir = db.dir;
  a = await startTestServer({ REDIS_URL: redis.url, DATABASE_URL: db.url, PARLEY_AUTH: "off" });
  b = await startTestServer({ REDIS_URL: redis.url, DATABASE_URL: db.url, PARLEY_AUTH: "off" });
}, 120_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await a?.close();
  await b?.close();
  await redis?.close();
  if (dbDir) fs.rmSync(dbDir, { recursive: true, force: true });
});

const names = (u: PresenceUpdate | undefined) => (u?.members.map((m) => m.name) ?? []).sort();

run("members on two instances see each other, their leaves and their typing", async () => {
  const alice = wsOnlyClient(a.url, "alice");
  const bob = wsOnlyClient(b.url, "bob");
  clients.push(alice, bob);
  const session = await a.client().api.session.create.mutate({ title: "split room" });

  const onA = collect<PresenceUpdate>((h) => alice.api.session.presence.subscribe({ sessionId: session.id }, h), false);
  await waitFor(() => names(onA.items.at(-1)).includes("alice"), "alice present on A");
  const onB = collect<PresenceUpdate>((h) => bob.api.session.presence.subscribe({ sessionId: session.id }, h), false);
  await waitFor(() => names(onA.items.at(-1)).length === 2, "A sees bob");
  await waitFor(() => names(onB.items.at(-1)).length === 2, "B sees alice");
  expect(names(onB.items.at(-1))).toEqual(["alice", "bob"]);

  await bob.api.presence.typing.mutate({ sessionId: session.id });
  await waitFor(() => (onA.items.at(-1)?.typing ?? []).some((t) => t.name === "bob"), "A sees bob typing");

  onB.unsubscribe();
  await waitFor(() => onA.items.at(-1)?.kind === "leave" && names(onA.items.at(-1)).length === 1, "A sees bob leave");
  expect(names(onA.items.at(-1))).toEqual(["alice"]);
});
