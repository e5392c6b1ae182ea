// Baseline: a plain `ws` broadcast server, the physical limit for WebSocket
// fan-out in Node. Protocol (text frames):
//   {"sub":"<channel>"}                   subscribe this socket
//   {"pub":"<channel>","data":"<text>"}   send <text> to every subscriber, encoded once
import http from "node:http";
import { WebSocketServer, type WebSocket } from "ws";
import { z } from "zod";

const command = z.union([z.object({ sub: z.string() }), z.object({ pub: z.string(), data: z.string() })]);
const channels = new Map<string, Set<WebSocket>>();
const server = http.createServer((_req, res) => res.end("ws baseline"));
const wss = new WebSocketServer({ server });

wss.on("connection", (socket) => {
  socket.on("message", (raw: Buffer) => {
    const parsed = command.safeParse(JSON.parse(raw.toString()));
    if (!parsed.success) return;
    const msg = parsed.data;
    if ("sub" in msg) {
      let set = channels.get(msg.sub);
      if (!set) channels.set(msg.sub, (set = new Set()));
      set.add(socket);
      socket.once("close", () => set.delete(socket));
      socket.send('{"subscribed":true}');
      return;
    }
    for (const subscriber of channels.get(msg.pub) ?? []) subscriber.send(msg.data);
  });
});

server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  if (address && typeof address === "object") console.log(`LISTENING ${address.port}`);
});

// Exit normally on SIGTERM (so `--cpu-prof` can write its profile).
process.on("SIGTERM", () => process.exit(0));
