// A subscriber that cannot keep up gets chat deltas merged into fewer, larger
// ones instead of a queue that grows with every token.
import { afterAll, beforeAll, expect, it } from "vitest";
import type { SessionEvent } from "../src/shared/events";
import { Hub } from "../src/server/realtime/hub";
import { SessionStreams } from "../src/server/realtime/session-stream";
import { SEE_EVERYTHING } from "../src/server/realtime/subscription";
import { sessionChannel } from "../src/server/services/session-log";
import { startTestServer, type TestServer } from "./helpers/server";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.close();
});

it("merges 5,000 queued deltas of one run into one delta, with a queue bound of 10 never overflowing", async () => {
  const { sessionLog, bus, stats, log } = t.server.deps;
  const c = t.client();
  const session = await c.api.session.create.mutate({ title: "slow" });
  const posted = await c.api.message.post.mutate({ sessionId: session.id, content: "first" });
  const controller = new AbortController();
  // Session streams as the server builds them, with a queue bound of 10 and no running answers.
  const streams = new SessionStreams({ hub: new Hub(bus, log, sessionLog, 0), log: sessionLog, runs: { activeRuns: () => [] }, stats, queueLimit: 10, frames: true });
  // No connection (as over SSE): every event is yielded.
  const stream = streams.open({ sessionId: session.id, lastEventId: null, signal: controller.signal, connection: null, authorize: () => Promise.resolve(SEE_EVERYTHING) });
  // The consumer reads one event (subscribed by then), then stalls while 5,000 deltas arrive.
  const first = await stream.next();
  // A tracked envelope is [id, data, marker].
  expect(first.value?.[0]).toBe("1");
  let text = "";
  for (let i = 0; i < 5_000; i++) {
    const piece = `t${i} `;
    bus.publish(sessionChannel(session.id), {
      seq: null,
      event: { type: "chat.delta", runId: "run_x", messageId: posted.id, offset: text.length, text: piece },
    });
    text += piece;
  }
  const second = await stream.next();
  const event: SessionEvent | undefined = second.value?.[1];
  expect(event).toEqual({ type: "chat.delta", runId: "run_x", messageId: posted.id, offset: 0, text });
  controller.abort();
  await stream.return(undefined);
});
