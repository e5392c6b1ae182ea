// Authentication per transport, the WS Origin check, live revocation, limits,
// sign-in, security headers, and the PARLEY_AUTH=off safety rule.
import { createTRPCClient, createWSClient, TRPCClientError, wsLink } from "@trpc/client";
import superjson from "superjson";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AppRouter } from "../src/server/routers/_app";
import { createPrincipalWithToken } from "../src/server/auth/tokens";
import { firstValue, makePrincipal, signInWithLink, upgrade, upgradeResponse, type TestPrincipal } from "./helpers/auth";
import { spawnServer, startTestServer, waitFor, type TestServer } from "./helpers/server";

type ClientError = TRPCClientError<AppRouter>;

async function rejection(promise: Promise<unknown>): Promise<ClientError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TRPCClientError) return error as ClientError;
    throw error;
  }
  throw new Error("expected the call to fail");
}

let t: TestServer;
let admin: TestPrincipal;
let member: TestPrincipal;
beforeAll(async () => {
  t = await startTestServer({ PARLEY_AUTH: "on", AUTH_REVOCATION_POLL_MS: "100" });
  admin = await makePrincipal(t, "admin");
  member = await makePrincipal(t, "member");
});
afterAll(async () => {
  await t?.close();
});

describe("authentication", () => {
  it("answers UNAUTHORIZED to anonymous callers, except system.health and system.ping", async () => {
    const anon = t.client();
    expect((await anon.api.system.health.query()).status).toBe("ok");
    await anon.api.system.ping.mutate();
    const error = await rejection(anon.api.session.list.query({}));
    expect(error.data?.code).toBe("UNAUTHORIZED");
    expect(error.message).toContain("authentication required");
    const bad = await rejection(t.client({ token: "pt_not-a-real-token" }).api.session.list.query({}));
    expect(bad.data?.code).toBe("UNAUTHORIZED");
    expect(bad.message).toContain("invalid, expired or revoked");
  });

  it("authenticates a Bearer token on HTTP and connectionParams.token on WS, and a subscription over SSE", async () => {
    const http = t.client({ token: member.token });
    const session = await http.api.session.create.mutate({ title: "bearer" });
    expect(session.ownerId).toBe(member.id);
    const me = await http.api.auth.me.query();
    expect(me).toMatchObject({ id: member.id, role: "member" });

    const ws = wsClientWithParams(t.url, { token: member.token });
    expect(await ws.api.auth.me.query()).toMatchObject({ id: member.id });
    void ws.close();

    const sse = t.client({ token: member.token, transport: "sse" });
    const got: string[] = [];
    const sub = sse.api.session.events.subscribe({ sessionId: session.id }, { onData: ({ data }) => got.push(data.type) });
    await http.api.message.post.mutate({ sessionId: session.id, content: "over sse" });
    await waitFor(() => got.includes("message.created"), "SSE delivery");
    sub.unsubscribe();
  });

  it("signs in with the one-time link (once), and the cookie authenticates HTTP and the WS upgrade", async () => {
    // A fresh server: no principal yet, so the first start made an admin and a sign-in link.
    const fresh = await startTestServer({ PARLEY_AUTH: "on" });
    try {
      expect(fresh.server.signInUrl).toMatch(/\/signin\?token=pt_/);
      const link = fresh.server.signInUrl!;
      const first = await signInWithLink(fresh.url, link);
      expect(first.response.status).toBe(303);
      expect(first.response.headers.get("location")).toBe("/");
      const setCookie = first.response.headers.get("set-cookie") ?? "";
      expect(setCookie).toMatch(/HttpOnly/);
      expect(setCookie).toMatch(/SameSite=Lax/);
      expect(setCookie).not.toMatch(/Secure/); // plain http, no trusted proxy saying https
      const cookie = first.cookie;
      const again = await signInWithLink(fresh.url, link);
      expect(again.response.status).toBe(401); // single use

      const me = await fetch(`${fresh.url}/api/trpc/auth.me`, { headers: { cookie } });
      expect(me.status).toBe(200);
      expect(JSON.stringify(await me.json())).toContain('"role":"admin"');
      const foreign = await fetch(`${fresh.url}/api/trpc/auth.me`, { headers: { cookie, origin: "https://evil.example" } });
      expect(foreign.status).toBe(401);

      expect(await upgrade(fresh.url, { cookie })).toBe("open");
    } finally {
      await fresh.close();
    }
  });

  it("refuses a WebSocket upgrade from a foreign Origin with 403; same origin and no Origin are allowed", async () => {
    const host = new URL(t.url).host;
    expect(await upgrade(t.url, { origin: "https://evil.example" })).toBe(403);
    expect(await upgrade(t.url, { origin: `http://${host}` })).toBe("open");
    expect(await upgrade(t.url, {})).toBe("open");
  });

  it("sets security headers on API responses", async () => {
    const response = await fetch(`${t.url}/api/health`);
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("referrer-policy")).toBe("no-referrer");
    expect(response.headers.get("x-frame-options")).toBe("DENY");
    expect(response.headers.get("content-security-policy")).toContain("default-src 'none'");
  });

  it("refuses an expired token with UNAUTHORIZED on HTTP and on the WebSocket (calls and subscriptions)", async () => {
    const { token } = await createPrincipalWithToken(t.server.deps.db, { name: "expired", role: "member", expiresAt: new Date(Date.now() - 1_000) });
    const http = await rejection(t.client({ token }).api.auth.me.query());
    expect(http.data?.code).toBe("UNAUTHORIZED");
    expect(http.message).toContain("invalid, expired or revoked");
    const ws = wsClientWithParams(t.url, { token });
    const call = await rejection(ws.api.session.list.query({}));
    expect(call.data?.code).toBe("UNAUTHORIZED");
    expect(call.message).toContain("invalid, expired or revoked");
    const session = await t.client({ token: member.token }).api.session.create.mutate({ title: "expired reader" });
    expect(await firstValue((handlers) => ws.api.session.events.subscribe({ sessionId: session.id }, handlers))).toBe("UNAUTHORIZED");
    void ws.close();
  });

  it("ends a live stream with UNAUTHORIZED when its token expires, and refuses the token afterwards", async () => {
    // Long enough to connect and subscribe; the revocation poll then finds the expiry.
    const expiresAt = new Date(Date.now() + 3_000);
    const { token, info } = await createPrincipalWithToken(t.server.deps.db, { name: "expiring", role: "agent", expiresAt });
    const client = t.client({ token });
    const session = await client.api.session.create.mutate({ title: "until it expires" });
    const errors: unknown[] = [];
    client.api.session.events.subscribe({ sessionId: session.id }, { onData: () => undefined, onError: (e) => errors.push(e) });
    await waitFor(() => t.server.deps.connections.list().some((c) => c.principal.tokenId === info.id && c.subscriptions.length > 0), "subscribed");
    await waitFor(() => errors.length > 0, "the stream to end", 10_000);
    expect((errors[0] as ClientError).data?.code).toBe("UNAUTHORIZED");
    expect((await rejection(client.api.auth.me.query())).data?.code).toBe("UNAUTHORIZED");
  });

  it("never returns token hashes", async () => {
    const list = await t.client({ token: admin.token }).api.auth.listTokens.query();
    expect(list.length).toBeGreaterThan(0);
    expect(JSON.stringify(list)).not.toMatch(/"hash"|pt_/);
  });
});

