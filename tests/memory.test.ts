// Memory and search as specifications, against a real server and database
// (re-run on PostgreSQL by tests/postgres-memory.test.ts): ranking on a fixed
// corpus, the text index following updates and deletes, paging, who sees what
// on every path, live changes with resume, message search, and embeddings
// through a local fake server (and recall by text while it is down).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Prisma } from "../src/generated/prisma/client";
import { SCORED_MATCHES_MAX, scoredRankingSql } from "../src/server/memory/ranking";
import { memoryStoreInput, type MemoryEvent } from "../src/shared/memory";
import { AUTH_CALL_MANY_ENV, errorCode, firstValue, makePrincipal, outcome, type TestPrincipal } from "./helpers/auth";
import { startFakeOpenAi } from "./helpers/chat-fakes";
import { startFakeEmbeddings, type FakeEmbeddings } from "./helpers/fake-embeddings";
import { startTestServer, waitFor, type TestServer } from "./helpers/server";

describe("memory recall ranks by words", () => {
  let t: TestServer;
  let api: ReturnType<TestServer["client"]>["api"];
  beforeAll(async () => {
    t = await startTestServer();
    api = t.client().api;
  });
  afterAll(() => t.close());

  it("orders a fixed corpus: both words and the title first, one word next, no word not at all; stems match", async () => {
    const deploy = await api.memory.store.mutate({ title: "Deploy window", content: "The deploy window is Thursday 14:00 to 16:00 UTC." });
    const fridays = await api.memory.store.mutate({ content: "We deploy on Fridays only in emergencies." });
    const room = await api.memory.store.mutate({ content: "Open the window in the meeting room when it is warm." });
    const lunch = await api.memory.store.mutate({ content: "Lunch is at noon in the cafeteria." });
    const shipping = await api.memory.store.mutate({ content: "We ship the release on Monday mornings.", tags: ["Release"] });

    const found = await api.memory.recall.query({ query: "deploy window" });
    expect(found.mode).toBe("text");
    const ids = found.items.map((hit) => hit.memory.id);
    expect(ids[0]).toBe(deploy.id);
    expect(new Set(ids.slice(1))).toEqual(new Set([fridays.id, room.id]));
    expect(ids).not.toContain(lunch.id);
    expect(found.items[0]?.textRank).toBe(1);
    expect(found.items[0]?.matched).toEqual(expect.arrayContaining(["deploy", "window"]));
    expect(found.items[0]?.highlight.some((piece) => piece.match && /deploy/i.test(piece.text))).toBe(true);
    expect(found.items.map((hit) => hit.score)).toEqual([...found.items.map((hit) => hit.score)].sort((a, b) => b - a));

    // Stemming: "shipping releases" finds "ship the release".
    const stemmed = await api.memory.recall.query({ query: "shipping releases" });
    expect(stemmed.items.map((hit) => hit.memory.id)).toEqual([shipping.id]);
    // Tags filter (stored lower-case); stopwords alone find nothing.
    expect((await api.memory.recall.query({ query: "release", tag: "release" })).items).toHaveLength(1);
    expect((await api.memory.recall.query({ query: "deploy", tag: "release" })).items).toHaveLength(0);
    expect((await api.memory.recall.query({ query: "the and of" })).items).toEqual([]);
    expect((await api.memory.recall.query({ query: "deploy window", limit: 1 })).items.map((h) => h.memory.id)).toEqual([deploy.id]);
  });

  it("keeps the text index in sync with updates and deletes, in the writing transaction", async () => {
    const memory = await api.memory.store.mutate({ title: "Harbour", content: "The harbour crane is blue." });
    expect((await api.memory.recall.query({ query: "crane" })).items.map((h) => h.memory.id)).toEqual([memory.id]);
    await api.memory.update.mutate({ id: memory.id, content: "The harbour gantry is green." });
    expect((await api.memory.recall.query({ query: "crane" })).items).toEqual([]);
    expect((await api.memory.recall.query({ query: "gantry" })).items.map((h) => h.memory.id)).toEqual([memory.id]);
    await api.memory.update.mutate({ id: memory.id, title: "Quay" });
    expect((await api.memory.recall.query({ query: "harbour quay" })).items[0]?.matched).toEqual(expect.arrayContaining(["quay"]));
    await api.memory.delete.mutate({ id: memory.id });
    expect((await api.memory.recall.query({ query: "gantry quay" })).items).toEqual([]);
    expect(await outcome(api.memory.get.query({ id: memory.id }))).toBe("NOT_FOUND");
  });

  it("pages memory.list newest first with a keyset cursor, each memory once, and filters by scope and tag", async () => {
    const session = await api.session.create.mutate({ title: "paging" });
    const stored: string[] = [];
    for (let i = 0; i < 7; i++) stored.push((await api.memory.store.mutate({ content: `note ${i}`, scope: { kind: "session", sessionId: session.id }, tags: i % 2 ? ["odd"] : [] })).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof api.memory.list.query>> = await api.memory.list.query({ scope: { kind: "session", sessionId: session.id }, limit: 3, cursor });
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((m) => m.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...stored].reverse());
    const odd = await api.memory.list.query({ scope: { kind: "session", sessionId: session.id }, tag: "odd" });
    expect(odd.items.map((m) => m.id)).toEqual([stored[5], stored[3], stored[1]]);
    expect(odd.items.every((m) => m.tags.includes("odd") && m.scope.sessionId === session.id)).toBe(true);
  });

  it("publishes memory.store and memory.recall agent events with figures only, never content or the query", async () => {
    const events: { type: string; data: unknown; source: string }[] = [];
    const listeners = t.server.deps.bus.listenerCount();
    const sub = api.events.subscribe.subscribe({ types: ["memory.*"], replay: 0 }, { onData: ({ data }) => events.push(data) });
    await waitFor(() => t.server.deps.bus.listenerCount() > listeners, "events subscriber");
    const stored = await api.memory.store.mutate({ content: "The pelican password is hunter2." });
    await api.memory.recall.query({ query: "pelican password" });
    const ours = (e: { type: string; data: unknown }) => e.type === "memory.store" && (e.data as { key?: string }).key === stored.id;
    await waitFor(() => events.some(ours) && events.some((e) => e.type === "memory.recall"), "memory events");
    sub.unsubscribe();
    expect(events.find(ours)?.data).toMatchObject({ key: stored.id, namespace: "global", operation: "created", operations: 1 });
    expect(events.find((e) => e.type === "memory.recall")?.data).toMatchObject({ namespace: "all", mode: "text" });
    expect(JSON.stringify(events)).not.toMatch(/pelican|hunter2/);
  });

  it("refuses content over MEMORY_MAX_BYTES with PAYLOAD_TOO_LARGE naming the limit", async () => {
    const error = await api.memory.store.mutate({ content: "x".repeat(16 * 1024 + 1) }).catch((e: unknown) => e);
    expect(String(error)).toContain("MEMORY_MAX_BYTES");
  });
});

