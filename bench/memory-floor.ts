// The memory floor of one subscribed WebSocket connection, without Parley:
// stock tRPC 11's WebSocket adapter with a minimal router (no transformer, one
// subscription per connection that waits for its abort), or a raw `ws` server
// that answers one frame. The clients run in a child process, so this process's
// heap and RSS hold only the server side. What docs/performance.md compares
// Parley's per-connection memory with (tRPC's adapter is Parley's floor while
// it holds each subscription).
//   node --expose-gc --import tsx bench/memory-floor.ts trpc|ws [connections]
import http from "node:http";
import { initTRPC } from "@trpc/server";
import { applyWSSHandler } from "@trpc/server/adapters/ws";
import { WebSocketServer } from "ws";
import { z } from "zod";
const kind = process.argv[2] ?? "trpc";
const n = Number(process.argv[3] ?? 2000);
const t = initTRPC.create();
const router = t.router({
  events: t.procedure.input(z.object({ sessionId: z.string() })).subscription(async function* ({ signal }) {
    await new Promise<void>((resolve) => signal?.addEventListener("abort", () => resolve(), { once: true }));
    yield 1;
  }),
});
const server = http.createServer();
const wss = new WebSocketServer({ server });
if (kind === "trpc") applyWSSHandler({ wss, router, keepAlive: { enabled: true, pingMs: 30_000, pongWaitMs: 10_000 } });
else wss.on("connection", (socket) => socket.on("message", () => socket.send('{"subscribed":true}')));
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const port = (server.address() as { port: number }).port;
// the clients run in a child process so that they do not count in this heap
const { spawn } = await import("node:child_process");
const clientSrc = `
const WebSocket = require(${JSON.stringify((await import("node:module")).createRequire(import.meta.url).resolve("ws"))});
const n = ${n}; let done = 0; const kind = ${JSON.stringify(kind)};
(async () => { for (let i = 0; i < n; i += 200) await Promise.all(Array.from({ length: Math.min(200, n - i) }, () => new Promise((res) => {
  const s = new WebSocket("ws://127.0.0.1:${port}", { perMessageDeflate: false });
  s.on("open", () => s.send(kind === "trpc" ? JSON.stringify({ id: 1, method: "subscription", params: { path: "events", input: { sessionId: "x" } } }) : "{}"));
  s.on("message", (d) => { const f = d.toString(); if (f === "PING") { s.send("PONG"); return; } if (f.includes("started") || f.includes("subscribed")) res(); });
}))); process.send("ready"); })();`;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");
const settle = async () => { for (let i = 0; i < 4; i++) { gc(); await new Promise((r) => setTimeout(r, 200)); } };
await settle();
const h0 = process.memoryUsage().heapUsed; const r0 = process.memoryUsage().rss;
const child = spawn(process.execPath, ["-e", clientSrc], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
await new Promise((r) => child.once("message", r));
await new Promise((r) => setTimeout(r, 500));
await settle();
const h1 = process.memoryUsage().heapUsed; const r1 = process.memoryUsage().rss;
console.log(`${kind}: heap per connection ${((h1 - h0) / n / 1024).toFixed(2)} KiB, rss ${((r1 - r0) / n / 1024).toFixed(2)} KiB, clients ${wss.clients.size}`);
child.kill(); process.exit(0);
