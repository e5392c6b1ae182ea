// The SDK against a server with PARLEY_FAULTS on: `tail` and `ask` still give
// every event once, in order, and the whole answer text, because they check
// their tracked ids and offsets and resume on any gap.
import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestServer, waitFor, type TestServer } from "./helpers/server";
import { range } from "./helpers/stream";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ PARLEY_FAULTS: "drop=0.05,duplicate=0.05,delay=1ms,disconnectEvery=1s,seed=9", CHAT_BUILTIN_CHUNK_DELAY_MS: "5" });
});
afterAll(async () => {
  await t.close();
});

it("tail and ask pass the chaos assertions with drops, duplicates, delays and disconnects", async () => {
  const poster = t.client();
  const session = await poster.api.session.create.mutate({ title: "faults" });
  await poster.api.message.post.mutate({ sessionId: session.id, content: "the faulty codeword is persimmon" });

  const abort = new AbortController();
  const received: number[][] = [[], []];
  const tails = received.map(async (seqs) => {
    for await (const item of t.client().tail(session.id, { signal: abort.signal, idleResyncMs: 500 })) {
      if (item.event.type === "message.created") seqs.push(item.event.message.seq);
    }
  });
  const total = 400;
  for (let i = 2; i <= total; i += 20) {
    await Promise.all(range(i, Math.min(i + 19, total)).map((n) => poster.api.message.post.mutate({ sessionId: session.id, content: `m${n}` })));
    await new Promise((r) => setTimeout(r, 20));
  }

  // ask: the deltas, in order, rebuild exactly the final answer.
  let text = "";
  let final = "";
  for await (const item of t.client().ask(session.id, "what is the faulty codeword?")) {
    if (item.type === "delta") {
      expect(item.offset).toBe(text.length);
      text += item.text;
    } else final = item.message.content;
  }
  expect(final).toContain("persimmon");
  expect(text).toBe(final);

  const lastSeq = (await poster.api.session.get.query({ id: session.id })).lastSeq;
  await waitFor(() => received.every((seqs) => seqs.length >= lastSeq), "both tails to have every message", 20_000).catch((e: unknown) => {
    console.log("tails:", received.map((s) => `${s.length} last ${s.at(-1)}`), "lastSeq", lastSeq);
    throw e;
  });
  abort.abort();
  await Promise.all(tails);
  for (const seqs of received) expect(seqs).toEqual(range(1, lastSeq));
  const injected = t.server.faults?.counters;
  expect((injected?.dropped ?? 0) + (injected?.duplicated ?? 0)).toBeGreaterThan(0);
}, 120_000);