describe("message.search", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(AUTH_CALL_MANY_ENV);
  });
  afterAll(() => t.close());

  it("ranks what the caller may read in every session, highlighted and linked; never others' private messages; pages", async () => {
    const alice = await makePrincipal(t, "member", "alice");
    const bob = await makePrincipal(t, "member", "bob");
    const a = t.client({ token: alice.token }).api;
    const b = t.client({ token: bob.token }).api;
    const mine = await a.session.create.mutate({ title: "Alice's plans" });
    const theirs = await b.session.create.mutate({ title: "Bob's plans" });
    const shared = await b.session.create.mutate({ title: "Shared" });
    await b.session.addMember.mutate({ sessionId: shared.id, principalId: alice.id, role: "member" });
    const best = await a.message.post.mutate({ sessionId: mine.id, content: "Rocket launch: the rocket launch window opens at dawn." });
    await a.message.post.mutate({ sessionId: mine.id, content: "Buy milk." });
    const inShared = await b.message.post.mutate({ sessionId: shared.id, content: "Launch party after the rocket is up." });
    const privateToBob = await b.message.post.mutate({ sessionId: shared.id, content: "Secret rocket launch codes.", visibility: "private" });
    const notMember = await b.message.post.mutate({ sessionId: theirs.id, content: "Rocket launch notes only Bob can read." });

    const found = await a.message.search.query({ query: "rocket launch" });
    const ids = found.items.map((hit) => hit.messageId);
    expect(ids).toContain(best.id);
    expect(ids).toContain(inShared.id);
    expect(ids).not.toContain(privateToBob.id);
    expect(ids).not.toContain(notMember.id);
    expect(ids[0]).toBe(best.id);
    const top = found.items[0];
    expect(top?.link).toBe(`/s/${mine.id}#seq-${best.seq}`);
    expect(top?.sessionTitle).toBe("Alice's plans");
    expect(top?.highlight.filter((p) => p.match).map((p) => p.text.toLowerCase())).toEqual(expect.arrayContaining(["rocket", "launch"]));

    // Bob sees his own private message; one session only; paging by cursor.
    const bobs = await b.message.search.query({ query: "rocket", sessionId: shared.id });
    expect(bobs.items.map((h) => h.messageId).sort()).toEqual([inShared.id, privateToBob.id].sort());
    const first = await b.message.search.query({ query: "rocket launch", limit: 2 });
    expect(first.items).toHaveLength(2);
    expect(first.nextCursor).not.toBeNull();
    const second = await b.message.search.query({ query: "rocket launch", limit: 2, cursor: first.nextCursor });
    const all = await b.message.search.query({ query: "rocket launch", limit: 50 });
    expect([...first.items, ...second.items].map((h) => h.messageId)).toEqual(all.items.slice(0, first.items.length + second.items.length).map((h) => h.messageId));
    expect(all.items.map((h) => h.messageId)).not.toContain(best.id); // Bob is not in Alice's session
  });
});

