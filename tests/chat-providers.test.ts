// The network providers' edge cases, end to end through a real server and the
// local fake providers: an OpenAI stream without its usage chunk, answers cut
// at the length limit, Ollama's error line, malformed and stalled NDJSON, a
// provider error object mid-stream, a refused connection; and agent.models,
// which asks each provider for its models.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AskItem, ParleyClient } from "@parley/client";
import type { ProviderId } from "../src/shared/chat";
import { BUILTIN_MODEL } from "../src/shared/chat";
import { closedPortUrl, startFakeOllama, startFakeOpenAi, type FakeAnswer, type FakeProvider } from "./helpers/chat-fakes";
import { startTestServer, type TestServer } from "./helpers/server";

const API_KEY = "sk-providers-test-key";

let openai: FakeProvider;
let ollama: FakeProvider;
let t: TestServer;
let api: ParleyClient;

beforeAll(async () => {
  openai = await startFakeOpenAi();
  ollama = await startFakeOllama();
  t = await startTestServer({
    OPENAI_BASE_URL: openai.url,
    OPENAI_API_KEY: API_KEY,
    OPENAI_DEFAULT_MODEL: "fake-gpt",
    OLLAMA_HOST: ollama.url,
    OLLAMA_DEFAULT_MODEL: "fake-llama",
    CHAT_STALL_TIMEOUT_MS: "400",
  });
  api = t.client();
});
afterAll(async () => {
  await t?.close();
  await openai?.close();
  await ollama?.close();
});

/** Ask `provider`'s seeded agent; the streamed text and the persisted answer, as the SDK gives them. */
async function ask(client: ParleyClient, provider: ProviderId, fake: FakeProvider | null, answer: FakeAnswer | null) {
  if (fake && answer) fake.answers = [answer];
  const session = await client.api.session.create.mutate({ title: `${provider} edge case` });
  const agentId = (await client.api.agent.list.query()).find((a) => a.provider === provider)?.id;
  let streamed = "";
  let done: Extract<AskItem, { type: "done" }>["message"] | null = null;
  for await (const item of client.ask(session.id, "hello", { agentId })) {
    if (item.type === "delta") streamed += item.text;
    else done = item.message;
  }
  if (!done) throw new Error("the answer never finished");
  return { streamed, message: done };
}

