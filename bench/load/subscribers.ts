// A load process (worker thread): opens `count` subscriber connections to one
// target, subscribes each to `channel`, then counts deliveries and records
// publish-to-receive latency until told to stop.
import { parentPort, workerData } from "node:worker_threads";
import { io, type Socket } from "socket.io-client";
import WebSocket from "ws";
import { z } from "zod";
import { nowMs, publishTime, TARGETS } from "../targets";

const options = z
  .object({
    target: z.enum(TARGETS),
    port: z.number().int(),
    channel: z.string(),
    count: z.number().int().min(1),
    recordLatency: z.boolean(),
    /** Connect from this loopback address (127.0.0.2, ...), past one address's ephemeral ports. */
    localAddress: z.ipv4().optional(),
  })
  .parse(workerData);

const port = parentPort;
if (!port) throw new Error("must run as a worker");

let received = 0;
let latencies: number[] = [];
const closers: (() => void)[] = [];

function onDelivery(frame: string) {
  const sent = publishTime(frame);
  if (sent === null) return;
  received++;
  if (options.recordLatency) latencies.push(nowMs() - sent);
}

function connectWs(url: string, subscribeFrame: string, isSubscribed: (frame: string) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false, ...(options.localAddress ? { localAddress: options.localAddress } : {}) });
    let subscribed = false;
    socket.on("open", () => socket.send(subscribeFrame));
    socket.on("message", (data: Buffer) => {
      const frame = data.toString();
      // tRPC's keep-alive: a subscriber that does not answer is closed after WS_PONG_TIMEOUT_MS.
      if (frame === "PING") {
        socket.send("PONG");
        return;
      }
      if (!subscribed) {
        if (isSubscribed(frame)) {
          subscribed = true;
          resolve();
        }
        return;
      }
      onDelivery(frame);
    });
    socket.on("error", reject);
    closers.push(() => socket.terminate());
  });
}

function connectSocketIo(): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket: Socket = io(`http://127.0.0.1:${options.port}`, { transports: ["websocket"], reconnection: false });
    socket.on("connect", () => socket.emit("join", options.channel, () => resolve()));
    socket.on("msg", (text: string) => onDelivery(text));
    socket.on("connect_error", reject);
    closers.push(() => socket.disconnect());
  });
}

function connectOne(): Promise<void> {
  switch (options.target) {
    case "ws":
    case "wsPrepared":
      return connectWs(`ws://127.0.0.1:${options.port}`, JSON.stringify({ sub: options.channel }), (f) => f.includes("subscribed"));
    case "socketio":
      return connectSocketIo();
    case "parley":
      return connectWs(
        `ws://127.0.0.1:${options.port}/api/trpc-ws`,
        JSON.stringify({
          id: 1,
          method: "subscription",
          params: { path: "session.events", input: { json: { sessionId: options.channel } } },
        }),
        (f) => f.includes('"started"'),
      );
  }
}

const started = nowMs();
const BATCH = 200;
for (let i = 0; i < options.count; i += BATCH) {
  await Promise.all(Array.from({ length: Math.min(BATCH, options.count - i) }, () => connectOne()));
}
port.postMessage({ type: "ready", connectMs: nowMs() - started });

port.on("message", (message: { type: "report" | "close" }) => {
  if (message.type === "report") {
    port.postMessage({ type: "report", received, latencies });
    latencies = [];
    return;
  }
  for (const close of closers) close();
  port.postMessage({ type: "closed" });
  port.close();
});
