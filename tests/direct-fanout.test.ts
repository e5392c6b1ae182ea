// Frames written by the hub (realtime/session-stream.ts, frames.ts): a
// WebSocket subscriber gets its events (live, back-filled, caught up) written
// to its socket as prebuilt frames, byte for byte what tRPC's own path sends
// (WS_DIRECT_FANOUT=off), and a gap is read from the log without losing or
// repeating anything.
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { range } from "./helpers/stream";
import { startTestServer, waitFor, type TestServer } from "./helpers/server";

let t: TestServer | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

/** A raw tRPC WebSocket client on session.events: the data frames exactly as received. */
async function rawSubscriber(url: string, sessionId: string, lastEventId?: string) {
  const socket = new WebSocket(`${url.replace("http", "ws")}/api/trpc-ws`);
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  const frames: string[] = [];
  socket.on("message", (data: Buffer, isBinary: boolean) => {
    if (isBinary) throw new Error("a binary frame");
    const text = data.toString();
    if (text.includes('"type":"data"')) frames.push(text);
  });
  socket.send(
    JSON.stringify({ id: 1, method: "subscription", params: { path: "session.events", input: { json: { sessionId, ...(lastEventId ? { lastEventId } : {}) } } } }),
  );
  return { frames, close: () => socket.terminate() };
}

const seqOf = (frame: string) => Number((JSON.parse(frame) as { result: { id: string } }).result.id);

describe("direct fan-out", () => {
  it("sends live and back-filled events straight to the socket, byte-identical to the tRPC path", async () => {
    t = await startTestServer();
    // A second server on the same database with the direct path off: its frames are tRPC's own.
    const db = t.server.deps.config.DATABASE_URL;
    const plain = await startTestServer({ DATABASE_URL: db, WS_DIRECT_FANOUT: "off" });
    try {
      const client = t.client();
      const session = await client.api.session.create.mutate({ title: "direct" });
      const live = await rawSubscriber(t.url, session.id);
      await waitFor(() => t!.server.deps.sessionStreams.subscriberCount >= 1, "subscribed");
      await new Promise((r) => setTimeout(r, 100)); // the probe has bound the lane
      const before = t.server.deps.connections.directFrames;
      const posted = await client.api.message.post.mutate({ sessionId: session.id, content: "hello </script> 🙂" });
      await waitFor(() => live.frames.some((f) => seqOf(f) === posted.seq), "the live frame");
      expect(t.server.deps.connections.directFrames).toBe(before + 1);

      // The same event back-filled: straight to the socket on this server, through tRPC on the other.
      const resumed = await rawSubscriber(t.url, session.id, String(posted.seq - 1));
      const viaTrpc = await rawSubscriber(plain.url, session.id, String(posted.seq - 1));
      await waitFor(() => resumed.frames.length > 0 && viaTrpc.frames.length > 0, "the back-filled frames");
      expect(t.server.deps.connections.directFrames).toBe(before + 2);
      expect(plain.server.deps.connections.directFrames).toBe(0);
      const frame = live.frames.find((f) => seqOf(f) === posted.seq);
      expect(resumed.frames[0]).toBe(frame);
      expect(viaTrpc.frames[0]).toBe(frame);
      for (const s of [live, resumed, viaTrpc]) s.close();
    } finally {
      await plain.close();
    }
  });

  it("reads a gap from the log and goes on writing live frames, every seq once and in order", async () => {
    t = await startTestServer();
    const client = t.client();
    const session = await client.api.session.create.mutate({ title: "direct" });
    const sub = await rawSubscriber(t.url, session.id);
    await waitFor(() => t!.server.deps.sessionStreams.subscriberCount >= 1, "subscribed");
    await new Promise((r) => setTimeout(r, 100));
    // Every 7th persisted event is never published: the next one arrives with a
    // gap, which the stream reads from the database, after which live frames
    // are written as they arrive again.
    const { bus, connections } = t.server.deps;
    const publish = bus.publish.bind(bus);
    let dropped = 0;
    bus.publish = (channel, message) => {
      const seq = (message as { seq?: unknown }).seq;
      if (typeof seq === "number" && seq % 7 === 0) {
        dropped++;
        return;
      }
      publish(channel, message);
    };
    let last = 0;
    const directAt: number[] = [];
    for (let round = 0; round < 5; round++) {
      // A burst (group commit publishes it at once), then one at a time.
      const burst = await Promise.all(range(1, 10).map((i) => client.api.message.post.mutate({ sessionId: session.id, content: `r${round} #${i}` })));
      last = Math.max(last, ...burst.map((m) => m.seq));
      for (let i = 0; i < 10; i++) last = (await client.api.message.post.mutate({ sessionId: session.id, content: `r${round} one ${i}` })).seq;
      await waitFor(() => sub.frames.length > 0 && seqOf(sub.frames.at(-1) ?? "{}") === last, `round ${round}`, 15_000);
      directAt.push(connections.directFrames);
    }
    expect(dropped).toBeGreaterThan(5);
    expect(sub.frames.map(seqOf)).toEqual(range(1, last));
    // Live frames kept being written after each gap.
    for (let i = 1; i < directAt.length; i++) expect(directAt[i]).toBeGreaterThan(directAt[i - 1] ?? 0);
    sub.close();
  });

  it("is off with WS_DIRECT_FANOUT=off: the same events, all through tRPC", async () => {
    t = await startTestServer({ WS_DIRECT_FANOUT: "off" });
    const client = t.client();
    const session = await client.api.session.create.mutate({ title: "direct off" });
    const sub = await rawSubscriber(t.url, session.id);
    await waitFor(() => t!.server.deps.sessionStreams.subscriberCount >= 1, "subscribed");
    const posted = await Promise.all(range(1, 20).map((i) => client.api.message.post.mutate({ sessionId: session.id, content: `#${i}` })));
    const last = Math.max(...posted.map((m) => m.seq));
    await waitFor(() => sub.frames.length > 0 && seqOf(sub.frames.at(-1) ?? "{}") === last, "every event");
    expect(sub.frames.map(seqOf)).toEqual(range(1, last));
    expect(t.server.deps.connections.directFrames).toBe(0);
    sub.close();
  });
});