describe("provider edge cases", () => {
  it("completes an OpenAI answer that has no usage chunk, with usageSource estimated", async () => {
    const tokens = ["one ", "two ", "three ", "four"];
    const { streamed, message } = await ask(api, "openai", openai, { kind: "tokens", tokens, usage: false });
    expect(message.status).toBe("complete");
    expect(message.content).toBe(tokens.join(""));
    expect(streamed).toBe(message.content);
    expect(message.metadata).toMatchObject({
      provider: "openai",
      finishReason: "stop",
      usageSource: "estimated",
      promptTokens: null,
      // Estimated: one per streamed chunk.
      completionTokens: tokens.length,
    });
  });

  it.each([
    ["openai", () => openai],
    ["ollama", () => ollama],
  ] as const)("completes an answer cut at the length limit (%s) with finishReason length", async (provider, fake) => {
    const tokens = ["cut ", "short ", "by the "];
    const { message } = await ask(api, provider, fake(), { kind: "tokens", tokens, finishReason: "length" });
    expect(message.status).toBe("complete");
    expect(message.content).toBe(tokens.join(""));
    expect(message.metadata).toMatchObject({ provider, finishReason: "length", providerFinishReason: "length", usageSource: "provider" });
  });

  it.each([
    ["an error line", { kind: "error", tokens: ["partial "], message: 'model "nope" not found' }, /^Ollama reported an error: model "nope" not found$/],
    ["a malformed line", { kind: "malformed", tokens: ["partial "] }, /^malformed line from Ollama \(not JSON\): \{not json/],
    ["a stalled stream", { kind: "stall", tokens: ["partial "] }, /^stalled: no data from the provider for 400 ms \(CHAT_STALL_TIMEOUT_MS\)$/],
  ] as const)("ends an Ollama answer with %s as error, keeping the partial text, and stays healthy", async (_name, answer, reason) => {
    const { message } = await ask(api, "ollama", ollama, answer);
    expect(message.status).toBe("error");
    expect(message.content).toBe("partial ");
    expect(message.metadata).toMatchObject({ provider: "ollama", finishReason: "error", error: expect.stringMatching(reason) as unknown });
    expect((await api.api.system.health.query()).status).toBe("ok");
    // The next answer is unaffected.
    const next = await ask(api, "ollama", ollama, { kind: "tokens", tokens: ["fine"] });
    expect(next.message).toMatchObject({ status: "complete", content: "fine" });
  });

  it("ends an OpenAI answer whose stream carries an error object as error, with the provider's message", async () => {
    const { message } = await ask(api, "openai", openai, { kind: "error", tokens: ["partial "], message: "quota exceeded" });
    expect(message.status).toBe("error");
    expect(message.content).toBe("partial ");
    expect(message.metadata).toMatchObject({ finishReason: "error", error: "the provider reported an error: quota exceeded" });
  });
});

describe("agent.models", () => {
  it("lists an OpenAI-compatible provider's models from its /v1/models, sending the key only there", async () => {
    openai.models = ["gpt-fake-large", "gpt-fake-small"];
    expect(await api.api.agent.models.query({ provider: "openai" })).toEqual({ provider: "openai", models: ["gpt-fake-large", "gpt-fake-small"] });
    expect(openai.modelListRequests.at(-1)).toEqual({ path: "/v1/models", authorization: `Bearer ${API_KEY}` });
  });

  it("lists Ollama's models from its /api/tags", async () => {
    ollama.models = ["llama-fake:8b", "qwen-fake:0.5b"];
    expect(await api.api.agent.models.query({ provider: "ollama" })).toEqual({ provider: "ollama", models: ["llama-fake:8b", "qwen-fake:0.5b"] });
    expect(ollama.modelListRequests.at(-1)?.path).toBe("/api/tags");
  });

  it("lists the built-in assistant's one model", async () => {
    expect(await api.api.agent.models.query({ provider: "builtin" })).toEqual({ provider: "builtin", models: [BUILTIN_MODEL] });
  });

  it("refuses a provider Parley does not know with BAD_REQUEST naming the field", async () => {
    await expect(api.api.agent.models.query({ provider: "nope" as ProviderId })).rejects.toMatchObject({
      data: { code: "BAD_REQUEST" },
      message: expect.stringContaining("provider") as unknown,
    });
  });
});

describe("a provider that cannot be reached", () => {
  let s: TestServer;
  let client: ParleyClient;
  beforeAll(async () => {
    s = await startTestServer({ OPENAI_BASE_URL: await closedPortUrl(), OPENAI_DEFAULT_MODEL: "fake-gpt" });
    client = s.client();
  });
  afterAll(async () => {
    await s?.close();
  });

  it("ends an OpenAI answer on a refused connection as error, saying it cannot reach the server", async () => {
    const { streamed, message } = await ask(client, "openai", null, null);
    expect(streamed).toBe("");
    expect(message.status).toBe("error");
    expect(message.content).toBe("");
    expect(message.metadata).toMatchObject({
      provider: "openai",
      finishReason: "error",
      error: "cannot reach the provider: ECONNREFUSED",
    });
    expect((await client.api.system.health.query()).status).toBe("ok");
  });

  it("answers agent.models with BAD_GATEWAY and the reason (never the provider's URL, which agent.providers hides), and BAD_REQUEST for a provider not configured here", async () => {
    const refused = await client.api.agent.models.query({ provider: "openai" }).catch((e: unknown) => e);
    expect(refused).toMatchObject({
      data: { code: "BAD_GATEWAY" },
      message: 'could not list the models of provider "openai": cannot reach the provider: ECONNREFUSED',
    });
    expect(JSON.stringify(refused)).not.toContain(new URL(s.server.deps.config.OPENAI_BASE_URL ?? "http://unset").host);
    await expect(client.api.agent.models.query({ provider: "ollama" })).rejects.toMatchObject({
      data: { code: "BAD_REQUEST" },
      message: expect.stringContaining("OLLAMA_HOST") as unknown,
    });
  });
});
