// The SDK's helpers against a real server: tail resumes across lost
// connections and paused consumers without losing or repeating an event; ask
// streams an answer and its abort stops the run; connectionState tells what
// the socket is doing, and why when the server refuses the upgrade.
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createParleyClient, describeFailure, isPermanentFailure, type AskItem, type ConnectionState, type ParleyClient, type TailItem } from "@parley/client";
import { startFakeOpenAi, type FakeProvider } from "./helpers/chat-fakes";
import { startTestServer, waitFor, type TestServer } from "./helpers/server";
import { range } from "./helpers/stream";

function killAllWebSockets(server: TestServer) {
  for (const socket of server.server.wsServer.clients) socket.terminate();
}

/** Runs a `for await` over `iterator` in the background, collecting items. */
function drain<T>(iterator: AsyncIterable<T>, onItem?: (item: T) => Promise<void> | void) {
  const items: T[] = [];
  let error: unknown = null;
  let ended = false;
  const done = (async () => {
    try {
      for await (const item of iterator) {
        items.push(item);
        await onItem?.(item);
      }
    } catch (e) {
      error = e;
    } finally {
      ended = true;
    }
  })();
  return { items, done, error: () => error, ended: () => ended };
}

const seqsOf = (items: TailItem[]) => items.flatMap((i) => (i.event.type === "message.created" ? [i.event.message.seq] : []));

async function postMany(client: ParleyClient, sessionId: string, from: number, count: number) {
  for (const n of range(from, from + count - 1)) await client.api.message.post.mutate({ sessionId, content: `message ${n}` });
}

describe("tail", () => {
  let t: TestServer;
  beforeEach(async () => {
    t = await startTestServer();
  });
  afterEach(async () => {
    await t.close();
  });

  it("yields every event exactly once, in order, across three forced reconnects", async () => {
    const writer = t.client();
    const reader = t.client();
    const session = await writer.api.session.create.mutate({ title: "tail" });
    await postMany(writer, session.id, 1, 5);
    const abort = new AbortController();
    const tail = drain(reader.tail(session.id, { signal: abort.signal }));
    await waitFor(() => tail.items.length === 5, "history");

    let posted = 5;
    for (let round = 0; round < 3; round++) {
      killAllWebSockets(t);
      await postMany(writer, session.id, posted + 1, 20);
      posted += 20;
      await waitFor(() => seqsOf(tail.items).length >= posted, `events after reconnect ${round + 1}`, 20_000);
    }
    abort.abort();
    await tail.done;

    expect(seqsOf(tail.items)).toEqual(range(1, posted));
    expect(tail.items.map((i) => i.id)).toEqual(range(1, posted).map(String));
    expect(tail.error()).toBeNull();
  });

  it("starts after `from`, or at the end with from: 'end'", async () => {
    const c = t.client();
    const session = await c.api.session.create.mutate({ title: "from" });
    await postMany(c, session.id, 1, 4);
    const after2 = drain(c.tail(session.id, { from: 2 }));
    const fromEnd = drain(c.tail(session.id, { from: "end" }));
    await waitFor(() => after2.items.length === 2, "events after 2");
    await waitFor(() => t.server.deps.sessionStreams.subscriberCount >= 2, "both subscribed");
    await c.api.message.post.mutate({ sessionId: session.id, content: "five" });
    await waitFor(() => after2.items.length === 3 && fromEnd.items.length === 1, "live event");
    expect(seqsOf(after2.items)).toEqual([3, 4, 5]);
    expect(seqsOf(fromEnd.items)).toEqual([5]);
    await c.close();
    await Promise.all([after2.done, fromEnd.done]);
    expect(after2.ended() && fromEnd.ended()).toBe(true);
  });

  it("keeps its buffer bounded for a slow consumer by resubscribing from its cursor, still losing nothing", async () => {
    const c = t.client();
    const session = await c.api.session.create.mutate({ title: "slow consumer" });
    await Promise.all(range(1, 200).map((n) => c.api.message.post.mutate({ sessionId: session.id, content: `m${n}` })));
    const abort = new AbortController();
    const tail = drain(c.tail(session.id, { signal: abort.signal, bufferLimit: 10 }), () => new Promise((r) => setTimeout(r, 1)));
    await waitFor(() => tail.items.length === 200, "all 200 events", 30_000);
    abort.abort();
    await tail.done;
    expect(seqsOf(tail.items)).toEqual(range(1, 200));
  });

  it("throws NOT_FOUND for a session that does not exist", async () => {
    const tail = drain(t.client().tail("no-such-session"));
    await tail.done;
    expect(tail.error()).toMatchObject({ data: { code: "NOT_FOUND" } });
  });

  it("works over SSE too, with connectionState following the stream", async () => {
    const c = t.client({ transport: "sse" });
    const states: string[] = [];
    c.connectionState.subscribe((s) => states.push(s.state));
    const session = await c.api.session.create.mutate({ title: "sse" });
    await postMany(c, session.id, 1, 3);
    const abort = new AbortController();
    const tail = drain(c.tail(session.id, { signal: abort.signal }));
    await waitFor(() => tail.items.length === 3, "SSE events");
    expect(c.connectionState.current.state).toBe("open");
    abort.abort();
    await tail.done;
    await waitFor(() => c.connectionState.current.state === "closed", "closed after the stream ends");
    expect(states).toEqual(["closed", "connecting", "open", "closed"]);
  });
});

