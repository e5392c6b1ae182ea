// Authorization as a specification: a matrix generated over global role ×
// relation to the session × message visibility, checked through queries,
// mutations, a subscription's back-fill, its resume back-fill and live events;
// a table with a row for every other procedure, run for the same callers (and
// every procedure refused to an anonymous caller); and a fast-check property
// over random mixes of visibilities and readers. (The fuzz of every procedure
// is tests/auth-fuzz.test.ts.)
import { createTRPCClient, createWSClient, wsLink, type TRPCClientError } from "@trpc/client";
import fc from "fast-check";
import superjson from "superjson";
import WebSocket from "ws";
import { z } from "zod";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Role, Visibility } from "../src/generated/prisma/client";
import type { AppRouter } from "../src/server/routers/_app";
import { appRouter } from "../src/server/routers/_app";
import type { Principal } from "../src/server/auth/principal";
import { createInvite } from "../src/server/auth/invites";
import { createAgent } from "../src/server/chat/agents";
import { postMessage } from "../src/server/services/messages";
import { agentEventPublishInput } from "../src/shared/agent-events";
import { agentCreateInput, chatSendInput } from "../src/shared/chat";
import { memoryStoreInput } from "../src/shared/memory";
import { SESSION_EXPORT_FORMAT } from "../src/shared/transfer";
import type { SessionEvent } from "../src/shared/events";
import { AUTH_CALL_MANY_ENV, firstValue, makePrincipal, outcome, type TestPrincipal } from "./helpers/auth";
import { startTestServer, waitFor, type TestServer } from "./helpers/server";

type Relation = "owner" | "member:viewer" | "member:member" | "member:agent" | "outsider";
const roles: Role[] = ["viewer", "member", "agent", "admin"];
const relations: Relation[] = ["owner", "member:viewer", "member:member", "member:agent", "outsider"];
const visibilities: Visibility[] = ["public", "private", "agent_only"];

/** The rules, restated independently of src/server/auth/policy.ts. */
function expected(role: Role, relation: Relation) {
  const admin = role === "admin";
  const owner = relation === "owner";
  const memberRole = relation.startsWith("member:") ? relation.slice(7) : null;
  const read = admin || owner || memberRole !== null;
  const write = admin || (role !== "viewer" && (owner || (memberRole !== null && memberRole !== "viewer")));
  const manage = admin || owner;
  const sees = (m: { visibility: Visibility; authorId: string | null }, callerId: string, ownerId: string) =>
    read &&
    (admin ||
      m.visibility === "public" ||
      (m.visibility === "private" && (m.authorId === callerId || ownerId === callerId)) ||
      (m.visibility === "agent_only" && role === "agent"));
  return { read, write, manage, sees };
}

type ClientError = TRPCClientError<AppRouter>;

function wsClient(url: string, token: string) {
  const client = createWSClient({
    url: `${url.replace(/^http/, "ws")}/api/trpc-ws`,
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
    connectionParams: { token },
    retryDelayMs: () => 50,
  });
  return { api: createTRPCClient<AppRouter>({ links: [wsLink({ client, transformer: superjson })] }), close: () => client.close() };
}

/** Collect a session.events subscription until a message with `sentinel` content arrives (or an error). */
async function collectUntil(t: TestServer, token: string, sessionId: string, sentinel: string, lastEventId?: string) {
  const ws = wsClient(t.url, token);
  const events: SessionEvent[] = [];
  const errors: unknown[] = [];
  const sub = ws.api.session.events.subscribe(
    { sessionId, lastEventId },
    { onData: ({ data }) => events.push(data), onError: (e) => errors.push(e) },
  );
  await waitFor(
    () => errors.length > 0 || events.some((e) => e.type === "message.created" && e.message.content === sentinel),
    `sentinel ${sentinel}`,
    15_000,
  );
  sub.unsubscribe();
  void ws.close();
  const created = events.flatMap((e) => (e.type === "message.created" ? [e.message] : []));
  return { created, errors };
}

let t: TestServer;
let owner: TestPrincipal;
beforeAll(async () => {
  t = await startTestServer({ ...AUTH_CALL_MANY_ENV, METRICS_SAMPLE_MS: "100" });
  owner = await makePrincipal(t, "member", "session owner");
});
afterAll(async () => {
  await t?.close();
});

