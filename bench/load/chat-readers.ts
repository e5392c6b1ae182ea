// A chat load process (worker thread) for `npm run bench:chat`: either reads
// the fake provider directly ("direct", one streaming request per "go" from
// the parent) or holds `count` Parley subscribers on one session ("parley",
// raw tRPC frames over WebSocket), reporting each answer. Both record each
// token's arrival time (nowMs(), comparable across threads) and decode only
// with JSON.parse, so the two sides pay the same client cost; the bench
// subtracts one from the other. The parent terminates the worker.
import { parentPort, workerData } from "node:worker_threads";
import { createParser } from "eventsource-parser";
import WebSocket from "ws";
import { z } from "zod";
import { nowMs } from "../targets";

export const chatReaderOptions = z.discriminatedUnion("mode", [
  z.object({
    mode: z.literal("direct"),
    providerUrl: z.string(),
    /** Fetched once before "ready", so fetch's first-use cost is not counted as the provider's TTFT. */
    warmUpUrl: z.string(),
    tokenWidth: z.number().int().min(1),
  }),
  z.object({ mode: z.literal("parley"), port: z.number().int(), sessionId: z.string(), count: z.number().int().min(1), tokenWidth: z.number().int().min(1) }),
]);
export type ChatReaderOptions = z.infer<typeof chatReaderOptions>;

/** What a worker posts: "ready" once its readers can receive, then a "report" per answer, once every reader has all of it. */
export type ChatReaderMessage =
  | { type: "ready" }
  | {
      type: "report";
      /** Per reader: the arrival time (epoch ms) of each token, in order. */
      arrivals: number[][];
      /** Direct mode: when the request was sent (epoch ms). */
      requestedAt?: number;
    };

const options = chatReaderOptions.parse(workerData);
const port = parentPort;
if (!port) throw new Error("must run as a worker");

/** Arrival times for a text that grew to `length` characters at `now`: fixed-width tokens make the count exact. */
function recordUpTo(arrivals: number[], length: number, now: number) {
  for (let i = arrivals.length; i < Math.floor(length / options.tokenWidth); i++) arrivals.push(now);
}

/** One streaming request to the fake provider, timed. */
async function requestOnce(providerUrl: string): Promise<Extract<ChatReaderMessage, { type: "report" }>> {
  const arrivals: number[] = [];
  let length = 0;
  const parser = createParser({
    onEvent: (event) => {
      if (event.data === "[DONE]") return;
      const now = nowMs();
      const chunk = JSON.parse(event.data) as { choices?: Array<{ delta?: { content?: string } }> };
      const text = chunk.choices?.[0]?.delta?.content;
      if (!text) return;
      length += text.length;
      recordUpTo(arrivals, length, now);
    },
  });
  const requestedAt = nowMs();
  const response = await fetch(`${providerUrl}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "fake", stream: true, messages: [{ role: "user", content: "go" }] }),
  });
  const reader = response.body?.getReader();
  if (!reader) throw new Error("the fake provider answered without a body");
  const decoder = new TextDecoder();
  for (let next = await reader.read(); !next.done; next = await reader.read()) parser.feed(decoder.decode(next.value, { stream: true }));
  return { type: "report", arrivals: [arrivals], requestedAt };
}

/** Direct: one request per "go" from the parent (sent once the previous report arrived), one report each. */
async function readDirect(providerUrl: string, warmUpUrl: string) {
  await (await fetch(warmUpUrl)).arrayBuffer();
  port?.on("message", () => void requestOnce(providerUrl).then((report) => port.postMessage(report)));
  port?.postMessage({ type: "ready" } satisfies ChatReaderMessage);
}

/** One subscriber's frames: tRPC's `{ id, result: { type, data: { json: { id, data: event } } } }`. */
interface Frame {
  error?: { message?: string };
  result?: {
    type?: string;
    data?: {
      json?: {
        data?: { type?: string; messageId?: string; offset?: number; text?: string; message?: { id?: string; role?: string; status?: string } };
      };
    };
  };
}

/** Parley: `count` subscribers on one session; a report per answer, once every subscriber has its final message. */
async function subscribeParley(wsPort: number, sessionId: string, count: number) {
  /** Per answer (assistant message id): each subscriber's arrivals, and how many have the final message. */
  const answers = new Map<string, { arrivals: number[][]; finished: number }>();
  const answer = (messageId: string) => {
    let entry = answers.get(messageId);
    if (!entry) {
      entry = { arrivals: Array.from({ length: count }, () => []), finished: 0 };
      answers.set(messageId, entry);
    }
    return entry;
  };
  const subscribed = Array.from(
    { length: count },
    (_, reader) =>
      new Promise<void>((resolve, reject) => {
        const socket = new WebSocket(`ws://127.0.0.1:${wsPort}/api/trpc-ws`, { perMessageDeflate: false });
        socket.on("open", () =>
          socket.send(JSON.stringify({ id: 1, method: "subscription", params: { path: "session.events", input: { json: { sessionId } } } })),
        );
        socket.on("message", (data: Buffer) => {
          const now = nowMs();
          const text = data.toString();
          // tRPC's keep-alive: a subscriber that does not answer is closed after WS_PONG_TIMEOUT_MS.
          if (text === "PING") {
            socket.send("PONG");
            return;
          }
          const frame = JSON.parse(text) as Frame;
          if (frame.error) reject(new Error(`session.events failed: ${frame.error.message ?? text}`));
          const result = frame.result;
          if (result?.type === "started") {
            resolve();
            return;
          }
          const event = result?.data?.json?.data;
          if (!event) return;
          if ((event.type === "chat.delta" || event.type === "chat.snapshot") && event.messageId && event.offset !== undefined && event.text !== undefined) {
            const arrivals = answer(event.messageId).arrivals[reader];
            if (arrivals) recordUpTo(arrivals, event.offset + event.text.length, now);
          } else if (event.type === "message.updated" && event.message?.id && event.message.role === "assistant" && event.message.status !== "streaming") {
            const entry = answer(event.message.id);
            if (++entry.finished === count) {
              answers.delete(event.message.id);
              port?.postMessage({ type: "report", arrivals: entry.arrivals } satisfies ChatReaderMessage);
            }
          }
        });
        socket.on("error", reject);
      }),
  );
  await Promise.all(subscribed);
  port?.postMessage({ type: "ready" } satisfies ChatReaderMessage);
}

if (options.mode === "direct") await readDirect(options.providerUrl, options.warmUpUrl);
else await subscribeParley(options.port, options.sessionId, options.count);
