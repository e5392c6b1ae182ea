// The Bus contract (src/server/bus/bus.ts), one suite run against every
// implementation: the in-process bus, and the Redis bus on a real
// redis-server (two bus instances on one Redis, as two Parley instances).
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { channel, type Bus } from "../src/server/bus/bus";
import { MemoryBus } from "../src/server/bus/memory";
import { RedisBus } from "../src/server/bus/redis";
import { RedisAdmin, redisSkipReason, startRedis, type RedisServer } from "./helpers/redis";
import { waitFor } from "./helpers/server";

const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });

/** A publishing side and a subscribing side: one bus for memory, two instances sharing Redis. */
interface BusPair {
  publisher: Bus;
  subscriber: Bus;
}

interface Implementation {
  name: string;
  skip: string | null;
  setUp: () => Promise<void>;
  pair: () => Promise<BusPair>;
  tearDown: () => Promise<void>;
}

let redis: RedisServer | undefined;
const opened: Bus[] = [];

const implementations: Implementation[] = [
  {
    name: "MemoryBus",
    skip: null,
    setUp: () => Promise.resolve(),
    pair: () => {
      const bus = new MemoryBus(log);
      opened.push(bus);
      return Promise.resolve({ publisher: bus, subscriber: bus });
    },
    tearDown: () => Promise.resolve(),
  },
  {
    name: "RedisBus",
    skip: redisSkipReason,
    setUp: async () => {
      redis = await startRedis();
    },
    pair: async () => {
      if (!redis) throw new Error("redis not started");
      const publisher = await RedisBus.connect({ url: redis.url, log });
      const subscriber = await RedisBus.connect({ url: redis.url, log });
      opened.push(publisher, subscriber);
      return { publisher, subscriber };
    },
    tearDown: async () => {
      await redis?.close();
      redis = undefined;
    },
  },
];

interface Stamped {
  n: number;
  at: Date;
}

