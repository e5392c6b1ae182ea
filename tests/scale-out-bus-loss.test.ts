// Whatever the Redis bus loses, no committed event waits for a later post.
// Two instances share Redis and one SQLite file; a quiet session has four
// subscribers, a stock tRPC wsLink client and the SDK's `tail` on each
// instance. One event is committed while part of the bus is down (only A's
// publish connection, only B's subscribe connection, or a Redis restart with
// the subscribers or the publishers back first), then nothing more is posted:
// every subscriber must get it, exactly once and in order, within
// LOSS_BOUND_MS of Redis being reachable again. A last case commits an event
// that is never published at all (its writer died after the commit): the
// instances' position checks bring it.
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createParleyClient, type ParleyClient } from "@parley/client";
import { RedisBus } from "../src/server/bus/redis";
import { RedisAdmin, redisSkipReason, startRedis, type RedisClientInfo, type RedisServer } from "./helpers/redis";
import { freshDatabase, startTestServer, waitFor, type TestServer } from "./helpers/server";
import { range } from "./helpers/stream";
import { wsOnlyClient, type WsOnlyClient } from "./helpers/ws-client";

/** The promise: a lost event reaches every subscriber within this long of Redis being reachable again. */
const LOSS_BOUND_MS = 1_000;

if (redisSkipReason) console.warn(`scale-out-bus-loss.test.ts: ${redisSkipReason}`);

/** One subscriber: the seqs it received, in order, and when each arrived. */
interface Watcher {
  name: string;
  seqs: number[];
  arrivedAt: Map<number, number>;
}