const limits = { maxContentBytes: 65_536 };
async function seed(sessionId: string, authorId: string, visibility: Visibility, content: string) {
  return postMessage(t.server.deps.messages, limits, { sessionId, content, role: "user", visibility }, { id: authorId, name: "seed" });
}

describe("authorization matrix", () => {
  const cases = roles.flatMap((role) => relations.map((relation) => ({ role, relation })));
  const figures = { cases: 0, checks: 0 };
  afterAll(() => {
    console.log(`authorization matrix: ${figures.cases} caller cases, ${figures.checks} checks`);
  });

  it.each(cases)("$role as $relation", async ({ role, relation }) => {
    const caller = await makePrincipal(t, role, `${role} ${relation}`);
    const rules = expected(role, relation);
    const sessionOwner = relation === "owner" ? caller : owner;
    const session = await t.server.deps.db.session.create({ data: { title: `${role} ${relation}`, metadata: {}, ownerId: sessionOwner.id } });
    if (relation.startsWith("member:")) {
      await t.server.deps.db.sessionMember.create({ data: { sessionId: session.id, principalId: caller.id, role: relation.slice(7) as Role } });
    }
    const other = await makePrincipal(t, "member", "other author");
    const seeded: Awaited<ReturnType<typeof seed>>[] = [];
    for (const visibility of visibilities) {
      seeded.push(await seed(session.id, owner.id, visibility, `by owner ${visibility}`));
      seeded.push(await seed(session.id, caller.id, visibility, `by caller ${visibility}`));
      seeded.push(await seed(session.id, other.id, visibility, `by other ${visibility}`));
    }
    const visibleIds = (msgs: typeof seeded) => msgs.filter((m) => rules.sees(m, caller.id, sessionOwner.id)).map((m) => m.id).sort();
    const api = t.client({ token: caller.token }).api;
    const forbidden = "FORBIDDEN";
    const check = (actual: string, allowed: boolean) => {
      figures.checks++;
      expect(actual).toBe(allowed ? "ok" : forbidden);
    };

    // Queries.
    check(await outcome(api.session.get.query({ id: session.id })), rules.read);
    check(await outcome(api.session.members.query({ sessionId: session.id })), rules.read);
    const listed = await api.message.list.query({ sessionId: session.id }).catch(() => null);
    figures.checks++;
    if (rules.read) expect(listed?.items.map((m) => m.id).sort()).toEqual(visibleIds(seeded));
    else expect(listed).toBeNull();
    if (rules.read) {
      const got = await api.session.get.query({ id: session.id });
      figures.checks++;
      expect(got.messageCount).toBe(visibleIds(seeded).length);
    }
    const sessions = await api.session.list.query({ limit: 100 });
    figures.checks++;
    expect(sessions.items.some((s) => s.id === session.id)).toBe(rules.read);

    // Mutations.
    const posted = api.message.post.mutate({ sessionId: session.id, content: "posted by caller", visibility: "private", author: "admin" });
    check(await outcome(posted), rules.write);
    if (rules.write) {
      // The name shown is the caller's own; its `author` is a label beside it.
      figures.checks++;
      expect(await posted).toMatchObject({ author: `${role} ${relation}`, authorLabel: "admin", authorId: caller.id });
    }
    // Roles that speak for a machine: admins and agent principals, where they may write.
    for (const postedRole of ["system", "assistant", "agent", "tool"] as const) {
      const asMachine = api.message.post.mutate({ sessionId: session.id, content: `as ${postedRole}`, role: postedRole, visibility: "private" });
      check(await outcome(asMachine), rules.write && (role === "admin" || role === "agent"));
    }
    check(await outcome(api.session.update.mutate({ id: session.id, title: "renamed" })), rules.write);
    check(await outcome(api.events.publish.mutate({ type: "system.info", data: { message: "hi" }, sessionId: session.id })), rules.write);
    check(await outcome(api.session.addMember.mutate({ sessionId: session.id, principalId: other.id, role: "viewer" })), rules.manage);
    check(await outcome(api.system.connections.query()), role === "admin");

    // Subscriptions: back-fill, then live, then resume back-fill after the first event.
    const sentinel1 = `sentinel-1 ${role} ${relation}`;
    await seed(session.id, owner.id, "public", sentinel1);
    const all = await t.server.deps.db.message.findMany({ where: { sessionId: session.id } });
    const first = await collectUntil(t, caller.token, session.id, sentinel1);
    figures.checks++;
    if (!rules.read) {
      expect((first.errors[0] as ClientError | undefined)?.data?.code).toBe(forbidden);
      figures.cases++;
      return;
    }
    expect(first.created.map((m) => m.id).sort()).toEqual(visibleIds(all));

    // Live: subscribe, then post every visibility; the sentinel ends the collection.
    const ws = wsClient(t.url, caller.token);
    const live: SessionEvent[] = [];
    const sub = ws.api.session.events.subscribe({ sessionId: session.id, lastEventId: String((await t.server.deps.db.session.findUniqueOrThrow({ where: { id: session.id } })).lastEventSeq) }, { onData: ({ data }) => live.push(data) });
    await waitFor(() => t.server.deps.sessionStreams.subscriberCount >= 1, "live subscriber");
    const fresh: Awaited<ReturnType<typeof seed>>[] = [];
    for (const visibility of visibilities) fresh.push(await seed(session.id, owner.id, visibility, `live ${visibility}`));
    const sentinel2 = `sentinel-2 ${role} ${relation}`;
    fresh.push(await seed(session.id, owner.id, "public", sentinel2));
    await waitFor(() => live.some((e) => e.type === "message.created" && e.message.content === sentinel2), "live sentinel", 15_000);
    sub.unsubscribe();
    void ws.close();
    figures.checks++;
    expect(live.flatMap((e) => (e.type === "message.created" ? [e.message.id] : [])).sort()).toEqual(visibleIds(fresh));

    // Resume back-fill from event 1: everything visible after it.
    const everything = await t.server.deps.db.message.findMany({ where: { sessionId: session.id }, orderBy: { seq: "asc" } });
    const resumed = await collectUntil(t, caller.token, session.id, sentinel2, "1");
    figures.checks++;
    expect(resumed.created.map((m) => m.id).sort()).toEqual(visibleIds(everything.filter((m) => m.seq > 1)));
    figures.cases++;
  });
});

