// The cluster as an operator sees it, with two instances sharing Redis and one
// database: the admin's connection list shows every instance's connections,
// each labelled with its instance, and disconnecting one that lives on the
// other instance closes it there (its client reconnects and resumes); the
// metrics of each instance are labelled, and the cluster's can be watched from any.
import fs from "node:fs";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { AgentEventEnvelope } from "../src/shared/agent-events";
import type { MetricsSample } from "../src/shared/metrics";
import { collect, wsOnlyClient, type WsOnlyClient } from "./helpers/ws-client";
import { redisSkipReason, startRedis, type RedisServer } from "./helpers/redis";
import { freshDatabase, startTestServer, waitFor, type TestServer } from "./helpers/server";

if (redisSkipReason) console.warn(`scale-out-cluster.test.ts: ${redisSkipReason}`);

describe.skipIf(redisSkipReason !== null)("two instances sharing Redis", () => {
  let redis: RedisServer;
  let a: TestServer;
  let b: TestServer;
  let dbDir: string;
  const extra: WsOnlyClient[] = [];

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.close();
  });
  beforeEach(async () => {
    const db = freshDatabase();
    dbDir = db.dir;
    const env = { REDIS_URL: redis.url, DATABASE_URL: db.url, METRICS_SAMPLE_MS: "200" };
    a = await startTestServer({ ...env, PARLEY_INSTANCE: "instance-a" });
    b = await startTestServer({ ...env, PARLEY_INSTANCE: "instance-b" });
    // Each has heard the other's hello.
    await waitFor(() => a.server.deps.cluster.members.alive().length === 2 && b.server.deps.cluster.members.alive().length === 2, "both instances up");
  });
  afterEach(async () => {
    await Promise.all(extra.splice(0).map((c) => c.close()));
    await Promise.all([a?.close(), b?.close()]);
    fs.rmSync(dbDir, { recursive: true, force: true });
  });

  it("lists every instance's connections, labelled with their instance", async () => {
    const onA = wsOnlyClient(a.url, "watcher on A");
    const onB = wsOnlyClient(b.url, "watcher on B");
    extra.push(onA, onB);
    collect<AgentEventEnvelope>((h) => onA.api.events.subscribe.subscribe({ replay: 0 }, h));
    collect<AgentEventEnvelope>((h) => onB.api.events.subscribe.subscribe({ replay: 0 }, h));
    await waitFor(() => a.server.deps.connections.list().length === 1 && b.server.deps.connections.list().length === 1, "one connection on each");

    for (const server of [a, b]) {
      const listing = await server.client().api.system.connections.query();
      expect(listing.unanswered).toEqual([]);
      expect(listing.connections.map((c) => [c.instance, c.principal.name]).sort()).toEqual([
        ["instance-a", "watcher on A"],
        ["instance-b", "watcher on B"],
      ]);
      const remote = listing.connections.find((c) => c.instance === "instance-b");
      expect(remote).toMatchObject({ subscriptions: [{ procedure: "events.subscribe", count: 1 }], bufferedAmount: 0 });
      expect(remote!.connectedAt).toBeInstanceOf(Date);
    }
  });

  it("closes a connection that lives on the other instance; its client reconnects there and resumes", async () => {
    const watcher = wsOnlyClient(b.url, "watcher on B");
    extra.push(watcher);
    const sub = collect<AgentEventEnvelope>((h) => watcher.api.events.subscribe.subscribe({ replay: 0 }, h));
    await waitFor(() => b.server.deps.connections.list().some((c) => c.subscriptions.length > 0), "subscribed on B");
    const admin = a.client();
    await admin.api.events.publish.mutate({ type: "system.info", data: { message: "one" } });
    await waitFor(() => sub.items.length === 1, "first event");

    const { connections } = await admin.api.system.connections.query();
    const target = connections.find((c) => c.instance === "instance-b");
    expect(target).toBeDefined();
    const closed = new Promise<number>((resolve) => {
      for (const socket of b.server.wsServer.clients) socket.once("close", (code) => resolve(code));
    });
    await expect(admin.api.system.disconnect.mutate({ connectionId: target!.connectionId, instance: "instance-b" })).resolves.toEqual({
      disconnected: target!.connectionId,
    });
    expect(await closed).toBe(4000);

    await admin.api.events.publish.mutate({ type: "system.info", data: { message: "two" } });
    await waitFor(
      () => b.server.deps.connections.list().some((c) => c.connectionId !== target!.connectionId && c.subscriptions.length > 0),
      "the client reconnected to B and resubscribed",
    );
    await waitFor(() => sub.items.length === 2, "the missed event");
    await admin.api.events.publish.mutate({ type: "system.info", data: { message: "three" } });
    await waitFor(() => sub.items.length === 3, "live after reconnect");
    expect(sub.items.map((e) => (e.type === "system.info" ? e.data.message : e.type))).toEqual(["one", "two", "three"]);
    expect(sub.errors).toEqual([]);

    // Gone now: NOT_FOUND names the instance. A connection id of B's is not looked up on A by default.
    const gone = admin.api.system.disconnect.mutate({ connectionId: target!.connectionId, instance: "instance-b" });
    await expect(gone).rejects.toMatchObject({ data: { code: "NOT_FOUND" } });
    await expect(gone).rejects.toThrow("is not open on instance instance-b");
    const current = b.server.deps.connections.list()[0]!.connectionId;
    if (!a.server.deps.connections.list().some((c) => c.connectionId === current)) {
      await expect(admin.api.system.disconnect.mutate({ connectionId: current })).rejects.toMatchObject({ data: { code: "NOT_FOUND" } });
    }
  });

  it("answers TIMEOUT within a second for an instance nobody runs, and drops a stopped instance from the listing at once", async () => {
    const admin = a.client();
    const started = Date.now();
    const nobody = admin.api.system.disconnect.mutate({ connectionId: "ws-1", instance: "instance-z" });
    await expect(nobody).rejects.toMatchObject({ data: { code: "TIMEOUT" } });
    await expect(nobody).rejects.toThrow("instance instance-z did not answer");
    expect(Date.now() - started).toBeLessThan(2_000);

    await b.close(); // says bye on the way out
    await waitFor(() => a.server.deps.cluster.members.alive().length === 1, "B gone from A's view");
    const quick = Date.now();
    const listing = await admin.api.system.connections.query();
    expect(Date.now() - quick).toBeLessThan(500);
    expect(listing).toEqual({ connections: [], rooms: [], unanswered: [] });
  });

  it("labels each instance's metrics, serves another instance's series, and sums the cluster's", async () => {
    const watcher = wsOnlyClient(a.url, "metrics watcher on A");
    const loadOnB = [wsOnlyClient(b.url, "load 1"), wsOnlyClient(b.url, "load 2")];
    extra.push(watcher, ...loadOnB);
    for (const c of loadOnB) collect<AgentEventEnvelope>((h) => c.api.events.subscribe.subscribe({ replay: 0 }, h));

    expect(await watcher.api.metrics.instances.query()).toEqual({ instance: "instance-a", instances: ["instance-a", "instance-b"] });
    const own = collect<MetricsSample>((h) => watcher.api.metrics.live.subscribe({ resolutionMs: 1000 }, h));
    const ofB = collect<MetricsSample>((h) => watcher.api.metrics.live.subscribe({ resolutionMs: 1000, instance: "instance-b" }, h));
    const cluster = collect<MetricsSample>((h) => watcher.api.metrics.live.subscribe({ resolutionMs: 1000, scope: "cluster" }, h));
    await waitFor(() => ofB.items.some((w) => w.hub.connections === 2), "B's series showing its two connections", 5_000);
    await waitFor(
      () => cluster.items.some((w) => w.hub.connections === 3 && (w.hub.subscriptions["events.subscribe"] ?? 0) === 2),
      "a cluster window with both instances' connections",
      5_000,
    );
    await waitFor(() => own.items.length >= 2, "A's own windows", 5_000);

    // Each series carries only its own label: A's stream never mixes in B's samples.
    expect(new Set(own.items.map((w) => w.instance))).toEqual(new Set(["instance-a"]));
    expect(own.items.every((w) => w.hub.connections === 1)).toBe(true);
    expect(new Set(ofB.items.map((w) => w.instance))).toEqual(new Set(["instance-b"]));
    const full = cluster.items.find((w) => w.hub.connections === 3)!;
    expect(full.instance).toBe("cluster");
    expect(full.instances).toEqual(["instance-a", "instance-b"]);
    expect(full.process.rssBytes).toBeGreaterThan(0);
    for (const s of [own, ofB, cluster]) {
      expect(s.errors).toEqual([]);
      expect(new Set(s.ids).size).toBe(s.ids.length);
    }

    const snapshot = await watcher.api.metrics.snapshot.query({ scope: "cluster" });
    expect(snapshot?.instances).toEqual(["instance-a", "instance-b"]);
    expect((await watcher.api.metrics.snapshot.query({ instance: "instance-b" }))?.instance).toBe("instance-b");
    expect((await watcher.api.metrics.snapshot.query())?.instance).toBe("instance-a");
    await expect(watcher.api.metrics.snapshot.query({ instance: "instance-z" })).rejects.toMatchObject({ data: { code: "NOT_FOUND" } });

    // Prometheus: each instance's own figures, under its own label.
    const scrape = await (await fetch(`${b.url}/api/metrics`)).text();
    expect(scrape).toMatch(/parley_ws_connections\{instance="instance-b"\} 2/);
  });
});

