// A chat load process (worker thread) for `npm run bench:chat`: either reads
// the fake provider directly ("direct", one streaming request) or holds
// `count` Parley subscribers on one session ("parley", raw tRPC frames over
// WebSocket). The parent terminates the worker after its report. Both record each token's arrival time (nowMs(), comparable
// across threads) and decode only with JSON.parse, so the two sides pay the
// same client cost; the bench subtracts one from the other.
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

/** What a worker posts: "ready" once its readers can receive, then one "report" when every reader has the whole answer. */
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

async function readDirect(providerUrl: string, warmUpUrl: string) {
  await (await fetch(warmUpUrl)).arrayBuffer();
  port?.postMessage({ type: "ready" } satisfies ChatReaderMessage);
  // Wait for the go-ahead, so both sides start from an idle worker.
  await new Promise((resolve) => port?.once("message", resolve));
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
  port?.postMessage({ type: "report", arrivals: [arrivals], requestedAt } satisfies ChatReaderMessage);
}

/** One subscriber's frames: tRPC's `{ id, result: { type, data: { json: { id, data: event } } } }`. */
interface Frame {
  error?: { message?: string };
  result?: {
    type?: string;
    data?: { json?: { data?: { type?: string; offset?: number; text?: string; message?: { role?: string; status?: string } } } };
  };
}

async function subscribeParley(wsPort: number, sessionId: string, count: number) {
  const readers: number[][] = [];
  let finished = 0;
  const subscribed = Array.from(
    { length: count },
    () =>
      new Promise<void>((resolve, reject) => {
        const arrivals: number[] = [];
        readers.push(arrivals);
        let done = false;
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
          if (!event || done) return;
          if ((event.type === "chat.delta" || event.type === "chat.snapshot") && event.offset !== undefined && event.text !== undefined) {
            recordUpTo(arrivals, event.offset + event.text.length, now);
          } else if (event.type === "message.updated" && event.message?.role === "assistant" && event.message.status !== "streaming") {
            done = true;
            if (++finished === count) {
              port?.postMessage({ type: "report", arrivals: readers } satisfies ChatReaderMessage);
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