/** The procedures the matrix above checks (the rows below check the rest). */
const firstMatrixPaths = [
  "session.get",
  "session.members",
  "message.list",
  "session.list",
  "message.post",
  "session.update",
  "events.publish",
  "session.addMember",
  "system.connections",
  "session.events",
];
/** Open to anonymous callers. */
const publicPaths = ["system.health", "system.ping"];

/** Who may call: every signed-in principal, every role but viewer, admins, or the session's readers, writers or managers. */
type Rule = "signed-in" | "non-viewer" | "admin" | "read" | "write" | "manage";

/** What one caller case acts on: its session (with the caller in the case's relation) and things to change. */
interface Fixture {
  api: ReturnType<TestServer["client"]>["api"];
  ws: ReturnType<typeof wsClient>;
  sessionId: string;
  /** A finished chat run per visibility, its question asked by `owner`. */
  runs: Record<Visibility, { runId: string; answerId: string }>;
  /** A member of the session, for session.removeMember. */
  member: TestPrincipal;
  /** An agent for agent.update and agent.delete. */
  agentId: string;
  /** A token for auth.revokeToken, and one WebSocket connection of it for system.disconnect. */
  victim: TestPrincipal;
  victimConnectionId: string;
  /** Public memories of the session, stored by its owner: one to read, one to update, one to delete. */
  memories: { read: string; update: string; delete: string };
  /** A person to invite by name; an invitation link of the session (to revoke); a link to another session of the owner (to join). */
  invitee: TestPrincipal & { name: string };
  inviteId: string;
  joinToken: string;
}

interface Row {
  /** The procedure and, when it appears twice, how this call differs. */
  name: string;
  path: string;
  rule: Rule;
  /** Acts on `owner`'s question or answer of this visibility: NOT_FOUND when the caller may not see it. */
  visibility?: Visibility;
  call: (f: Fixture) => Promise<string>;
  /** When the rule alone does not say it: what the call should answer. */
  want?: (rules: ReturnType<typeof expected>, role: Role, relation: Relation) => string;
}

