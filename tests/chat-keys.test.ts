// Provider API keys are never logged and never reach clients: the server as a
// process, logging at its most verbose level (trace), with OPENAI_API_KEY set,
// answers through the fake OpenAI-compatible provider, lists its models, and
// fails on a provider error whose body echoes the key (as real providers do
// for a wrong key); the key appears in none of its output and none of what
// clients receive, while the provider did receive it. Redaction comes before
// any excerpt is cut: a key at every offset around each cut leaves no fragment.
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createParleyClient, type ParleyClient } from "@parley/client";
import { OpenAiCompatibleProvider } from "../src/server/chat/providers/openai-compatible";
import { ProviderError } from "../src/server/chat/providers/provider";
import { startFakeOpenAi, type FakeAnswer, type FakeProvider } from "./helpers/chat-fakes";
import { freshDatabase, spawnServer, type ServerProcess } from "./helpers/server";
import { collectSessionEvents } from "./helpers/stream";

const API_KEY = "sk-never-logged-7f3a9c2e41b8";

let openai: FakeProvider;
let server: ServerProcess;
let db: { url: string; dir: string };
let client: ParleyClient;

beforeAll(async () => {
  openai = await startFakeOpenAi();
  db = freshDatabase();
  server = await spawnServer({
    DATABASE_URL: db.url,
    LOG_LEVEL: "trace",
    OPENAI_BASE_URL: openai.url,
    OPENAI_API_KEY: API_KEY,
    OPENAI_DEFAULT_MODEL: "fake-gpt",
  });
  client = createParleyClient({ url: server.url });
});
afterAll(async () => {
  await client?.close();
  server?.child.kill("SIGTERM");
  await server?.exited;
  await openai?.close();
  fs.rmSync(db.dir, { recursive: true, force: true });
});

describe("OPENAI_API_KEY", () => {
  it("is sent to the provider but appears in no log line and nothing a client receives", async () => {
    const agent = (await client.api.agent.list.query()).find((a) => a.provider === "openai");
    const session = await client.api.session.create.mutate({ title: "keys" });
    const watched = collectSessionEvents(client, session.id);

    openai.answers = [{ kind: "tokens", tokens: ["all ", "good"] }];
    const answers: unknown[] = [];
    for await (const item of client.ask(session.id, "hello", { agentId: agent?.id })) answers.push(item);
    // Real providers echo the key they were given when they refuse it.
    openai.answers = [{ kind: "status", status: 401, body: JSON.stringify({ error: { message: `Incorrect API key provided: ${API_KEY}.` } }) }];
    for await (const item of client.ask(session.id, "again", { agentId: agent?.id })) answers.push(item);
    // Keys straddling the cuts of an error body (300) and of an unreadable chunk (120).
    const half = Math.floor(API_KEY.length / 2);
    openai.answers = [{ kind: "status", status: 401, body: JSON.stringify({ error: { message: withSecretAt(API_KEY, 300 - half, 400) } }) }];
    for await (const item of client.ask(session.id, "straddling the 300 cut", { agentId: agent?.id })) answers.push(item);
    openai.answers = [{ kind: "raw", body: `data: ${withSecretAt(API_KEY, 120 - half, 200)}\n\n` }];
    for await (const item of client.ask(session.id, "straddling the 120 cut", { agentId: agent?.id })) answers.push(item);
    const models = await client.api.agent.models.query({ provider: "openai" });
    const providers = await client.api.agent.providers.query();

    expect(answers.at(-1)).toMatchObject({ type: "done", message: { status: "error", metadata: { error: expect.stringContaining("malformed chunk from the provider") as unknown } } });
    expect(JSON.stringify(answers)).toContain("HTTP 401 from the provider");
    expect(answers.at(0)).toMatchObject({ type: "delta" });
    expect(models.models.length).toBeGreaterThan(0);
    // The provider did get the key (so it passed through the server).
    expect(openai.modelListRequests.at(-1)?.authorization).toBe(`Bearer ${API_KEY}`);
    expect(openai.requests).toHaveLength(4);

    const seenByClients = JSON.stringify([answers, models, providers, watched.events, await client.api.message.list.query({ sessionId: session.id })]);
    expect(seenByClients).not.toContain(API_KEY);
    // The refusal was logged (and reached clients) with the key cut out; no log line holds the key.
    expect(seenByClients).toContain("Incorrect API key provided: [redacted]");
    expect(server.output()).toContain("Incorrect API key provided: [redacted]");
    expect(server.output()).toContain("chat run finished");
    expect(server.output()).not.toContain(API_KEY);
    // Not a piece of it either (a key cut before redaction left its head behind).
    expect(fragments(API_KEY, 8).filter((piece) => seenByClients.includes(piece) || server.output().includes(piece))).toEqual([]);
    watched.unsubscribe();
  });
});

