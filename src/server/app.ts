// The Parley server: one HTTP server on one port serving /api/health,
// /api/trpc (queries, mutations, SSE subscriptions), the WebSocket endpoint
// /api/trpc-ws (every procedure type) and, when enabled, the Next.js app.
import http from "node:http";
import type { Duplex } from "node:stream";
import { createHTTPHandler } from "@trpc/server/adapters/standalone";
import { applyWSSHandler } from "@trpc/server/adapters/ws";
import { WebSocketServer, type WebSocket } from "ws";
import type { Logger } from "pino";
import { Auth } from "./auth";
import { originAllowed, setSecurityHeaders, SIGNIN_PATHS, SIGNOUT_PATH } from "./auth/http";
import { SLOT_RETRY_AFTER_MS } from "./auth/limits";
import type { Bus } from "./bus/bus";
import { MemoryBus } from "./bus/memory";
import { RedisBus } from "./bus/redis";
import { createChat } from "./chat";
import { createContextFactory, type ServerDeps } from "./context";
import { closeDb, createDb } from "./db";
import { createMemory } from "./memory";
import { createLiveHub, METRICS_PATH } from "./metrics";
import type { Config } from "./env";
import { createLogger } from "./log";
import { FaultInjector, parseFaults } from "./faults";
import { wireEncoder } from "./wire";
import { appRouter } from "./routers/_app";
import { healthReport } from "./services/health";
import { PARLEY_VERSION } from "./version";

export const TRPC_HTTP_PATH = "/api/trpc";
export const TRPC_WS_PATH = "/api/trpc-ws";
export const HEALTH_PATH = "/api/health";

/** The part of Next.js the server needs: a request handler, prepared. */
export interface NextApp {
  handle: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;
  /** Next owns upgrades on its own paths (dev HMR at /_next/hmr). */
  ownsUpgrades: boolean;
  close: () => Promise<void>;
}

export interface ParleyServer {
  /** `http://host:port`, with the real port when PORT=0. */
  url: string;
  port: number;
  deps: ServerDeps;
  /** First start with auth on and no principal yet: the admin's one-time sign-in URL (print it); null otherwise. */
  signInUrl: string | null;
  /** The WebSocket server (its `clients` are the open connections). */
  wsServer: WebSocketServer;
  /** PARLEY_FAULTS in effect (with counts of what it did), or null. */
  faults: FaultInjector | null;
  /** Graceful stop: reconnect notice to WS clients, stop accepting, finish within SHUTDOWN_TIMEOUT_MS. */
  close: () => Promise<void>;
}

export interface StartOptions {
  config: Config;
  /** Build the Next.js app once the port is known; omit for an API-only server (tests). */
  createNext?: (opts: { port: number; log: Logger }) => Promise<NextApp>;
  log?: Logger;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
  res.end(text);
}