/** A memory of the session: NOT_FOUND to whom may not read it; changed by the session's owner (not a viewer) and admins. */
const changeSessionMemory = (rules: ReturnType<typeof expected>, role: Role, relation: Relation) =>
  !rules.read ? "NOT_FOUND" : role === "admin" || (relation === "owner" && role !== "viewer") ? "ok" : "FORBIDDEN";

/** Waits for the answer a chat.send or chat.regenerate started, so the next one does not meet CHAT_MAX_RUNS_PER_SESSION. */
async function answered(started: Promise<{ runId: string }>): Promise<void> {
  const { runId } = await started;
  await t.server.deps.chat.whenFinished(runId);
}

/** In call order: system.disconnect before auth.revokeToken (a revoked token's connections close). */
const rows: Row[] = [
  { name: "session.create", path: "session.create", rule: "non-viewer", call: (f) => outcome(f.api.session.create.mutate({ title: "by the caller" })) },
  {
    name: "session.removeMember",
    path: "session.removeMember",
    rule: "manage",
    call: (f) => outcome(f.api.session.removeMember.mutate({ sessionId: f.sessionId, principalId: f.member.id })),
  },
  {
    name: "session.presence",
    path: "session.presence",
    rule: "read",
    call: (f) => firstValue((h) => f.ws.api.session.presence.subscribe({ sessionId: f.sessionId }, h)),
  },
  {
    name: "presence.typing",
    path: "presence.typing",
    rule: "read",
    call: (f) => outcome(f.api.presence.typing.mutate({ sessionId: f.sessionId, typing: true })),
  },
  {
    name: "events.publish without a session",
    path: "events.publish",
    rule: "non-viewer",
    call: (f) => outcome(f.api.events.publish.mutate({ type: "system.info", data: { message: "no session" } })),
  },
  {
    name: "events.subscribe to the session",
    path: "events.subscribe",
    rule: "read",
    call: (f) => firstValue((h) => f.ws.api.events.subscribe.subscribe({ sessionId: f.sessionId }, h)),
  },
  {
    name: "events.subscribe to every session",
    path: "events.subscribe",
    rule: "signed-in",
    call: (f) => firstValue((h) => f.ws.api.events.subscribe.subscribe({}, h)),
  },
  {
    name: "system.demoFlow in the session",
    path: "system.demoFlow",
    rule: "write",
    call: (f) => outcome(f.api.system.demoFlow.mutate({ sessionId: f.sessionId, delayMs: 0 })),
  },
  { name: "system.demoFlow without a session", path: "system.demoFlow", rule: "non-viewer", call: (f) => outcome(f.api.system.demoFlow.mutate({ delayMs: 0 })) },
  {
    name: "agent.setSessionDefault",
    path: "agent.setSessionDefault",
    rule: "write",
    call: (f) => outcome(f.api.agent.setSessionDefault.mutate({ sessionId: f.sessionId, agentId: null })),
  },
  { name: "agent.list", path: "agent.list", rule: "signed-in", call: (f) => outcome(f.api.agent.list.query()) },
  { name: "agent.providers", path: "agent.providers", rule: "signed-in", call: (f) => outcome(f.api.agent.providers.query()) },
  { name: "agent.models", path: "agent.models", rule: "signed-in", call: (f) => outcome(f.api.agent.models.query({ provider: "builtin" })) },
  {
    name: "agent.create",
    path: "agent.create",
    rule: "admin",
    call: (f) => outcome(f.api.agent.create.mutate({ name: `made in ${f.sessionId}`, provider: "builtin" })),
  },
  { name: "agent.update", path: "agent.update", rule: "admin", call: (f) => outcome(f.api.agent.update.mutate({ id: f.agentId, temperature: 0.5 })) },
  { name: "agent.delete", path: "agent.delete", rule: "admin", call: (f) => outcome(f.api.agent.delete.mutate({ id: f.agentId })) },
  { name: "auth.me", path: "auth.me", rule: "signed-in", call: (f) => outcome(f.api.auth.me.query()) },
  { name: "auth.listTokens", path: "auth.listTokens", rule: "admin", call: (f) => outcome(f.api.auth.listTokens.query()) },
  {
    name: "auth.createToken",
    path: "auth.createToken",
    rule: "admin",
    call: (f) => outcome(f.api.auth.createToken.mutate({ name: "made by the caller", role: "viewer" })),
  },
  {
    name: "system.disconnect",
    path: "system.disconnect",
    rule: "admin",
    call: (f) => outcome(f.api.system.disconnect.mutate({ connectionId: f.victimConnectionId })),
  },
  { name: "auth.revokeToken", path: "auth.revokeToken", rule: "admin", call: (f) => outcome(f.api.auth.revokeToken.mutate({ id: f.victim.tokenId })) },
  { name: "metrics.snapshot", path: "metrics.snapshot", rule: "signed-in", call: (f) => outcome(f.api.metrics.snapshot.query()) },
  { name: "metrics.instances", path: "metrics.instances", rule: "signed-in", call: (f) => outcome(f.api.metrics.instances.query()) },
  { name: "metrics.live", path: "metrics.live", rule: "signed-in", call: (f) => firstValue((h) => f.ws.api.metrics.live.subscribe({}, h)) },
  { name: "memory.store global", path: "memory.store", rule: "non-viewer", call: (f) => outcome(f.api.memory.store.mutate({ content: "a global note" })) },
  {
    name: "memory.store in the session",
    path: "memory.store",
    rule: "write",
    call: (f) => outcome(f.api.memory.store.mutate({ content: "a session note", scope: { kind: "session", sessionId: f.sessionId } })),
  },
  { name: "memory.list", path: "memory.list", rule: "signed-in", call: (f) => outcome(f.api.memory.list.query({})) },
  { name: "memory.recall", path: "memory.recall", rule: "signed-in", call: (f) => outcome(f.api.memory.recall.query({ query: "note" })) },
  { name: "memory.events", path: "memory.events", rule: "signed-in", call: (f) => firstValue((h) => f.ws.api.memory.events.subscribe({ lastEventId: "0" }, h)) },
  {
    name: "memory.get of a session memory",
    path: "memory.get",
    rule: "read",
    want: (rules) => (rules.read ? "ok" : "NOT_FOUND"),
    call: (f) => outcome(f.api.memory.get.query({ id: f.memories.read })),
  },
  {
    name: "memory.update of a session memory",
    path: "memory.update",
    rule: "manage",
    want: changeSessionMemory,
    call: (f) => outcome(f.api.memory.update.mutate({ id: f.memories.update, content: "changed" })),
  },
  {
    name: "memory.delete of a session memory",
    path: "memory.delete",
    rule: "manage",
    want: changeSessionMemory,
    call: (f) => outcome(f.api.memory.delete.mutate({ id: f.memories.delete })),
  },
  {
    name: "message.search",
    path: "message.search",
    rule: "signed-in",
    call: (f) => outcome(f.api.message.search.query({ query: "question", sessionId: f.sessionId })),
  },
  ...visibilities.flatMap((visibility): Row[] => [
    {
      name: `chat.send ${visibility}`,
      path: "chat.send",
      rule: "write",
      call: (f) => outcome(answered(f.api.chat.send.mutate({ sessionId: f.sessionId, content: `a ${visibility} question about parley`, visibility }))),
    },
    {
      name: `chat.run of a ${visibility} answer`,
      path: "chat.run",
      rule: "read",
      visibility,
      call: (f) => firstValue((h) => f.ws.api.chat.run.subscribe({ runId: f.runs[visibility].runId }, h)),
    },
    {
      name: `chat.stop of a ${visibility} answer`,
      path: "chat.stop",
      rule: "write",
      visibility,
      call: (f) => outcome(f.api.chat.stop.mutate({ runId: f.runs[visibility].runId })),
    },
    {
      name: `chat.regenerate of a ${visibility} answer`,
      path: "chat.regenerate",
      rule: "write",
      visibility,
      call: (f) => outcome(answered(f.api.chat.regenerate.mutate({ messageId: f.runs[visibility].answerId }))),
    },
  ]),
  // The owner's answers (their author is the global owner, never the caller): changed by the session's owner (who may write) and admins.
  ...visibilities.flatMap((visibility): Row[] => [
    {
      name: `message.update of a ${visibility} answer`,
      path: "message.update",
      rule: "manage",
      visibility,
      want: (rules, role, relation) => changeOwnersMessage(rules, role, relation, visibility),
      call: (f) => outcome(f.api.message.update.mutate({ id: f.runs[visibility].answerId, content: "edited by the caller" })),
    },
    {
      name: `message.delete of a ${visibility} answer`,
      path: "message.delete",
      rule: "manage",
      visibility,
      want: (rules, role, relation) => changeOwnersMessage(rules, role, relation, visibility),
      call: (f) => outcome(f.api.message.delete.mutate({ id: f.runs[visibility].answerId })),
    },
  ]),
  {
    name: "session.inviteByName",
    path: "session.inviteByName",
    rule: "manage",
    call: (f) => outcome(f.api.session.inviteByName.mutate({ sessionId: f.sessionId, name: f.invitee.name, role: "viewer" })),
  },
  { name: "session.createInvite", path: "session.createInvite", rule: "manage", call: (f) => outcome(f.api.session.createInvite.mutate({ sessionId: f.sessionId })) },
  { name: "session.invites", path: "session.invites", rule: "manage", call: (f) => outcome(f.api.session.invites.query({ sessionId: f.sessionId })) },
  { name: "session.revokeInvite", path: "session.revokeInvite", rule: "manage", call: (f) => outcome(f.api.session.revokeInvite.mutate({ id: f.inviteId })) },
  { name: "session.export", path: "session.export", rule: "read", call: (f) => outcome(f.api.session.export.query({ sessionId: f.sessionId, format: "markdown" })) },
  {
    name: "session.import",
    path: "session.import",
    rule: "non-viewer",
    call: (f) =>
      outcome(
        f.api.session.import.mutate({
          data: {
            format: SESSION_EXPORT_FORMAT,
            exportedAt: new Date().toISOString(),
            session: { id: f.sessionId, title: "imported", metadata: {}, createdAt: new Date().toISOString(), archivedAt: null },
            messages: [],
          },
        }),
      ),
  },
  // Last: joining, a new profile (it reconnects the caller's sockets) and leaving change the caller.
  { name: "session.join", path: "session.join", rule: "signed-in", call: (f) => outcome(f.api.session.join.mutate({ token: f.joinToken })) },
  { name: "auth.updateProfile", path: "auth.updateProfile", rule: "signed-in", call: (f) => outcome(f.api.auth.updateProfile.mutate({ avatarColor: "#10b981" })) },
  {
    name: "session.leave",
    path: "session.leave",
    rule: "read",
    // Members leave; an owner cannot (BAD_REQUEST); an admin who is no member has nothing to leave.
    want: (rules, role, relation) => (!rules.read ? "FORBIDDEN" : relation === "owner" ? "BAD_REQUEST" : relation === "outsider" ? "NOT_FOUND" : "ok"),
    call: (f) => outcome(f.api.session.leave.mutate({ sessionId: f.sessionId })),
  },
];

