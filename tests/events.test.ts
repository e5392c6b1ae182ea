// events.publish / events.subscribe: filters, replay, resume, retention,
// addressed events, limits, and system.demoFlow.
import { afterEach, describe, expect, it } from "vitest";
import type { AgentEventEnvelope, AgentEventPublishInput } from "../src/shared/agent-events";
import { startTestServer, waitFor, type TestServer } from "./helpers/server";
import { collect, wsOnlyClient, type WsOnlyClient } from "./helpers/ws-client";

let t: TestServer | undefined;
const extra: WsOnlyClient[] = [];
afterEach(async () => {
  await Promise.all(extra.splice(0).map((c) => c.close()));
  await t?.close();
  t = undefined;
});

const info = (message: string): AgentEventPublishInput => ({ type: "system.info", data: { message } });

async function publishMany(server: TestServer, count: number, from = 1) {
  const c = server.client();
  for (let i = from; i < from + count; i++) await c.api.events.publish.mutate(info(`event ${i}`));
}

const messages = (items: AgentEventEnvelope[]) =>
  items.map((e) => (e.type === "system.info" ? e.data.message : e.type));

describe("events", () => {
  it("filters by exact types and family patterns, and by session", async () => {
    t = await startTestServer();
    const c = t.client();
    const session = await c.api.session.create.mutate({ title: "filters" });
    const sub = collect<AgentEventEnvelope>((h) => c.api.events.subscribe.subscribe({ types: ["llm.*", "tool.call"], replay: 0 }, h));
    const inSession = collect<AgentEventEnvelope>((h) => c.api.events.subscribe.subscribe({ sessionId: session.id, replay: 0 }, h));
    await waitFor(() => t!.server.deps.bus.listenerCount() >= 2, "subscribed");
    await new Promise((r) => setTimeout(r, 100));
    const published: AgentEventPublishInput[] = [
      { type: "llm.start", data: { model: "m" } },
      { type: "stt.start", data: {} },
      { type: "tool.call", data: { callId: "c1", name: "search", arguments: { q: "x" } } },
      { type: "tool.result", data: { callId: "c1", name: "search", result: [1, 2] } },
      { type: "custom.game.score", data: { points: 3 }, sessionId: session.id },
      { type: "llm.result", data: { text: "done" }, sessionId: session.id },
    ];
    for (const e of published) await c.api.events.publish.mutate(e);
    await waitFor(() => sub.items.length === 3 && inSession.items.length === 2, "filtered delivery");
    expect(sub.items.map((e) => e.type)).toEqual(["llm.start", "tool.call", "llm.result"]);
    expect(inSession.items.map((e) => e.type)).toEqual(["custom.game.score", "llm.result"]);
    expect(sub.items[1]).toMatchObject({ type: "tool.call", data: { callId: "c1", arguments: { q: "x" } } });
    expect(sub.ids).toEqual(sub.items.map((e) => String(e.id)));
  });

  it("replays the last 100 by default (or the last N asked for) before the live stream", async () => {
    t = await startTestServer();
    await publishMany(t, 130);
    const c = t.client();
    const all = collect<AgentEventEnvelope>((h) => c.api.events.subscribe.subscribe({}, h));
    const five = collect<AgentEventEnvelope>((h) => c.api.events.subscribe.subscribe({ replay: 5 }, h));
    await waitFor(() => all.items.length === 100 && five.items.length === 5, "replay");
    expect(messages(all.items)).toEqual(Array.from({ length: 100 }, (_, i) => `event ${i + 31}`));
    expect(messages(five.items)).toEqual(["event 126", "event 127", "event 128", "event 129", "event 130"]);
    await c.api.events.publish.mutate(info("live"));
    await waitFor(() => all.items.length === 101 && five.items.length === 6, "live after replay");
    expect(messages(five.items).at(-1)).toBe("live");
  });

  it("resumes after lastEventId, and after a killed connection without gaps or duplicates", async () => {
    t = await startTestServer();
    const server = t;
    await publishMany(server, 20);
    const c = server.client();
    const resumed = collect<AgentEventEnvelope>((h) => c.api.events.subscribe.subscribe({ lastEventId: "15" }, h));
    await waitFor(() => resumed.items.length === 5, "events after 15");
    expect(resumed.ids).toEqual(["16", "17", "18", "19", "20"]);

    for (const socket of server.server.wsServer.clients) socket.terminate();
    await publishMany(server, 30, 21);
    await waitFor(() => resumed.items.length === 35, "resume after reconnect", 10_000);
    expect(resumed.ids).toEqual(Array.from({ length: 35 }, (_, i) => String(i + 16)));
    expect(resumed.errors).toEqual([]);
  });

  it("keeps at most EVENTS_MAX_COUNT events and serves none older than EVENTS_MAX_AGE_MS", async () => {
    t = await startTestServer({ EVENTS_MAX_COUNT: "10" });
    await publishMany(t, 25);
    expect(await t.server.deps.db.event.count()).toBeLessThanOrEqual(10);
    const c = t.client();
    const sub = collect<AgentEventEnvelope>((h) => c.api.events.subscribe.subscribe({ replay: 100 }, h));
    await waitFor(() => sub.items.length === 10, "the newest ten");
    expect(sub.ids).toEqual(Array.from({ length: 10 }, (_, i) => String(i + 16)));
    // Resuming from a deleted id yields what is left, not what was deleted.
    const old = collect<AgentEventEnvelope>((h) => c.api.events.subscribe.subscribe({ lastEventId: "3" }, h));
    await waitFor(() => old.items.length === 10, "resume from a deleted id");
    expect(old.ids[0]).toBe("16");
    await t.close();

    t = await startTestServer({ EVENTS_MAX_AGE_MS: "1000" });
    await publishMany(t, 3);
    await new Promise((r) => setTimeout(r, 1_100));
    const c2 = t.client();
    const aged = collect<AgentEventEnvelope>((h) => c2.api.events.subscribe.subscribe({}, h));
    await c2.api.events.publish.mutate(info("fresh"));
    await waitFor(() => aged.items.length >= 1, "the fresh one");
    expect(messages(aged.items)).toEqual(["fresh"]);
    // The periodic sweep may already have run; either way only the fresh one is left.
    await t.server.deps.agentEvents.sweep();
    expect(await t.server.deps.db.event.count()).toBe(1);
  });

  it("delivers an addressed event only to its principal's connections", async () => {
    t = await startTestServer();
    const server = t;
    const alice = wsOnlyClient(server.url, "alice");
    const bob = wsOnlyClient(server.url, "bob");
    extra.push(alice, bob);
    const a = collect<AgentEventEnvelope>((h) => alice.api.events.subscribe.subscribe({ replay: 0 }, h));
    const b = collect<AgentEventEnvelope>((h) => bob.api.events.subscribe.subscribe({ replay: 0 }, h));
    await waitFor(() => server.server.deps.connections.list().filter((x) => x.subscriptions.length > 0).length === 2, "two subscribers");
    const alicePrincipal = server.server.deps.connections.list().find((x) => x.principal.name === "alice")!.principal.id;

    const admin = server.client();
    await admin.api.events.publish.mutate({ ...info("for alice"), to: alicePrincipal });
    await admin.api.events.publish.mutate(info("for everyone"));
    await waitFor(() => a.items.length === 2 && b.items.length === 1, "deliveries");
    expect(messages(a.items)).toEqual(["for alice", "for everyone"]);
    expect(messages(b.items)).toEqual(["for everyone"]);
    expect(a.items[0]!.to).toBe(alicePrincipal);

    // Nor does a replay show it to anyone else.
    const later = collect<AgentEventEnvelope>((h) => bob.api.events.subscribe.subscribe({}, h));
    await waitFor(() => later.items.length === 1, "bob's replay");
    expect(messages(later.items)).toEqual(["for everyone"]);
  });

  it("refuses oversized data, unknown types and malformed events with messages naming the problem", async () => {
    t = await startTestServer({ EVENTS_PAYLOAD_MAX_BYTES: "1024" });
    const c = t.client();
    const tooLarge = await c.api.events.publish.mutate({ type: "custom.blob", data: { x: "y".repeat(2_000) } }).catch((e: unknown) => e);
    expect(tooLarge).toMatchObject({ data: { code: "PAYLOAD_TOO_LARGE" } });
    expect(String(tooLarge)).toContain("EVENTS_PAYLOAD_MAX_BYTES");
    await expect(c.api.events.publish.mutate({ type: "nope.x", data: {} } as unknown as AgentEventPublishInput)).rejects.toMatchObject({
      data: { code: "BAD_REQUEST" },
    });
    await expect(
      c.api.events.publish.mutate({ type: "agent.progress", data: { step: 1, percent: 140, message: "x" } }),
    ).rejects.toMatchObject({ data: { code: "BAD_REQUEST" } });
    const ok = await c.api.events.publish.mutate({ type: "custom.small", data: [1, "two", null] });
    expect(ok).toMatchObject({ type: "custom.small", data: [1, "two", null] });
  });

  it("a refused event names the field and what its type expects there, or the types there are", async () => {
    t = await startTestServer();
    const c = t.client();
    const refusal = async (event: unknown) => {
      const error = await c.api.events.publish.mutate(event as AgentEventPublishInput).then(
        () => null,
        (e: unknown) => e as { message: string; data?: { code?: string; zodIssues?: { path: string[]; message: string }[] | null } },
      );
      if (!error) throw new Error(`${JSON.stringify(event)} was accepted`);
      expect(error.data?.code).toBe("BAD_REQUEST");
      return { message: error.message, paths: error.data?.zodIssues?.map((issue) => issue.path.join(".")) };
    };

    const alert = await refusal({ type: "system.alert", data: { level: "warning" } });
    expect(alert.paths).toEqual(["data.message"]);
    expect(alert.message).toMatch(/^Invalid input: data\.message: .*expected string.*\(in a system\.alert event\)$/);

    const note = await refusal({ type: "system.info", data: { level: "info" } });
    expect(note.paths).toEqual(["data.message"]);
    expect(note.message).toContain("needs a message (a note) or a version (a status report)");

    const status = await refusal({ type: "connection.status", data: { status: "up" } });
    expect(status.paths).toEqual(["data.status"]);
    expect(status.message).toContain('expected one of "connecting"|"connected"');

    const progress = await refusal({ type: "agent.progress", data: { step: 1, percent: 140, message: "x" } });
    expect(progress.paths).toEqual(["data.percent"]);

    const unknown = await refusal({ type: "nope.x", data: {} });
    expect(unknown.paths).toEqual(["type"]);
    expect(unknown.message).toContain("must be one of connection.status, stt.start");
    expect(unknown.message).toContain('or custom.<name>; got "nope.x"');

    const badCustom = await refusal({ type: "custom.Bad", data: {} });
    expect(badCustom.paths).toEqual(["type"]);
    expect(badCustom.message).toContain("must look like custom.<name>");

    const addressed = await refusal({ type: "system.info", data: { message: "x" }, sessionId: 7 });
    expect(addressed.paths).toEqual(["sessionId"]);
  });

  it("carries a voice-agent pipeline's vocabulary: connection.status, memory.error, system.info status reports, system.alert, llm.token and llm.complete", async () => {
    t = await startTestServer();
    const c = t.client();
    const sub = collect<AgentEventEnvelope>((h) => c.api.events.subscribe.subscribe({ replay: 0, types: ["connection.*", "memory.*", "system.*", "llm.*"] }, h));
    await waitFor(() => t!.server.deps.bus.listenerCount() >= 1, "subscribed");
    await new Promise((r) => setTimeout(r, 100));
    const pipeline: AgentEventPublishInput[] = [
      { type: "connection.status", data: { status: "connected", component: "stt", latencyMs: 42 } },
      { type: "system.info", data: { version: "2.4.1", uptime: 3_600.5, memory: { rss: 180_000_000, heapUsed: 90_000_000 } } },
      { type: "system.info", data: { version: "2.4.1", uptime: 12, memory: 123_456_789 } },
      { type: "llm.start", data: { model: "llama3.2", provider: "ollama" } },
      { type: "llm.token", data: { token: "Hel", index: 0 } },
      { type: "llm.complete", data: { text: "Hello", completionTokens: 2, durationMs: 310 } },
      { type: "memory.error", data: { message: "vector store unreachable", operation: "recall", code: "ECONNREFUSED" } },
      { type: "system.alert", data: { message: "TTS latency above 2 s", level: "critical", source: "tts" } },
      { type: "connection.status", data: { status: "reconnecting", component: "tts", attempt: 2 } },
      // The earlier shapes stay accepted.
      { type: "system.info", data: { message: "deployed", level: "warn", details: { by: "ci" } } },
      { type: "llm.result", data: { text: "Hello" } },
    ];
    for (const event of pipeline) await c.api.events.publish.mutate(event);
    await waitFor(() => sub.items.length === pipeline.length, "every pipeline event");
    expect(sub.items.map((e) => ({ type: e.type, data: e.data }))).toEqual([
      ...pipeline.slice(0, 1),
      { type: "system.info", data: { level: "info", version: "2.4.1", uptime: 3_600.5, memory: { rss: 180_000_000, heapUsed: 90_000_000 } } },
      { type: "system.info", data: { level: "info", version: "2.4.1", uptime: 12, memory: 123_456_789 } },
      ...pipeline.slice(3, 7),
      { type: "system.alert", data: { message: "TTS latency above 2 s", level: "critical", source: "tts" } },
      ...pipeline.slice(8),
    ]);
  });

  it("system.demoFlow emits a voice-agent turn: stt, then llm with tokens and a tool call, then tts", async () => {
    t = await startTestServer();
    const c = t.client();
    const sub = collect<AgentEventEnvelope>((h) => c.api.events.subscribe.subscribe({ replay: 0, types: ["stt.*", "llm.*", "tool.*", "tts.*"] }, h));
    await waitFor(() => t!.server.deps.bus.listenerCount() >= 1, "subscribed");
    await new Promise((r) => setTimeout(r, 100));
    const flow = await c.api.system.demoFlow.mutate({ delayMs: 5 });
    expect(flow.eventCount).toBeGreaterThan(20);
    await waitFor(() => sub.items.some((e) => e.type === "tts.result"), "the whole turn", 10_000);
    const types: string[] = sub.items.map((e) => e.type);
    const first = (type: string) => types.indexOf(type);
    expect(first("stt.start")).toBe(0);
    expect(first("stt.result")).toBeLessThan(first("llm.start"));
    expect(first("tool.call")).toBeLessThan(first("tool.result"));
    expect(types.filter((x) => x === "llm.progress").length).toBeGreaterThan(5);
    expect(first("llm.result")).toBeLessThan(first("tts.start"));
    expect(types.at(-1)).toBe("tts.result");
  });
});
