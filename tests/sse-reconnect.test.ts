// SSE subscriptions (the SDK with transport "sse": tRPC's httpSubscriptionLink
// over the `eventsource` package) come back by themselves when the server's end
// of the stream goes away: EventSource reconnects and sends the last tracked id
// as Last-Event-ID, and the server resumes after it. No call from the app, no
// gap, no duplicate. Two ways to lose the stream: its TCP connection is cut
// while the server keeps running (and messages keep coming), and the server
// restarts on the same port and database.
import fs from "node:fs";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createParleyClient } from "@parley/client";
import type { ParleyServer } from "../src/server/app";
import { freshDatabase, startServerAt, startTestServer, waitFor, type TestServer } from "./helpers/server";
import { collectSessionEvents, postNumbered, range } from "./helpers/stream";

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** A TCP relay in front of `target`, whose open connections the test can cut (both directions at once). */
async function startRelay(target: URL) {
  const open = new Set<net.Socket>();
  let accepted = 0;
  const relay = net.createServer((inbound) => {
    accepted++;
    const outbound = net.connect(Number(target.port), target.hostname);
    for (const [a, b] of [
      [inbound, outbound],
      [outbound, inbound],
    ] as const) {
      a.pipe(b);
      a.on("error", () => b.destroy());
      a.on("close", () => b.destroy());
    }
    open.add(inbound);
    inbound.on("close", () => open.delete(inbound));
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  const { port } = relay.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    accepted: () => accepted,
    cutAll: () => {
      for (const socket of open) socket.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        relay.close(() => resolve());
      }),
  };
}

describe("SSE subscriptions reconnect by themselves", () => {
  it("after the server's end of the connection is cut: messages posted meanwhile arrive once, in order, then live ones", async () => {
    const t: TestServer = await startTestServer();
    cleanup.push(() => t.close());
    const relay = await startRelay(new URL(t.url));
    cleanup.push(() => relay.close());
    const poster = t.client();
    const sse = createParleyClient({ url: relay.url, transport: "sse" });
    cleanup.push(() => sse.close());

    const session = await poster.api.session.create.mutate({ title: "cut" });
    await postNumbered(poster, session.id, 1, 5);
    const sub = collectSessionEvents(sse, session.id);
    await waitFor(() => sub.events.length === 5, "back-fill over SSE");
    const connectionsBefore = relay.accepted();

    relay.cutAll();
    await postNumbered(poster, session.id, 6, 40);
    await waitFor(() => relay.accepted() > connectionsBefore && sub.events.length >= 40, "SSE reconnect and catch-up", 20_000);
    await postNumbered(poster, session.id, 41, 45);
    await waitFor(() => sub.events.length >= 45, "live after reconnect");

    expect(sub.ids).toEqual(range(1, 45).map(String));
    expect(sub.messageSeqs()).toEqual(range(1, 45));
    expect(sub.errors).toEqual([]);
    sub.unsubscribe();
  });

  it("after the server restarts on the same port and database: resumes after the last id it had", async () => {
    const db = freshDatabase();
    cleanup.push(() => fs.rmSync(db.dir, { recursive: true, force: true }));
    const start = (port: number) => startServerAt(port, db.url, { SHUTDOWN_TIMEOUT_MS: "1000" });
    let server: ParleyServer = await start(0);
    cleanup.push(() => server.close());
    const port = server.port;
    const poster = createParleyClient({ url: server.url });
    cleanup.push(() => poster.close());
    const sse = createParleyClient({ url: server.url, transport: "sse" });
    cleanup.push(() => sse.close());

    const session = await poster.api.session.create.mutate({ title: "restart" });
    await postNumbered(poster, session.id, 1, 10);
    const sub = collectSessionEvents(sse, session.id);
    await waitFor(() => sub.events.length === 10, "back-fill over SSE");

    await server.close();
    server = await start(port);
    // Posted on the new server, most likely before the client's EventSource retries (it waits 3 s).
    await postNumbered(poster, session.id, 11, 30);
    await waitFor(() => sub.events.length >= 30, "SSE reconnect to the restarted server", 20_000);
    await postNumbered(poster, session.id, 31, 32);
    await waitFor(() => sub.events.length >= 32, "live after the restart");

    expect(sub.ids).toEqual(range(1, 32).map(String));
    expect(sub.messageSeqs()).toEqual(range(1, 32));
    expect(sub.errors).toEqual([]);
    sub.unsubscribe();
  });
});