/** Every piece of `secret` at least `min` characters long. */
function fragments(secret: string, min = 6): string[] {
  const out: string[] = [];
  for (let length = min; length <= secret.length; length++) for (let i = 0; i + length <= secret.length; i++) out.push(secret.slice(i, i + length));
  return out;
}

/** `text` of `length` dots with `secret` written at `offset` (dots never occur in the key). */
const withSecretAt = (secret: string, offset: number, length: number) => ".".repeat(offset) + secret + ".".repeat(Math.max(0, length - offset - secret.length));

/**
 * Each place a provider's words are cut for an error, and the answer of the
 * fake provider that puts `text` there; `prefix` characters of the cut string
 * come before `text` (the JSON around it).
 */
const cuts: { name: string; cut: number; prefix: number; answer: (text: string) => FakeAnswer }[] = [
  { name: "HTTP error body, JSON error.message", cut: 300, prefix: 0, answer: (text) => ({ kind: "status", status: 401, body: JSON.stringify({ error: { message: text } }) }) },
  { name: "HTTP error body, JSON error string", cut: 300, prefix: 0, answer: (text) => ({ kind: "status", status: 500, body: JSON.stringify({ error: text }) }) },
  { name: "HTTP error body, plain text", cut: 300, prefix: 0, answer: (text) => ({ kind: "status", status: 502, body: text }) },
  { name: "an error object mid-stream", cut: 300, prefix: 0, answer: (text) => ({ kind: "raw", body: `data: ${JSON.stringify({ error: { message: text } })}\n\n` }) },
  { name: "a chunk that is not JSON", cut: 120, prefix: 0, answer: (text) => ({ kind: "raw", body: `data: ${text}\n\n` }) },
  // `{"choices":"x","n":"` is 20 characters.
  { name: "a JSON chunk of the wrong shape", cut: 120, prefix: 20, answer: (text) => ({ kind: "raw", body: `data: ${JSON.stringify({ choices: "x", n: text })}\n\n` }) },
];

describe("redaction before truncation", () => {
  const KEY = "sk-proj-Zq7TW4kXv2Rm9PbY6cLh";
  let fake: FakeProvider;
  beforeAll(async () => {
    fake = await startFakeOpenAi();
  });
  afterAll(async () => {
    await fake?.close();
  });

  /** What one completion fails with (the ProviderError's text). */
  async function failure(provider: OpenAiCompatibleProvider): Promise<string> {
    try {
      for await (const _chunk of provider.stream({ model: "m", messages: [{ role: "user", content: "hi" }], temperature: 0, sessionId: "s", questionMessageId: "q", signal: new AbortController().signal })) {
        // drain
      }
    } catch (error) {
      if (error instanceof ProviderError) return error.message;
      throw error;
    }
    throw new Error("the completion did not fail");
  }

  it.each(cuts)("leaves no piece of the key in the error for $name, with the key at every offset around the cut ($cut)", async ({ cut, prefix, answer }) => {
    const provider = new OpenAiCompatibleProvider({ baseUrl: fake.url, apiKey: KEY, defaultModel: "m", stallMs: 5_000 });
    let tried = 0;
    // From wholly before the cut, through every straddling position, to wholly after it.
    for (let offset = cut - KEY.length - 3; offset <= cut + 3; offset++) {
      fake.answers = [answer(withSecretAt(KEY, offset - prefix, cut + 50))];
      const message = await failure(provider);
      const leaked = fragments(KEY).filter((piece) => message.includes(piece));
      expect(leaked, `key at offset ${offset}: ${message}`).toEqual([]);
      // A key wholly inside the excerpt is shown as redacted, not silently dropped.
      if (offset + KEY.length <= cut - 20) expect(message).toContain("[redacted]");
      tried++;
    }
    expect(tried).toBe(KEY.length + 7);
  });

  it("also finds the key written JSON-escaped or URL-encoded", async () => {
    const odd = "sk-a/b+c=d\\e\"f-0123456789";
    const provider = new OpenAiCompatibleProvider({ baseUrl: fake.url, apiKey: odd, defaultModel: "m", stallMs: 5_000 });
    for (const spelling of [odd, JSON.stringify(odd).slice(1, -1), encodeURIComponent(odd)]) {
      fake.answers = [{ kind: "status", status: 401, body: `refused key ${spelling} for this project` }];
      const message = await failure(provider);
      expect(message).toContain("[redacted]");
      expect(fragments(spelling, 8).filter((piece) => message.includes(piece)), message).toEqual([]);
    }
  });
});