describe("who sees a memory, on every path", () => {
  let t: TestServer;
  let owner: TestPrincipal;
  let member: TestPrincipal;
  let outsider: TestPrincipal;
  let agent: TestPrincipal;
  let admin: TestPrincipal;
  beforeAll(async () => {
    t = await startTestServer(AUTH_CALL_MANY_ENV);
    owner = await makePrincipal(t, "member", "owner");
    member = await makePrincipal(t, "member", "member");
    outsider = await makePrincipal(t, "member", "outsider");
    agent = await makePrincipal(t, "agent", "agent");
    admin = await makePrincipal(t, "admin", "admin");
  });
  afterAll(() => t.close());

  it("list, get, recall and events agree with the rules for every caller", async () => {
    const o = t.client({ token: owner.token }).api;
    const session = await o.session.create.mutate({ title: "team" });
    await o.session.addMember.mutate({ sessionId: session.id, principalId: member.id, role: "member" });
    await o.session.addMember.mutate({ sessionId: session.id, principalId: agent.id, role: "agent" });

    const callers = { owner, member, outsider, agent, admin };
    const subscriptions = Object.fromEntries(
      Object.entries(callers).map(([name, p]) => {
        const events: MemoryEvent[] = [];
        const sub = t.client({ token: p.token }).api.memory.events.subscribe({ lastEventId: "0" }, { onData: ({ data }) => events.push(data) });
        return [name, { events, sub }];
      }),
    );
    await waitFor(() => t.server.deps.bus.listenerCount() >= 5, "memory.events subscribers");

    const word = "zebracorn";
    const stored = {
      globalPublic: await o.memory.store.mutate({ content: `${word} global public` }),
      globalPrivate: await o.memory.store.mutate({ content: `${word} global private`, visibility: "private" }),
      globalAgents: await o.memory.store.mutate({ content: `${word} global agents`, visibility: "agent_only" }),
      sessionPublic: await o.memory.store.mutate({ content: `${word} session public`, scope: { kind: "session", sessionId: session.id } }),
      sessionPrivate: await o.memory.store.mutate({ content: `${word} session private`, scope: { kind: "session", sessionId: session.id }, visibility: "private" }),
      mine: await o.memory.store.mutate({ content: `${word} the owner's own`, scope: { kind: "principal" } }),
    };
    const memberPrivate = await t.client({ token: member.token }).api.memory.store.mutate({ content: `${word} member's session private`, scope: { kind: "session", sessionId: session.id }, visibility: "private" });
    const sees: Record<keyof typeof callers, string[]> = {
      owner: [...Object.values(stored).filter((m) => m !== stored.globalAgents).map((m) => m.id), memberPrivate.id],
      member: [stored.globalPublic.id, stored.sessionPublic.id, memberPrivate.id],
      outsider: [stored.globalPublic.id],
      agent: [stored.globalPublic.id, stored.globalAgents.id, stored.sessionPublic.id],
      admin: [...Object.values(stored).map((m) => m.id), memberPrivate.id],
    };
    const all = [...Object.values(stored), memberPrivate];
    for (const [name, p] of Object.entries(callers) as [keyof typeof callers, TestPrincipal][]) {
      const api = t.client({ token: p.token }).api;
      const expected = [...sees[name]].sort();
      const listed = await api.memory.list.query({ limit: 100 });
      expect(listed.items.map((m) => m.id).filter((id) => all.some((m) => m.id === id)).sort(), `${name} list`).toEqual(expected);
      const recalled = await api.memory.recall.query({ query: word, limit: 50 });
      expect(recalled.items.map((h) => h.memory.id).sort(), `${name} recall`).toEqual(expected);
      for (const m of all) expect(await outcome(api.memory.get.query({ id: m.id })), `${name} get`).toBe(sees[name].includes(m.id) ? "ok" : "NOT_FOUND");
      const events = subscriptions[name]?.events ?? [];
      await waitFor(() => events.filter((e) => e.type === "memory.created").length >= expected.length, `${name} live events`);
      expect(events.flatMap((e) => (e.type === "memory.created" ? [e.memory.id] : [])).sort(), `${name} events`).toEqual(expected);
    }
    // Changing: the member may not change the owner's memory; the owner may change the member's in its session.
    expect(await outcome(t.client({ token: member.token }).api.memory.update.mutate({ id: stored.sessionPublic.id, content: "changed" }))).toBe("FORBIDDEN");
    expect(await outcome(o.memory.update.mutate({ id: memberPrivate.id, content: `${word} edited by the session owner` }))).toBe("ok");
    // An outsider may not store in the session; a viewer may store nowhere.
    expect(await outcome(t.client({ token: outsider.token }).api.memory.store.mutate({ content: "x", scope: { kind: "session", sessionId: session.id } }))).toBe("FORBIDDEN");
    // A memory made private leaves the member's view live: memory.hidden.
    await o.memory.update.mutate({ id: stored.sessionPublic.id, visibility: "private" });
    const memberEvents = subscriptions.member?.events ?? [];
    await waitFor(() => memberEvents.some((e) => e.type === "memory.hidden" && e.id === stored.sessionPublic.id), "memory.hidden");
    for (const { sub } of Object.values(subscriptions)) sub.unsubscribe();
  });

  it("ends memory.events of a session with FORBIDDEN when the subscriber is removed from it; without a scope, that session's memories stop arriving", async () => {
    const o = t.client({ token: owner.token }).api;
    const session = await o.session.create.mutate({ title: "leaving" });
    await o.session.addMember.mutate({ sessionId: session.id, principalId: member.id, role: "member" });
    const inTheSession = { kind: "session" as const, sessionId: session.id };
    // Whoever may not read the session may not follow its memories.
    expect(await firstValue((h) => t.client({ token: outsider.token }).api.memory.events.subscribe({ scope: inTheSession }, h))).toBe("FORBIDDEN");

    const m = t.client({ token: member.token }).api;
    const { eventCursor } = await m.memory.list.query({});
    const follow = (scope?: typeof inTheSession) => {
      const got: MemoryEvent[] = [];
      const errors: unknown[] = [];
      const sub = m.memory.events.subscribe({ lastEventId: eventCursor, scope }, { onData: ({ data }) => got.push(data), onError: (e) => errors.push(e) });
      return { got, errors, sub };
    };
    const created = (events: MemoryEvent[]) => events.flatMap((e) => (e.type === "memory.created" ? [e.memory.content] : []));
    const inSession = follow(inTheSession);
    const everywhere = follow();
    await o.memory.store.mutate({ content: "before the removal", scope: inTheSession });
    await waitFor(() => created(inSession.got).length === 1 && created(everywhere.got).length === 1, "the session's memory on both streams");

    await o.session.removeMember.mutate({ sessionId: session.id, principalId: member.id });
    await waitFor(() => inSession.errors.length > 0, "the session's stream to end");
    expect(errorCode(inSession.errors[0])).toBe("FORBIDDEN");
    await o.memory.store.mutate({ content: "after the removal", scope: inTheSession });
    await o.memory.store.mutate({ content: "a global marker" });
    await waitFor(() => created(everywhere.got).includes("a global marker"), "the marker");
    expect(created(everywhere.got)).toEqual(["before the removal", "a global marker"]);
    for (const { sub } of [inSession, everywhere]) sub.unsubscribe();
  });
});