for (const impl of implementations) {
  if (impl.skip) console.warn(`bus.test.ts: ${impl.name}: ${impl.skip}`);

  describe.skipIf(impl.skip !== null)(`Bus contract: ${impl.name}`, () => {
    beforeAll(() => impl.setUp());
    afterAll(async () => {
      await Promise.all(opened.splice(0).map((bus) => bus.close()));
      await impl.tearDown();
    });

    it("delivers one channel's messages to a listener in publish order", async () => {
      const { publisher, subscriber } = await impl.pair();
      const topic = channel<Stamped>("order");
      const received: number[] = [];
      subscriber.subscribe(topic, (m) => received.push(m.n));
      await subscriber.ready();
      for (let n = 1; n <= 1_000; n++) publisher.publish(topic, { n, at: new Date() });
      await waitFor(() => received.length === 1_000, "1,000 messages");
      expect(received).toEqual(Array.from({ length: 1_000 }, (_, i) => i + 1));
    });

    it("delivers every message to every listener of the channel, and none from other channels", async () => {
      const { publisher, subscriber } = await impl.pair();
      const mine = channel<Stamped>("fan-out:a");
      const other = channel<Stamped>("fan-out:b");
      const first: number[] = [];
      const second: number[] = [];
      const onOther: number[] = [];
      subscriber.subscribe(mine, (m) => first.push(m.n));
      subscriber.subscribe(mine, (m) => second.push(m.n));
      publisher.subscribe(mine, () => undefined); // a listener on the publishing instance too
      subscriber.subscribe(other, (m) => onOther.push(m.n));
      await Promise.all([subscriber.ready(), publisher.ready()]);
      for (let n = 1; n <= 20; n++) publisher.publish(mine, { n, at: new Date() });
      await waitFor(() => first.length === 20 && second.length === 20, "both listeners");
      expect(second).toEqual(first);
      publisher.publish(other, { n: 99, at: new Date() });
      await waitFor(() => onOther.length === 1, "the other channel");
      expect(first).toHaveLength(20);
      expect(onOther).toEqual([99]);
    });

    it("round-trips payloads with Dates, nested objects, nulls and big numbers", async () => {
      const { publisher, subscriber } = await impl.pair();
      const topic = channel<{ at: Date; nested: { when: Date[]; note: string | null }; big: number }>("types");
      const received: { at: Date; nested: { when: Date[]; note: string | null }; big: number }[] = [];
      subscriber.subscribe(topic, (m) => received.push(m));
      await subscriber.ready();
      const at = new Date("2026-11-21T10:00:00.123Z");
      publisher.publish(topic, { at, nested: { when: [at, new Date(0)], note: null }, big: Number.MAX_SAFE_INTEGER });
      await waitFor(() => received.length === 1, "delivery");
      const [m] = received;
      expect(m?.at).toBeInstanceOf(Date);
      expect(m?.at.toISOString()).toBe(at.toISOString());
      expect(m?.nested.when[1]).toBeInstanceOf(Date);
      expect(m?.nested.note).toBeNull();
      expect(m?.big).toBe(Number.MAX_SAFE_INTEGER);
    });

    it("stops delivery after unsubscribe; unsubscribe is idempotent and counted once", async () => {
      const { publisher, subscriber } = await impl.pair();
      const topic = channel<Stamped>("unsubscribe");
      const gone: number[] = [];
      const staying: number[] = [];
      const base = subscriber.listenerCount();
      const unsubscribe = subscriber.subscribe(topic, (m) => gone.push(m.n));
      subscriber.subscribe(topic, (m) => staying.push(m.n));
      expect(subscriber.listenerCount()).toBe(base + 2);
      await subscriber.ready();
      publisher.publish(topic, { n: 1, at: new Date() });
      await waitFor(() => gone.length === 1 && staying.length === 1, "first message");

      unsubscribe();
      unsubscribe();
      expect(subscriber.listenerCount()).toBe(base + 1);
      await subscriber.ready();
      publisher.publish(topic, { n: 2, at: new Date() });
      // In channel order: once the staying listener has 2, the other would have it too.
      await waitFor(() => staying.length === 2, "second message");
      expect(gone).toEqual([1]);
      expect(staying).toEqual([1, 2]);
    });

    it("no delivery once the last listener of a channel unsubscribes, and a new listener is live again", async () => {
      const { publisher, subscriber } = await impl.pair();
      const topic = channel<Stamped>("resubscribe");
      const before: number[] = [];
      subscriber.subscribe(topic, (m) => before.push(m.n))();
      await subscriber.ready();
      publisher.publish(topic, { n: 1, at: new Date() });
      const after: number[] = [];
      subscriber.subscribe(topic, (m) => after.push(m.n));
      await subscriber.ready();
      publisher.publish(topic, { n: 2, at: new Date() });
      await waitFor(() => after.includes(2), "the new listener");
      expect(before).toEqual([]);
    });

    it("isolates a listener that throws: the others still receive, the publisher is unaffected", async () => {
      const { publisher, subscriber } = await impl.pair();
      const topic = channel<Stamped>("throwing");
      const received: number[] = [];
      subscriber.subscribe(topic, () => {
        throw new Error("listener bug");
      });
      subscriber.subscribe(topic, (m) => received.push(m.n));
      await subscriber.ready();
      expect(() => publisher.publish(topic, { n: 1, at: new Date() })).not.toThrow();
      publisher.publish(topic, { n: 2, at: new Date() });
      await waitFor(() => received.length === 2, "delivery past the throwing listener");
      expect(received).toEqual([1, 2]);
    });

    it("reports itself up", async () => {
      const { subscriber } = await impl.pair();
      expect(subscriber.health().status).toBe("up");
    });
  });
}