/** Answers an upgrade request with `status` and closes the socket; `headers` are added (Retry-After on 429). */
function rejectUpgrade(socket: Duplex, status: number, reason: string, headers: Record<string, string> = {}) {
  const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("");
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\n${extra}Content-Length: 0\r\n\r\n`);
}

/** PARLEY_FAULTS, validated; refused in production unless PARLEY_FAULTS_IN_PRODUCTION=yes. */
function createFaults(config: Config, log: Logger): FaultInjector | null {
  if (!config.PARLEY_FAULTS) return null;
  if (config.NODE_ENV === "production" && config.PARLEY_FAULTS_IN_PRODUCTION !== "yes") {
    throw new Error("PARLEY_FAULTS is set but NODE_ENV is production: set PARLEY_FAULTS_IN_PRODUCTION=yes if you really mean to break production traffic");
  }
  const spec = parseFaults(config.PARLEY_FAULTS);
  log.warn({ faults: spec }, "fault injection is ON: subscription frames will be dropped, duplicated, delayed or disconnected on purpose");
  return new FaultInjector(spec);
}

export async function startServer(options: StartOptions): Promise<ParleyServer> {
  const { config } = options;
  const log = options.log ?? createLogger(config.LOG_LEVEL);
  const db = await createDb(config.DATABASE_URL);
  const busLog = log.child({ component: "bus" });
  // REDIS_URL selects the Redis bus (scale-out); the in-process bus otherwise.
  const bus: Bus = config.REDIS_URL
    ? await RedisBus.connect({ url: config.REDIS_URL, log: busLog })
    : new MemoryBus(busLog);

  const auth = new Auth({ db, bus, log, config });
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.WS_MAX_PAYLOAD_BYTES });
  // Metrics, typed events, presence, connection registry (issue 4). Instruments `bus` in place;
  // its connection listener must run before tRPC's, hence prepend.
  const live = createLiveHub({ config, db, bus, log });
  wss.prependListener("connection", live.onConnection);
  // Memory and search (src/server/memory), before chat: its assistants read memories.
  const memory = createMemory({ db, bus, log, config, agentEvents: live.deps.agentEvents });
  const chat = await createChat({ db, bus, log, config, memory });
  const faults = createFaults(config, log);
  // Installed first, so the faulty send sits closest to the socket (the registry still counts what was meant to go out).
  if (faults) wss.prependListener("connection", (socket: WebSocket) => faults.attach(socket));
  live.deps.metrics.setActiveChatRuns(() => chat.activeCount);
  chat.onRunFinished((figures) => live.deps.metrics.recordChatRun(figures));
  const deps: ServerDeps = {
    config,
    db,
    bus,
    log,
    runtime: { version: PARLEY_VERSION, startedAt: new Date(), connectionCount: () => wss.clients.size },
    ...live.deps,
    chat,
    auth,
    memory,
  };
  const createContext = createContextFactory(deps);
  // Issue 6: a revoked token closes that principal's sockets (its streams also end through their guards).
  const stopRevocations = auth.watch.on((change) => {
    if (change.type !== "token.revoked") return;
    const revoked = live.deps.connections.list().filter((c) => c.principal.tokenId === change.tokenId);
    for (const c of revoked) live.deps.connections.disconnect(c.connectionId, "credentials revoked");
    const closed = revoked.length;
    if (closed > 0) log.info({ tokenId: change.tokenId, closed }, "closed connections of a revoked token");
  });

  const trpcHttp = createHTTPHandler({
    router: appRouter,
    basePath: `${TRPC_HTTP_PATH}/`,
    // The same bound as a WebSocket frame: a bigger body is answered 413 PAYLOAD_TOO_LARGE before it is read whole.
    maxBodySize: config.WS_MAX_PAYLOAD_BYTES,
    createContext: ({ req }) => createContext("http", req),
  });
  const wssHandler = applyWSSHandler({
    wss,
    router: appRouter,
    experimental_encoder: wireEncoder,
    createContext: async ({ req, info }) => {
      const ctx = await createContext("ws", req, info.connectionParams);
      live.bindConnection(req, ctx.connectionId, ctx.principal);
      // MAX_CONNECTIONS_PER_PRINCIPAL: the connection stays open but every call is refused (throwing here would loop reconnects).
      const release = auth.limits.connectionsByPrincipal.take(ctx.principal.id);
      // `on`, not `once` (here and at the upgrade): 'close' comes once, and once() adds two objects per socket.
      if (release) req.socket.on("close", release);
      else ctx.connectionRefusal = auth.limits.connectionRefusal();
      return ctx;
    },
    keepAlive: { enabled: true, pingMs: config.WS_PING_INTERVAL_MS, pongWaitMs: config.WS_PONG_TIMEOUT_MS },
  });
  wss.on("connection", (socket) => {
    // A frame over maxPayload or a protocol error closes only this socket.
    socket.on("error", (err) => log.warn({ err: err.message }, "websocket closed on error"));
  });

  let nextApp: NextApp | undefined;
  /** Next being prepared: the server listens first (Next needs the port), so a page request can come before it is ready. */
  let nextReady: Promise<NextApp> | undefined;
  const server = http.createServer((req, res) => {
    const pathname = (req.url ?? "/").split("?", 1)[0] ?? "/";
    setSecurityHeaders(res, pathname);
    if ((SIGNIN_PATHS.has(pathname) && /[?&]token=/.test(req.url ?? "")) || pathname === "/api/auth/signin" || pathname === SIGNOUT_PATH) {
      const url = new URL(req.url ?? "/", "http://localhost");
      (pathname === SIGNOUT_PATH ? auth.handleSignOut(req, res) : auth.handleSignIn(req, res, url)).catch((err: unknown) => {
        log.error({ err }, "sign-in request failed");
        if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
      });
      return;
    }
    if (pathname === HEALTH_PATH) {
      healthReport(deps).then(
        (report) => sendJson(res, report.status === "ok" ? 200 : 503, report),
        (err: unknown) => {
          log.error({ err }, "health check failed");
          sendJson(res, 500, { status: "error" });
        },
      );
      return;
    }
    if (pathname === METRICS_PATH) {
      live.serveMetrics(req, res);
      return;
    }
    if (pathname === TRPC_HTTP_PATH || pathname.startsWith(`${TRPC_HTTP_PATH}/`)) {
      trpcHttp(req, res);
      return;
    }
    if (nextReady) {
      // Until Next is ready, page requests wait for it instead of getting a 404.
      (nextApp ? nextApp.handle(req, res) : nextReady.then((app) => app.handle(req, res))).catch((err: unknown) => {
        log.error({ err, url: req.url }, "next request failed");
        if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
      });
      return;
    }
    sendJson(res, 404, { error: `no route for ${pathname}` });
  });

  server.on("upgrade", (req, socket, head) => {
    const pathname = (req.url ?? "/").split("?", 1)[0];
    if (pathname === TRPC_WS_PATH) {
      // Another site's page must not ride a user's cookie (issue 6): browsers always send Origin.
      if (!originAllowed(config, req)) {
        log.warn({ origin: req.headers.origin }, "websocket upgrade refused: origin not allowed");
        rejectUpgrade(socket, 403, "Forbidden");
        return;
      }
      const address = req.socket.remoteAddress ?? "unknown";
      const release = auth.limits.connectionsByAddress.take(address);
      if (!release) {
        // MAX_CONNECTIONS_PER_ADDRESS: no tRPC connection yet, so the retry-after is the HTTP header (whole seconds).
        rejectUpgrade(socket, 429, "Too Many Requests", { "Retry-After": String(Math.ceil(SLOT_RETRY_AFTER_MS / 1_000)) });
        return;
      }
      socket.on("close", release); // also when the handshake fails
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
      return;
    }
    // Next answers its own upgrades (dev HMR) with its own listener.
    if (!nextApp?.ownsUpgrades) rejectUpgrade(socket, 404, "Not Found");
  });

  // Tracked so shutdown can destroy what is still open at the deadline.
  const sockets = new Set<Duplex>();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.PORT, config.HOST, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.PORT;
  const host = config.HOST.includes(":") ? `[${config.HOST}]` : config.HOST;
  const url = `http://${host}:${port}`;
  live.start(port, PARLEY_VERSION);
  auth.start();
  memory.start();
  if (options.createNext) {
    nextReady = options.createNext({ port, log });
    nextReady.catch(() => undefined); // a failure is thrown by the await below, not reported as unhandled meanwhile
  }
  const signInUrl = await auth.firstStart(url);
  if (nextReady) nextApp = await nextReady;

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      const deadline = Date.now() + config.SHUTDOWN_TIMEOUT_MS;
      log.info("shutting down: asking clients to reconnect");
      wssHandler.broadcastReconnectNotification();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Give clients a moment to leave on their own, then end what remains.
      const drainMs = Math.min(1_000, config.SHUTDOWN_TIMEOUT_MS / 4);
      await Promise.race([closed, new Promise((r) => setTimeout(r, drainMs))]);
      for (const client of wss.clients) client.terminate();
      for (const socket of sockets) socket.destroy();
      await Promise.race([closed, new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now() - 500)))]);
      wss.close();
      await nextApp?.close().catch(() => undefined);
      stopRevocations();
      auth.close();
      faults?.close();
      await memory.close(); // its last coalesced events reach the event log before that closes
      await live.close();
      await chat.close(); // running answers end as "interrupted", saved before the database closes
      await bus.close();
      await closeDb(db);
      log.info("shut down");
    })();
    return closing;
  };

  return { url, port, deps, signInUrl, wsServer: wss, faults, close };
}
