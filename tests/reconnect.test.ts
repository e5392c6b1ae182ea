// The SDK's reconnect schedule (packages/client/src/reconnect.ts): full jitter under a
// low cap, and a probe of /api/health that ends a long wait once the server
// is back. The restart is real: a server on a fixed port and database, closed
// and started again.
import { afterAll, describe, expect, it } from "vitest";
import { createParleyClient, fullJitterRetryDelayMs, PROBE_PERIOD_MS, RETRY_CAP_MS, type ConnectionState } from "@parley/client";
import type { ParleyServer } from "../src/server/app";
import { freePort } from "./helpers/redis";
import { startServerAt, testDatabase, waitFor } from "./helpers/server";
import { collectSessionEvents } from "./helpers/stream";

describe("the retry schedule", () => {
  it("waits a random time between 0 and min(cap, 250 ms · 2^attempt): spread over the whole window, never past the cap", () => {
    expect(fullJitterRetryDelayMs(0, () => 0.999)).toBeLessThan(250);
    expect(fullJitterRetryDelayMs(3, () => 0.999)).toBeLessThan(2_000);
    expect(fullJitterRetryDelayMs(3, () => 0)).toBe(0);
    for (const attempt of [5, 10, 50, 1_000]) expect(fullJitterRetryDelayMs(attempt, () => 0.999)).toBeLessThan(RETRY_CAP_MS);
    // 1,000 clients at their tenth attempt: spread over [0, cap), not in lockstep.
    const waits = Array.from({ length: 1_000 }, () => fullJitterRetryDelayMs(10));
    expect(Math.min(...waits)).toBeLessThan(RETRY_CAP_MS * 0.1);
    expect(Math.max(...waits)).toBeGreaterThan(RETRY_CAP_MS * 0.9);
    expect(new Set(waits).size).toBeGreaterThan(500);
  });
});

describe("the health probe", () => {
  const servers: ParleyServer[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  it("ends a long backoff once the server answers again: the client reconnects and resumes within about a probe period of the restart listening", async () => {
    const db = await testDatabase();
    const port = await freePort();
    const first = await startServerAt(port, db.url);
    servers.push(first);
    // A backoff far longer than the restart: only the probe can bring the client back in time.
    const client = createParleyClient({ url: first.url, retryDelayMs: () => 60_000 });
    const states: ConnectionState["state"][] = [];
    client.connectionState.subscribe((s) => states.push(s.state));
    const session = await client.api.session.create.mutate({ title: "probe" });
    const events = collectSessionEvents(client, session.id);
    await client.api.message.post.mutate({ sessionId: session.id, content: "before" });
    await waitFor(() => events.events.length === 1, "the first event");

    await first.close();
    await waitFor(() => client.connectionState.current.state === "reconnecting", "the client reconnecting");
    // Down for longer than a probe period: the client probes and finds nobody.
    await new Promise((r) => setTimeout(r, PROBE_PERIOD_MS * 2));
    const second = await startServerAt(port, db.url);
    servers.push(second);
    const listening = Date.now();
    await waitFor(() => client.connectionState.current.state === "open", "the client open again", 10_000);
    const reconnectMs = Date.now() - listening;
    console.info(`reconnected ${reconnectMs} ms after the restart listened (backoff 60 s, probe period ${PROBE_PERIOD_MS} ms)`);
    // A probe comes at most 1.5 probe periods apart, then a spread of at most 300 ms.
    expect(reconnectMs).toBeLessThanOrEqual(PROBE_PERIOD_MS * 1.5 + 300 + 500);

    await client.api.message.post.mutate({ sessionId: session.id, content: "after" });
    await waitFor(() => events.events.length === 2, "the live event after the restart");
    expect(events.messageSeqs()).toEqual([1, 2]);
    expect(events.errors).toEqual([]);
    expect(states).toContain("reconnecting");
    await client.close();
    await db.remove();
  });
});
