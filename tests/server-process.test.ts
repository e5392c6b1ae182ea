// The real entry point as `npm start` runs it: one port for the web app,
// /api/health, HTTP tRPC and the WebSocket; graceful shutdown on SIGTERM/SIGINT.
import fs from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import NodeWebSocket from "ws";
import { createParleyClient } from "@parley/client";
import { freshDatabase, spawnServer, waitFor, type ServerProcess } from "./helpers/server";
import { collectSessionEvents } from "./helpers/stream";

const started: ServerProcess[] = [];
afterEach(() => {
  for (const p of started.splice(0)) p.child.kill("SIGKILL");
});

describe("server.ts", () => {
  it("serves the web page, /api/health, HTTP tRPC and the WebSocket on one port", async () => {
    const db = freshDatabase();
    const server = await spawnServer({ DATABASE_URL: db.url });
    started.push(server);

    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("Parley");
    const health = (await (await fetch(`${server.url}/api/health`)).json()) as { status: string };
    expect(health.status).toBe("ok");

    const client = createParleyClient({ url: server.url });
    const session = await client.api.session.create.mutate({ title: "one port" });
    const sub = collectSessionEvents(client, session.id);
    await client.api.message.post.mutate({ sessionId: session.id, content: "over ws" });
    await waitFor(() => sub.events.length === 1, "ws delivery");
    await client.close();
    fs.rmSync(db.dir, { recursive: true, force: true });
  });

  it("on SIGTERM sends every WebSocket tRPC's reconnect notification before closing it", async () => {
    const db = freshDatabase();
    const server = await spawnServer({ DATABASE_URL: db.url });
    started.push(server);
    const client = createParleyClient({ url: server.url });
    const session = await client.api.session.create.mutate({ title: "reconnect notice" });
    await client.close();

    // A raw client, so nothing reacts to the notice: it sees every frame, then the close.
    const seen: string[] = [];
    const ws = new NodeWebSocket(`${server.url.replace(/^http/, "ws")}/api/trpc-ws`);
    ws.on("message", (data: Buffer) => seen.push(data.toString()));
    const closed = new Promise<void>((resolve) => ws.once("close", () => resolve()));
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    ws.send(JSON.stringify({ id: 1, method: "subscription", params: { path: "session.events", input: { json: { sessionId: session.id } } } }));
    await waitFor(() => seen.some((frame) => frame.includes('"started"')), "subscription started");
    const beforeSignal = seen.length;

    server.child.kill("SIGTERM");
    await closed;
    // @trpc/server 11's broadcastReconnectNotification sends exactly this frame (TRPCReconnectNotification).
    const afterSignal = seen.slice(beforeSignal).map((frame) => JSON.parse(frame) as unknown);
    expect(afterSignal).toContainEqual({ id: null, method: "reconnect" });
    expect(await server.exited).toBe(0);
    fs.rmSync(db.dir, { recursive: true, force: true });
  });

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`on ${signal} tells WS clients to reconnect, stops accepting, and exits 0 within 5 s`, async () => {
      const db = freshDatabase();
      const server = await spawnServer({ DATABASE_URL: db.url });
      started.push(server);
      const client = createParleyClient({ url: server.url, retryDelayMs: () => 60_000 });
      const session = await client.api.session.create.mutate({ title: "shutdown" });
      const states: string[] = [];
      client.api.session.events.subscribe(
        { sessionId: session.id },
        { onConnectionStateChange: (state) => states.push(state.state) },
      );
      await waitFor(() => states.includes("pending"), "subscription open");
      // An SSE stream holds an HTTP connection open: shutdown must end it too.
      const sse = createParleyClient({ url: server.url, transport: "sse" });
      const sseSub = collectSessionEvents(sse, session.id);
      await sse.api.message.post.mutate({ sessionId: session.id, content: "before shutdown" });
      await waitFor(() => sseSub.events.length === 1, "sse open");

      const t0 = Date.now();
      server.child.kill(signal);
      const code = await server.exited;
      const elapsed = Date.now() - t0;
      expect(code).toBe(0);
      expect(elapsed).toBeLessThan(5_000);
      expect(server.output()).toContain("shut down");
      // The WS client was told to reconnect (or saw the socket close) rather than hanging.
      await waitFor(() => states.includes("connecting"), "client reconnecting");
      await expect(fetch(`${server.url}/api/health`)).rejects.toThrow();
      sseSub.unsubscribe();
      await client.close();
      fs.rmSync(db.dir, { recursive: true, force: true });
    });
  }
});
