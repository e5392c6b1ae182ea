// Chat: runs stream answers from real (local, fake) providers through
// session.events and chat.run, resume without gaps, stop, fail readably, and
// the built-in retrieval assistant answers with links.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ParleyClient, SessionEvent } from "@parley/client";
import type { ChatRunEvent } from "../src/shared/chat";
import { startServer } from "../src/server/app";
import { parseConfig } from "../src/server/env";
import { closedPortUrl, startFakeOllama, startFakeOpenAi, type FakeProvider } from "./helpers/chat-fakes";
import { freshDatabase, startTestServer, waitFor, type TestServer } from "./helpers/server";

/** What a UI holds: each message's text, built only from events, with every gap or duplicate recorded. */
class TextView {
  texts = new Map<string, string>();
  status = new Map<string, string>();
  problems: string[] = [];
  deltas = 0;
  snapshots = 0;
  events: SessionEvent[] = [];

  apply(event: SessionEvent) {
    this.events.push(event);
    switch (event.type) {
      case "message.created":
      case "message.updated": {
        const held = this.texts.get(event.message.id);
        if (event.type === "message.updated" && held !== undefined && event.message.status !== "streaming" && event.message.content !== held) {
          this.problems.push(`final text differs from streamed text: ${JSON.stringify(held)} vs ${JSON.stringify(event.message.content)}`);
        }
        this.texts.set(event.message.id, event.message.content);
        this.status.set(event.message.id, event.message.status);
        break;
      }
      case "chat.snapshot": {
        this.snapshots++;
        const held = this.texts.get(event.messageId) ?? "";
        if (!event.text.startsWith(held)) this.problems.push(`snapshot does not extend held text`);
        this.texts.set(event.messageId, event.text);
        break;
      }
      case "chat.delta": {
        this.deltas++;
        const held = this.texts.get(event.messageId);
        if (held === undefined) this.problems.push(`delta for unknown message ${event.messageId}`);
        else if (event.offset !== held.length) this.problems.push(`delta at ${event.offset}, held ${held.length}`);
        else this.texts.set(event.messageId, held + event.text);
        break;
      }
      default:
        break;
    }
  }
}

function watch(client: ParleyClient, sessionId: string) {
  const view = new TextView();
  const errors: unknown[] = [];
  const sub = client.api.session.events.subscribe(
    { sessionId },
    { onData: ({ data }) => view.apply(data), onError: (e) => errors.push(e) },
  );
  return { view, errors, unsubscribe: () => sub.unsubscribe() };
}

function watchRun(client: ParleyClient, runId: string) {
  let text = "";
  const problems: string[] = [];
  const events: ChatRunEvent[] = [];
  let done: Extract<ChatRunEvent, { type: "done" }> | null = null;
  const sub = client.api.chat.run.subscribe(
    { runId },
    {
      onData: ({ data }) => {
        events.push(data);
        if (data.type === "delta") {
          if (data.offset !== text.length) problems.push(`delta at ${data.offset}, held ${text.length}`);
          else text += data.text;
        } else done = data;
      },
      onError: (e) => problems.push(String(e)),
    },
  );
  return {
    text: () => text,
    done: () => done,
    problems,
    events,
    unsubscribe: () => sub.unsubscribe(),
  };
}

