// Rate limits across instances: with REDIS_URL a principal's calls per second
// are counted in Redis, so a burst split over two instances meets one limit;
// while Redis is down each instance falls back to its own in-memory bucket
// instead of refusing or stalling calls.
import fs from "node:fs";
import { afterAll, beforeAll, expect, it } from "vitest";
import { makePrincipal, type TestPrincipal } from "./helpers/auth";
import { redisSkipReason, startRedis, type RedisServer } from "./helpers/redis";
import { freshDatabase, startTestServer, waitFor, type TestServer } from "./helpers/server";

let redis: RedisServer;
let a: TestServer;
let b: TestServer;
let dbDir: string;

const run = redisSkipReason ? it.skip : it;
if (redisSkipReason) console.warn(`scale-out-limits.test.ts: ${redisSkipReason}`);

// 1 call per second plus a burst of 9 refilled over 10 s: 10 calls, then refusals.
const RATE = 1;
const BURST = 9;

beforeAll(async () => {
  if (redisSkipReason) return;
  redis = await startRedis();
  const db = freshDatabase();
  dbDir = db.dir;
  const env = {
    REDIS_URL: redis.url,
    DATABASE_URL: db.url,
    PARLEY_AUTH: "on",
    RATE_LIMIT_PER_PRINCIPAL: String(RATE),
    RATE_LIMIT_BURST: String(BURST),
  };
  a = await startTestServer({ ...env, PARLEY_INSTANCE: "instance-a" });
  b = await startTestServer({ ...env, PARLEY_INSTANCE: "instance-b" });
  await waitFor(() => a.server.deps.auth.limiterStore?.status === "ready" && b.server.deps.auth.limiterStore?.status === "ready", "limit stores connected");
}, 60_000);

afterAll(async () => {
  await a?.close();
  await b?.close();
  await redis?.close();
  if (dbDir) fs.rmSync(dbDir, { recursive: true, force: true });
});

/** Make `count` calls one after another as `who` through `server`; the codes of the refusals (null for a success). */
async function burst(server: TestServer, who: TestPrincipal, count: number): Promise<(string | null)[]> {
  const client = server.client({ token: who.token });
  const out: (string | null)[] = [];
  for (let i = 0; i < count; i++) {
    out.push(
      await client.api.auth.me.query().then(
        () => null,
        (error: { data?: { code?: string } }) => error.data?.code ?? "unknown",
      ),
    );
  }
  return out;
}

run("a burst split over two instances meets the principal's one shared limit", async () => {
  const who = await makePrincipal(a, "member", "bursty");
  const throughA = await burst(a, who, 8);
  const throughB = await burst(b, who, 8);
  const successes = [...throughA, ...throughB].filter((c) => c === null).length;
  // With per-instance buckets all 16 would pass (10 on each). Shared: 10, or 11 if a second ticked over meanwhile.
  expect(successes).toBeGreaterThanOrEqual(RATE + BURST);
  expect(successes).toBeLessThanOrEqual(RATE + BURST + 1);
  expect(throughA.every((c) => c === null)).toBe(true);
  expect(throughB.filter((c) => c !== null).every((c) => c === "TOO_MANY_REQUESTS")).toBe(true);
  expect(throughB.filter((c) => c === "TOO_MANY_REQUESTS").length).toBeGreaterThanOrEqual(5);

  // Another principal has its own bucket.
  const other = await makePrincipal(b, "member", "calm");
  expect(await burst(b, other, 3)).toEqual([null, null, null]);
});

run("while Redis is down each instance limits on its own, and calls neither fail nor wait", async () => {
  const who = await makePrincipal(a, "member", "during an outage");
  await redis.stop();
  try {
    await waitFor(() => a.server.deps.auth.limiterStore?.status !== "ready", "A sees Redis gone");
    const started = Date.now();
    const throughA = await burst(a, who, 12);
    expect(Date.now() - started).toBeLessThan(3_000);
    // The in-memory insurance bucket has the same size: 10 pass on this instance.
    expect(throughA.filter((c) => c === null).length).toBeGreaterThanOrEqual(RATE + BURST);
    expect(throughA.filter((c) => c === null).length).toBeLessThanOrEqual(RATE + BURST + 1);
    expect(throughA.slice(-1)).toEqual(["TOO_MANY_REQUESTS"]);
  } finally {
    await redis.start();
  }
  await waitFor(() => a.server.deps.auth.limiterStore?.status === "ready", "limit store reconnected", 10_000);
});