/** A client sending everything over one WebSocket with these connectionParams. */
function wsClientWithParams(url: string, params: Record<string, string>) {
  const wsClient = createWSClient({
    url: `${url.replace(/^http/, "ws")}/api/trpc-ws`,
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
    connectionParams: params,
    retryDelayMs: () => 50,
  });
  const api = createTRPCClient<AppRouter>({ links: [wsLink({ client: wsClient, transformer: superjson })] });
  return { api, wsClient, close: () => wsClient.close() };
}

describe("live revocation", () => {
  it("ends a revoked token's live subscription within 1 s (revoked through auth.revokeToken)", async () => {
    const agent = await makePrincipal(t, "agent", "revoked-bot");
    const owner = t.client({ token: member.token });
    const session = await owner.api.session.create.mutate({ title: "revoke me" });
    await owner.api.session.addMember.mutate({ sessionId: session.id, principalId: agent.id, role: "agent" });
    const bot = t.client({ token: agent.token });
    const errors: unknown[] = [];
    let got = 0;
    bot.api.session.events.subscribe(
      { sessionId: session.id },
      { onData: () => got++, onError: (e) => errors.push(e) },
    );
    await owner.api.message.post.mutate({ sessionId: session.id, content: "before" });
    await waitFor(() => got === 1, "first event");
    const revokedAt = Date.now();
    await t.client({ token: admin.token }).api.auth.revokeToken.mutate({ id: agent.tokenId });
    await waitFor(() => errors.length > 0, "the stream to end", 5_000);
    expect(Date.now() - revokedAt).toBeLessThan(1_000);
    expect((errors[0] as ClientError).data?.code).toBe("UNAUTHORIZED");
    await owner.api.message.post.mutate({ sessionId: session.id, content: "after" });
    const error = await rejection(bot.api.message.list.query({ sessionId: session.id }));
    expect(error.data?.code).toBe("UNAUTHORIZED");
  });

  it("ends the stream within 1 s when the token is revoked by another process (database only, found by polling)", async () => {
    const agent = await makePrincipal(t, "agent", "cli-revoked");
    const session = await t.client({ token: agent.token }).api.session.create.mutate({ title: "cli" });
    const errors: unknown[] = [];
    t.client({ token: agent.token }).api.session.events.subscribe({ sessionId: session.id }, { onError: (e) => errors.push(e), onData: () => undefined });
    await waitFor(() => t.server.deps.connections.list().some((c) => c.principal.id === agent.id && c.subscriptions.length > 0), "subscribed");
    const revokedAt = Date.now();
    await t.server.deps.db.apiToken.update({ where: { id: agent.tokenId }, data: { revokedAt: new Date() } });
    await waitFor(() => errors.length > 0, "the stream to end", 5_000);
    expect(Date.now() - revokedAt).toBeLessThan(1_000);
  });

  it("ends a removed member's session stream within 1 s", async () => {
    const viewer = await makePrincipal(t, "member", "removed");
    const owner = t.client({ token: member.token });
    const session = await owner.api.session.create.mutate({ title: "membership" });
    await owner.api.session.addMember.mutate({ sessionId: session.id, principalId: viewer.id, role: "viewer" });
    const errors: unknown[] = [];
    t.client({ token: viewer.token }).api.session.events.subscribe({ sessionId: session.id }, { onError: (e) => errors.push(e), onData: () => undefined });
    await waitFor(() => t.server.deps.connections.list().some((c) => c.principal.id === viewer.id && c.subscriptions.length > 0), "subscribed");
    const removedAt = Date.now();
    await owner.api.session.removeMember.mutate({ sessionId: session.id, principalId: viewer.id });
    await waitFor(() => errors.length > 0, "the stream to end", 5_000);
    expect(Date.now() - removedAt).toBeLessThan(1_000);
    expect((errors[0] as ClientError).data?.code).toBe("FORBIDDEN");
  });
});

