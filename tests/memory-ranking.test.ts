// How a query's words become a ranking on SQLite when bm25 would cost too
// much: for words most memories hold, the memories holding all of them come
// first, then those holding any, newest first. A small postings budget
// reaches that path with a few memories; a real server and database file.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Prisma } from "../src/generated/prisma/client";
import { rankMemoriesByText, TermStatistics } from "../src/server/memory/ranking";
import { startTestServer, type TestServer } from "./helpers/server";

describe("ranking words too common for bm25 (SQLite)", () => {
  let t: TestServer;
  const seqOf = new Map<string, number>();
  beforeAll(async () => {
    t = await startTestServer();
    const api = t.client().api;
    const contents = ["harbour crane at dawn", "harbour crane and harbour dock", "crane only", "harbour only", "crane harbour again", "nothing relevant"];
    for (const content of contents) {
      const stored = await api.memory.store.mutate({ content });
      const row = await t.server.deps.storage.db.memory.findUniqueOrThrow({ where: { id: stored.id }, select: { seq: true } });
      seqOf.set(content, row.seq);
    }
  });
  afterAll(() => t.close());

  it("plans bm25 within the postings budget and no scoring past it", async () => {
    const { db } = t.server.deps.storage;
    expect(await new TermStatistics(db, false).plan(["harbour", "crane"])).toEqual({ terms: ["harbour", "crane"], scored: true });
    // 4 memories hold each word: 8 postings, over a budget of 6.
    expect(await new TermStatistics(db, false, 6).plan(["harbour", "crane"])).toEqual({ terms: ["harbour", "crane"], scored: false });
  });

  it("ranks memories holding every word first, then those holding any, newest first in each; never one holding none", async () => {
    const { db } = t.server.deps.storage;
    const ranked = await rankMemoriesByText(db, false, { terms: ["harbour", "crane"], scored: false }, Prisma.sql`1 = 1`, 10);
    const seq = (content: string) => seqOf.get(content);
    expect(ranked.map((r) => r.seq)).toEqual([seq("crane harbour again"), seq("harbour crane and harbour dock"), seq("harbour crane at dawn"), seq("harbour only"), seq("crane only")]);
    expect(ranked.map((r) => r.score)).toEqual([2, 2, 2, 1, 1]);
    const firstFour = await rankMemoriesByText(db, false, { terms: ["harbour", "crane"], scored: false }, Prisma.sql`1 = 1`, 4);
    expect(firstFour.map((r) => r.seq)).toEqual(ranked.slice(0, 4).map((r) => r.seq));
    const firstTwo = await rankMemoriesByText(db, false, { terms: ["harbour", "crane"], scored: false }, Prisma.sql`1 = 1`, 2);
    expect(firstTwo.map((r) => r.seq)).toEqual(ranked.slice(0, 2).map((r) => r.seq));
  });

  it("keeps to the caller's filter", async () => {
    const { db } = t.server.deps.storage;
    const oldest = seqOf.get("harbour crane at dawn") ?? 0;
    const ranked = await rankMemoriesByText(db, false, { terms: ["harbour", "crane"], scored: false }, Prisma.sql`m."seq" <> ${oldest}`, 10);
    expect(ranked.map((r) => r.seq)).not.toContain(oldest);
    expect(ranked).toHaveLength(4);
  });
});
