// Provider API keys are never logged and never reach clients: the server as a
// process, logging at its most verbose level (trace), with OPENAI_API_KEY set,
// answers through the fake OpenAI-compatible provider, lists its models, and
// fails on a provider error whose body echoes the key (as real providers do
// for a wrong key); the key appears in none of its output and none of what
// clients receive, while the provider did receive it.
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createParleyClient, type ParleyClient } from "../src/client";
import { startFakeOpenAi, type FakeProvider } from "./helpers/chat-fakes";
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
    const models = await client.api.agent.models.query({ provider: "openai" });
    const providers = await client.api.agent.providers.query();

    const last = answers.at(-1);
    expect(last).toMatchObject({ type: "done", message: { status: "error", metadata: { error: expect.stringContaining("HTTP 401") as unknown } } });
    expect(answers.at(0)).toMatchObject({ type: "delta" });
    expect(models.models.length).toBeGreaterThan(0);
    // The provider did get the key (so it passed through the server).
    expect(openai.modelListRequests.at(-1)?.authorization).toBe(`Bearer ${API_KEY}`);
    expect(openai.requests).toHaveLength(2);

    const seenByClients = JSON.stringify([answers, models, providers, watched.events, await client.api.message.list.query({ sessionId: session.id })]);
    expect(seenByClients).not.toContain(API_KEY);
    // The refusal was logged (and reached clients) with the key cut out; no log line holds the key.
    expect(seenByClients).toContain("Incorrect API key provided: [redacted]");
    expect(server.output()).toContain("Incorrect API key provided: [redacted]");
    expect(server.output()).toContain("chat run finished");
    expect(server.output()).not.toContain(API_KEY);
    watched.unsubscribe();
  });
});
