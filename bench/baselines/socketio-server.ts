// Baseline: Socket.IO 4 with rooms, what most Node projects use. With
// REDIS_URL set it runs as one of several instances with
// `@socket.io/redis-adapter` (what Socket.IO users pick to scale out), on
// ioredis clients; PORT picks its port (default: any free one).
//   emit("join", room)          join a room (acknowledged)
//   emit("pub", room, text)     io.to(room).emit("msg", text)
import http from "node:http";
import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";
import { Server } from "socket.io";

const server = http.createServer();
const io = new Server(server, { transports: ["websocket"], perMessageDeflate: false });
const redisUrl = process.env.REDIS_URL;
if (redisUrl) {
  const pub = new Redis(redisUrl);
  io.adapter(createAdapter(pub, pub.duplicate()));
}

io.on("connection", (socket) => {
  socket.on("join", (room: string, ack?: () => void) => {
    void socket.join(room);
    ack?.();
  });
  socket.on("pub", (room: string, text: string) => {
    io.to(room).emit("msg", text);
  });
});

server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  const address = server.address();
  if (address && typeof address === "object") console.log(`LISTENING ${address.port}`);
});

// Exit normally on SIGTERM (so `--cpu-prof` can write its profile).
process.on("SIGTERM", () => process.exit(0));
