// system.connections and system.disconnect: the registry lists live clients;
// a disconnected client reconnects and resumes its stream.
import { afterEach, describe, expect, it } from "vitest";
import type { AgentEventEnvelope } from "../src/shared/agent-events";
import { startTestServer, waitFor, type TestServer } from "./helpers/server";
import { collect, wsOnlyClient, type WsOnlyClient } from "./helpers/ws-client";

let t: TestServer | undefined;
const extra: WsOnlyClient[] = [];
afterEach(async () => {
  await Promise.all(extra.splice(0).map((c) => c.close()));
  await t?.close();
  t = undefined;
});

describe("connection registry", () => {
  it("lists a live client with its principal, address, subscriptions and traffic; disconnect closes it and it reconnects", async () => {
    t = await startTestServer();
    const server = t;
    const watcher = wsOnlyClient(server.url, "watcher");
    extra.push(watcher);
    const sub = collect<AgentEventEnvelope>((h) => watcher.api.events.subscribe.subscribe({ replay: 0 }, h));
    const admin = server.client();
    await waitFor(() => server.server.deps.connections.list().some((c) => c.subscriptions.length > 0), "a subscribed connection");
    await admin.api.events.publish.mutate({ type: "system.info", data: { message: "one" } });
    await waitFor(() => sub.items.length === 1, "first event");

    const { connections } = await admin.api.system.connections.query();
    expect(connections).toHaveLength(1);
    const [conn] = connections;
    expect(conn).toMatchObject({
      principal: { kind: "admin", name: "watcher" }, // PARLEY_AUTH=off: a local admin per connection
      subscriptions: [{ procedure: "events.subscribe", count: 1 }],
      bufferedAmount: 0,
    });
    expect(conn!.clientAddress).toMatch(/127\.0\.0\.1/);
    expect(conn!.connectedAt).toBeInstanceOf(Date);
    expect(conn!.messagesOut).toBeGreaterThanOrEqual(2); // "started" and the event
    expect(conn!.bytesOut).toBeGreaterThan(50);
    expect(conn!.messagesIn).toBeGreaterThanOrEqual(1);

    const closed = new Promise<void>((resolve) => {
      for (const socket of server.server.wsServer.clients) socket.once("close", () => resolve());
    });
    await expect(admin.api.system.disconnect.mutate({ connectionId: conn!.connectionId })).resolves.toEqual({
      disconnected: conn!.connectionId,
    });
    await closed;
    // While it is away, an event is published: the resumed stream still delivers it, once.
    await admin.api.events.publish.mutate({ type: "system.info", data: { message: "two" } });
    await waitFor(
      () => server.server.deps.connections.list().some((c) => c.connectionId !== conn!.connectionId && c.subscriptions.length > 0),
      "the client reconnected and resubscribed",
    );
    await waitFor(() => sub.items.length === 2, "the missed event");
    await admin.api.events.publish.mutate({ type: "system.info", data: { message: "three" } });
    await waitFor(() => sub.items.length === 3, "live after reconnect");
    expect(sub.items.map((e) => (e.type === "system.info" ? e.data.message : e.type))).toEqual(["one", "two", "three"]);
    expect(sub.errors).toEqual([]);

    await expect(admin.api.system.disconnect.mutate({ connectionId: conn!.connectionId })).rejects.toMatchObject({
      data: { code: "NOT_FOUND" },
    });
  });

  it("lists each connection's user agent and sessions, and the rooms with their subscribed connections and who is present", async () => {
    t = await startTestServer();
    const server = t;
    const admin = server.client();
    const session = await admin.api.session.create.mutate({ title: "Standup" });
    const ada = wsOnlyClient(server.url, "ada");
    extra.push(ada);
    const events = collect((h) => ada.api.session.events.subscribe({ sessionId: session.id }, h));
    const presence = collect((h) => ada.api.session.presence.subscribe({ sessionId: session.id }, h), false);
    await waitFor(() => presence.items.length > 0, "ada is present");
    const { connections, rooms } = await admin.api.system.connections.query();
    const conn = connections.find((c) => c.principal.name === "ada");
    expect(conn?.sessions).toEqual([session.id]);
    expect(conn?.subscriptions.map((s) => s.procedure).sort()).toEqual(["session.events", "session.presence"]);
    expect(conn?.userAgent).toBeNull(); // ws sends no User-Agent; browsers do (tests/browser-connections.test.ts)
    expect(rooms).toEqual([{ sessionId: session.id, title: "Standup", connections: 1, present: [{ principalId: expect.any(String) as unknown, name: "ada" }] }]);
    events.unsubscribe();
    presence.unsubscribe();
    await waitFor(() => server.server.deps.connections.list().every((c) => c.sessions.length === 0), "the session forgotten with its subscriptions");
    expect((await admin.api.system.connections.query()).rooms).toEqual([]);
  });
});
