// session.list: most recently updated first, paged with `nextCursor` so that
// every session appears exactly once, whatever ties in `updatedAt` and whatever
// is updated between two pages; title search pages the same way.
import { TRPCClientError } from "@trpc/client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ParleyClient } from "@parley/client";
import { startTestServer, type TestServer } from "./helpers/server";

let t: TestServer;
let api: ParleyClient["api"];
beforeEach(async () => {
  t = await startTestServer();
  api = t.client().api;
});
afterEach(async () => {
  await t.close();
});

/** Every page of a listing, following `nextCursor`; `between` runs after each page but the last. */
async function allPages(
  input: { limit: number; search?: string; includeArchived?: boolean },
  between: (page: number) => Promise<void> = () => Promise.resolve(),
) {
  const pages: string[][] = [];
  let cursor: string | null = null;
  do {
    const page = await api.session.list.query({ ...input, cursor });
    pages.push(page.items.map((s) => s.id));
    cursor = page.nextCursor;
    if (cursor) await between(pages.length);
  } while (cursor && pages.length < 100);
  return pages;
}

/** Sessions titled `${prefix} 1` … `${prefix} n`, created in that order. */
async function createSessions(prefix: string, n: number) {
  const ids: string[] = [];
  for (let i = 1; i <= n; i++) ids.push((await api.session.create.mutate({ title: `${prefix} ${i}` })).id);
  return ids;
}

/** The order the listing promises: updatedAt descending, then id descending. */
async function expectedOrder(ids: string[]) {
  const rows = await t.server.deps.db.session.findMany({ where: { id: { in: ids } }, select: { id: true, updatedAt: true } });
  return rows
    .sort((a, b) => b.updatedAt.getTime() - a.updatedAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    .map((r) => r.id);
}

describe("session.list", () => {
  it("pages over more sessions than `limit`: each exactly once, most recently updated first, then no nextCursor", async () => {
    const ids = await createSessions("page", 23);
    const pages = await allPages({ limit: 10 });
    expect(pages.map((p) => p.length)).toEqual([10, 10, 3]);
    expect(pages.flat()).toEqual(await expectedOrder(ids));

    const exact = await api.session.list.query({ limit: 23 });
    expect(exact.items).toHaveLength(23);
    expect(exact.nextCursor).toBeNull();
  });

  it("pages correctly when many sessions share one updatedAt (ties broken by id)", async () => {
    const ids = await createSessions("tie", 12);
    const sameInstant = new Date("2030-01-01T00:00:00.000Z");
    await t.server.deps.db.session.updateMany({ where: { id: { in: ids.slice(2, 10) } }, data: { updatedAt: sameInstant } });
    const pages = await allPages({ limit: 3 });
    expect(pages.flat()).toEqual(await expectedOrder(ids));
    expect(pages.flat().slice(0, 8).sort()).toEqual(ids.slice(2, 10).sort());
  });

  it("repeats nothing and skips nothing unchanged when sessions are updated between pages", async () => {
    const ids = await createSessions("moving", 15);
    const before = await expectedOrder(ids);
    const updated = new Set<string>();
    const pages = await allPages({ limit: 4 }, async (page) => {
      // After each page: touch the next page's first session (the one a
      // row-id cursor would point at) and one already listed.
      const next = before[page * 4];
      const listed = before[page * 4 - 1];
      for (const id of [next, listed]) {
        if (!id) continue;
        await api.session.update.mutate({ id, title: `renamed ${id}` });
        updated.add(id);
      }
    });
    const seen = pages.flat();
    expect(new Set(seen).size).toBe(seen.length);
    // Sessions left alone come exactly once, in their original order; an
    // updated one moves to the top and is listed at most once.
    expect(seen.filter((id) => !updated.has(id))).toEqual(before.filter((id) => !updated.has(id)));
  });

  it("searches titles case-insensitively, and pages over the matches only", async () => {
    const alpha = await createSessions("Alpha", 7);
    await createSessions("beta", 5);
    const pages = await allPages({ limit: 3, search: "ALPHA" });
    expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
    expect(pages.flat()).toEqual(await expectedOrder(alpha));
    const none = await api.session.list.query({ search: "gamma" });
    expect(none).toEqual({ items: [], nextCursor: null });
  });

  it("leaves archived sessions out unless asked, in every page", async () => {
    const ids = await createSessions("archive", 6);
    for (const id of ids.slice(0, 3)) await api.session.update.mutate({ id, archived: true });
    expect((await allPages({ limit: 2 })).flat()).toEqual(await expectedOrder(ids.slice(3)));
    expect((await allPages({ limit: 2, includeArchived: true })).flat()).toEqual(await expectedOrder(ids));
  });

  it("refuses a cursor it did not issue with BAD_REQUEST naming the field", async () => {
    const error = await api.session.list.query({ cursor: "not a cursor" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TRPCClientError);
    expect((error as TRPCClientError<never>).data).toMatchObject({ code: "BAD_REQUEST" });
    expect((error as Error).message).toContain("cursor");
  });
});
