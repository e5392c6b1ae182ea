// Two Parley instances behind one Redis and one database (SQLite, then
// PostgreSQL), as in production behind a load balancer: events cross
// instances, a client resumes on the other instance, concurrent writers
// through both keep seqs unique and gap-free, and a Redis restart loses
// nothing that was persisted.
import fs from "node:fs";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { postgresSkipReason, startPostgres, type PostgresServer } from "./helpers/postgres";
import { redisSkipReason, startRedis, type RedisServer } from "./helpers/redis";
import { freshDatabase, startTestServer, waitFor, type TestServer } from "./helpers/server";
import { collectSessionEvents, range, type Collected } from "./helpers/stream";

/** A database both instances share: a fresh one per test, dropped after it. */
interface SharedDatabase {
  name: string;
  /** Why this database's tests are skipped; null when they run. */
  skip: string | null;
  setUp: () => Promise<void>;
  fresh: () => Promise<string>;
  drop: (url: string) => Promise<void>;
  tearDown: () => Promise<void>;
}

const sqliteDirs = new Map<string, string>();
const databases: SharedDatabase[] = [
  {
    // WAL mode lets two connections (one per instance) share the file on one machine.
    name: "SQLite (one WAL file)",
    skip: null,
    setUp: () => Promise.resolve(),
    fresh: () => {
      const db = freshDatabase();
      sqliteDirs.set(db.url, db.dir);
      return Promise.resolve(db.url);
    },
    drop: (url) => {
      const dir = sqliteDirs.get(url);
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
    tearDown: () => Promise.resolve(),
  },
  postgresDatabase(),
];

/** PostgreSQL, the production database for several instances: seqs come from a row-locked UPDATE. */
function postgresDatabase(): SharedDatabase {
  let server: PostgresServer | undefined;
  const drops = new Map<string, () => Promise<void>>();
  return {
    name: "PostgreSQL",
    skip: postgresSkipReason,
    setUp: async () => {
      server = await startPostgres();
    },
    fresh: async () => {
      if (!server) throw new Error("PostgreSQL did not start");
      const db = await server.freshDatabase();
      drops.set(db.url, db.drop);
      return db.url;
    },
    drop: async (url) => {
      await drops.get(url)?.();
      drops.delete(url);
    },
    tearDown: async () => {
      await server?.close();
    },
  };
}

for (const database of databases) {
  const skip = redisSkipReason ?? database.skip;
  if (skip) console.warn(`scale-out.test.ts (${database.name}): ${skip}`);

  describe.skipIf(skip !== null)(`two instances sharing Redis and ${database.name}`, () => {
    let redis: RedisServer;
    let a: TestServer;
    let b: TestServer;
    let databaseUrl: string;

    beforeAll(async () => {
      redis = await startRedis();
      await database.setUp();
    });
    afterAll(async () => {
      await database.tearDown();
      await redis?.close();
    });
    beforeEach(async () => {
      databaseUrl = await database.fresh();
      const env = { DATABASE_URL: databaseUrl, REDIS_URL: redis.url };
      a = await startTestServer(env);
      b = await startTestServer(env);
    });
    afterEach(async () => {
      await Promise.all([a?.close(), b?.close()]);
      await database.drop(databaseUrl);
    });

    /** Post `count` messages through `server`, `concurrency` at a time (one HTTP batch each round). */
    async function post(server: TestServer, sessionId: string, count: number, label: string, concurrency = 25) {
      const client = server.client();
      for (let i = 0; i < count; i += concurrency) {
        const round = range(i + 1, Math.min(i + concurrency, count));
        await Promise.all(round.map((n) => client.api.message.post.mutate({ sessionId, content: `${label} ${n}` })));
      }
    }

    it("delivers a message posted through B to a subscriber on A", async () => {
      const session = await a.client().api.session.create.mutate({ title: "across" });
      const baseA = a.server.deps.sessionStreams.subscriberCount;
      const sub = collectSessionEvents(a.client(), session.id);
      await waitFor(() => a.server.deps.sessionStreams.subscriberCount === baseA + 1, "subscription on A");
      await b.client().api.message.post.mutate({ sessionId: session.id, content: "from B" });
      await waitFor(() => sub.events.length === 1, "delivery on A");
      expect(sub.events[0]).toMatchObject({ type: "message.created", message: { content: "from B", seq: 1 } });
      expect(sub.ids).toEqual(["1"]);
      expect(sub.errors).toEqual([]);
    });

    it("resumes on B a client that left A, with exactly what it missed, then live events", async () => {
      const session = await a.client().api.session.create.mutate({ title: "failover" });
      await post(a, session.id, 5, "before");
      const onA = collectSessionEvents(a.client(), session.id);
      await waitFor(() => onA.events.length === 5, "back-fill on A");
      onA.unsubscribe();
      const lastId = onA.ids.at(-1);
      expect(lastId).toBe("5");

      await post(b, session.id, 100, "while away");
      const onB = collectSessionEvents(b.client(), session.id, lastId);
      await waitFor(() => onB.events.length === 100, "missed messages on B");
      await a.client().api.message.post.mutate({ sessionId: session.id, content: "live, through A" });
      await waitFor(() => onB.events.length === 101, "live on B");

      expect(onB.messageSeqs()).toEqual(range(6, 106));
      expect(onB.ids).toEqual(range(6, 106).map(String));
      expect(onB.errors).toEqual([]);
    });

    it("keeps seqs unique and gap-free with 2,000 messages posted concurrently through both, and every subscriber gets all in order", async () => {
      const session = await a.client().api.session.create.mutate({ title: "concurrent" });
      const baseA = a.server.deps.sessionStreams.subscriberCount;
      const baseB = b.server.deps.sessionStreams.subscriberCount;
      const subscribers: Collected[] = [
        collectSessionEvents(a.client(), session.id),
        collectSessionEvents(a.client(), session.id),
        collectSessionEvents(b.client(), session.id),
        collectSessionEvents(b.client(), session.id),
      ];
      await waitFor(
        () => a.server.deps.sessionStreams.subscriberCount === baseA + 2 && b.server.deps.sessionStreams.subscriberCount === baseB + 2,
        "subscribers on both instances",
      );
      await Promise.all([post(a, session.id, 1_000, "A"), post(b, session.id, 1_000, "B")]);

      const seqs = await allMessageSeqs(a, session.id);
      expect(seqs).toEqual(range(1, 2_000));
      const contents = await allMessageContents(b, session.id);
      expect(new Set(contents).size).toBe(2_000);

      await waitFor(() => subscribers.every((s) => s.events.length >= 2_000), "every subscriber has 2,000 events", 60_000);
      for (const s of subscribers) {
        expect(s.messageSeqs()).toEqual(range(1, 2_000));
        expect(s.errors).toEqual([]);
      }
    }, 180_000);

    it("loses nothing persisted across a Redis restart mid-stream: every subscriber ends with every message exactly once", async () => {
      const session = await a.client().api.session.create.mutate({ title: "redis restart" });
      const baseA = a.server.deps.sessionStreams.subscriberCount;
      const baseB = b.server.deps.sessionStreams.subscriberCount;
      const onA = collectSessionEvents(a.client(), session.id);
      const onB = collectSessionEvents(b.client(), session.id);
      await waitFor(
        () => a.server.deps.sessionStreams.subscriberCount === baseA + 1 && b.server.deps.sessionStreams.subscriberCount === baseB + 1,
        "subscribers on both instances",
      );

      await Promise.all([post(a, session.id, 100, "A before", 5), post(b, session.id, 100, "B before", 5)]);
      await redis.stop();
      await waitFor(() => a.server.deps.bus.health().status === "down", "A's bus down");
      const health = await fetch(`${a.url}/api/health`);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ status: "degraded", db: "up", bus: { kind: "redis", status: "down" } });

      // Writes keep working while the bus is down; their live delivery is lost.
      await Promise.all([post(a, session.id, 100, "A during", 5), post(b, session.id, 100, "B during", 5)]);
      await redis.start();
      await waitFor(
        () => a.server.deps.bus.health().status === "up" && b.server.deps.bus.health().status === "up",
        "both buses up again",
        20_000,
      );
      expect((await fetch(`${b.url}/api/health`)).status).toBe(200);
      // Nothing new is posted yet: only the bus's resync can bring what was posted during the outage.
      await waitFor(() => onA.events.length >= 400 && onB.events.length >= 400, "the outage's messages, from the database", 30_000);
      for (const s of [onA, onB]) expect(s.messageSeqs()).toEqual(range(1, 400));

      await Promise.all([post(a, session.id, 100, "A after", 5), post(b, session.id, 100, "B after", 5)]);

      await waitFor(() => onA.events.length >= 600 && onB.events.length >= 600, "every message on both", 30_000);
      for (const s of [onA, onB]) {
        expect(s.messageSeqs()).toEqual(range(1, 600));
        expect(s.errors).toEqual([]);
      }
    }, 120_000);
  });
}

async function allMessageSeqs(server: TestServer, sessionId: string): Promise<number[]> {
  return (await allMessages(server, sessionId)).map((m) => m.seq);
}

async function allMessageContents(server: TestServer, sessionId: string): Promise<string[]> {
  return (await allMessages(server, sessionId)).map((m) => m.content);
}

async function allMessages(server: TestServer, sessionId: string) {
  const client = server.client();
  const all: { seq: number; content: string }[] = [];
  for (;;) {
    const { items } = await client.api.message.list.query({ sessionId, afterSeq: all.at(-1)?.seq ?? 0, limit: 200 });
    all.push(...items);
    if (items.length < 200) return all;
  }
}
