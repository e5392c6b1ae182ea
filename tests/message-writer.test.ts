// Group commit: concurrent posts share transactions, yet every caller gets
// its own message, seqs stay unique and gap-free per session, and a post to a
// missing session fails alone.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TRPCError } from "@trpc/server";
import { MemoryBus } from "../src/server/bus/memory";
import { openStorage, type Db, type Storage } from "../src/server/db";
import { MessageWriter } from "../src/server/services/message-writer";
import { postMessage } from "../src/server/services/messages";
import { sessionChannel, SessionLog, type SessionChannelMessage } from "../src/server/services/session-log";
import { testDatabase } from "./helpers/server";
import { range } from "./helpers/stream";

let storage: Storage;
let db: Db;
let sessionLog: SessionLog;
let writer: MessageWriter;
let removeDatabase = (): Promise<void> => Promise.resolve();
const bus = new MemoryBus();
beforeAll(async () => {
  // SQLite here; PostgreSQL when tests/postgres-message-writer.test.ts re-runs this file.
  const database = await testDatabase();
  removeDatabase = database.remove;
  storage = await openStorage(database.url);
  db = storage.db;
  sessionLog = new SessionLog(storage, bus);
  writer = new MessageWriter(storage, sessionLog);
});
afterAll(async () => {
  await storage.close();
  await removeDatabase();
});

const limits = { maxContentBytes: 65_536 };
const post = (sessionId: string, content: string) =>
  postMessage(writer, limits, { sessionId, content, role: "user", visibility: "public" }, { id: null, name: "t" });

describe("message.post group commit", () => {
  it("writes 600 concurrent posts to three sessions with gap-free seqs, each caller getting its own message", async () => {
    const sessions = await Promise.all(["a", "b", "c"].map((title) => db.session.create({ data: { title, metadata: {} } })));
    const published: SessionChannelMessage[] = [];
    const offs = sessions.map((s) => bus.subscribe(sessionChannel(s.id), (m) => published.push(m)));
    const calls = range(1, 600).map((n) => {
      const session = sessions[n % 3];
      if (!session) throw new Error("unreachable");
      return post(session.id, `m${n}`).then((message) => ({ n, session: session.id, message }));
    });
    const results = await Promise.all(calls);
    for (const { n, session, message } of results) {
      expect(message.content).toBe(`m${n}`);
      expect(message.sessionId).toBe(session);
    }
    for (const session of sessions) {
      const seqs = results.filter((r) => r.session === session.id).map((r) => r.message.seq).sort((x, y) => x - y);
      expect(seqs).toEqual(range(1, 200));
      // Posts from one caller, issued in order, keep that order.
      const bySeq = results.filter((r) => r.session === session.id).sort((x, y) => x.message.seq - y.message.seq);
      expect(bySeq.map((r) => r.n)).toEqual([...bySeq.map((r) => r.n)].sort((x, y) => x - y));
      const events = await sessionLog.readAfter(session.id, 0, 1000);
      expect(events.map((e) => e.seq)).toEqual(range(1, 200));
    }
    expect(published).toHaveLength(600);
    offs.forEach((off) => off());
  });

  it("stores each message and its event as Prisma reads them back: same fields, types and stored encoding", async () => {
    const session = await db.session.create({ data: { title: "fields", metadata: {} } });
    const before = await db.session.findUniqueOrThrow({ where: { id: session.id } });
    const message = await postMessage(writer, limits, {
      sessionId: session.id,
      content: "héllo 'quoted' \"text\" 😀",
      role: "agent",
      author: "on duty",
      visibility: "agent_only",
      metadata: { nested: { list: [1, "two", null], flag: true } },
      clientKey: "fields-1",
    }, { id: null, name: "bot" });
    const stored = await db.message.findUniqueOrThrow({ where: { id: message.id } });
    expect(stored).toEqual(message);
    expect(stored.createdAt).toBeInstanceOf(Date);
    expect(message).toMatchObject({ seq: 1, status: "complete", parentId: null, authorId: null, author: "bot", authorLabel: "on duty" });
    expect(message.id).toMatch(/^c[0-9a-z]{24}$/);
    const after = await db.session.findUniqueOrThrow({ where: { id: session.id } });
    expect(after).toMatchObject({ lastSeq: 1, lastEventSeq: 1 });
    expect(after.updatedAt.getTime()).toBeGreaterThanOrEqual(before.updatedAt.getTime());
    const [event] = await sessionLog.readAfter(session.id, 0, 10);
    expect(event).toMatchObject({ seq: 1, event: { type: "message.created", message } });
    // The stored encoding carries only per-value types (no shared references),
    // so a back-fill can frame it as it is (realtime/frames.ts).
    const row = await db.sessionEvent.findUniqueOrThrow({ where: { sessionId_seq: { sessionId: session.id, seq: 1 } } });
    const payload = row.payload as { meta?: Record<string, unknown> };
    expect(Object.keys(payload.meta ?? {}).filter((key) => key !== "values" && key !== "v")).toEqual([]);
  });

  it("waits for a write transaction held open elsewhere, without blocking it, then commits every post", async () => {
    const session = await db.session.create({ data: { title: "held", metadata: {} } });
    const posts: Promise<{ seq: number }>[] = [];
    // A Prisma interactive transaction that holds the write lock across an
    // await. The writer must not wait for the lock inside the event loop (a
    // synchronous busy wait of up to SQLite's busy timeout, 5 s): the loop
    // would stall and this transaction with it. A 300 ms pause that came back
    // after seconds is that stall (the bound is loose on purpose).
    let pausedMs = 0;
    await db.$transaction(async (tx) => {
      await tx.session.update({ where: { id: session.id }, data: { title: "held (locked)" } });
      posts.push(...range(1, 20).map((n) => post(session.id, `m${n}`)));
      const started = performance.now();
      await new Promise((resolve) => setTimeout(resolve, 300));
      pausedMs = performance.now() - started;
    });
    expect(pausedMs).toBeLessThan(3_000);
    const messages = await Promise.all(posts);
    expect(messages.map((m) => m.seq).sort((a, b) => a - b)).toEqual(range(1, 20));
    expect((await db.session.findUniqueOrThrow({ where: { id: session.id } })).title).toBe("held (locked)");
  });

  it("fails a post to a missing session alone, with NOT_FOUND, while its batch-mates commit", async () => {
    const session = await db.session.create({ data: { title: "ok", metadata: {} } });
    const outcomes = await Promise.allSettled([post(session.id, "one"), post("missing-session", "x"), post(session.id, "two")]);
    expect(outcomes[0]).toMatchObject({ status: "fulfilled", value: { seq: 1 } });
    expect(outcomes[2]).toMatchObject({ status: "fulfilled", value: { seq: 2 } });
    const failure = outcomes[1];
    expect(failure?.status).toBe("rejected");
    if (failure?.status === "rejected") {
      expect(failure.reason).toBeInstanceOf(TRPCError);
      expect((failure.reason as TRPCError).code).toBe("NOT_FOUND");
    }
  });
});
