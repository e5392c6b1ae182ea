// Chat across instances: `chat.stop` received by instance B stops the run
// executing on instance A (the stop travels on the bus), and a starting
// instance marks only its own interrupted runs, never another's live one.
import fs from "node:fs";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startFakeOpenAi, type FakeProvider } from "./helpers/chat-fakes";
import { redisSkipReason, startRedis, type RedisServer } from "./helpers/redis";
import { freshDatabase, startTestServer, waitFor, type TestServer } from "./helpers/server";

let redis: RedisServer;
let openai: FakeProvider;
let a: TestServer;
let b: TestServer;
let dbDir: string;

const run = redisSkipReason ? it.skip : it;
if (redisSkipReason) console.warn(`scale-out-chat.test.ts: ${redisSkipReason}`);

beforeAll(async () => {
  if (redisSkipReason) return;
  redis = await startRedis();
  openai = await startFakeOpenAi();
  const db = freshDatabase();
  dbDir = db.dir;
  const env = { REDIS_URL: redis.url, DATABASE_URL: db.url, OPENAI_BASE_URL: openai.url, OPENAI_API_KEY: "test-key" };
  a = await startTestServer({ ...env, PARLEY_INSTANCE: "instance-a" });
  b = await startTestServer({ ...env, PARLEY_INSTANCE: "instance-b" });
}, 120_000);

afterAll(async () => {
  await a?.close();
  await b?.close();
  await openai?.close();
  await redis?.close();
  if (dbDir) fs.rmSync(dbDir, { recursive: true, force: true });
});

run("chat.stop through instance B stops the run streaming on instance A, and B's restart does not touch A's live run", async () => {
  openai.answers = [{ kind: "tokens", tokens: ["one ", "two ", "three "], intervalMs: 10, endless: true }];
  const onA = a.client();
  const onB = b.client();
  const agents = await onA.api.agent.list.query();
  const agentId = agents.find((agent) => agent.provider === "openai")?.id;
  expect(agentId).toBeDefined();
  const session = await onA.api.session.create.mutate({ title: "two instances" });
  const sent = await onA.api.chat.send.mutate({ sessionId: session.id, content: "talk", agentId });
  await waitFor(() => openai.requests.length === 1 && (openai.requests[0]?.written.length ?? 0) > 3, "A streaming");

  // A third instance starting on the same database must leave A's run alone.
  const c = await startTestServer({ REDIS_URL: redis.url, DATABASE_URL: a.server.deps.config.DATABASE_URL, PARLEY_INSTANCE: "instance-c" });
  await c.close();
  const stillStreaming = await onB.api.message.list.query({ sessionId: session.id });
  expect(stillStreaming.items.find((m) => m.id === sent.assistantMessageId)?.status).toBe("streaming");

  const stopped = await onB.api.chat.stop.mutate({ runId: sent.runId });
  expect(stopped.status).toBe("stopped");
  expect(stopped.content.startsWith("one two three ")).toBe(true);
  await waitFor(() => openai.requests[0]?.abortedByClient === true, "the provider to see the closed connection");
});