describe("ranking bounds", () => {
  it("ranks only the newest matches (so a word most memories hold stays bounded), yet finds what the caller may read behind thousands of others' matches", async () => {
    const t = await startTestServer({ ...AUTH_CALL_MANY_ENV, MEMORY_WRITES_PER_MINUTE: "100000" });
    try {
      const alice = await makePrincipal(t, "member", "alice");
      const bob = await makePrincipal(t, "member", "bob");
      const admin = await makePrincipal(t, "admin", "root");
      const caller = (p: TestPrincipal) => ({
        principal: { id: p.id, kind: "user" as const, name: p.id, role: p.role, tokenId: null, stored: true },
        sessionAccess: () => Promise.reject(new Error("no session scope here")),
      });
      const memory = t.server.deps.memory;
      // Hers is the best match by far (the word three times, nothing else) and the oldest.
      const hers = await memory.remember(caller(alice), memoryStoreInput.parse({ content: "Quokka quokka quokka.", visibility: "private" }));
      const matches = SCORED_MATCHES_MAX + 100;
      for (let i = 0; i < matches - 1; i++) await memory.remember(caller(bob), memoryStoreInput.parse({ content: `quokka note ${i} about the day`, visibility: "private" }));
      const found = await t.client({ token: alice.token }).api.memory.recall.query({ query: "quokka" });
      expect(found.items.map((h) => h.memory.id)).toEqual([hers.id]);

      // An admin may read every match: only the newest SCORED_MATCHES_MAX are ranked, so the oldest, best one is not.
      const all = await t.client({ token: admin.token }).api.memory.recall.query({ query: "quokka", limit: 50 });
      expect(all.items).toHaveLength(50);
      expect(all.items.map((h) => h.memory.id)).not.toContain(hers.id);

      const { storage } = t.server.deps;
      if (storage.dialect === "postgres") {
        // The plan, executed: the rows reaching ts_rank_cd (the subquery `c`) are cut to the bound while more match.
        const [explained] = await storage.db.$queryRaw<{ "QUERY PLAN": unknown }[]>(
          Prisma.sql`EXPLAIN (ANALYZE, FORMAT JSON) ${scoredRankingSql(true, ["quokka"], Prisma.sql`1 = 1`, 50)}`,
        );
        const ranked = planNodes(explained?.["QUERY PLAN"]).find((node) => node["Alias"] === "c");
        expect(ranked?.["Actual Rows"]).toBe(SCORED_MATCHES_MAX);
        const [{ matching } = { matching: 0 }] = await storage.db.$queryRaw<{ matching: number }[]>(
          Prisma.sql`SELECT count(*)::int AS "matching" FROM "Memory" WHERE "searchVector" @@ to_tsquery('english', 'quokka')`,
        );
        expect(matching).toBe(matches);
      }
    } finally {
      await t.close();
    }
  }, 180_000);
});

