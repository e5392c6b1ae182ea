// message.update and message.delete: tracked message.updated / message.deleted
// events that every open stream applies, that resume exactly, that keep hidden
// messages hidden, and that leave nothing of a deleted message to replay.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { editsOf } from "../src/shared/schemas";
import type { SessionEvent } from "../src/shared/events";
import { AUTH_CALL_MANY_ENV, makePrincipal, outcome, type TestPrincipal } from "./helpers/auth";
import { startTestServer, waitFor, type TestServer } from "./helpers/server";
import { collectSessionEvents } from "./helpers/stream";

let t: TestServer;
let owner: TestPrincipal;
let alice: TestPrincipal;
let bob: TestPrincipal;
beforeAll(async () => {
  t = await startTestServer(AUTH_CALL_MANY_ENV);
  owner = await makePrincipal(t, "member", "owner");
  alice = await makePrincipal(t, "member", "alice");
  bob = await makePrincipal(t, "member", "bob");
});
afterAll(async () => {
  await t?.close();
});

async function sharedSession(title: string) {
  const o = t.client({ token: owner.token });
  const session = await o.api.session.create.mutate({ title });
  for (const p of [alice, bob]) await o.api.session.addMember.mutate({ sessionId: session.id, principalId: p.id, role: "member" });
  return session;
}

const describeEvent = (e: SessionEvent) =>
  e.type === "message.created" || e.type === "message.updated" || e.type === "message.deleted" ? `${e.type} ${e.message.content}` : e.type;

describe("editing and deleting messages", () => {
  it("an edit reaches every open stream as message.updated with its history, and a resume replays it at its seq", async () => {
    const session = await sharedSession("edits");
    const a = t.client({ token: alice.token });
    const b = t.client({ token: bob.token });
    const bobTab = collectSessionEvents(b, session.id);
    const posted = await a.api.message.post.mutate({ sessionId: session.id, content: "helo" });
    const edited = await a.api.message.update.mutate({ id: posted.id, content: "hello" });
    expect(edited.content).toBe("hello");
    expect(editsOf(edited.metadata)).toEqual([{ content: "helo", editedAt: expect.any(String) as unknown, editorId: alice.id, editorName: "alice" }]);
    await waitFor(() => bobTab.events.some((e) => e.type === "message.updated"), "bob's tab sees the edit");
    expect(bobTab.events.map(describeEvent)).toEqual(["message.created helo", "message.updated hello"]);
    bobTab.unsubscribe();

    // Someone else's message: FORBIDDEN to a member, allowed to the session's owner.
    expect(await outcome(b.api.message.update.mutate({ id: posted.id, content: "bob was here" }))).toBe("FORBIDDEN");
    expect(await outcome(b.api.message.delete.mutate({ id: posted.id }))).toBe("FORBIDDEN");
    await t.client({ token: owner.token }).api.message.update.mutate({ id: posted.id, content: "hello, all" });

    // A resume from the first event replays exactly the rest, in order.
    const resumed = collectSessionEvents(b, session.id, "1");
    await waitFor(() => resumed.events.length === 2, "resumed edits");
    expect(resumed.ids).toEqual(["2", "3"]);
    expect(resumed.events.map(describeEvent)).toEqual(["message.updated hello", "message.updated hello, all"]);
    expect(editsOf((resumed.events[1] as Extract<SessionEvent, { type: "message.updated" }>).message.metadata).map((e) => e.editorName)).toEqual(["alice", "owner"]);
    resumed.unsubscribe();
  });

  it("a delete reaches every stream as message.deleted, and nothing replays the deleted text", async () => {
    const session = await sharedSession("deletes");
    const a = t.client({ token: alice.token });
    const b = t.client({ token: bob.token });
    const bobTab = collectSessionEvents(b, session.id);
    const secret = await a.api.message.post.mutate({ sessionId: session.id, content: "my password is hunter2" });
    await a.api.message.update.mutate({ id: secret.id, content: "my password is hunter3" });
    const kept = await a.api.message.post.mutate({ sessionId: session.id, content: "kept" });
    await a.api.message.delete.mutate({ id: secret.id });
    await waitFor(() => bobTab.events.some((e) => e.type === "message.deleted"), "bob's tab sees the delete");
    expect(bobTab.events.at(-1)).toMatchObject({ type: "message.deleted", message: { id: secret.id, content: "" } });
    bobTab.unsubscribe();

    expect((await b.api.message.list.query({ sessionId: session.id })).items.map((m) => m.id)).toEqual([kept.id]);
    const replay = collectSessionEvents(b, session.id, "0");
    await waitFor(() => replay.events.length === 4, "the whole log");
    expect(replay.ids).toEqual(["1", "2", "3", "4"]);
    expect(replay.events.map(describeEvent)).toEqual(["message.created ", "message.updated ", "message.created kept", "message.deleted "]);
    expect(JSON.stringify(replay.events)).not.toContain("hunter");
    replay.unsubscribe();
    expect(await outcome(a.api.message.delete.mutate({ id: secret.id }))).toBe("NOT_FOUND");
  });

  it("edits and deletes of a private message stay hidden from those who may not see it", async () => {
    const session = await sharedSession("private changes");
    const a = t.client({ token: alice.token });
    const bobTab = collectSessionEvents(t.client({ token: bob.token }), session.id);
    const aliceTab = collectSessionEvents(a, session.id);
    const mine = await a.api.message.post.mutate({ sessionId: session.id, content: "just for me", visibility: "private" });
    await a.api.message.update.mutate({ id: mine.id, content: "still just for me" });
    await a.api.message.delete.mutate({ id: mine.id });
    await a.api.message.post.mutate({ sessionId: session.id, content: "public" });
    await waitFor(() => bobTab.events.length === 4 && aliceTab.events.length === 4, "both tabs");
    expect(bobTab.events.map((e) => e.type)).toEqual(["stream.hidden", "stream.hidden", "stream.hidden", "message.created"]);
    expect(aliceTab.events.map((e) => e.type)).toEqual(["message.created", "message.updated", "message.deleted", "message.created"]);
    expect(await outcome(t.client({ token: bob.token }).api.message.update.mutate({ id: mine.id, content: "x" }))).toBe("NOT_FOUND");
    bobTab.unsubscribe();
    aliceTab.unsubscribe();
  });

  it("refuses to post the server's edit history", async () => {
    const session = await sharedSession("forged");
    const a = t.client({ token: alice.token });
    expect(await outcome(a.api.message.post.mutate({ sessionId: session.id, content: "x", metadata: { edits: [] } }))).toBe("BAD_REQUEST");
  });
});
