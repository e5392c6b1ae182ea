// agent.*: the seeded default, management, validation, and a session's default agent.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./helpers/server";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ CHAT_BUILTIN_CHUNK_DELAY_MS: "0" });
});
afterAll(async () => {
  await t.close();
});

describe("agent", () => {
  it("seeds the built-in retrieval assistant, labelled as such, when no provider is configured", async () => {
    const c = t.client();
    const agents = await c.api.agent.list.query();
    expect(agents).toHaveLength(1);
    expect(agents[0]).toMatchObject({ name: "Parley retrieval assistant", provider: "builtin", model: "parley-retrieval" });
    expect(await c.api.agent.providers.query()).toEqual([
      { id: "builtin", defaultModel: "parley-retrieval", label: "Parley built-in retrieval assistant (not a language model)" },
    ]);
  });

  it("creates, updates and deletes agents, with clear errors", async () => {
    const c = t.client();
    const created = await c.api.agent.create.mutate({ name: "Librarian", provider: "builtin", systemPrompt: "cite" });
    expect(created).toMatchObject({ name: "Librarian", model: "parley-retrieval", temperature: 0.7 });
    await expect(c.api.agent.create.mutate({ name: "Librarian", provider: "builtin" })).rejects.toMatchObject({ data: { code: "CONFLICT" } });
    await expect(c.api.agent.create.mutate({ name: "GPT", provider: "openai" })).rejects.toMatchObject({
      data: { code: "BAD_REQUEST" },
      message: expect.stringContaining("OPENAI_BASE_URL") as unknown,
    });
    await expect(c.api.agent.create.mutate({ name: "Hot", provider: "builtin", temperature: 3 })).rejects.toMatchObject({
      data: { code: "BAD_REQUEST" },
      message: expect.stringContaining("temperature") as unknown,
    });
    const updated = await c.api.agent.update.mutate({ id: created.id, name: "Archivist", temperature: 0.1 });
    expect(updated).toMatchObject({ name: "Archivist", temperature: 0.1 });
    await expect(c.api.agent.update.mutate({ id: "nope", name: "x" })).rejects.toMatchObject({ data: { code: "NOT_FOUND" } });
    expect(await c.api.agent.delete.mutate({ id: created.id })).toEqual({ id: created.id });
    await expect(c.api.agent.delete.mutate({ id: created.id })).rejects.toMatchObject({ data: { code: "NOT_FOUND" } });
  });

  it("answers with the session's default agent when chat.send names none", async () => {
    const c = t.client();
    const agent = await c.api.agent.create.mutate({ name: "Session default", provider: "builtin" });
    const session = await c.api.session.create.mutate({ title: "defaults" });
    await c.api.agent.setSessionDefault.mutate({ sessionId: session.id, agentId: agent.id });
    const sent = await c.api.chat.send.mutate({ sessionId: session.id, content: "anything about widgets?" });
    await expect(c.api.chat.send.mutate({ sessionId: "missing", content: "x" })).rejects.toMatchObject({ data: { code: "NOT_FOUND" } });
    await expect(c.api.chat.send.mutate({ sessionId: session.id, content: "x", agentId: "missing" })).rejects.toMatchObject({
      data: { code: "NOT_FOUND" },
    });
    const deadline = Date.now() + 5_000;
    let message = await t.server.deps.db.message.findUniqueOrThrow({ where: { id: sent.assistantMessageId } });
    while (message.status === "streaming" && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      message = await t.server.deps.db.message.findUniqueOrThrow({ where: { id: sent.assistantMessageId } });
    }
    expect(message).toMatchObject({ status: "complete", author: "Session default", metadata: { agentId: agent.id } });
  });
});
