// Idempotency keys: `clientKey` on message.post and chat.send makes a retry
// (an acknowledgement lost after the write committed) return the stored
// message instead of writing a second one: same id, same seq, one row, one
// event, one run. Also under concurrency: duplicates in one group-commit
// batch, a key stored between the writer's look-up and its insert, and two
// instances on one database.
import { TRPCClientError } from "@trpc/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db, Storage } from "../src/server/db";
import { MemoryBus } from "../src/server/bus/memory";
import { MessageWriter } from "../src/server/services/message-writer";
import { SessionLog } from "../src/server/services/session-log";
import { makePrincipal } from "./helpers/auth";
import { startTestServer, type TestServer } from "./helpers/server";

let t: TestServer;
beforeAll(async () => {
  // A slow built-in assistant: runs are still streaming while the retries arrive.
  t = await startTestServer({ CHAT_BUILTIN_CHUNK_DELAY_MS: "20" });
});
afterAll(async () => {
  await t?.close();
});

async function rejection(promise: Promise<unknown>): Promise<TRPCClientError<never>> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TRPCClientError) return error as TRPCClientError<never>;
    throw error;
  }
  throw new Error("expected the call to fail");
}

const rows = (db: Db, sessionId: string) => db.message.findMany({ where: { sessionId }, orderBy: { seq: "asc" } });

