// PARLEY_FAULTS: the server drops, duplicates, delays and disconnects on
// purpose, and a client that checks its tracked ids (skip what it has, resume
// from its last id on a gap) still ends with exactly the persisted stream.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParleyClient } from "@parley/client";
import { parseConfig } from "../src/server/env";
import { startServer } from "../src/server/app";
import { parseFaults } from "../src/server/realtime/faults";
import { freshDatabase, startTestServer, waitFor, type TestServer } from "./helpers/server";
import { range } from "./helpers/stream";

describe("PARLEY_FAULTS parsing", () => {
  it("reads probabilities, durations and a seed, and names what is wrong", () => {
    expect(parseFaults("drop=0.01,duplicate=0.02,delay=50ms,disconnectEvery=30s,seed=7")).toEqual({
      drop: 0.01,
      duplicate: 0.02,
      delay: 50,
      disconnectEvery: 30_000,
      seed: 7,
    });
    expect(() => parseFaults("drop=2")).toThrow(/drop/);
    expect(() => parseFaults("explode=1")).toThrow(/allowed: drop, duplicate, delay, disconnectEvery, seed/);
    expect(() => parseFaults("delay")).toThrow(/key=value/);
  });

  it("is refused in production unless explicitly allowed", async () => {
    const db = freshDatabase();
    const config = parseConfig({ NODE_ENV: "production", PARLEY_AUTH: "off", LOG_LEVEL: "silent", PORT: "0", DATABASE_URL: db.url, PARLEY_FAULTS: "drop=0.1" });
    await expect(startServer({ config })).rejects.toThrow(/PARLEY_FAULTS_IN_PRODUCTION=yes/);
  });
});

/** What a careful client does with tracked ids: drop duplicates, resume from the last id on a gap. */
function carefulTail(client: ParleyClient, sessionId: string) {
  const seqs: number[] = [];
  let duplicates = 0;
  let gaps = 0;
  let last = 0;
  let subscription: { unsubscribe: () => void } | null = null;
  const start = () => {
    subscription = client.api.session.events.subscribe(
      { sessionId, lastEventId: String(last) },
      {
        onData: ({ id, data }) => {
          const seq = Number(id);
          if (seq <= last) {
            duplicates++;
            return;
          }
          if (seq !== last + 1) {
            gaps++;
            subscription?.unsubscribe();
            setTimeout(start, 0);
            return;
          }
          last = seq;
          if (data.type === "message.created") seqs.push(data.message.seq);
        },
        onError: () => setTimeout(start, 50),
      },
    );
  };
  start();
  return { seqs, counts: () => ({ duplicates, gaps }), stop: () => subscription?.unsubscribe() };
}

describe("a server with faults on", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ PARLEY_FAULTS: "drop=0.05,duplicate=0.05,delay=2ms,disconnectEvery=1s,seed=42" });
  });
  afterAll(async () => {
    await t.close();
  });

  it("drops, duplicates and disconnects, and a careful client still gets every message exactly once, in order", async () => {
    const c = t.client();
    const session = await c.api.session.create.mutate({ title: "faulty" });
    const tails = [carefulTail(t.client(), session.id), carefulTail(t.client(), session.id)];
    const total = 600;
    for (let i = 0; i < total; i += 20) {
      await Promise.all(range(i + 1, i + 20).map((n) => c.api.message.post.mutate({ sessionId: session.id, content: `m${n}` })));
      await new Promise((r) => setTimeout(r, 20)); // spread over a few disconnect periods
    }
    for (const tail of tails) await waitFor(() => tail.seqs.length >= total, "every message despite the faults", 60_000);
    for (const tail of tails) {
      expect(tail.seqs).toEqual(range(1, total));
      tail.stop();
    }
    const injected = t.server.faults?.counters;
    expect(injected?.dropped).toBeGreaterThan(0);
    expect(injected?.duplicated).toBeGreaterThan(0);
    expect(tails.some((tail) => tail.counts().gaps > 0 && tail.counts().duplicates > 0)).toBe(true);
  }, 120_000);
});