async function finalMessage(t: TestServer, messageId: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const message = await t.server.deps.db.message.findUniqueOrThrow({ where: { id: messageId } });
    if (message.status !== "streaming") return message;
    if (Date.now() > deadline) throw new Error(`message ${messageId} still streaming`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const words = (n: number, prefix = "w") => Array.from({ length: n }, (_, i) => `${prefix}${i} `);
const killSockets = (t: TestServer) => {
  for (const socket of t.server.wsServer.clients) socket.terminate();
};

let openai: FakeProvider;
let ollama: FakeProvider;
let t: TestServer;
let openaiAgentId: string;
let ollamaAgentId: string;

beforeAll(async () => {
  openai = await startFakeOpenAi();
  ollama = await startFakeOllama();
});
afterAll(async () => {
  await openai.close();
  await ollama.close();
});

describe("chat with network providers", () => {
  beforeAll(async () => {
    t = await startTestServer({
      OPENAI_BASE_URL: openai.url,
      OPENAI_API_KEY: "sk-test-secret",
      OPENAI_DEFAULT_MODEL: "fake-gpt",
      OLLAMA_HOST: ollama.url,
      OLLAMA_DEFAULT_MODEL: "fake-llama",
      CHAT_STALL_TIMEOUT_MS: "400",
    });
    const agents = await t.client().api.agent.list.query();
    openaiAgentId = agents.find((a) => a.provider === "openai")?.id ?? "";
    ollamaAgentId = agents.find((a) => a.provider === "ollama")?.id ?? "";
  });
  afterAll(async () => {
    await t.close();
  });
  afterEach(() => {
    openai.answers = [];
    ollama.answers = [];
  });

  it("streams a run's deltas to two subscribers and persists the exact final text with metadata", async () => {
    const tokens = words(25);
    openai.answers = [{ kind: "tokens", tokens, intervalMs: 5 }];
    const a = t.client();
    const session = await a.api.session.create.mutate({ title: "two tabs" });
    const first = watch(a, session.id);
    const second = watch(t.client(), session.id);
    await waitFor(() => t.server.deps.sessionStreams.subscriberCount >= 2, "two subscribers");

    const sent = await a.api.chat.send.mutate({ sessionId: session.id, content: "count for me", agentId: openaiAgentId, author: "ada" });
    // PARLEY_AUTH=off over HTTP: the caller is the local admin; "ada" is its label.
    expect(sent.userMessage).toMatchObject({ role: "user", content: "count for me", author: "local admin", authorLabel: "ada", seq: 1 });
    const final = await finalMessage(t, sent.assistantMessageId);
    await waitFor(() => first.view.status.get(sent.assistantMessageId) === "complete", "first sees the end");
    await waitFor(() => second.view.status.get(sent.assistantMessageId) === "complete", "second sees the end");

    expect(final.content).toBe(tokens.join(""));
    expect(final.status).toBe("complete");
    expect(final.parentId).toBe(sent.userMessage.id);
    expect(final.metadata).toMatchObject({
      runId: sent.runId,
      provider: "openai",
      model: "fake-gpt",
      promptTokens: 11,
      completionTokens: 25,
      finishReason: "stop",
      usageSource: "provider",
    });
    const meta = final.metadata as Record<string, number>;
    expect(meta.ttftMs).toBeGreaterThan(0);
    expect(meta.durationMs).toBeGreaterThanOrEqual(meta.ttftMs ?? 0);
    expect(meta.tokensPerSecond).toBeGreaterThan(0);
    for (const { view, errors } of [first, second]) {
      expect(view.problems).toEqual([]);
      expect(errors).toEqual([]);
      expect(view.deltas).toBeGreaterThan(0);
      expect(view.texts.get(sent.assistantMessageId)).toBe(tokens.join(""));
    }
    // The provider got the conversation, the key as a bearer token, and streaming options.
    expect(openai.requests.at(-1)?.path).toBe("/v1/chat/completions");
    expect(openai.requests.at(-1)?.body).toMatchObject({
      model: "fake-gpt",
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: "system" }, { role: "user", content: "count for me" }],
    });
    // The key is never sent to clients.
    expect(JSON.stringify(first.view.events)).not.toContain("sk-test-secret");
    expect(JSON.stringify(await a.api.agent.providers.query())).not.toContain("sk-test-secret");
  });

  it("takes Ollama's final eval counts into the metadata", async () => {
    ollama.answers = [{ kind: "tokens", tokens: words(8, "o"), intervalMs: 2 }];
    const c = t.client();
    const session = await c.api.session.create.mutate({ title: "ollama" });
    const sent = await c.api.chat.send.mutate({ sessionId: session.id, content: "hi", agentId: ollamaAgentId });
    const final = await finalMessage(t, sent.assistantMessageId);
    expect(final.status).toBe("complete");
    expect(final.content).toBe(words(8, "o").join(""));
    // eval_count 8 over eval_duration 80 ms = 100 tokens/s.
    expect(final.metadata).toMatchObject({ provider: "ollama", model: "fake-llama", promptTokens: 11, completionTokens: 8, tokensPerSecond: 100 });
    expect(ollama.requests.at(-1)).toMatchObject({ path: "/api/chat", body: { model: "fake-llama", stream: true } });
  });

  it("reconnecting mid-run gives no gap and no duplicate, on session.events and on chat.run", async () => {
    const tokens = words(60);
    openai.answers = [{ kind: "tokens", tokens, intervalMs: 15 }];
    const c = t.client();
    const session = await c.api.session.create.mutate({ title: "flaky network" });
    const sub = watch(c, session.id);
    await waitFor(() => t.server.deps.sessionStreams.subscriberCount >= 1, "subscribed");
    const sent = await c.api.chat.send.mutate({ sessionId: session.id, content: "go", agentId: openaiAgentId });
    const run = watchRun(c, sent.runId);
    await waitFor(() => (sub.view.texts.get(sent.assistantMessageId) ?? "").length > 20, "some text");
    killSockets(t); // both subscriptions lose their socket and resume
    await waitFor(() => (sub.view.texts.get(sent.assistantMessageId) ?? "").length > 150, "more text after the reconnect");
    killSockets(t);
    const final = await finalMessage(t, sent.assistantMessageId);
    await waitFor(() => sub.view.status.get(sent.assistantMessageId) === "complete", "end after reconnects");
    await waitFor(() => run.done() !== null, "chat.run done");

    expect(final.content).toBe(tokens.join(""));
    expect(sub.view.problems).toEqual([]);
    expect(sub.view.snapshots).toBeGreaterThanOrEqual(2);
    expect(sub.view.texts.get(sent.assistantMessageId)).toBe(final.content);
    expect(run.problems).toEqual([]);
    expect(run.text()).toBe(final.content);
    expect(run.done()?.message.status).toBe("complete");
  });

  it("a subscriber that joins late gets the text so far once, then the tail", async () => {
    const tokens = words(40);
    openai.answers = [{ kind: "tokens", tokens, intervalMs: 10 }];
    const c = t.client();
    const session = await c.api.session.create.mutate({ title: "late" });
    const sent = await c.api.chat.send.mutate({ sessionId: session.id, content: "go", agentId: openaiAgentId });
    await waitFor(() => (t.server.deps.chat.activeRuns(session.id)[0]?.text.length ?? 0) > 30, "partial text");
    const late = watch(t.client(), session.id);
    const lateRun = watchRun(t.client(), sent.runId);
    const final = await finalMessage(t, sent.assistantMessageId);
    await waitFor(() => late.view.status.get(sent.assistantMessageId) === "complete", "late sees the end");
    await waitFor(() => lateRun.done() !== null, "late chat.run done");
    expect(late.view.snapshots).toBe(1);
    expect(late.view.problems).toEqual([]);
    expect(late.view.texts.get(sent.assistantMessageId)).toBe(final.content);
    expect(lateRun.text()).toBe(final.content);
    expect(lateRun.events[0]).toMatchObject({ type: "delta", offset: 0 });
    // A finished run can still be read in full through chat.run.
    const after = watchRun(t.client(), sent.runId);
    await waitFor(() => after.done() !== null, "finished run replay");
    expect(after.text()).toBe(final.content);
  });

  it("stop aborts the upstream request (the provider sees the connection close) and keeps the partial text as stopped", async () => {
    openai.answers = [{ kind: "tokens", tokens: words(5), intervalMs: 10, endless: true }];
    const c = t.client();
    const session = await c.api.session.create.mutate({ title: "stop" });
    const sub = watch(c, session.id);
    const sent = await c.api.chat.send.mutate({ sessionId: session.id, content: "talk forever", agentId: openaiAgentId });
    await waitFor(() => (sub.view.texts.get(sent.assistantMessageId) ?? "").includes("more"), "endless text");
    const request = openai.requests.at(-1);
    const stopped = await c.api.chat.stop.mutate({ runId: sent.runId });
    expect(stopped.status).toBe("stopped");
    expect(stopped.content.startsWith(words(5).join(""))).toBe(true);
    expect(stopped.metadata).toMatchObject({ finishReason: "stopped" });
    await waitFor(() => request?.abortedByClient === true, "the fake provider to see the closed connection");
    // What the provider wrote before the abort is a superset of what was kept; nothing was kept that it did not send.
    expect(request?.written.join("").startsWith(stopped.content)).toBe(true);
    await waitFor(() => sub.view.status.get(sent.assistantMessageId) === "stopped", "subscribers see stopped");
    expect(sub.view.texts.get(sent.assistantMessageId)).toBe(stopped.content);
    expect(sub.view.problems).toEqual([]);
    // Stopping a finished run is harmless.
    expect((await c.api.chat.stop.mutate({ runId: sent.runId })).status).toBe("stopped");
  });

  it("unsubscribing never stops a run", async () => {
    const tokens = words(20);
    openai.answers = [{ kind: "tokens", tokens, intervalMs: 10 }];
    const c = t.client();
    const session = await c.api.session.create.mutate({ title: "leave" });
    const sub = watch(c, session.id);
    const sent = await c.api.chat.send.mutate({ sessionId: session.id, content: "go", agentId: openaiAgentId });
    const run = watchRun(c, sent.runId);
    await waitFor(() => (sub.view.texts.get(sent.assistantMessageId) ?? "").length > 0, "first text");
    sub.unsubscribe();
    run.unsubscribe();
    const final = await finalMessage(t, sent.assistantMessageId);
    expect(final.status).toBe("complete");
    expect(final.content).toBe(tokens.join(""));
  });

  it.each([
    ["HTTP 500", { kind: "status", status: 500, body: JSON.stringify({ error: { message: "model overloaded" } }) }, /HTTP 500 .*model overloaded/],
    ["a malformed chunk", { kind: "malformed", tokens: ["fine "] }, /malformed chunk/],
    ["a stalled stream", { kind: "stall", tokens: ["then "] }, /stalled: no data from the provider for 400 ms/],
  ] as const)("ends the run with status error and a readable reason on %s, and stays healthy", async (_name, answer, reason) => {
    openai.answers = [answer];
    const c = t.client();
    const session = await c.api.session.create.mutate({ title: "errors" });
    const sent = await c.api.chat.send.mutate({ sessionId: session.id, content: "hi", agentId: openaiAgentId });
    const final = await finalMessage(t, sent.assistantMessageId);
    expect(final.status).toBe("error");
    expect(final.metadata).toMatchObject({ finishReason: "error", error: expect.stringMatching(reason) as unknown });
    if (answer.kind === "stall") await waitFor(() => openai.requests.at(-1)?.abortedByClient === true, "stalled request closed");
    expect((await c.api.system.health.query()).status).toBe("ok");
    // The session can ask again right away.
    openai.answers = [{ kind: "tokens", tokens: ["recovered"] }];
    const again = await c.api.chat.send.mutate({ sessionId: session.id, content: "again", agentId: openaiAgentId });
    expect((await finalMessage(t, again.assistantMessageId)).content).toBe("recovered");
  });

  it("sends the provider the conversation up to the question: earlier complete messages in order, only the newest of regenerated answers", async () => {
    const c = t.client();
    const session = await c.api.session.create.mutate({ title: "context" });
    const sentTurns = () => (openai.requests.at(-1)?.body as { messages: { role: string; content: string }[] }).messages.slice(1); // after the system prompt
    await c.api.message.post.mutate({ sessionId: session.id, content: "hello", author: "ada" });
    openai.answers = [{ kind: "tokens", tokens: ["first answer"] }];
    const first = await c.api.chat.send.mutate({ sessionId: session.id, content: "q1", agentId: openaiAgentId });
    await finalMessage(t, first.assistantMessageId);
    expect(sentTurns()).toEqual([
      { role: "user", content: "hello" },
      { role: "user", content: "q1" },
    ]);
    openai.answers = [{ kind: "tokens", tokens: ["second answer"] }];
    const again = await c.api.chat.regenerate.mutate({ messageId: first.assistantMessageId });
    await finalMessage(t, again.assistantMessageId);
    // Regenerating answers the same question: the first answer (after it) is not part of the context.
    expect(sentTurns()).toEqual([
      { role: "user", content: "hello" },
      { role: "user", content: "q1" },
    ]);
    openai.answers = [{ kind: "tokens", tokens: ["third answer"] }];
    const next = await c.api.chat.send.mutate({ sessionId: session.id, content: "q2", agentId: openaiAgentId });
    await finalMessage(t, next.assistantMessageId);
    expect(sentTurns()).toEqual([
      { role: "user", content: "hello" },
      { role: "user", content: "q1" },
      { role: "assistant", content: "second answer" },
      { role: "user", content: "q2" },
    ]);
  });

  it("refuses a second run in the same session with CONFLICT", async () => {
    openai.answers = [{ kind: "tokens", tokens: words(3), intervalMs: 10, endless: true }];
    const c = t.client();
    const session = await c.api.session.create.mutate({ title: "one at a time" });
    const sent = await c.api.chat.send.mutate({ sessionId: session.id, content: "a", agentId: openaiAgentId });
    await expect(c.api.chat.send.mutate({ sessionId: session.id, content: "b", agentId: openaiAgentId })).rejects.toMatchObject({
      data: { code: "CONFLICT" },
      message: expect.stringContaining("CHAT_MAX_RUNS_PER_SESSION") as unknown,
    });
    await c.api.chat.stop.mutate({ runId: sent.runId });
  });
});