describe.skipIf(redisSkipReason !== null)("RedisBus across a Redis outage", () => {
  let server: RedisServer;
  const buses: Bus[] = [];
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await Promise.all(buses.map((b) => b.close()));
    await server?.close();
  });

  it("announces a new channel's confirmed subscription with onResync", async () => {
    const bus = await RedisBus.connect({ url: server.url, log });
    buses.push(bus);
    let resyncs = 0;
    bus.subscribe(channel<number>("confirm"), () => undefined, { onResync: () => resyncs++ });
    await bus.ready();
    expect(resyncs).toBe(1);
    // A second listener on a live channel is live at once: no resync for anyone.
    bus.subscribe(channel<number>("confirm"), () => undefined, { onResync: () => resyncs++ });
    await bus.ready();
    expect(resyncs).toBe(1);
  });

  it("is down while Redis is down, then reconnects, resubscribes, resyncs every listener and delivers again", async () => {
    const publisher = await RedisBus.connect({ url: server.url, log });
    const subscriber = await RedisBus.connect({ url: server.url, log });
    buses.push(publisher, subscriber);
    const topic = channel<Stamped>("outage");
    const received: number[] = [];
    let resyncs = 0;
    subscriber.subscribe(topic, (m) => received.push(m.n), { onResync: () => resyncs++ });
    await subscriber.ready();
    expect(resyncs).toBe(1);
    publisher.publish(topic, { n: 1, at: new Date() });
    await waitFor(() => received.length === 1, "before the outage");

    await server.stop();
    await waitFor(() => subscriber.health().status === "down" && publisher.health().status === "down", "health down");
    expect(() => publisher.publish(topic, { n: 2, at: new Date() })).not.toThrow(); // dropped: Redis is down

    await server.start();
    await waitFor(() => subscriber.health().status === "up" && publisher.health().status === "up", "health up again", 15_000);
    // At least one resync after the outage (ioredis may reconnect more than once while Redis starts).
    expect(resyncs).toBeGreaterThanOrEqual(2);
    publisher.publish(topic, { n: 3, at: new Date() });
    await waitFor(() => received.includes(3), "delivery after the outage");
    expect(received).toEqual([1, 3]);
  });

  it("remembers a publish that failed and, once its publish connection is back, resyncs that channel's listeners on every instance", async () => {
    const publisher = await RedisBus.connect({ url: server.url, log });
    const subscriber = await RedisBus.connect({ url: server.url, log });
    buses.push(publisher, subscriber);
    const admin = new RedisAdmin(server.url);
    const lossy = channel<Stamped>("lossy");
    const quiet = channel<Stamped>("quiet");
    const resyncs = { lossyThere: 0, lossyHere: 0, quiet: 0 };
    subscriber.subscribe(lossy, () => undefined, { onResync: () => resyncs.lossyThere++ });
    publisher.subscribe(lossy, () => undefined, { onResync: () => resyncs.lossyHere++ });
    subscriber.subscribe(quiet, () => undefined, { onResync: () => resyncs.quiet++ });
    await Promise.all([subscriber.ready(), publisher.ready()]);
    const confirmed = { ...resyncs };

    const held = admin.hold([publisher.connectionNames.publish]);
    await waitFor(() => publisher.health().status === "down", "the publish connection down");
    publisher.publish(lossy, { n: 1, at: new Date() });
    await waitFor(() => publisher.failedPublishCount() === 1, "the failed publish counted");
    await held.release();
    admin.close();
    await waitFor(() => resyncs.lossyThere > confirmed.lossyThere && resyncs.lossyHere > confirmed.lossyHere, "the gap announced on both instances");
    expect(resyncs.quiet).toBe(confirmed.quiet); // a channel that lost nothing is left alone
  });

  it("refuses to start with a message naming REDIS_URL when nothing listens there", async () => {
    await expect(
      RedisBus.connect({ url: "redis://127.0.0.1:1", log, connectTimeoutMs: 300 }),
    ).rejects.toThrow(/cannot reach Redis at redis:\/\/127\.0\.0\.1:1.*REDIS_URL/);
  });
});