describe("chat.run and access", () => {
  it("ends a removed member's chat.run with FORBIDDEN within 1 s, while the run goes on", async () => {
    // A slow built-in answer, so the run is still streaming when the member is removed.
    const slow = await startTestServer({ PARLEY_AUTH: "on", CHAT_BUILTIN_CHUNK_DELAY_MS: "300" });
    try {
      const owner = await makePrincipal(slow, "member", "owner");
      const reader = await makePrincipal(slow, "member", "reader");
      const ownerClient = slow.client({ token: owner.token });
      const session = await ownerClient.api.session.create.mutate({ title: "a run and its readers" });
      await ownerClient.api.session.addMember.mutate({ sessionId: session.id, principalId: reader.id, role: "viewer" });
      const sent = await ownerClient.api.chat.send.mutate({ sessionId: session.id, content: "tell me everything" });
      const errors: unknown[] = [];
      let deltas = 0;
      slow.client({ token: reader.token }).api.chat.run.subscribe(
        { runId: sent.runId },
        { onData: ({ data }) => (deltas += data.type === "delta" ? 1 : 0), onError: (e) => errors.push(e) },
      );
      await waitFor(() => deltas > 0, "the reader follows the run");
      const removedAt = Date.now();
      await ownerClient.api.session.removeMember.mutate({ sessionId: session.id, principalId: reader.id });
      await waitFor(() => errors.length > 0, "the chat.run to end", 5_000);
      expect(Date.now() - removedAt).toBeLessThan(1_000);
      expect((errors[0] as ClientError).data?.code).toBe("FORBIDDEN");
      // Ending a reader's stream never stops the run.
      expect(slow.server.deps.chat.activeRuns(session.id).map((r) => r.runId)).toEqual([sent.runId]);
    } finally {
      await slow.close();
    }
  });
});