describe("chat with a refused connection, limits and timeouts", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({
      OPENAI_BASE_URL: openai.url,
      OLLAMA_HOST: await closedPortUrl(),
      CHAT_MAX_CONCURRENT_RUNS: "1",
      CHAT_RUN_TIMEOUT_MS: "600",
    });
  });
  afterAll(async () => {
    await s.close();
  });

  it("ends with status error when the provider refuses the connection", async () => {
    const c = s.client();
    const agent = (await c.api.agent.list.query()).find((a) => a.provider === "ollama");
    const session = await c.api.session.create.mutate({ title: "refused" });
    const sent = await c.api.chat.send.mutate({ sessionId: session.id, content: "hi", agentId: agent?.id });
    const final = await finalMessage(s, sent.assistantMessageId);
    expect(final.status).toBe("error");
    expect(final.metadata).toMatchObject({ error: "cannot reach the provider: ECONNREFUSED" });
    expect((await c.api.system.health.query()).status).toBe("ok");
  });

  it("refuses a run past the global cap with TOO_MANY_REQUESTS, and times out a run past CHAT_RUN_TIMEOUT_MS", async () => {
    openai.answers = [{ kind: "tokens", tokens: words(2), intervalMs: 10, endless: true }];
    const c = s.client();
    const agent = (await c.api.agent.list.query()).find((a) => a.provider === "openai");
    const one = await c.api.session.create.mutate({ title: "one" });
    const two = await c.api.session.create.mutate({ title: "two" });
    const sent = await c.api.chat.send.mutate({ sessionId: one.id, content: "long", agentId: agent?.id });
    await expect(c.api.chat.send.mutate({ sessionId: two.id, content: "too", agentId: agent?.id })).rejects.toMatchObject({
      data: { code: "TOO_MANY_REQUESTS" },
      message: expect.stringContaining("CHAT_MAX_CONCURRENT_RUNS") as unknown,
    });
    const final = await finalMessage(s, sent.assistantMessageId);
    expect(final.status).toBe("error");
    expect(final.metadata).toMatchObject({ error: "timed out after 600 ms (CHAT_RUN_TIMEOUT_MS)" });
    expect(final.content.length).toBeGreaterThan(0);
    openai.answers = [];
  });
});