/** Every node of an EXPLAIN (FORMAT JSON) plan, depth first. */
function planNodes(explained: unknown): Record<string, unknown>[] {
  const nodes: Record<string, unknown>[] = [];
  const visit = (value: unknown) => {
    if (Array.isArray(value)) value.forEach(visit);
    else if (value && typeof value === "object") {
      const node = value as Record<string, unknown>;
      if ("Node Type" in node) nodes.push(node);
      Object.values(node).forEach(visit);
    }
  };
  visit(explained);
  return nodes;
}

describe("memory.events", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(() => t.close());

  it("streams created, updated and deleted as tracked changes, and resumes exactly after the last one seen", async () => {
    const api = t.client().api;
    const listing = await api.memory.list.query({});
    const events: { id: string; event: MemoryEvent }[] = [];
    const listeners = t.server.deps.bus.listenerCount();
    const sub = api.memory.events.subscribe({ lastEventId: listing.eventCursor }, { onData: ({ id, data }) => events.push({ id, event: data }) });
    await waitFor(() => t.server.deps.bus.listenerCount() > listeners, "subscriber");
    const a = await api.memory.store.mutate({ content: "first" });
    await api.memory.update.mutate({ id: a.id, content: "first, edited" });
    await api.memory.delete.mutate({ id: a.id });
    await waitFor(() => events.length === 3, "three live changes");
    expect(events.map((e) => e.event.type)).toEqual(["memory.created", "memory.updated", "memory.deleted"]);
    expect(events.map((e) => Number(e.id))).toEqual([1, 2, 3].map((n) => Number(listing.eventCursor) + n));
    sub.unsubscribe();

    // Missed while away: resumed from the last id seen, with the memory as it is now.
    const b = await api.memory.store.mutate({ content: "second" });
    await api.memory.update.mutate({ id: b.id, title: "Second" });
    const c = await api.memory.store.mutate({ content: "third" });
    const resumed: { id: string; event: MemoryEvent }[] = [];
    const again = api.memory.events.subscribe({ lastEventId: events.at(-1)?.id }, { onData: ({ id, data }) => resumed.push({ id, event: data }) });
    await waitFor(() => resumed.length === 3, "the missed changes");
    const d = await api.memory.store.mutate({ content: "fourth" });
    await waitFor(() => resumed.length === 4, "then live again");
    again.unsubscribe();
    expect(resumed.map((e) => e.event.type)).toEqual(["memory.created", "memory.updated", "memory.created", "memory.created"]);
    const memories = resumed.flatMap((e) => (e.event.type === "memory.created" || e.event.type === "memory.updated" ? [e.event.memory] : []));
    expect(memories.map((m) => m.id)).toEqual([b.id, b.id, c.id, d.id]);
    expect(memories[0]?.title).toBe("Second"); // the memory as it is now
    expect(new Set(resumed.map((e) => e.id)).size).toBe(4);
  });
});

