// Chat runs feed the live metrics: active runs while streaming, then time to
// first token and tokens/s of recent runs.
import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestServer, waitFor, type TestServer } from "./helpers/server";
import { collectSessionEvents } from "./helpers/stream";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ METRICS_SAMPLE_MS: "100" });
});
afterAll(async () => {
  await t.close();
});

it("reports a finished run's time to first token and tokens/s in metrics.snapshot", async () => {
  const c = t.client();
  const session = await c.api.session.create.mutate({ title: "metrics" });
  await c.api.message.post.mutate({ sessionId: session.id, content: "the launch date is March 3" });
  const sub = collectSessionEvents(c, session.id);
  const sent = await c.api.chat.send.mutate({ sessionId: session.id, content: "when is the launch date?" });
  await waitFor(
    () => sub.events.some((e) => e.type === "message.updated" && e.message.id === sent.assistantMessageId && e.message.status !== "streaming"),
    "the answer to finish",
  );
  await expect
    .poll(async () => (await c.api.metrics.snapshot.query())?.hub.chatTtftMs ?? null, { timeout: 5_000 })
    .not.toBeNull();
});