describe("the built-in retrieval assistant", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ CHAT_BUILTIN_CHUNK_DELAY_MS: "0" });
  });
  afterAll(async () => {
    await s.close();
  });

  it("answers a question about an earlier message by quoting and linking it, and regenerate keeps both answers", async () => {
    const c = s.client();
    const session = await c.api.session.create.mutate({ title: "release" });
    await c.api.message.post.mutate({ sessionId: session.id, content: "The deployment window is Thursday at 14:00 UTC.", author: "ada" });
    await c.api.message.post.mutate({ sessionId: session.id, content: "Lunch is at noon.", author: "bob" });
    const sub = watch(c, session.id);
    const sent = await c.api.chat.send.mutate({ sessionId: session.id, content: "When is the deployment window?" });
    const answer = await finalMessage(s, sent.assistantMessageId);
    expect(answer.status).toBe("complete");
    expect(answer.author).toBe("Parley retrieval assistant");
    expect(answer.content).toContain("built-in retrieval assistant (not a language model)");
    expect(answer.content).toContain("> The deployment window is Thursday at 14:00 UTC.");
    expect(answer.content).toContain(`(/s/${session.id}#seq-1)`);
    expect(answer.content).not.toContain("Lunch");
    expect(answer.metadata).toMatchObject({ provider: "builtin", model: "parley-retrieval", finishReason: "stop" });
    await waitFor(() => sub.view.status.get(sent.assistantMessageId) === "complete", "streamed to the subscriber");
    expect(sub.view.problems).toEqual([]);

    const again = await c.api.chat.regenerate.mutate({ messageId: sent.assistantMessageId });
    expect(again.parentId).toBe(sent.userMessage.id);
    const second = await finalMessage(s, again.assistantMessageId);
    expect(second.content).toBe(answer.content); // deterministic
    const { items } = await c.api.message.list.query({ sessionId: session.id });
    const answers = items.filter((m) => m.role === "assistant");
    expect(answers.map((m) => m.id)).toEqual([sent.assistantMessageId, again.assistantMessageId]);
    expect(answers.every((m) => m.parentId === sent.userMessage.id && m.status === "complete")).toBe(true);
  });

  it("says plainly when nothing matched", async () => {
    const c = s.client();
    const session = await c.api.session.create.mutate({ title: "empty" });
    const sent = await c.api.chat.send.mutate({ sessionId: session.id, content: "Where is the xylophone inventory?" });
    const answer = await finalMessage(s, sent.assistantMessageId);
    expect(answer.content).toContain('Nothing matched "xylophone", "inventory".');
  });
});

describe("start-up", () => {
  it("marks answers left streaming by a crash as error with the reason interrupted", async () => {
    const db = freshDatabase();
    const config = parseConfig({ NODE_ENV: "test", LOG_LEVEL: "silent", PORT: "0", DATABASE_URL: db.url });
    const first = await startServer({ config });
    const session = await first.deps.db.session.create({ data: { title: "crash", metadata: {}, lastSeq: 1 } });
    const stuck = await first.deps.db.message.create({
      data: { sessionId: session.id, seq: 1, role: "assistant", author: "x", content: "half an ans", status: "streaming", metadata: { runId: "run_old" } },
    });
    await first.close();
    const second = await startServer({ config });
    try {
      const message = await second.deps.db.message.findUniqueOrThrow({ where: { id: stuck.id } });
      expect(message.status).toBe("error");
      expect(message.content).toBe("half an ans");
      expect(message.metadata).toMatchObject({ runId: "run_old", finishReason: "error", error: "interrupted" });
      const event = await second.deps.db.sessionEvent.findFirst({ where: { sessionId: session.id, type: "message.updated" } });
      expect(event).not.toBeNull();
    } finally {
      await second.close();
    }
  });
});