describe("one instance without REDIS_URL", () => {
  let t: TestServer | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it("lists its own connections labelled with its instance, knows no other instance, and its cluster metrics are its own", async () => {
    t = await startTestServer({ PARLEY_INSTANCE: "alone", METRICS_SAMPLE_MS: "100" });
    const server = t;
    expect(server.server.deps.bus.listenerCount()).toBe(0); // nothing of the cluster listens on an in-process bus
    const watcher = wsOnlyClient(server.url, "watcher");
    try {
      collect<AgentEventEnvelope>((h) => watcher.api.events.subscribe.subscribe({ replay: 0 }, h));
      await waitFor(() => server.server.deps.connections.list().length === 1, "a connection");
      const admin = server.client();
      const listing = await admin.api.system.connections.query();
      expect(listing.unanswered).toEqual([]);
      expect(listing.connections.map((c) => c.instance)).toEqual(["alone"]);
      await expect(
        admin.api.system.disconnect.mutate({ connectionId: listing.connections[0]!.connectionId, instance: "elsewhere" }),
      ).rejects.toMatchObject({ data: { code: "NOT_FOUND" } });
      expect(server.server.deps.cluster.members.alive()).toEqual(["alone"]);
      // The cluster is this instance: its series is labelled `cluster` and lists only it.
      expect(await admin.api.metrics.instances.query()).toEqual({ instance: "alone", instances: ["alone"] });
      await waitFor(() => server.server.deps.cluster.metrics.source("cluster")?.latest() != null, "a cluster sample");
      const cluster = await admin.api.metrics.snapshot.query({ scope: "cluster" });
      expect(cluster).toMatchObject({ instance: "cluster", instances: ["alone"] });
    } finally {
      await watcher.close();
    }
  });
});
