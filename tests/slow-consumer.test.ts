// Backpressure: a client that stops reading never grows the server's queues
// without bound. Resumable streams pause past WS_SOFT_BUFFER_BYTES and later
// re-read what the client missed from the database; anything that still pushes
// past WS_MAX_BUFFER_BYTES gets the connection dropped (the client reconnects
// and resumes). Other clients are unaffected.
import type net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startTestServer, waitFor, type TestServer } from "./helpers/server";
import { collectSessionEvents } from "./helpers/stream";

let t: TestServer;
beforeAll(async () => {
  // Keep-alive pings off the test's time scale: a paused socket cannot answer
  // them, and a slow CI run must not turn its pong timeout into the drop under test.
  t = await startTestServer({
    WS_SOFT_BUFFER_BYTES: "65536",
    WS_MAX_BUFFER_BYTES: "1048576",
    SUBSCRIBER_QUEUE_LIMIT: "100",
    WS_PING_INTERVAL_MS: "600000",
  });
});
afterAll(async () => {
  await t.close();
});

/** A raw tRPC WebSocket subscriber whose reading can be paused at the TCP level. */
async function rawSubscriber(path: string, input: Record<string, unknown>) {
  const socket = new WebSocket(`${t.url.replace(/^http/, "ws")}/api/trpc-ws`);
  await new Promise((resolve) => socket.once("open", resolve));
  const ids: number[] = [];
  let closed = false;
  socket.on("message", (data: Buffer) => {
    const text = data.toString();
    if (text === "PING") {
      socket.send("PONG"); // tRPC's keep-alive
      return;
    }
    const frame = JSON.parse(text) as { result?: { type?: string; id?: string } };
    if (frame.result?.type === "data" && frame.result.id !== undefined) ids.push(Number(frame.result.id));
  });
  socket.on("close", () => (closed = true));
  socket.send(JSON.stringify({ id: 1, method: "subscription", params: { path, input: { json: input } } }));
  const tcp = (socket as unknown as { _socket: net.Socket })._socket;
  return { ids, socket, pause: () => tcp.pause(), resume: () => tcp.resume(), isClosed: () => closed };
}

const filler = "x".repeat(2_000);

describe("slow consumers", () => {
  it("a paused session.events subscriber holds the server at the soft bound, then catches up exactly from the database", async () => {
    const c = t.client();
    const session = await c.api.session.create.mutate({ title: "slow" });
    const fast = collectSessionEvents(t.client(), session.id);
    const slow = await rawSubscriber("session.events", { sessionId: session.id });
    await waitFor(() => t.server.deps.sessionStreams.subscriberCount >= 2, "both subscribed");
    slow.pause();

    const total = 4_000; // ~8 MB of frames: past the kernel buffers and both bounds
    for (let i = 0; i < total; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, k) => c.api.message.post.mutate({ sessionId: session.id, content: `${i + k} ${filler}` })));
    }
    await waitFor(() => fast.events.length === total, "the fast subscriber gets everything", 60_000);

    const buffered = t.server.deps.connections.list().map((info) => info.bufferedAmount);
    expect(Math.max(...buffered)).toBeLessThan(1_048_576); // never reached the hard bound
    expect(slow.isClosed()).toBe(false);

    slow.resume();
    await waitFor(() => slow.ids.length >= total, "the slow subscriber catches up", 60_000);
    expect(slow.ids).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    slow.socket.terminate();
  }, 120_000);

  it("drops a connection whose backlog passes WS_MAX_BUFFER_BYTES, and nobody else", async () => {
    const c = t.client();
    const bystander = collectSessionEvents(t.client(), (await c.api.session.create.mutate({ title: "bystander" })).id);
    const slow = await rawSubscriber("events.subscribe", { replay: 0 });
    await new Promise((r) => setTimeout(r, 200));
    slow.pause();
    const before = t.server.deps.connections.slowConsumerDrops;
    for (let i = 0; i < 8_000 && !slow.isClosed(); i += 50) {
      await Promise.all(Array.from({ length: 50 }, () => c.api.events.publish.mutate({ type: "system.info", data: { message: filler.slice(0, 1_900) } })));
      if (t.server.deps.connections.slowConsumerDrops > before) break;
    }
    await waitFor(() => t.server.deps.connections.slowConsumerDrops > before, "the slow consumer to be dropped", 30_000);
    expect(bystander.errors).toEqual([]);
    expect((await fetch(`${t.url}/api/health`)).status).toBe(200);
  }, 120_000);
});
