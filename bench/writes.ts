// Persisted writes by concurrent clients, delivered to one subscriber, over
// Parley's WebSocket (raw tRPC mutations) and over HTTP (the SDK's batched
// link); then a resume of everything written. Used by the writes/resume
// scenarios (bench/run.ts) and by the scale-out scenario on PostgreSQL.
import { createParleyClient } from "@parley/client";
import { SubscriberPool } from "./load/pool";
import { createParleySession, openWsWriter } from "./publisher";
import { nowMs, payload, PAYLOAD_BYTES } from "./targets";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Post `writes` messages into a new session (half over each transport), then resume all of them; the rates and the resume time. */
export async function writeThenResume(port: number, title: string, writes: number, writers: number) {
  const url = `http://127.0.0.1:${port}`;
  const sessionId = await createParleySession(port, title);
  const pool = await SubscriberPool.open({ target: "parley", port, channel: sessionId, subscribers: 1, workers: 1, recordLatency: false });
  // Half of the writes over each transport; the resume reads all of them.
  const perTransport = Math.floor(writes / 2);
  const perWriter = Math.ceil(perTransport / writers);
  /** Post `perTransport` messages through `post` from `writers` concurrent clients; persisted-and-delivered per second. */
  const measure = async (post: (writer: number) => Promise<void>) => {
    const delivered = (await pool.report()).received;
    const started = nowMs();
    await Promise.all(
      Array.from({ length: writers }, async (_, i) => {
        for (let k = 0; k < perWriter && i * perWriter + k < perTransport; k++) await post(i);
      }),
    );
    let lastProgress = nowMs();
    let seen = 0;
    for (;;) {
      const report = await pool.report();
      if (report.received - delivered >= perTransport) break;
      if (report.received > seen) [seen, lastProgress] = [report.received, nowMs()];
      if (nowMs() - lastProgress > 30_000) throw new Error(`writes: the subscriber stalled at ${seen - delivered} of ${perTransport} deliveries`);
      await sleep(5);
    }
    return perTransport / ((nowMs() - started) / 1000);
  };
  const wsWriters = await Promise.all(Array.from({ length: writers }, () => openWsWriter(port)));
  const wsPerSecond = await measure((i) => wsWriters[i]?.post(sessionId, payload(PAYLOAD_BYTES)) ?? Promise.resolve());
  for (const w of wsWriters) w.close();
  const httpWriters = Array.from({ length: writers }, () => createParleyClient({ url }));
  const httpPerSecond = await measure(async (i) => {
    await httpWriters[i]?.api.message.post.mutate({ sessionId, content: payload(PAYLOAD_BYTES) });
  });
  await Promise.all(httpWriters.map((w) => w.close()));
  await pool.close();
  const written = 2 * perTransport;

  // Resume: a client that has seen nothing of the stream reconnects with lastEventId "0".
  const reader = createParleyClient({ url });
  const resumeStarted = nowMs();
  await new Promise<void>((resolve, reject) => {
    let count = 0;
    const sub = reader.api.session.events.subscribe(
      { sessionId, lastEventId: "0" },
      {
        onData: () => {
          if (++count === written) {
            sub.unsubscribe();
            resolve();
          }
        },
        onError: reject,
      },
    );
  });
  const resumeMs = nowMs() - resumeStarted;
  await reader.close();
  return { wsPerSecond, httpPerSecond, resumeMs };
}