describe("embeddings", () => {
  let fake: FakeEmbeddings;
  let t: TestServer;
  beforeAll(async () => {
    fake = await startFakeEmbeddings();
    t = await startTestServer({ EMBEDDINGS_PROVIDER: "openai", EMBEDDINGS_BASE_URL: fake.url, EMBEDDINGS_MODEL: "fake-concepts", CHAT_BUILTIN_CHUNK_DELAY_MS: "0", EMBEDDINGS_QUERY_TIMEOUT_MS: "500" });
  });
  afterAll(async () => {
    await t.close();
    await fake.close();
  });

  const embedder = () => {
    const e = t.server.deps.memory.embedder;
    if (!e) throw new Error("embeddings are configured");
    return e;
  };

  it("embeds off the write path (recallable by text at once), retries failures, and ranks by meaning fused with words", async () => {
    const api = t.client().api;
    fake.failNext = 2;
    const deploy = await api.memory.store.mutate({ title: "Deploy window", content: "Production deploys happen Thursday 14:00-16:00 UTC." });
    // At once, before any vector: by its words.
    expect((await api.memory.recall.query({ query: "deploys thursday", mode: "text" })).items.map((h) => h.memory.id)).toEqual([deploy.id]);
    await api.memory.store.mutate({ content: "Lunch is pizza at noon on Fridays." });
    await api.memory.store.mutate({ content: "The vault code is 4471." });
    await waitFor(() => embedder().queued === 0 && t.server.deps.memory.index.size === 3, "three memories embedded after two failures", 15_000);
    expect((await api.memory.get.query({ id: deploy.id })).embedded).toBe(true);

    const hybrid = await api.memory.recall.query({ query: "When can we ship the release?" });
    expect(hybrid.mode).toBe("hybrid");
    expect(hybrid.vectorUnavailable).toBeNull();
    expect(hybrid.items[0]?.memory.id).toBe(deploy.id);
    expect(hybrid.items[0]?.textRank).toBeNull();
    expect(hybrid.items[0]?.vectorRank).toBe(1);
    expect(hybrid.items[0]?.similarity).toBeGreaterThan(0.8);
    // Text-only recall does not find it: no word in common.
    expect((await api.memory.recall.query({ query: "When can we ship the release?", mode: "text" })).items).toEqual([]);
  });

  it("the built-in assistant answers a question whose words differ from the stored text", async () => {
    const api = t.client().api;
    const session = await api.session.create.mutate({ title: "release planning" });
    const sent = await api.chat.send.mutate({ sessionId: session.id, content: "When can we ship the release?" });
    await t.server.deps.chat.whenFinished(sent.runId);
    const answer = await t.server.deps.db.message.findUniqueOrThrow({ where: { id: sent.assistantMessageId } });
    expect(answer.content).toContain("From memory:");
    expect(answer.content).toContain("Deploy window");
    expect(answer.content).toContain("Thursday 14:00-16:00 UTC");
    expect(answer.content).not.toContain("vault");
  });

  it("recalls by text, at once, while the embeddings server is down", async () => {
    const api = t.client().api;
    await fake.close();
    const started = performance.now();
    const down = await api.memory.recall.query({ query: "vault code" });
    expect(down.mode).toBe("text");
    expect(down.vectorUnavailable).toMatch(/embeddings server/);
    expect(down.items[0]?.memory.content).toBe("The vault code is 4471.");
    expect(performance.now() - started).toBeLessThan(5_000);
    // A memory stored meanwhile is recallable by text, and waits for the server to embed it.
    const later = await api.memory.store.mutate({ content: "Standup moves to 09:30." });
    expect((await api.memory.recall.query({ query: "standup" })).items.map((h) => h.memory.id)).toEqual([later.id]);
  });
});

