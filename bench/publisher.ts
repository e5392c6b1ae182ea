// One publishing connection per target, fire-and-forget like a real producer.
import { io, type Socket } from "socket.io-client";
import WebSocket from "ws";
import type { TargetName } from "./targets";

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
  const url = target === "ws" ? `ws://127.0.0.1:${port}` : `ws://127.0.0.1:${port}/api/trpc-ws`;
  const socket = new WebSocket(url, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  let id = 0;
  return {
    publish:
      target === "ws"
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
