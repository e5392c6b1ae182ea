// session.presence and presence.typing: joins, leaves (also of a socket that
// dies without a goodbye), and typing marks that expire.
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { PresenceUpdate } from "../src/server/services/presence";
import { startTestServer, waitFor, type TestServer } from "./helpers/server";
import { collect, wsOnlyClient, type WsOnlyClient } from "./helpers/ws-client";

let t: TestServer | undefined;
const extra: WsOnlyClient[] = [];
afterEach(async () => {
  await Promise.all(extra.splice(0).map((c) => c.close()));
  await t?.close();
  t = undefined;
});

const names = (u: PresenceUpdate | undefined) => (u?.members.map((m) => m.name) ?? []).sort();

describe("presence", () => {
  it("two clients join and see each other; a client that leaves disappears", async () => {
    t = await startTestServer();
    const alice = wsOnlyClient(t.url, "alice");
    const bob = wsOnlyClient(t.url, "bob");
    extra.push(alice, bob);
    const session = await t.client().api.session.create.mutate({ title: "room" });
    const a = collect<PresenceUpdate>((h) => alice.api.session.presence.subscribe({ sessionId: session.id }, h), false);
    await waitFor(() => a.items.length === 1, "alice's sync");
    expect(a.items[0]).toMatchObject({ kind: "sync" });
    expect(names(a.items[0])).toEqual(["alice"]);

    const b = collect<PresenceUpdate>((h) => bob.api.session.presence.subscribe({ sessionId: session.id }, h), false);
    await waitFor(() => names(a.items.at(-1)).length === 2 && names(b.items.at(-1)).length === 2, "both see both");
    expect(names(a.items.at(-1))).toEqual(["alice", "bob"]);
    expect(a.items.at(-1)!.kind).toBe("join");

    b.unsubscribe();
    await waitFor(() => a.items.at(-1)?.kind === "leave", "bob's leave");
    expect(names(a.items.at(-1))).toEqual(["alice"]);
  });

  it("drops a socket that dies without a goodbye within the keep-alive window", async () => {
    t = await startTestServer({ WS_PING_INTERVAL_MS: "200", WS_PONG_TIMEOUT_MS: "200" });
    const server = t;
    const alice = wsOnlyClient(server.url, "alice");
    extra.push(alice);
    const session = await server.client().api.session.create.mutate({ title: "keep-alive" });
    const a = collect<PresenceUpdate>((h) => alice.api.session.presence.subscribe({ sessionId: session.id }, h), false);
    await waitFor(() => a.items.length === 1, "alice's sync");

    // A peer that joins, then goes silent: it never answers the server's PING (as a dead network would).
    const ghost = new WebSocket(`${server.url.replace(/^http/, "ws")}/api/trpc-ws`);
    await new Promise((resolve) => ghost.once("open", resolve));
    ghost.send(JSON.stringify({ id: 1, method: "subscription", params: { path: "session.presence", input: { json: { sessionId: session.id } } } }));
    await waitFor(() => names(a.items.at(-1)).length === 2, "the ghost joins");
    const joinedAt = Date.now();
    await waitFor(() => a.items.at(-1)?.kind === "leave" && names(a.items.at(-1)).length === 1, "the ghost leaves", 3_000);
    // ping interval + pong timeout, plus scheduling slack.
    expect(Date.now() - joinedAt).toBeLessThan(1_500);
    expect(server.server.deps.connections.list().map((c) => c.principal.name)).toEqual(["alice"]);
    ghost.terminate();
  });

  it("shows typing, keeps it while refreshed, and expires it 3 s after the last refresh", async () => {
    t = await startTestServer();
    const alice = wsOnlyClient(t.url, "alice");
    const bob = wsOnlyClient(t.url, "bob");
    extra.push(alice, bob);
    const session = await t.client().api.session.create.mutate({ title: "typing" });
    const a = collect<PresenceUpdate>((h) => alice.api.session.presence.subscribe({ sessionId: session.id }, h), false);
    const b = collect<PresenceUpdate>((h) => bob.api.session.presence.subscribe({ sessionId: session.id }, h), false);
    await waitFor(() => names(a.items.at(-1)).length === 2 && b.items.length > 0, "both present");

    const started = Date.now();
    const mark = await bob.api.presence.typing.mutate({ sessionId: session.id });
    await waitFor(() => (a.items.at(-1)?.typing.length ?? 0) === 1, "bob typing");
    expect(a.items.at(-1)!.typing[0]).toMatchObject({ name: "bob", principalId: mark.principalId });
    await new Promise((r) => setTimeout(r, 2_000));
    await bob.api.presence.typing.mutate({ sessionId: session.id }); // refresh
    const refreshed = Date.now();
    await waitFor(() => a.items.at(-1)?.typing.length === 0, "typing expired", 6_000);
    const gone = Date.now();
    expect(gone - started).toBeGreaterThan(4_500); // the refresh kept it past the first 3 s
    expect(gone - refreshed).toBeGreaterThanOrEqual(2_900);
    expect(gone - refreshed).toBeLessThan(4_000);
    await expect(bob.api.presence.typing.mutate({ sessionId: "no-such-session" })).rejects.toMatchObject({ data: { code: "NOT_FOUND" } });
  });
});
