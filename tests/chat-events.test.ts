// A chat run shows up in the typed events (events.subscribe, the Events page)
// as a real agent turn: llm.start, sampled llm.token, llm.complete or
// llm.error, and a latency.trace, all in the run's session.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AgentEventEnvelope } from "../src/shared/agent-events";
import { startFakeOpenAi, type FakeProvider } from "./helpers/chat-fakes";
import { startTestServer, waitFor, type TestServer } from "./helpers/server";
import { collect } from "./helpers/ws-client";

let openai: FakeProvider;
let t: TestServer;
let agentId: string;

beforeAll(async () => {
  openai = await startFakeOpenAi();
  t = await startTestServer({ OPENAI_BASE_URL: openai.url, OPENAI_API_KEY: "sk-test", OPENAI_DEFAULT_MODEL: "fake-gpt", CHAT_TOKEN_EVENT_MS: "1000" });
  agentId = (await t.client().api.agent.list.query()).find((a) => a.provider === "openai")?.id ?? "";
});
afterAll(async () => {
  await t?.close();
  await openai?.close();
});

const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i} `);

async function turn(content: string) {
  const c = t.client();
  const session = await c.api.session.create.mutate({ title: content });
  const events = collect<AgentEventEnvelope>((h) => c.api.events.subscribe.subscribe({ sessionId: session.id, replay: 0 }, h));
  await waitFor(() => t.server.deps.bus.listenerCount() >= 1, "subscribed");
  await new Promise((r) => setTimeout(r, 100));
  const sent = await c.api.chat.send.mutate({ sessionId: session.id, content, agentId });
  await waitFor(() => events.items.some((e) => e.type === "latency.trace"), "the run's latency trace", 15_000);
  events.unsubscribe();
  return { events: events.items, sent, session };
}

describe("a chat run's typed events", () => {
  it("publishes llm.start, a few counted llm.token, llm.complete and latency.trace in the session", async () => {
    const tokens = words(30);
    openai.answers = [{ kind: "tokens", tokens, intervalMs: 2 }];
    const { events, sent, session } = await turn("count");
    const types = events.map((e) => e.type);
    expect(types[0]).toBe("llm.start");
    expect(types.slice(-2)).toEqual(["llm.complete", "latency.trace"]);
    const tokenEvents = events.filter((e) => e.type === "llm.token");
    // Sampled, not one per token: 30 tokens in well under a second are one or two events.
    expect(tokenEvents.length).toBeGreaterThan(0);
    expect(tokenEvents.length).toBeLessThan(tokens.length);
    // Together the token events carry every token's text and count them all.
    expect(tokenEvents.map((e) => (e.type === "llm.token" ? e.data.delta : "")).join("")).toBe(tokens.join(""));
    const last = tokenEvents.at(-1);
    expect(last?.type === "llm.token" && last.data.tokens).toBe(30);
    for (const e of events) expect(e).toMatchObject({ sessionId: session.id, source: expect.stringMatching(/^agent:/) as unknown });
    expect(events[0]).toMatchObject({ type: "llm.start", data: { streamId: sent.runId, model: "fake-gpt", provider: "openai" } });
    expect(events.at(-2)).toMatchObject({
      type: "llm.complete",
      data: { streamId: sent.runId, text: tokens.join(""), model: "fake-gpt", completionTokens: 30, promptTokens: 11, finishReason: "stop" },
    });
    const trace = events.at(-1);
    expect(trace?.type).toBe("latency.trace");
    if (trace?.type === "latency.trace") {
      expect(trace.data.traceId).toBe(sent.runId);
      expect(trace.data.spans.map((s) => s.name)).toEqual(["llm.ttft", "llm"]);
    }
    // Events of a session are resumable like every other event: ids in order.
    expect(events.map((e) => e.id)).toEqual([...events.map((e) => e.id)].sort((a, b) => a - b));
  });

  it("publishes llm.error when the provider fails", async () => {
    openai.answers = [{ kind: "status", status: 500, body: "upstream exploded" }];
    const { events, sent } = await turn("fail");
    expect(events.map((e) => e.type)).toEqual(["llm.start", "llm.error", "latency.trace"]);
    expect(events[1]).toMatchObject({ type: "llm.error", data: { streamId: sent.runId, code: "error" } });
    expect(events[1]?.type === "llm.error" && events[1].data.message).toMatch(/500/);
  });
});
