// Baseline "ws, prepared": the same protocol as ws-server.ts, written the way
// a skilled engineer writes a broadcast server whose only job is fan-out: the
// frame is built once per publish with `ws`'s own framing (header and payload
// in one buffer, the same bytes `send` would write for every subscriber),
// written straight to each subscriber's TCP socket, and every socket written
// in a burst of publishes is corked until the burst ends (one system call per
// socket per burst). No validation library on the publish path. This is the
// physical limit of Node WebSocket fan-out on the machine; ws-server.ts is
// the server as commonly written.
//   {"sub":"<channel>"}                   subscribe this socket
//   {"pub":"<channel>","data":"<text>"}   send <text> to every subscriber
import http from "node:http";
import { createRequire } from "node:module";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";

/** `ws`'s framing (its Sender, which @types/ws does not declare). */
const { Sender } = createRequire(import.meta.url)("ws") as {
  Sender: { frame(data: Buffer, options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean }): Buffer[] };
};
const TEXT = { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false };

const channels = new Map<string, Set<Duplex>>();
const server = http.createServer((_req, res) => res.end("ws prepared baseline"));
// No permessage-deflate: frames go out as built.
const wss = new WebSocketServer({ server, perMessageDeflate: false });

/** Sockets corked in the current burst; uncorked together once it is written. */
let corked: Duplex[] = [];
function uncorkAll() {
  const sockets = corked;
  corked = [];
  for (const socket of sockets) socket.uncork();
}

wss.on("connection", (ws, req) => {
  const tcp = req.socket;
  ws.on("message", (raw: Buffer) => {
    const msg = JSON.parse(raw.toString()) as { sub?: unknown; pub?: unknown; data?: unknown };
    if (typeof msg.sub === "string") {
      const name = msg.sub;
      let set = channels.get(name);
      if (!set) channels.set(name, (set = new Set()));
      set.add(tcp);
      ws.once("close", () => set.delete(tcp));
      ws.send('{"subscribed":true}');
      return;
    }
    if (typeof msg.pub !== "string" || typeof msg.data !== "string") return;
    const subscribers = channels.get(msg.pub);
    if (!subscribers) return;
    const frame = Buffer.concat(Sender.frame(Buffer.from(msg.data), TEXT));
    for (const socket of subscribers) {
      if (!socket.writableCorked) {
        socket.cork();
        if (corked.push(socket) === 1) queueMicrotask(uncorkAll);
      }
      socket.write(frame);
    }
  });
});

server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  if (address && typeof address === "object") console.log(`LISTENING ${address.port}`);
});

// Exit normally on SIGTERM (so `--cpu-prof` can write its profile).
process.on("SIGTERM", () => process.exit(0));
