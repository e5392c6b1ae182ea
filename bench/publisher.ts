// One publishing connection per target, fire-and-forget like a real producer.
import { io, type Socket } from "socket.io-client";
import WebSocket from "ws";
import { speaksPlainWs, type TargetName } from "./targets";

export interface Publisher {
  publish: (text: string) => void;
  close: () => void;
}

/** Create a Parley session over HTTP and return its id (the channel). */
export async function createParleySession(port: number, title: string): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/api/trpc/session.create`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ json: { title } }),
  });
  const body = (await response.json()) as { result?: { data?: { json?: { id?: string } } } };
  const id = body.result?.data?.json?.id;
  if (!id) throw new Error(`session.create failed: ${JSON.stringify(body)}`);
  return id;
}

export async function openPublisher(target: TargetName, port: number, channel: string): Promise<Publisher> {
  if (target === "socketio") {
    const socket: Socket = io(`http://127.0.0.1:${port}`, { transports: ["websocket"], reconnection: false });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("connect_error", reject);
    });
    return { publish: (text) => socket.emit("pub", channel, text), close: () => socket.disconnect() };
  }
  const url = speaksPlainWs(target) ? `ws://127.0.0.1:${port}` : `ws://127.0.0.1:${port}/api/trpc-ws`;
  const socket = new WebSocket(url, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  let id = 0;
  return {
    publish: speaksPlainWs(target)
        ? (text) => socket.send(JSON.stringify({ pub: channel, data: text }))
        : (text) =>
            socket.send(
              JSON.stringify({
                id: ++id,
                method: "mutation",
                params: { path: "message.post", input: { json: { sessionId: channel, content: text, author: "bench" } } },
              }),
            ),
    close: () => socket.terminate(),
  };
}

/** A client that posts over Parley's WebSocket and waits for each acknowledgement (a tRPC mutation). */
export interface Writer {
  post: (sessionId: string, content: string) => Promise<void>;
  close: () => void;
}

export async function openWsWriter(port: number): Promise<Writer> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/api/trpc-ws`, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  let nextId = 0;
  const pending = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  socket.on("message", (data: Buffer) => {
    const text = data.toString();
    if (text === "PING") {
      socket.send("PONG");
      return;
    }
    const reply = JSON.parse(text) as { id?: number; error?: { message?: string } };
    const waiter = typeof reply.id === "number" ? pending.get(reply.id) : undefined;
    if (!waiter || reply.id === undefined) return;
    pending.delete(reply.id);
    if (reply.error) waiter.reject(new Error(reply.error.message ?? "message.post failed"));
    else waiter.resolve();
  });
  return {
    post: (sessionId, content) =>
      new Promise<void>((resolve, reject) => {
        const id = ++nextId;
        pending.set(id, { resolve, reject });
        socket.send(JSON.stringify({ id, method: "mutation", params: { path: "message.post", input: { json: { sessionId, content, author: "bench" } } } }));
      }),
    close: () => socket.terminate(),
  };
}