/** Someone else's message: NOT_FOUND to whom may not see it (non-readers included), ok for writers who manage the session. */
function changeOwnersMessage(rules: ReturnType<typeof expected>, role: Role, relation: Relation, visibility: Visibility): string {
  if (!rules.read) return "NOT_FOUND";
  // The caller is never the message's author; a private message of the owner is seen by the session's owner and admins.
  const sees = role === "admin" || visibility === "public" || (visibility === "private" && relation === "owner") || (visibility === "agent_only" && role === "agent");
  if (!sees) return "NOT_FOUND";
  return rules.write && rules.manage ? "ok" : "FORBIDDEN";
}

describe("authorization matrix: every other procedure", () => {
  const cases = roles.flatMap((role) => relations.map((relation) => ({ role, relation })));
  const figures = { cases: 0, checks: 0 };
  afterAll(() => {
    console.log(`authorization matrix (other procedures): ${figures.cases} caller cases, ${figures.checks} checks`);
  });

  it("has a row for every procedure, with the matrix above and the public ones", () => {
    const covered = new Set([...firstMatrixPaths, ...publicPaths, ...rows.map((r) => r.path)]);
    expect(Object.keys(appRouter._def.procedures).sort()).toEqual([...covered].sort());
  });

  /** What the rules say a call should answer. */
  function want(row: Row, role: Role, relation: Relation, callerId: string, ownerId: string): string {
    const rules = expected(role, relation);
    if (row.want) return row.want(rules, role, relation);
    const allowed = {
      "signed-in": true,
      "non-viewer": role !== "viewer",
      admin: role === "admin",
      read: rules.read,
      write: rules.write,
      manage: rules.manage,
    }[row.rule];
    if (!allowed) return "FORBIDDEN";
    if (row.visibility && !rules.sees({ visibility: row.visibility, authorId: owner.id }, callerId, ownerId)) return "NOT_FOUND";
    return "ok";
  }

  it.each(cases)("$role as $relation", async ({ role, relation }) => {
    const { db, chat, agentEvents, connections } = t.server.deps;
    const caller = await makePrincipal(t, role, `${role} ${relation}`);
    const sessionOwner = relation === "owner" ? caller : owner;
    const session = await db.session.create({ data: { title: `others ${role} ${relation}`, metadata: {}, ownerId: sessionOwner.id } });
    if (relation.startsWith("member:")) {
      await db.sessionMember.create({ data: { sessionId: session.id, principalId: caller.id, role: relation.slice(7) as Role } });
    }
    const member = await makePrincipal(t, "member", "to be removed");
    await db.sessionMember.create({ data: { sessionId: session.id, principalId: member.id, role: "member" } });
    const ask = async (visibility: Visibility) => {
      const input = chatSendInput.parse({ sessionId: session.id, content: `what does the ${visibility} owner ask?`, author: "owner", visibility });
      const sent = await chat.send(input, { authorId: owner.id, name: "owner", scope: {} });
      await chat.whenFinished(sent.runId);
      return { runId: sent.runId, answerId: sent.assistantMessageId };
    };
    const runs = { public: await ask("public"), private: await ask("private"), agent_only: await ask("agent_only") };
    await agentEvents.publish(agentEventPublishInput.parse({ type: "system.info", data: { message: "in the session" }, sessionId: session.id }), owner.id);
    await agentEvents.publish(agentEventPublishInput.parse({ type: "system.info", data: { message: "in no session" } }), owner.id);
    const agent = await createAgent(db, chat.providers, agentCreateInput.parse({ name: `agent ${session.id}`, provider: "builtin" }));
    const victim = await makePrincipal(t, "agent", "victim");
    const victimWs = wsClient(t.url, victim.token);
    await victimWs.api.auth.me.query();
    const victimConnectionId = connections.list().find((c) => c.principal.id === victim.id)?.connectionId ?? "none";
    const ws = wsClient(t.url, caller.token);
    const ownerPrincipal: Principal = { id: sessionOwner.id, kind: "user", name: "owner", role: "member", tokenId: null, stored: true };
    const sessionOwnerCaller = { principal: ownerPrincipal, sessionAccess: (id: string) => t.server.deps.auth.access.lookup(db, ownerPrincipal, id) };
    const remember = async (content: string) =>
      (await t.server.deps.memory.remember(sessionOwnerCaller, memoryStoreInput.parse({ content, scope: { kind: "session", sessionId: session.id } }))).id;
    const memories = { read: await remember("to read"), update: await remember("to update"), delete: await remember("to delete") };
    await t.server.deps.memory.remember(sessionOwnerCaller, memoryStoreInput.parse({ content: "for everyone" }));
    const inviteeName = `invitee ${session.id}`;
    const invitee = { ...(await makePrincipal(t, "member", inviteeName)), name: inviteeName };
    const inviteId = (await createInvite(db, { sessionId: session.id, role: "member" }, sessionOwner.id)).id;
    const elsewhere = await db.session.create({ data: { title: `to join ${role} ${relation}`, metadata: {}, ownerId: owner.id } });
    const joinToken = (await createInvite(db, { sessionId: elsewhere.id, role: "viewer" }, owner.id)).token;
    const f: Fixture = {
      api: t.client({ token: caller.token }).api,
      ws,
      sessionId: session.id,
      runs,
      member,
      agentId: agent.id,
      victim,
      victimConnectionId,
      memories,
      invitee,
      inviteId,
      joinToken,
    };
    try {
      const got: Record<string, string> = {};
      const wanted: Record<string, string> = {};
      for (const row of rows) {
        got[row.name] = await row.call(f);
        wanted[row.name] = want(row, role, relation, caller.id, sessionOwner.id);
        figures.checks++;
      }
      expect(got).toEqual(wanted);
      figures.cases++;
    } finally {
      void ws.close();
      void victimWs.close();
    }
  });

  it("refuses an anonymous caller everything but the public procedures, with UNAUTHORIZED (every procedure, over the WebSocket)", async () => {
    const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>);
    const socket = new WebSocket(`${t.url.replace(/^http/, "ws")}/api/trpc-ws`);
    await new Promise((resolve) => socket.once("open", resolve));
    const answers = new Map<number, string>();
    socket.on("message", (raw: Buffer) => {
      const reply = z
        .object({ id: z.number(), error: z.object({ json: z.object({ data: z.object({ code: z.string() }) }) }).optional() })
        .safeParse(JSON.parse(raw.toString()));
      if (reply.success && !answers.has(reply.data.id)) answers.set(reply.data.id, reply.data.error?.json.data.code ?? "ok");
    });
    procedures.forEach(([path, procedure], id) => {
      socket.send(JSON.stringify({ id, method: procedure._def.type, params: { path, input: { json: {} } } }));
    });
    await waitFor(() => answers.size === procedures.length, "an answer to every call");
    socket.close();
    const got = Object.fromEntries(procedures.map(([path], id) => [path, answers.get(id)]));
    const wanted = Object.fromEntries(procedures.map(([path]) => [path, publicPaths.includes(path) ? "ok" : "UNAUTHORIZED"]));
    expect(got).toEqual(wanted);
  });
});

