// The events stream treats a jump in ids on the bus as a loss (another
// instance, a Redis outage) and re-reads the gap from the database.
import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestServer, waitFor, type TestServer } from "./helpers/server";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.close();
});

it("delivers an event that was persisted but never published, once the next live event reveals the gap", async () => {
  const c = t.client();
  const received: number[] = [];
  let started = false;
  const sub = c.api.events.subscribe.subscribe(
    { replay: 0 },
    { onStarted: () => (started = true), onData: ({ id }) => received.push(Number(id)) },
  );
  await waitFor(() => started, "subscription started");
  await new Promise((r) => setTimeout(r, 200)); // the stream reads the newest id after starting
  await c.api.events.publish.mutate({ type: "system.info", data: { message: "first" } });
  await waitFor(() => received.length === 1, "first event");

  // Written by "another instance" whose publish was lost.
  const lost = await t.server.deps.db.event.create({
    data: { type: "system.info", payload: { message: "lost on the bus", level: "info" }, source: "elsewhere" },
  });
  await c.api.events.publish.mutate({ type: "system.info", data: { message: "third" } });

  await waitFor(() => received.length === 3, "the lost event and the next one");
  expect(received).toEqual([received[0], lost.id, lost.id + 1]);
  sub.unsubscribe();
});
