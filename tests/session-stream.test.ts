// session.events: live delivery, exact resume after a lost connection, and
// the same over SSE.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startTestServer, waitFor, type TestServer } from "./helpers/server";
import { collectSessionEvents, range } from "./helpers/stream";

let t: TestServer;
beforeEach(async () => {
  t = await startTestServer();
});
afterEach(async () => {
  await t.close();
});

async function postMany(sessionId: string, count: number, from = 1) {
  const poster = t.client();
  for (let i = from; i < from + count; i += 50) {
    const batch = range(i, Math.min(i + 49, from + count - 1));
    // Batched over one HTTP request; seqs follow call order within the batch's transactions.
    await Promise.all(batch.map((n) => poster.api.message.post.mutate({ sessionId, content: `message ${n}` })));
  }
}

describe("session.events", () => {
  it("delivers a posted message to a subscriber, and to two subscribers alike", async () => {
    const a = t.client();
    const b = t.client();
    const session = await a.api.session.create.mutate({ title: "live" });
    const base = t.server.deps.sessionStreams.subscriberCount;
    const first = collectSessionEvents(a, session.id);
    const second = collectSessionEvents(b, session.id);
    await waitFor(() => t.server.deps.sessionStreams.subscriberCount === base + 2, "both subscribers");

    const posted = await a.api.message.post.mutate({ sessionId: session.id, content: "hello", author: "ada" });
    expect(posted.seq).toBe(1);

    await waitFor(() => first.events.length === 1 && second.events.length === 1, "delivery to both");
    for (const c of [first, second]) {
      expect(c.ids).toEqual(["1"]);
      // PARLEY_AUTH=off over HTTP: the poster is the local admin; "ada" is its label.
      expect(c.events[0]).toMatchObject({ type: "message.created", message: { id: posted.id, content: "hello", author: "local admin", authorLabel: "ada", seq: 1 } });
      expect(c.errors).toEqual([]);
    }
  });

  it("back-fills history for a new subscriber, then streams live, with session.updated events", async () => {
    const c = t.client();
    const session = await c.api.session.create.mutate({ title: "history" });
    await postMany(session.id, 3);
    const sub = collectSessionEvents(c, session.id);
    await waitFor(() => sub.events.length === 3, "back-fill");
    await c.api.session.update.mutate({ id: session.id, title: "renamed" });
    await c.api.message.post.mutate({ sessionId: session.id, content: "after" });
    await waitFor(() => sub.events.length === 5, "live events");
    expect(sub.ids).toEqual(["1", "2", "3", "4", "5"]);
    expect(sub.events.map((e) => e.type)).toEqual([
      "message.created",
      "message.created",
      "message.created",
      "session.updated",
      "message.created",
    ]);
    expect(sub.events[3]).toMatchObject({ type: "session.updated", session: { title: "renamed" } });
  });

  it("resumes exactly after a killed connection: the 1,000 missed messages in order, then live ones", async () => {
    const watcher = t.client();
    const session = await watcher.api.session.create.mutate({ title: "resume" });
    await postMany(session.id, 5);
    const sub = collectSessionEvents(watcher, session.id);
    await waitFor(() => sub.events.length === 5, "initial back-fill");

    // Kill the watcher's socket from the server side while 1,000 messages are posted.
    const before = t.server.deps.runtime.connectionCount();
    expect(before).toBe(1);
    killAllWebSockets(t);
    await postMany(session.id, 1000, 6);
    await waitFor(() => sub.events.length >= 1005, "resume after reconnect", 20_000);
    await watcher.api.message.post.mutate({ sessionId: session.id, content: "live after resume" });
    await waitFor(() => sub.events.length === 1006, "live after resume");

    expect(sub.messageSeqs()).toEqual(range(1, 1006));
    expect(sub.ids).toEqual(range(1, 1006).map(String));
    expect(sub.errors).toEqual([]);
  });

  it("resumes from an explicit lastEventId on a new client, with nothing duplicated", async () => {
    const c = t.client();
    const session = await c.api.session.create.mutate({ title: "explicit" });
    await postMany(session.id, 10);
    const sub = collectSessionEvents(t.client(), session.id, "7");
    await waitFor(() => sub.events.length === 3, "events after 7");
    await c.api.message.post.mutate({ sessionId: session.id, content: "eleven" });
    await waitFor(() => sub.events.length === 4, "live");
    expect(sub.messageSeqs()).toEqual([8, 9, 10, 11]);
  });

  it("says so with stream.reset when the lastEventId cannot belong to the stream, then replays from the start", async () => {
    const c = t.client();
    const session = await c.api.session.create.mutate({ title: "reset" });
    await postMany(session.id, 2);
    for (const badId of ["999", "not-a-number"]) {
      const sub = collectSessionEvents(t.client(), session.id, badId);
      await waitFor(() => sub.events.length === 3, `reset for ${badId}`);
      expect(sub.ids).toEqual(["0", "1", "2"]);
      expect(sub.events[0]).toMatchObject({ type: "stream.reset", lastEventSeq: 2 });
      sub.unsubscribe();
    }
  });

  it("answers NOT_FOUND for a session that does not exist", async () => {
    const sub = collectSessionEvents(t.client(), "no-such-session");
    await waitFor(() => sub.errors.length === 1, "error");
    expect(sub.errors[0]).toMatchObject({ data: { code: "NOT_FOUND" } });
  });

  it("over SSE delivers and resumes the same way", async () => {
    const sse = t.client({ transport: "sse" });
    const session = await sse.api.session.create.mutate({ title: "sse" });
    await postMany(session.id, 3);
    const sub = collectSessionEvents(sse, session.id);
    await waitFor(() => sub.events.length === 3, "SSE back-fill");
    await sse.api.message.post.mutate({ sessionId: session.id, content: "live over SSE" });
    await waitFor(() => sub.events.length === 4, "SSE live");
    sub.unsubscribe();

    await postMany(session.id, 100, 5);
    const resumed = collectSessionEvents(t.client({ transport: "sse" }), session.id, sub.ids.at(-1));
    await waitFor(() => resumed.events.length === 100, "SSE resume");
    expect(resumed.messageSeqs()).toEqual(range(5, 104));
    expect(sub.messageSeqs()).toEqual(range(1, 4));
  });
});

function killAllWebSockets(server: TestServer) {
  for (const socket of server.server.wsServer.clients) socket.terminate();
}