describe("visibility property", () => {
  it("random mixes of visibilities reach exactly who may see them, through message.list and session.events", async () => {
    const cast = {
      member: await makePrincipal(t, "member", "p-member"),
      viewer: await makePrincipal(t, "viewer", "p-viewer"),
      agent: await makePrincipal(t, "agent", "p-agent"),
      admin: await makePrincipal(t, "admin", "p-admin"),
      outsider: await makePrincipal(t, "member", "p-outsider"),
    };
    const names = Object.keys(cast) as (keyof typeof cast)[];
    const writers = ["owner", "member", "agent"] as const;
    let runs = 0;
    let deliveries = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ visibility: fc.constantFrom(...visibilities), by: fc.constantFrom(...writers) }), { minLength: 1, maxLength: 12 }),
        fc.constantFrom(...names, "owner" as const),
        async (posts, readerName) => {
          runs++;
          const session = await t.server.deps.db.session.create({ data: { title: "property", metadata: {}, ownerId: owner.id } });
          for (const [name, role] of [["member", "member"], ["viewer", "viewer"], ["agent", "agent"]] as const) {
            await t.server.deps.db.sessionMember.create({ data: { sessionId: session.id, principalId: cast[name].id, role } });
          }
          const posted = [];
          for (const [i, post] of posts.entries()) {
            const author = post.by === "owner" ? owner : cast[post.by];
            const api = t.client({ token: author.token }).api;
            posted.push(await api.message.post.mutate({ sessionId: session.id, content: `m${i}`, visibility: post.visibility }));
          }
          const sentinel = `end ${runs}`;
          await seed(session.id, owner.id, "public", sentinel);
          const reader = readerName === "owner" ? owner : cast[readerName];
          const relation: Relation =
            readerName === "owner" ? "owner" : readerName === "outsider" || readerName === "admin" ? "outsider" : (`member:${readerName}` as Relation);
          const rules = expected(reader.role, relation);
          const want = posted.filter((m) => rules.sees(m, reader.id, owner.id)).map((m) => m.id).sort();
          const listed = await t.client({ token: reader.token }).api.message.list.query({ sessionId: session.id }).catch(() => null);
          const streamed = await collectUntil(t, reader.token, session.id, sentinel);
          if (!rules.read) return listed === null && streamed.errors.length === 1;
          const fromList = listed!.items.filter((m) => m.content !== sentinel).map((m) => m.id).sort();
          const fromStream = streamed.created.filter((m) => m.content !== sentinel).map((m) => m.id).sort();
          deliveries += fromStream.length + fromList.length;
          expect(fromList).toEqual(want);
          expect(fromStream).toEqual(want);
          return true;
        },
      ),
      { numRuns: 30 },
    );
    console.log(`visibility property: ${runs} runs, ${deliveries} deliveries checked, 0 failures`);
  }, 180_000);
});