describe("limits", () => {
  let lt: TestServer;
  let a: TestPrincipal;
  let b: TestPrincipal;
  let c: TestPrincipal;
  beforeAll(async () => {
    lt = await startTestServer({
      PARLEY_AUTH: "on",
      RATE_LIMIT_PER_CONNECTION: "5",
      RATE_LIMIT_PER_PRINCIPAL: "8",
      RATE_LIMIT_BURST: "0",
      MAX_SUBSCRIPTIONS_PER_CONNECTION: "2",
      MAX_CONNECTIONS_PER_PRINCIPAL: "2",
      MAX_CONNECTIONS_PER_ADDRESS: "6",
      CHAT_MAX_RUNS_PER_PRINCIPAL: "1",
      CHAT_MAX_CONCURRENT_RUNS: "2",
      CHAT_BUILTIN_CHUNK_DELAY_MS: "1000",
    });
    a = await makePrincipal(lt, "member", "a");
    b = await makePrincipal(lt, "member", "b");
    c = await makePrincipal(lt, "member", "c");
  });
  afterAll(async () => {
    await lt?.close();
  });
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it("calls per second per connection: TOO_MANY_REQUESTS with a retry-after; another client is unaffected", async () => {
    const ws = wsClientWithParams(lt.url, { token: a.token });
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => ws.api.system.ping.mutate()));
    const refused = results.filter((r) => r.status === "rejected");
    expect(refused.length).toBeGreaterThan(0);
    const error = (refused[0] as PromiseRejectedResult).reason as ClientError;
    expect(error.data?.code).toBe("TOO_MANY_REQUESTS");
    expect(error.message).toContain("RATE_LIMIT_PER_CONNECTION");
    expect(error.data?.retryAfterMs).toBeGreaterThan(0);
    const other = wsClientWithParams(lt.url, { token: b.token });
    await other.api.system.ping.mutate();
    void ws.close();
    void other.close();
    await pause(1_100);
  });

  it("calls per second per principal, across its connections: TOO_MANY_REQUESTS with a retry-after; another principal is unaffected", async () => {
    const clients = [0, 1].map(() => wsClientWithParams(lt.url, { token: a.token }));
    const other = wsClientWithParams(lt.url, { token: b.token });
    const results = await Promise.allSettled(clients.flatMap((c) => [0, 1, 2, 3, 4].map(() => c.api.auth.me.query())));
    const refused = results.flatMap((r) => (r.status === "rejected" ? [r.reason as ClientError] : []));
    const byPrincipal = refused.filter((e) => e.message.includes("RATE_LIMIT_PER_PRINCIPAL"));
    expect(byPrincipal.length).toBeGreaterThan(0);
    expect(byPrincipal[0]!.data?.code).toBe("TOO_MANY_REQUESTS");
    expect(byPrincipal[0]!.data?.retryAfterMs).toBeGreaterThan(0);
    // Within the same second, b's calls go through.
    expect(await other.api.auth.me.query()).toMatchObject({ id: b.id });
    for (const c of [...clients, other]) void c.close();
    await pause(1_100);
  });

  it("subscriptions per connection: the third is refused with a retry-after; the first two and another connection's keep delivering", async () => {
    const owner = lt.client({ token: a.token }).api;
    const session = await owner.session.create.mutate({ title: "subs" });
    await owner.session.addMember.mutate({ sessionId: session.id, principalId: b.id, role: "viewer" });
    const ws = wsClientWithParams(lt.url, { token: a.token });
    const errors: unknown[] = [];
    const delivered = [0, 0, 0];
    for (let i = 0; i < 3; i++) {
      ws.api.session.events.subscribe({ sessionId: session.id }, { onData: () => delivered[i]!++, onError: (e) => errors.push(e) });
    }
    await waitFor(() => errors.length === 1, "the third subscription to be refused");
    expect((errors[0] as ClientError).data?.code).toBe("TOO_MANY_REQUESTS");
    expect((errors[0] as Error).message).toContain("MAX_SUBSCRIPTIONS_PER_CONNECTION");
    expect((errors[0] as ClientError).data?.retryAfterMs).toBeGreaterThan(0);
    const other = wsClientWithParams(lt.url, { token: b.token });
    let otherDelivered = 0;
    other.api.session.events.subscribe({ sessionId: session.id }, { onData: () => otherDelivered++ });
    await waitFor(() => lt.server.deps.connections.list().some((c) => c.principal.id === b.id && c.subscriptions.length === 1), "b subscribed");
    await owner.message.post.mutate({ sessionId: session.id, content: "after the refusal" });
    await waitFor(() => otherDelivered === 1 && delivered.filter((n) => n === 1).length === 2, "delivery to the three open subscriptions");
    expect(errors).toHaveLength(1);
    void ws.close();
    void other.close();
    await pause(1_100);
  });

  it("connections per principal: the third connection's calls are refused with a retry-after; another principal connects", async () => {
    const conns = [0, 1, 2].map(() => wsClientWithParams(lt.url, { token: b.token }));
    await conns[0]!.api.auth.me.query();
    await conns[1]!.api.auth.me.query();
    const error = await rejection(conns[2]!.api.auth.me.query());
    expect(error.data?.code).toBe("TOO_MANY_REQUESTS");
    expect(error.message).toContain("MAX_CONNECTIONS_PER_PRINCIPAL");
    expect(error.data?.retryAfterMs).toBeGreaterThan(0);
    const other = wsClientWithParams(lt.url, { token: a.token });
    await other.api.auth.me.query();
    for (const c of [...conns, other]) void c.close();
    await pause(1_100);
  });

  it("connections per address: past the limit the upgrade is answered 429 with Retry-After", async () => {
    await waitFor(() => lt.server.wsServer.clients.size === 0, "earlier connections closed");
    const sockets: WebSocket[] = [];
    for (let i = 0; i < 6; i++) {
      const ws = new WebSocket(`${lt.url.replace(/^http/, "ws")}/api/trpc-ws`);
      await new Promise((resolve) => ws.once("open", resolve));
      sockets.push(ws);
    }
    const refused = await upgradeResponse(lt.url, {});
    expect(refused === "open" ? refused : refused.statusCode).toBe(429);
    expect(refused === "open" ? null : Number(refused.headers["retry-after"])).toBeGreaterThan(0);
    for (const ws of sockets) ws.close();
    await waitFor(() => lt.server.wsServer.clients.size === 0, "closed");
    await pause(100);
    expect(await upgrade(lt.url, {})).toBe("open");
  });

  it("concurrent chat runs per principal and per server: TOO_MANY_REQUESTS with a retry-after; another principal may still ask", async () => {
    const api = lt.client({ token: a.token }).api;
    const bApi = lt.client({ token: b.token }).api;
    const cApi = lt.client({ token: c.token }).api;
    const s1 = await api.session.create.mutate({ title: "chat 1" });
    const s2 = await api.session.create.mutate({ title: "chat 2" });
    await pause(1_100); // HTTP clients in this process share keep-alive sockets: one per-connection bucket
    const s3 = await bApi.session.create.mutate({ title: "chat 3" });
    const s4 = await cApi.session.create.mutate({ title: "chat 4" });
    await pause(1_100);
    // The answers stream slowly (CHAT_BUILTIN_CHUNK_DELAY_MS): they run until stopped below.
    const first = await api.chat.send.mutate({ sessionId: s1.id, content: "what about chat limits today?" });
    const perPrincipal = await rejection(api.chat.send.mutate({ sessionId: s2.id, content: "and another question here?" }));
    expect(perPrincipal.data?.code).toBe("TOO_MANY_REQUESTS");
    expect(perPrincipal.message).toContain("CHAT_MAX_RUNS_PER_PRINCIPAL");
    expect(perPrincipal.data?.retryAfterMs).toBeGreaterThan(0);
    // Another principal may still ask; the server now runs CHAT_MAX_CONCURRENT_RUNS (2) answers.
    const second = await bApi.chat.send.mutate({ sessionId: s3.id, content: "a question from b?" });
    expect(lt.server.deps.chat.activeCount).toBe(2);
    const perServer = await rejection(cApi.chat.send.mutate({ sessionId: s4.id, content: "a question from c?" }));
    expect(perServer.data?.code).toBe("TOO_MANY_REQUESTS");
    expect(perServer.message).toContain("CHAT_MAX_CONCURRENT_RUNS");
    expect(perServer.data?.retryAfterMs).toBeGreaterThan(0);
    await pause(1_100);
    await api.chat.stop.mutate({ runId: first.runId });
    await bApi.chat.stop.mutate({ runId: second.runId });
    // After the retry-after, with a run ended, c's question goes through.
    await pause(perServer.data?.retryAfterMs ?? 0);
    const third = await cApi.chat.send.mutate({ sessionId: s4.id, content: "a question from c?" });
    await cApi.chat.stop.mutate({ runId: third.runId });
  });
});

describe("PARLEY_AUTH=off", () => {
  it("refuses to start on a non-loopback HOST, saying why", async () => {
    const error = await spawnServer({ PARLEY_AUTH: "off", HOST: "0.0.0.0" }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(error).not.toBeNull();
    expect(error!.message).toMatch(/server exited \((?!0\))/);
    expect(error!.message).toContain("PARLEY_AUTH=off with HOST=0.0.0.0");
  });
});
