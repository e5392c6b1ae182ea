// Visibility beyond message.list and session.events: what the
// built-in assistant quotes, chat deltas and snapshots, typed events and
// presence, each read back as real principals over a real server.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Visibility } from "../src/generated/prisma/client";
import { postMessage } from "../src/server/services/messages";
import type { AgentEventEnvelope } from "../src/shared/agent-events";
import type { SessionEvent } from "../src/shared/events";
import { errorCode, firstValue, makePrincipal, outcome, type TestPrincipal } from "./helpers/auth";
import { startTestServer, waitFor, type TestServer } from "./helpers/server";
import { collectSessionEvents } from "./helpers/stream";


describe("the built-in assistant quotes only what every reader of its answer may see", () => {
  let t: TestServer;
  /** O owns the sessions S; M, A and X are members of S; X owns T; AD is an admin. */
  let cast: Record<"O" | "M" | "A" | "X" | "AD", TestPrincipal>;
  beforeAll(async () => {
    t = await startTestServer({ PARLEY_AUTH: "on", CHAT_BUILTIN_CHUNK_DELAY_MS: "0" });
    cast = {
      O: await makePrincipal(t, "member", "O"),
      M: await makePrincipal(t, "member", "M"),
      A: await makePrincipal(t, "agent", "A"),
      X: await makePrincipal(t, "member", "X"),
      AD: await makePrincipal(t, "admin", "AD"),
    };
  });
  afterAll(async () => {
    await t?.close();
  });

  const askers = ["O", "M", "A", "X", "AD"] as const;
  const visibilities: Visibility[] = ["public", "private", "agent_only"];
  /**
   * Seeds a question may find: p public in S; q private in S by X; r
   * agent_only in S; s public in T, whose title carries `title`. The secrets
   * (q, r, s) match two words of the question and p one, so the three
   * answer slots go to the secrets in scope first.
   */
  type Seed = "p" | "q" | "r" | "s" | "title";
  /** What an answer must quote, where the rules let its readers see it (and the top three leave room). */
  const mustQuote: Partial<Record<`${(typeof askers)[number]} ${Visibility}`, Seed[]>> = {
    "M public": ["p"],
    "O private": ["q"],
    "A agent_only": ["r"],
    "X private": ["q"],
    "AD private": ["q"],
    "AD agent_only": ["r"],
  };
  let n = 0;

  it.each(askers.flatMap((asker) => visibilities.map((visibility) => ({ asker, visibility }))))(
    "$asker asks a $visibility question",
    async ({ asker, visibility }) => {
      const { db } = t.server.deps;
      const word = (seed: string) => `${seed}${++n}x`;
      const markers = { p: word("p"), q: word("q"), r: word("r"), s: word("s"), title: word("t") };
      const extra = { q: word("q"), r: word("r"), s: word("s") };
      const S = await db.session.create({ data: { title: `S ${markers.p}`, metadata: {}, ownerId: cast.O.id } });
      const T = await db.session.create({ data: { title: `tern ${markers.title}`, metadata: {}, ownerId: cast.X.id } });
      for (const [who, role] of [["M", "member"], ["A", "agent"], ["X", "member"]] as const) {
        await db.sessionMember.create({ data: { sessionId: S.id, principalId: cast[who].id, role } });
      }
      const limits = { maxContentBytes: 65_536 };
      const seed = (sessionId: string, by: TestPrincipal, v: Visibility, content: string) =>
        postMessage(t.server.deps.messages, limits, { sessionId, content, role: "user", visibility: v }, { id: by.id, name: "seed" });
      const seeded: Record<Exclude<Seed, "title">, { id: string }> = {
        p: await seed(S.id, cast.O, "public", `walrus ${markers.p}`),
        q: await seed(S.id, cast.X, "private", `walrus ${markers.q} ${extra.q}`),
        r: await seed(S.id, cast.O, "agent_only", `walrus ${markers.r} ${extra.r}`),
        s: await seed(T.id, cast.X, "public", `walrus ${markers.s} ${extra.s}`),
      };

      const question = `${markers.p} ${markers.q} ${extra.q} ${markers.r} ${extra.r} ${markers.s} ${extra.s}?`;
      const sent = await t.client({ token: cast[asker].token }).api.chat.send.mutate({ sessionId: S.id, content: question, visibility });
      await t.server.deps.chat.whenFinished(sent.runId);
      const answer = await db.message.findUniqueOrThrow({ where: { id: sent.assistantMessageId } });
      expect(answer.status).toBe("complete");
      const quoted = (Object.keys(markers) as Seed[]).filter((k) => answer.content.includes(markers[k]));

      // Every principal who can read the answer can read everything it quotes.
      for (const reader of askers) {
        const api = t.client({ token: cast[reader].token }).api;
        const inS = await api.message.list.query({ sessionId: S.id });
        const inT = await api.message.list.query({ sessionId: T.id }).catch(() => null);
        const visible = new Set([...inS.items, ...(inT?.items ?? [])].map((m) => m.id));
        if (!visible.has(answer.id)) continue;
        for (const k of quoted) {
          if (k === "title") expect(inT, `${reader} reads the title of T in an answer`).not.toBeNull();
          else expect(visible.has(seeded[k].id), `${reader} reads ${k} in an answer`).toBe(true);
        }
      }
      for (const k of mustQuote[`${asker} ${visibility}`] ?? []) expect(quoted).toContain(k);
    },
  );
});