describe("message.post with a clientKey", () => {
  it("returns the stored message (same id and seq) to a retry with the same key: one row, one event", async () => {
    const { api } = t.client();
    const session = await api.session.create.mutate({ title: "retry" });
    const first = await api.message.post.mutate({ sessionId: session.id, content: "hello", clientKey: "k-1" });
    const retry = await api.message.post.mutate({ sessionId: session.id, content: "hello", clientKey: "k-1" });
    expect(retry.id).toBe(first.id);
    expect(retry.seq).toBe(first.seq);
    expect(retry.clientKey).toBe("k-1");
    expect(await rows(t.server.deps.db, session.id)).toHaveLength(1);
    const after = await api.session.get.query({ id: session.id });
    expect(after.lastSeq).toBe(1);
    expect(after.lastEventSeq).toBe(1);
  });

  it("writes one message per distinct key, and never deduplicates posts without a key", async () => {
    const { api } = t.client();
    const session = await api.session.create.mutate({ title: "distinct" });
    const a = await api.message.post.mutate({ sessionId: session.id, content: "same text", clientKey: "key-a" });
    const b = await api.message.post.mutate({ sessionId: session.id, content: "same text", clientKey: "key-b" });
    await api.message.post.mutate({ sessionId: session.id, content: "no key" });
    await api.message.post.mutate({ sessionId: session.id, content: "no key" });
    expect(b.id).not.toBe(a.id);
    expect((await rows(t.server.deps.db, session.id)).map((m) => m.seq)).toEqual([1, 2, 3, 4]);
    // Keys are per session: the same key in another session is another message.
    const other = await api.session.create.mutate({ title: "other" });
    const elsewhere = await api.message.post.mutate({ sessionId: other.id, content: "same text", clientKey: "key-a" });
    expect(elsewhere.id).not.toBe(a.id);
    expect(elsewhere.seq).toBe(1);
  });

  it("writes one row for simultaneous posts with one key, and every caller gets that message", async () => {
    const { api } = t.client();
    const session = await api.session.create.mutate({ title: "concurrent" });
    // 20 duplicates of one key interleaved with 10 other keys, all in flight at once (shared group-commit batches).
    const calls = Array.from({ length: 30 }, (_, i) =>
      api.message.post.mutate({ sessionId: session.id, content: `m${i}`, clientKey: i % 3 === 0 ? `other-${i}` : "dup" }),
    );
    const results = await Promise.all(calls);
    const dups = results.filter((m) => m.clientKey === "dup");
    expect(dups).toHaveLength(20);
    expect(new Set(dups.map((m) => m.id)).size).toBe(1);
    const stored = await rows(t.server.deps.db, session.id);
    expect(stored).toHaveLength(11);
    expect(stored.map((m) => m.seq)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
    expect(stored.filter((m) => m.clientKey === "dup")).toHaveLength(1);
    expect((await api.session.get.query({ id: session.id })).lastEventSeq).toBe(11);
  });

  it("re-reads a key stored between the writer's look-up and its insert (the unique-constraint race)", async () => {
    const db = t.server.deps.db;
    const session = await db.session.create({ data: { title: "race", metadata: {} } });
    const storage = t.server.deps.storage;
    const writer = (over: Storage) => new MessageWriter(over, new SessionLog(over, new MemoryBus()));
    const winner = await writer(storage).post({
      sessionId: session.id,
      content: "first writer",
      role: "user",
      visibility: "public",
      clientKey: "raced",
    }, { id: null, name: "a" });
    // A second writer whose first look-up of the key misses the row (as when
    // another instance commits it just after we read): its insert hits the
    // unique index. The look-up is the writer's first statement on its own
    // connection (SQLite's synchronous one, or PostgreSQL's pool).
    let staleReads = 1;
    const missFirstLookup = <T extends object>(connection: T, method: "statement" | "query", isLookup: (args: unknown[]) => boolean, miss: unknown): T =>
      new Proxy(connection, {
        get(target, prop, receiver) {
          const value = Reflect.get(target, prop, receiver) as unknown;
          if (prop !== method || typeof value !== "function") return value;
          return (...args: unknown[]) => {
            if (staleReads === 0 || !isLookup(args)) return (value as (...a: unknown[]) => unknown).apply(target, args);
            staleReads--;
            return miss;
          };
        },
      });
    const stale: Storage = {
      ...storage,
      sqlite: storage.sqlite && missFirstLookup(storage.sqlite, "statement", ([sql]) => String(sql).includes(`"clientKey" IN`), { all: () => [] }),
      postgres: storage.postgres && missFirstLookup(storage.postgres, "query", ([name]) => name === "parley_message_keys", Promise.resolve([])),
    };
    const loser = await writer(stale).post({
      sessionId: session.id,
      content: "second writer",
      role: "user",
      visibility: "public",
      clientKey: "raced",
    }, { id: null, name: "b" });
    expect(staleReads).toBe(0);
    expect(loser.id).toBe(winner.id);
    expect(loser.content).toBe("first writer");
    const stored = await rows(db, session.id);
    expect(stored).toHaveLength(1);
    // The failed attempt rolled back whole: no seq was taken.
    expect((await db.session.findUniqueOrThrow({ where: { id: session.id } })).lastSeq).toBe(1);
  });

  it("refuses keys that are empty, too long or have other characters, naming clientKey", async () => {
    const { api } = t.client();
    const session = await api.session.create.mutate({ title: "bad keys" });
    for (const clientKey of ["", "x".repeat(65), "has space", "slash/no", "ünï"]) {
      const error = await rejection(api.message.post.mutate({ sessionId: session.id, content: "x", clientKey }));
      expect(error.data).toMatchObject({ code: "BAD_REQUEST" });
      expect(error.message).toContain("clientKey");
    }
    const ok = await api.message.post.mutate({ sessionId: session.id, content: "x", clientKey: `${"A".repeat(60)}_z-9` });
    expect(ok.seq).toBe(1);
  });
});

describe("chat.send with a clientKey", () => {
  it("starts no second run on a retry: the same question, answer and run come back", async () => {
    const { api } = t.client();
    const session = await api.session.create.mutate({ title: "chat retry" });
    await api.message.post.mutate({ sessionId: session.id, content: "The deploy window is Tuesday at noon." });
    const first = await api.chat.send.mutate({ sessionId: session.id, content: "When is the deploy window?", clientKey: "ask-1" });
    // While the first answer is still streaming (a second run would be refused with CONFLICT).
    const retry = await api.chat.send.mutate({ sessionId: session.id, content: "When is the deploy window?", clientKey: "ask-1" });
    expect(retry).toMatchObject({ runId: first.runId, assistantMessageId: first.assistantMessageId });
    expect(retry.userMessage.id).toBe(first.userMessage.id);
    expect(retry.userMessage.seq).toBe(first.userMessage.seq);
    await api.chat.stop.mutate({ runId: first.runId });
    // And after it finished.
    const late = await api.chat.send.mutate({ sessionId: session.id, content: "When is the deploy window?", clientKey: "ask-1" });
    expect(late.runId).toBe(first.runId);
    const stored = await rows(t.server.deps.db, session.id);
    expect(stored.map((m) => m.role)).toEqual(["user", "user", "assistant"]);
  });

  it("gives simultaneous sends with one key one question and one run", async () => {
    const { api } = t.client();
    const session = await api.session.create.mutate({ title: "chat concurrent" });
    const results = await Promise.all(
      Array.from({ length: 5 }, () => api.chat.send.mutate({ sessionId: session.id, content: "Anything?", clientKey: "ask-dup" })),
    );
    expect(new Set(results.map((r) => r.runId)).size).toBe(1);
    expect(new Set(results.map((r) => r.userMessage.id)).size).toBe(1);
    await api.chat.stop.mutate({ runId: results[0]!.runId });
    expect(await rows(t.server.deps.db, session.id)).toHaveLength(2);
  });

  it("refuses a chat.send whose key names a plain post, saying so", async () => {
    const { api } = t.client();
    const session = await api.session.create.mutate({ title: "mixed" });
    const post = await api.message.post.mutate({ sessionId: session.id, content: "a note", clientKey: "shared" });
    const error = await rejection(api.chat.send.mutate({ sessionId: session.id, content: "a note", clientKey: "shared" }));
    expect(error.data).toMatchObject({ code: "CONFLICT" });
    expect(error.message).toContain("without chat.send");
    // message.post with a chat question's key returns that question.
    const asked = await api.chat.send.mutate({ sessionId: session.id, content: "a question", clientKey: "q" });
    await api.chat.stop.mutate({ runId: asked.runId });
    expect((await api.message.post.mutate({ sessionId: session.id, content: "a question", clientKey: "q" })).id).toBe(asked.userMessage.id);
    expect(post.seq).toBe(1);
  });
});

describe("clientKey across instances and principals", () => {
  it("two instances on one database store one message for concurrent duplicates sent to both", async () => {
    const a = await startTestServer();
    const b = await startTestServer({ DATABASE_URL: a.server.deps.config.DATABASE_URL, PARLEY_INSTANCE: "b" });
    try {
      const [ca, cb] = [a.client().api, b.client().api];
      const session = await ca.session.create.mutate({ title: "two instances" });
      const posts = await Promise.all(
        Array.from({ length: 10 }, (_, i) => [
          ca.message.post.mutate({ sessionId: session.id, content: `p${i}`, clientKey: `p-${i}` }),
          cb.message.post.mutate({ sessionId: session.id, content: `p${i}`, clientKey: `p-${i}` }),
        ]).flat(),
      );
      for (let i = 0; i < 10; i++) expect(posts[2 * i]!.id).toBe(posts[2 * i + 1]!.id);
      const sends = await Promise.all([
        ca.chat.send.mutate({ sessionId: session.id, content: "Which posts?", clientKey: "ask" }),
        cb.chat.send.mutate({ sessionId: session.id, content: "Which posts?", clientKey: "ask" }),
      ]);
      expect(sends[1].runId).toBe(sends[0].runId);
      expect(sends[1].userMessage.id).toBe(sends[0].userMessage.id);
      await ca.chat.stop.mutate({ runId: sends[0].runId });
      const stored = await rows(a.server.deps.db, session.id);
      expect(stored).toHaveLength(12);
      expect(stored.map((m) => m.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    } finally {
      await b.close();
      await a.close();
    }
  });

  it("does not reveal another principal's private message through its key (CONFLICT)", async () => {
    const s = await startTestServer({ PARLEY_AUTH: "on" });
    try {
      const admin = await makePrincipal(s, "admin");
      const alice = await makePrincipal(s, "member", "alice");
      const bob = await makePrincipal(s, "member", "bob");
      const session = await s.client({ token: admin.token }).api.session.create.mutate({ title: "shared" });
      const db = s.server.deps.db;
      await db.sessionMember.createMany({
        data: [alice, bob].map((p) => ({ sessionId: session.id, principalId: p.id, role: "member" as const })),
      });
      const aliceApi = s.client({ token: alice.token }).api;
      const secret = await aliceApi.message.post.mutate({ sessionId: session.id, content: "secret", visibility: "private", clientKey: "guess" });
      // Alice's own retry gets it back.
      expect((await aliceApi.message.post.mutate({ sessionId: session.id, content: "secret", visibility: "private", clientKey: "guess" })).id).toBe(secret.id);
      const error = await rejection(s.client({ token: bob.token }).api.message.post.mutate({ sessionId: session.id, content: "x", clientKey: "guess" }));
      expect(error.data).toMatchObject({ code: "CONFLICT" });
      expect(error.message).not.toContain("secret");
      expect(await rows(db, session.id)).toHaveLength(1);
    } finally {
      await s.close();
    }
  });
});