describe("connectionState", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await t.close();
  });

  it("goes connecting → open → reconnecting (with its delay) → open, and closed after close()", async () => {
    const c = t.client({ retryDelayMs: (attempt) => 100 + attempt * 100 });
    const states: ConnectionState[] = [];
    c.connectionState.subscribe((s) => states.push(s));
    const session = await c.api.session.create.mutate({ title: "state" });
    const tail = drain(c.tail(session.id));
    await waitFor(() => c.connectionState.current.state === "open", "open");
    killAllWebSockets(t);
    await waitFor(() => states.some((s) => s.state === "reconnecting"), "reconnecting");
    await waitFor(() => states.at(-1)?.state === "open", "open again", 10_000);
    await c.close();
    await tail.done;

    expect(states.map((s) => s.state)).toEqual(["closed", "connecting", "open", "reconnecting", "open", "closed"]);
    const reconnecting = states.find((s) => s.state === "reconnecting");
    expect(reconnecting).toMatchObject({ state: "reconnecting", attempt: 1, delayMs: 100 });
    if (reconnecting?.state === "reconnecting") expect(reconnecting.nextRetryAt).toBeGreaterThan(0);
    expect(states.at(-1)).toEqual({ state: "closed", idle: false });
  });
});

/** A server that refuses every WebSocket upgrade with `status` (as a proxy or a locked-down Parley would); counts the attempts. */
async function refusingServer(status: number, reason: string): Promise<{ url: string; attempts: () => number; close: () => Promise<void> }> {
  let attempts = 0;
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  server.on("upgrade", (_req, socket: Duplex) => {
    attempts++;
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    attempts: () => attempts,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe("refused upgrades", () => {
  it("a 429 on the upgrade (MAX_CONNECTIONS_PER_ADDRESS) is a typed refused state with code TOO_MANY_REQUESTS and its retry-after; the client waits that long, then connects once a slot is free", async () => {
    const t = await startTestServer({ MAX_CONNECTIONS_PER_ADDRESS: "2" });
    const held: WebSocket[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const ws = new WebSocket(`${t.url.replace(/^http/, "ws")}/api/trpc-ws`);
        await new Promise((resolve) => ws.once("open", resolve));
        held.push(ws);
      }
      const writer = t.client({ transport: "sse" });
      const session = await writer.api.session.create.mutate({ title: "refused" });
      // The third client from this address: a short reconnect delay of its own, which the server's Retry-After overrides.
      const c = t.client({ retryDelayMs: () => 50 });
      const states: { state: ConnectionState; at: number }[] = [];
      c.connectionState.subscribe((s) => states.push({ state: s, at: Date.now() }));
      const tail = drain(c.tail(session.id));
      await waitFor(() => states.some((s) => s.state.state === "refused"), "the refusal", 10_000);
      const refused = states.find((s) => s.state.state === "refused");
      expect(refused?.state).toMatchObject({ state: "refused", code: "TOO_MANY_REQUESTS", status: 429, retryAfterMs: 1_000 });
      expect(refused?.state.state === "refused" ? refused.state.message : "").toContain("HTTP 429");
      // The next try is scheduled no sooner than the Retry-After (not after the client's own 50 ms).
      const nextRetryAt = refused?.state.state === "refused" ? (refused.state.nextRetryAt ?? 0) : 0;
      expect(nextRetryAt - (refused?.at ?? 0)).toBeGreaterThanOrEqual(990);
      expect(states.some((s) => s.state.state === "reconnecting")).toBe(false);

      for (const ws of held) ws.close();
      await waitFor(() => c.connectionState.current.state === "open", "connected once a slot is free", 10_000);
      await writer.api.message.post.mutate({ sessionId: session.id, content: "after the refusal" });
      await waitFor(() => tail.items.some((i) => i.event.type === "message.created"), "the message");
      expect(tail.error()).toBeNull();
    } finally {
      for (const ws of held) ws.terminate();
      await t.close();
    }
  });

  for (const [status, reason, code] of [
    [401, "Unauthorized", "UNAUTHORIZED"],
    [403, "Forbidden", "FORBIDDEN"],
    [421, "Misdirected Request", "FORBIDDEN"],
  ] as const) {
    it(`a ${status} upgrade ends the subscription with ${code} and stops reconnecting`, async () => {
      const refusing = await refusingServer(status, reason);
      const c = createParleyClient({ url: refusing.url, retryDelayMs: () => 20 });
      try {
        const errors: unknown[] = [];
        c.api.session.events.subscribe({ sessionId: "s1" }, { onData: () => undefined, onError: (error) => errors.push(error) });
        await waitFor(() => errors.length > 0, "the subscription to end", 10_000);
        expect(describeFailure(errors[0])).toMatchObject({ code, kind: code === "UNAUTHORIZED" ? "unauthorized" : "forbidden" });
        expect(isPermanentFailure(errors[0])).toBe(true);
        expect(c.connectionState.current).toMatchObject({ state: "refused", code, status, nextRetryAt: null });
        // Not looping: the WebSocket client is stopped; ten of its retry delays later nothing has tried again.
        await waitFor(() => c.wsClient?.connectionState.get().state === "idle", "the WebSocket client to stop");
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(refusing.attempts()).toBe(1);
        // tail gives up too (a permanent failure), instead of resubscribing forever.
        const tail = drain(c.tail("s1"));
        await tail.done;
        expect(describeFailure(tail.error()).code).toBe(code);
      } finally {
        await c.close();
        await refusing.close();
      }
    });
  }
});

describe("ask", () => {
  let t: TestServer;
  let openai: FakeProvider;
  let openaiAgentId: string;
  beforeAll(async () => {
    openai = await startFakeOpenAi();
    t = await startTestServer({ OPENAI_BASE_URL: openai.url, OPENAI_API_KEY: "sk-test", OPENAI_DEFAULT_MODEL: "fake-gpt" });
    const agents = await t.client().api.agent.list.query();
    openaiAgentId = agents.find((a) => a.provider === "openai")?.id ?? "";
  });
  afterAll(async () => {
    await t.close();
    await openai.close();
  });

  it("streams the built-in assistant's answer as contiguous deltas, then the persisted message", async () => {
    const c = t.client();
    const session = await c.api.session.create.mutate({ title: "ask" });
    await c.api.message.post.mutate({ sessionId: session.id, content: "The deployment window is Thursday at 14:00 UTC.", author: "ada" });
    const items: AskItem[] = [];
    for await (const item of c.ask(session.id, "When is the deployment window?")) items.push(item);

    const deltas = items.flatMap((i) => (i.type === "delta" ? [i] : []));
    const last = items.at(-1);
    expect(deltas.length).toBeGreaterThan(1);
    expect(last?.type).toBe("done");
    if (last?.type !== "done") return;
    expect(last.message).toMatchObject({ role: "assistant", status: "complete", metadata: { provider: "builtin" } });
    expect(last.message.content).toContain("> The deployment window is Thursday at 14:00 UTC.");
    expect(deltas.map((d) => d.text).join("")).toBe(last.message.content);
    let offset = 0;
    for (const d of deltas) {
      expect(d.offset).toBe(offset);
      offset += d.text.length;
    }
  });

  it("aborting the signal stops the run: the provider sees the request end, done carries the stopped message", async () => {
    openai.answers = [{ kind: "tokens", tokens: ["one ", "two ", "three "], intervalMs: 20, endless: true }];
    const c = t.client();
    const session = await c.api.session.create.mutate({ title: "ask stop" });
    const abort = new AbortController();
    let runId = "";
    const items: AskItem[] = [];
    for await (const item of c.ask(session.id, "talk forever", {
      agentId: openaiAgentId,
      signal: abort.signal,
      onStarted: (started) => (runId = started.runId),
    })) {
      items.push(item);
      if (item.type === "delta" && items.map((i) => (i.type === "delta" ? i.text : "")).join("").includes("three")) abort.abort();
    }
    const last = items.at(-1);
    expect(last?.type).toBe("done");
    if (last?.type !== "done") return;
    expect(last.message.status).toBe("stopped");
    expect(last.message.metadata).toMatchObject({ runId, finishReason: "stopped" });
    expect(last.message.content.startsWith("one two three ")).toBe(true);
    const request = openai.requests.at(-1);
    await waitFor(() => request?.abortedByClient === true, "the provider to see the closed request");
    const stored = await c.api.message.list.query({ sessionId: session.id });
    expect(stored.items.at(-1)).toMatchObject({ id: last.message.id, status: "stopped" });
  });
});