describe("chat deltas, snapshots and chat.run with authentication on", () => {
  let t: TestServer;
  beforeAll(async () => {
    // Slow answers, so both runs are still streaming while late subscribers join; stopped at the end.
    t = await startTestServer({ PARLEY_AUTH: "on", CHAT_BUILTIN_CHUNK_DELAY_MS: "200", CHAT_MAX_RUNS_PER_SESSION: "2" });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("an agent_only answer reaches the session's agents and no member: not live, not in a late snapshot, not through chat.run", async () => {
    const owner = await makePrincipal(t, "member", "owner");
    const member = await makePrincipal(t, "member", "member");
    const agent = await makePrincipal(t, "agent", "agent");
    const ownerApi = t.client({ token: owner.token }).api;
    const session = await ownerApi.session.create.mutate({ title: "agents only" });
    await ownerApi.session.addMember.mutate({ sessionId: session.id, principalId: member.id, role: "member" });
    await ownerApi.session.addMember.mutate({ sessionId: session.id, principalId: agent.id, role: "agent" });
    const memberClient = t.client({ token: member.token });
    const agentClient = t.client({ token: agent.token });
    const memberLive = collectSessionEvents(memberClient, session.id);
    const agentLive = collectSessionEvents(agentClient, session.id);
    await waitFor(() => t.server.deps.connections.list().filter((c) => c.subscriptions.length > 0).length === 2, "both subscribed");

    const shown = await ownerApi.chat.send.mutate({ sessionId: session.id, content: "a public question nobody answers" });
    const hidden = await agentClient.api.chat.send.mutate({ sessionId: session.id, content: "an agent_only question", visibility: "agent_only" });
    const deltaOf = (runId: string) => (e: SessionEvent) => (e.type === "chat.delta" || e.type === "chat.snapshot") && e.runId === runId;
    await waitFor(() => memberLive.events.some(deltaOf(shown.runId)) && agentLive.events.some(deltaOf(hidden.runId)), "deltas of both runs");

    // Late subscribers get a snapshot per run they may see, while both runs stream.
    const memberLate = collectSessionEvents(t.client({ token: member.token }), session.id);
    const agentLate = collectSessionEvents(t.client({ token: agent.token }), session.id);
    await waitFor(() => memberLate.events.some(deltaOf(shown.runId)) && agentLate.events.some(deltaOf(hidden.runId)), "late snapshots");
    expect(t.server.deps.chat.activeRuns(session.id).map((r) => r.runId).sort()).toEqual([shown.runId, hidden.runId].sort());
    expect(agentLate.events.some((e) => e.type === "chat.snapshot" && e.runId === hidden.runId)).toBe(true);

    const runOutcome = (runId: string) => firstValue((h) => memberClient.api.chat.run.subscribe({ runId }, h));
    expect(await runOutcome(hidden.runId)).toBe("NOT_FOUND");
    expect(await runOutcome(shown.runId)).toBe("ok");
    expect((await memberClient.api.session.get.query({ id: session.id })).messageCount).toBe(2);
    expect((await agentClient.api.session.get.query({ id: session.id })).messageCount).toBe(4);

    await t.server.deps.chat.stop(hidden.runId);
    await t.server.deps.chat.stop(shown.runId);
    const updated = (id: string) => (e: SessionEvent) => e.type === "message.updated" && e.message.id === id;
    await waitFor(() => memberLive.events.some(updated(shown.assistantMessageId)) && agentLive.events.some(updated(hidden.assistantMessageId)), "both answers final");
    const hiddenIds = new Set([hidden.runId, hidden.assistantMessageId, hidden.userMessage.id]);
    const mentionsHidden = (e: SessionEvent) =>
      ((e.type === "chat.delta" || e.type === "chat.snapshot") && (hiddenIds.has(e.runId) || hiddenIds.has(e.messageId))) ||
      ("message" in e && hiddenIds.has(e.message.id));
    for (const seen of [memberLive, memberLate]) {
      expect(seen.errors).toEqual([]);
      expect(seen.events.filter(mentionsHidden)).toEqual([]);
    }
    expect(agentLive.events.filter(mentionsHidden).length).toBeGreaterThan(2);
    for (const c of [memberLive, agentLive, memberLate, agentLate]) c.unsubscribe();
  });
});

describe("typed events and presence with authentication on", () => {
  let t: TestServer;
  let owner: TestPrincipal;
  let member: TestPrincipal;
  let other: TestPrincipal;
  beforeAll(async () => {
    t = await startTestServer({ PARLEY_AUTH: "on" });
    owner = await makePrincipal(t, "member", "owner");
    member = await makePrincipal(t, "member", "member");
    other = await makePrincipal(t, "member", "other");
  });
  afterAll(async () => {
    await t?.close();
  });

  /** A subscriber's events, by their message. */
  function follow(token: string, input: { sessionId?: string }) {
    const got: string[] = [];
    const errors: unknown[] = [];
    const sub = t.client({ token }).api.events.subscribe.subscribe(input, {
      onData: ({ data }: { data: AgentEventEnvelope }) => {
        if (data.type === "system.info") got.push(data.data.message ?? "");
      },
      onError: (e) => errors.push(e),
    });
    return { got, errors, unsubscribe: () => sub.unsubscribe() };
  }

  it("events.subscribe hides events of sessions the caller cannot read and events addressed to another principal (replay, live, and after a removal)", async () => {
    const ownerApi = t.client({ token: owner.token }).api;
    const otherApi = t.client({ token: other.token }).api;
    const mine = await ownerApi.session.create.mutate({ title: "member's" });
    await ownerApi.session.addMember.mutate({ sessionId: mine.id, principalId: member.id, role: "member" });
    const theirs = await otherApi.session.create.mutate({ title: "not member's" });
    const publish = async (round: string) => {
      await ownerApi.events.publish.mutate({ type: "system.info", data: { message: `in readable ${round}` }, sessionId: mine.id });
      await otherApi.events.publish.mutate({ type: "system.info", data: { message: `in unreadable ${round}` }, sessionId: theirs.id });
      await ownerApi.events.publish.mutate({ type: "system.info", data: { message: `in no session ${round}` } });
      await ownerApi.events.publish.mutate({ type: "system.info", data: { message: `to member ${round}` }, to: member.id });
      await ownerApi.events.publish.mutate({ type: "system.info", data: { message: `to other ${round}` }, to: other.id });
      await ownerApi.events.publish.mutate({ type: "system.info", data: { message: `to other in readable ${round}` }, sessionId: mine.id, to: other.id });
      await ownerApi.events.publish.mutate({ type: "system.info", data: { message: `end ${round}` } });
    };
    await publish("1"); // replayed
    const everywhere = follow(member.token, {});
    const inSession = follow(member.token, { sessionId: mine.id });
    await waitFor(() => everywhere.got.includes("end 1"), "replay");
    await publish("2"); // live
    await waitFor(() => everywhere.got.includes("end 2"), "live");
    await waitFor(() => inSession.got.includes("in readable 2"), "live in the session");
    const seen = (round: string) => [`in readable ${round}`, `in no session ${round}`, `to member ${round}`, `end ${round}`];
    expect(everywhere.got).toEqual([...seen("1"), ...seen("2")]);
    expect(inSession.got).toEqual(["in readable 1", "in readable 2"]);

    // Removed from the session: its events stop, on the session's stream (FORBIDDEN) and on the one without a session.
    await ownerApi.session.removeMember.mutate({ sessionId: mine.id, principalId: member.id });
    await waitFor(() => inSession.errors.length > 0, "the session's stream to end");
    expect(errorCode(inSession.errors[0])).toBe("FORBIDDEN");
    await publish("3");
    await waitFor(() => everywhere.got.includes("end 3"), "after the removal");
    expect(everywhere.got.slice(8)).toEqual(["in no session 3", "to member 3", "end 3"]);
    everywhere.unsubscribe();
  });

  it("presence of a session is refused to a non-member, who never appears in the room", async () => {
    const ownerApi = t.client({ token: owner.token }).api;
    const session = await ownerApi.session.create.mutate({ title: "room" });
    const rooms: string[][] = [];
    const inside = t.client({ token: owner.token }).api.session.presence.subscribe(
      { sessionId: session.id },
      { onData: (update) => rooms.push(update.members.map((m) => m.principalId)) },
    );
    await waitFor(() => rooms.some((r) => r.includes(owner.id)), "the owner in the room");
    const outsider = t.client({ token: other.token }).api;
    expect(await firstValue((handlers) => outsider.session.presence.subscribe({ sessionId: session.id }, handlers))).toBe("FORBIDDEN");
    expect(await outcome(outsider.presence.typing.mutate({ sessionId: session.id }))).toBe("FORBIDDEN");
    // A member joining afterwards is the marker: every update up to it lists only the owner.
    await ownerApi.session.addMember.mutate({ sessionId: session.id, principalId: member.id, role: "viewer" });
    const joined = t.client({ token: member.token }).api.session.presence.subscribe({ sessionId: session.id }, { onData: () => undefined });
    await waitFor(() => rooms.some((r) => r.includes(member.id)), "the member in the room");
    expect(rooms.flat().filter((id) => id === other.id)).toEqual([]);
    inside.unsubscribe();
    joined.unsubscribe();
  });
});

describe("what counts, keys and agent lists say about what the caller may not see", () => {
  let t: TestServer;
  let owner: TestPrincipal;
  let member: TestPrincipal;
  let viewer: TestPrincipal;
  let admin: TestPrincipal;
  beforeAll(async () => {
    t = await startTestServer({ PARLEY_AUTH: "on", CHAT_BUILTIN_CHUNK_DELAY_MS: "0" });
    owner = await makePrincipal(t, "member", "owner");
    member = await makePrincipal(t, "member", "member");
    viewer = await makePrincipal(t, "viewer", "viewer");
    admin = await makePrincipal(t, "admin", "admin");
  });
  afterAll(async () => {
    await t?.close();
  });

  it("session.get and session.list give the seq of the last message the caller may see (not of the last message), so they say nothing of hidden messages that message.list does not", async () => {
    const ownerApi = t.client({ token: owner.token }).api;
    const session = await ownerApi.session.create.mutate({ title: "counted" });
    await ownerApi.session.addMember.mutate({ sessionId: session.id, principalId: member.id, role: "member" });
    await ownerApi.message.post.mutate({ sessionId: session.id, content: "public 1" });
    for (let i = 0; i < 3; i++) await ownerApi.message.post.mutate({ sessionId: session.id, content: `private ${i}`, visibility: "private" });
    await ownerApi.message.post.mutate({ sessionId: session.id, content: "for agents", visibility: "agent_only" });

    const seen = async (who: TestPrincipal) => {
      const api = t.client({ token: who.token }).api;
      const got = await api.session.get.query({ id: session.id });
      const listed = (await api.session.list.query({ limit: 100 })).items.find((s) => s.id === session.id);
      return { messageCount: got.messageCount, lastSeq: got.lastSeq, listedLastSeq: listed?.lastSeq };
    };
    // The member sees only message 1; the owner 1-4 (its own private ones), not the agent_only 5; an admin all.
    expect(await seen(member)).toEqual({ messageCount: 1, lastSeq: 1, listedLastSeq: 1 });
    expect(await seen(owner)).toEqual({ messageCount: 4, lastSeq: 4, listedLastSeq: 4 });
    expect(await seen(admin)).toEqual({ messageCount: 5, lastSeq: 5, listedLastSeq: 5 });
  });

  it("chat.send with the clientKey of a message hidden from the caller is refused without naming it or how it was posted", async () => {
    const ownerApi = t.client({ token: owner.token }).api;
    const session = await ownerApi.session.create.mutate({ title: "keys" });
    await ownerApi.session.addMember.mutate({ sessionId: session.id, principalId: member.id, role: "member" });
    const hiddenPost = await ownerApi.message.post.mutate({ sessionId: session.id, content: "owner's note", visibility: "private", clientKey: "note-1" });
    const hiddenQuestion = await ownerApi.chat.send.mutate({ sessionId: session.id, content: "owner's question", visibility: "private", clientKey: "question-1" });
    await t.server.deps.chat.whenFinished(hiddenQuestion.runId);
    const memberApi = t.client({ token: member.token }).api;
    const answers = await Promise.all(
      ["note-1", "question-1"].map((clientKey) => memberApi.chat.send.mutate({ sessionId: session.id, content: "mine", clientKey }).catch((e: unknown) => e)),
    );
    expect(answers.map(errorCode)).toEqual(["CONFLICT", "CONFLICT"]);
    // The same words for a plain post and a question: nothing tells them apart, nothing names them.
    const [forPost, forQuestion] = answers.map((e) => String(e).replace(/note-1|question-1/, "<key>"));
    expect(forPost).toBe(forQuestion);
    for (const id of [hiddenPost.id, hiddenQuestion.userMessage.id, hiddenQuestion.assistantMessageId, hiddenQuestion.runId]) {
      expect(answers.map(String).join(" ")).not.toContain(id);
    }
    // The owner, who may see its own post, is told what the key names.
    expect(String(await ownerApi.chat.send.mutate({ sessionId: session.id, content: "again", clientKey: "note-1" }).catch((e: unknown) => e))).toContain(hiddenPost.id);
  });

  it("agent.list shows an agent's system prompt to admins only", async () => {
    await t.client({ token: admin.token }).api.agent.create.mutate({ name: "Prompted", provider: "builtin", systemPrompt: "You are the internal escalation bot; codeword tangerine." });
    for (const who of [viewer, member, owner]) {
      const agents = await t.client({ token: who.token }).api.agent.list.query();
      expect(agents.find((a) => a.name === "Prompted")?.systemPrompt, who.role).toBeNull();
      expect(JSON.stringify(agents)).not.toContain("tangerine");
    }
    const forAdmin = await t.client({ token: admin.token }).api.agent.list.query();
    expect(forAdmin.find((a) => a.name === "Prompted")?.systemPrompt).toContain("tangerine");
  });
});