describe("memories as a model agent's context", () => {
  it("gives an agent with a model provider the best public memories of its scopes, in a system turn, ids in the run's metadata", async () => {
    const openai = await startFakeOpenAi();
    openai.answers = [{ kind: "tokens", tokens: ["Thursday", "."] }];
    const t = await startTestServer({ OPENAI_BASE_URL: openai.url, OPENAI_API_KEY: "sk-test", OPENAI_DEFAULT_MODEL: "fake-gpt", CHAT_MEMORY_CONTEXT: "2" });
    try {
      const api = t.client().api;
      const agentId = (await api.agent.list.query()).find((a) => a.provider === "openai")?.id ?? "";
      const session = await api.session.create.mutate({ title: "release" });
      const other = await api.session.create.mutate({ title: "elsewhere" });
      const global = await api.memory.store.mutate({ title: "Deploy window", content: "Deploys happen on Thursday afternoons." });
      const inSession = await api.memory.store.mutate({ content: "This release deploys after the Thursday review.", scope: { kind: "session", sessionId: session.id } });
      const elsewhere = await api.memory.store.mutate({ content: "Another team deploys on Thursday mornings.", scope: { kind: "session", sessionId: other.id } });
      const secret = await api.memory.store.mutate({ content: "Private: deploys slip on Thursday when Bob is out.", visibility: "private" });
      await api.memory.store.mutate({ content: "Lunch is pizza." });

      const sent = await api.chat.send.mutate({ sessionId: session.id, content: "When do deploys happen?", agentId });
      await t.server.deps.chat.whenFinished(sent.runId);
      const answer = await t.server.deps.db.message.findUniqueOrThrow({ where: { id: sent.assistantMessageId } });
      const memoryIds = (answer.metadata as { memoryIds?: string[] }).memoryIds ?? [];
      expect(new Set(memoryIds)).toEqual(new Set([global.id, inSession.id]));
      expect(memoryIds).not.toContain(elsewhere.id);
      expect(memoryIds).not.toContain(secret.id);
      const body = openai.requests.at(-1)?.body as { messages: { role: string; content: string }[] };
      const context = body.messages.find((m) => m.role === "system" && m.content.startsWith("Memories stored in Parley"));
      expect(context?.content).toContain("Deploy window: Deploys happen on Thursday afternoons.");
      expect(context?.content).not.toContain("Lunch");
      expect(body.messages.at(-1)).toEqual({ role: "user", content: "When do deploys happen?" });
    } finally {
      await t.close();
      await openai.close();
    }
  });
});
