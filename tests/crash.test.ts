// Crash: the server process is killed with SIGKILL mid-stream (posts in
// flight, a chat answer streaming) and restarted on the same database. Every
// acknowledged post is there, the answer is marked interrupted (not left
// streaming), and a subscribing client resumes with nothing lost or repeated.
import fs from "node:fs";
import { afterAll, expect, it } from "vitest";
import { createParleyClient } from "@parley/client";
import { startFakeOpenAi, type FakeProvider } from "./helpers/chat-fakes";
import { freshDatabase, spawnServer, waitFor, type ServerProcess } from "./helpers/server";
import { collectSessionEvents, range } from "./helpers/stream";

const processes: ServerProcess[] = [];
let openai: FakeProvider | undefined;
let dbDir: string | undefined;
afterAll(async () => {
  for (const p of processes) p.child.kill("SIGKILL");
  await openai?.close();
  if (dbDir) fs.rmSync(dbDir, { recursive: true, force: true });
});

it("keeps every acknowledged write across SIGKILL, marks the streaming answer interrupted, and the subscriber resumes exactly", async () => {
  openai = await startFakeOpenAi();
  openai.answers = [{ kind: "tokens", tokens: ["partial ", "answer "], intervalMs: 5, endless: true }];
  const db = freshDatabase();
  dbDir = db.dir;
  const env = { DATABASE_URL: db.url, OPENAI_BASE_URL: openai.url, OPENAI_API_KEY: "k" };
  const first = await spawnServer(env);
  processes.push(first);
  const port = new URL(first.url).port;

  const client = createParleyClient({ url: first.url, retryDelayMs: () => 100 });
  const session = await client.api.session.create.mutate({ title: "crash" });
  const agentId = (await client.api.agent.list.query()).find((a) => a.provider === "openai")?.id;
  const watcher = collectSessionEvents(client, session.id);
  const sent = await client.api.chat.send.mutate({ sessionId: session.id, content: "talk", agentId });
  await waitFor(() => watcher.events.some((e) => e.type === "chat.delta"), "the answer streaming");

  // Posts in flight when the process dies: only acknowledged ones must survive.
  const acknowledged: string[] = [];
  let posting = true;
  const writers = range(1, 4).map(async (w) => {
    for (let i = 0; posting; i++) {
      try {
        const message = await client.api.message.post.mutate({ sessionId: session.id, content: `w${w}-${i}` });
        acknowledged.push(message.id);
      } catch {
        return; // the server is gone
      }
    }
  });
  await waitFor(() => acknowledged.length >= 50, "writes under way", 30_000);
  first.child.kill("SIGKILL");
  expect(await first.exited).toBe("SIGKILL");
  posting = false;
  await Promise.all(writers);

  const second = await spawnServer({ ...env, PORT: port });
  processes.push(second);
  const after = createParleyClient({ url: second.url });
  const persisted = await after.api.message.list.query({ sessionId: session.id, limit: 500 });
  const ids = new Set(persisted.items.map((m) => m.id));
  for (const id of acknowledged) expect(ids.has(id)).toBe(true);
  const answer = persisted.items.find((m) => m.id === sent.assistantMessageId);
  expect(answer?.status).toBe("error");
  expect(answer?.metadata).toMatchObject({ error: "interrupted" });
  expect(second.output()).toContain("interrupted");

  // The original client reconnects by itself and resumes from its last id.
  await after.api.message.post.mutate({ sessionId: session.id, content: "after the crash" });
  const lastSeq = (await after.api.session.get.query({ id: session.id })).lastSeq;
  await waitFor(() => watcher.messageSeqs().length === lastSeq, "the watcher to resume", 30_000);
  expect(watcher.messageSeqs()).toEqual(range(1, lastSeq));
  expect(watcher.events.some((e) => e.type === "message.updated" && e.message.id === sent.assistantMessageId && e.message.status === "error")).toBe(true);
  await client.close();
  await after.close();
}, 120_000);