describe.skipIf(redisSkipReason !== null)("events the Redis bus loses reach every instance's subscribers", () => {
  let redis: RedisServer;
  let admin: RedisAdmin;
  let a: TestServer;
  let b: TestServer;
  let dbDir: string;
  const clients: (ParleyClient | WsOnlyClient)[] = [];
  const stops: AbortController[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    admin = new RedisAdmin(redis.url);
    const db = freshDatabase();
    dbDir = db.dir;
    const env = { DATABASE_URL: db.url, REDIS_URL: redis.url };
    a = await startTestServer(env);
    b = await startTestServer(env);
  });
  afterAll(async () => {
    for (const stop of stops) stop.abort();
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all([a?.close(), b?.close()]);
    admin?.close();
    await redis?.close();
    if (dbDir) fs.rmSync(dbDir, { recursive: true, force: true });
  });

  /** The names of an instance's two Redis connections (CLIENT LIST). */
  function names(server: TestServer) {
    const bus = server.server.deps.bus;
    if (!(bus instanceof RedisBus)) throw new Error("the instance does not run the Redis bus");
    return bus.connectionNames;
  }

  /** A session with four subscribers (stock wsLink and SDK tail, on A and on B), all subscribed. */
  async function quietSession(title: string): Promise<{ sessionId: string; watchers: Watcher[] }> {
    const sessionId = (await a.client().api.session.create.mutate({ title })).id;
    const watchers: Watcher[] = [];
    const baseA = a.server.deps.sessionStreams.subscriberCount;
    const baseB = b.server.deps.sessionStreams.subscriberCount;
    for (const server of [a, b]) {
      const instance = server === a ? "A" : "B";
      const stock: Watcher = { name: `stock wsLink on ${instance}`, seqs: [], arrivedAt: new Map() };
      const ws = wsOnlyClient(server.url);
      clients.push(ws);
      ws.api.session.events.subscribe(
        { sessionId },
        {
          onData: ({ id }) => {
            stock.seqs.push(Number(id));
            stock.arrivedAt.set(Number(id), performance.now());
          },
        },
      );
      const tailed: Watcher = { name: `SDK tail on ${instance}`, seqs: [], arrivedAt: new Map() };
      const sdk = createParleyClient({ url: server.url });
      clients.push(sdk);
      const stop = new AbortController();
      stops.push(stop);
      void (async () => {
        for await (const item of sdk.tail(sessionId, { signal: stop.signal })) {
          tailed.seqs.push(Number(item.id));
          tailed.arrivedAt.set(Number(item.id), performance.now());
        }
      })();
      watchers.push(stock, tailed);
    }
    await waitFor(
      () => a.server.deps.sessionStreams.subscriberCount === baseA + 2 && b.server.deps.sessionStreams.subscriberCount === baseB + 2,
      "four subscribers",
    );
    await Promise.all([a.server.deps.bus.ready(), b.server.deps.bus.ready()]);
    // One event delivered normally first: every subscriber is live and caught up.
    await a.client().api.session.update.mutate({ id: sessionId, title: `${title} (live)` });
    await waitFor(() => watchers.every((w) => w.seqs.length === 1), "the first event on every subscriber");
    return { sessionId, watchers };
  }

  /**
   * Restart Redis while both instances' `held` connections are kept down;
   * resolves once both of the other kind are back (and `back` holds for them).
   */
  async function restartRedisHolding(held: "publish" | "subscribe", back: (c: RedisClientInfo) => boolean) {
    await redis.stop();
    await waitFor(() => a.server.deps.bus.health().status === "down" && b.server.deps.bus.health().status === "down", "both buses down");
    const holding = admin.hold([names(a)[held], names(b)[held]]);
    await redis.start();
    const other = held === "publish" ? "subscribe" : "publish";
    const expected = [names(a)[other], names(b)[other]];
    await waitForClients(admin, (list) => expected.every((n) => list.some((c) => c.name === n && back(c))), `both ${other} connections back`);
    return holding;
  }

  /** Post through A until one post's publish fails (A's publish connection is held down); its seq. */
  async function postWhilePublishFails(sessionId: string): Promise<number> {
    const bus = a.server.deps.bus;
    for (let attempt = 0; attempt < 50; attempt++) {
      const failed = bus.failedPublishCount();
      const updated = await a.client().api.session.update.mutate({ id: sessionId, title: `posted while A cannot publish (${attempt})` });
      await new Promise((r) => setTimeout(r, 5));
      if (bus.failedPublishCount() > failed) return updated.lastEventSeq;
    }
    throw new Error("no publish failed while A's publish connection was held down");
  }

  /** Every subscriber ends with exactly 1..`last`, and `last` arrived within `boundMs` of `from`. */
  async function expectDelivered(watchers: Watcher[], last: number, from: number, boundMs = LOSS_BOUND_MS) {
    await waitFor(() => watchers.every((w) => w.seqs.includes(last)), `seq ${last} on every subscriber`, 10_000);
    await new Promise((r) => setTimeout(r, 100)); // a duplicate would arrive now
    const lateness = watchers.map((w) => ({ name: w.name, ms: Math.round((w.arrivedAt.get(last) ?? Number.NaN) - from) }));
    console.info(`seq ${last} arrived: ${lateness.map((l) => `${l.name} ${l.ms} ms`).join(", ")} (bound ${boundMs} ms)`);
    for (const w of watchers) expect(w.seqs, w.name).toEqual(range(1, last));
    for (const l of lateness) expect(l.ms, l.name).toBeLessThanOrEqual(boundMs);
  }

  it("only A's publish connection is killed: the post's event reaches every subscriber once it is back", async () => {
    const { sessionId, watchers } = await quietSession("publish connection killed");
    const held = admin.hold([names(a).publish]);
    const last = await postWhilePublishFails(sessionId);
    await held.release();
    await expectDelivered(watchers, last, performance.now());
  }, 30_000);

  it("only B's subscribe connection is killed: B's subscribers catch up once it is back", async () => {
    const { sessionId, watchers } = await quietSession("subscribe connection killed");
    const held = admin.hold([names(b).subscribe]);
    await waitFor(() => b.server.deps.bus.health().status === "down", "B's bus down");
    const last = (await a.client().api.session.update.mutate({ id: sessionId, title: "posted while B cannot hear" })).lastEventSeq;
    await new Promise((r) => setTimeout(r, 50)); // published to nobody on B
    await held.release();
    await expectDelivered(watchers, last, performance.now());
  }, 30_000);

  it("Redis restarts and the subscribers reconnect before the publishers: the event posted in between arrives", async () => {
    const { sessionId, watchers } = await quietSession("restart, subscribers first");
    // Both subscribe connections back and subscribed (the gaps channel and the session's).
    const held = await restartRedisHolding("publish", (c) => c.subscriptions >= 2);
    const last = await postWhilePublishFails(sessionId);
    await held.release();
    await expectDelivered(watchers, last, performance.now());
  }, 60_000);

  it("Redis restarts and the publishers reconnect before the subscribers: the event posted in between arrives", async () => {
    const { sessionId, watchers } = await quietSession("restart, publishers first");
    const held = await restartRedisHolding("subscribe", () => true);
    const failed = a.server.deps.bus.failedPublishCount();
    const last = (await a.client().api.session.update.mutate({ id: sessionId, title: "posted while nobody listens" })).lastEventSeq;
    await new Promise((r) => setTimeout(r, 50));
    // Redis took the publish (nobody was subscribed): a loss no publisher knows about.
    expect(a.server.deps.bus.failedPublishCount()).toBe(failed);
    await held.release();
    await expectDelivered(watchers, last, performance.now());
  }, 60_000);

  it("an event committed but never published (its writer died) reaches every subscriber through the position checks", async () => {
    const { sessionId, watchers } = await quietSession("never published");
    const { db, sessionLog, config } = a.server.deps;
    const committedAt = performance.now();
    const envelope = await db.$transaction((tx) =>
      sessionLog.appendBuilt(tx, sessionId, async () => ({
        type: "session.updated" as const,
        session: await tx.session.update({ where: { id: sessionId }, data: { title: "committed, never published" } }),
      })),
    );
    // Nothing is published, and Redis never went down: only the positions can tell,
    // within two checks of the commit (and the catch-up's read and send).
    await expectDelivered(watchers, envelope.seq, committedAt, config.SESSION_POSITION_CHECK_MS * 2 + 250);
  }, 30_000);
});

async function waitForClients(admin: RedisAdmin, ok: (list: RedisClientInfo[]) => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!ok(await admin.clients())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
