// The Parley server: one HTTP server on one port serving /api/health,
// /api/trpc (queries, mutations, SSE subscriptions), the WebSocket endpoint
// /api/trpc-ws (every procedure type) and, when enabled, the Next.js app.
import http from "node:http";
import type { Duplex } from "node:stream";
import { createHTTPHandler } from "@trpc/server/adapters/standalone";
import type { Logger } from "pino";
import { originAllowed, sendText, setSecurityHeaders, SIGNIN_PATH, SIGNOUT_PATH } from "./auth/http";
import { SLOT_RETRY_AFTER_MS } from "./auth/limits";
import { composeServer } from "./compose";
import { createContextFactory, type ServerDeps } from "./context";
import type { Config } from "./env";
import { createLogger } from "./log";
import { METRICS_PATH } from "./metrics/prometheus";
import { WebSocketEndpoint } from "./realtime/endpoint";
import type { FaultInjector } from "./realtime/faults";
import { appRouter } from "./routers/_app";
import { healthReport } from "./services/health";
import { createHttpCallHandler } from "./http-calls";

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
  wsServer: WebSocketEndpoint<typeof appRouter>["server"];
  /** PARLEY_FAULTS in effect (with counts of what it did), or null. */
  faults: FaultInjector | null;
  /**
   * Resolves once the web app (Next.js) is prepared; rejects if it cannot be.
   * The API does not wait for it: `startServer` resolves as soon as the
   * database and the bus are ready and the port listens (page requests that
   * come earlier wait for Next). Resolved at once without a web app.
   */
  webReady: Promise<void>;
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

export async function startServer(options: StartOptions): Promise<ParleyServer> {
  const { config } = options;
  const log = options.log ?? createLogger(config.LOG_LEVEL);
  let endpoint: WebSocketEndpoint<typeof appRouter> | null = null;
  const parts = await composeServer(config, log, () => endpoint?.size ?? 0);
  const { deps, faults, prometheus } = parts;
  const { auth, connections } = deps;
  const createContext = createContextFactory(deps);

  const trpcHandler = createHTTPHandler({
    router: appRouter,
    basePath: `${TRPC_HTTP_PATH}/`,
    // The same bound as a WebSocket frame: a bigger body is answered 413 PAYLOAD_TOO_LARGE before it is read whole.
    maxBodySize: config.WS_MAX_PAYLOAD_BYTES,
    createContext: ({ req }) => createContext("http", req),
  });
  // Plain queries and mutations without tRPC's Fetch adaptation; the rest (SSE, streams) through tRPC's handler.
  const trpcHttp =
    config.HTTP_DIRECT_CALLS === "on"
      ? createHttpCallHandler({
          router: appRouter,
          basePath: `${TRPC_HTTP_PATH}/`,
          maxBodySize: config.WS_MAX_PAYLOAD_BYTES,
          createContext: (req) => createContext("http", req),
          fallback: trpcHandler,
        })
      : trpcHandler;
  const ws = new WebSocketEndpoint({
    router: appRouter,
    connections,
    createContext: async (req, connection, connectionParams) => {
      const ctx = await createContext("ws", req, connectionParams, connection);
      if (connection) connections.bind(connection, ctx.connectionId, ctx.principal);
      // MAX_CONNECTIONS_PER_PRINCIPAL: the connection stays open but every call is refused (throwing here would loop reconnects).
      const release = auth.limits.connectionsByPrincipal.take(ctx.principal.id);
      // `on`, not `once` (here and at the upgrade): 'close' comes once, and once() adds two objects per socket.
      if (release) req.socket.on("close", release);
      else ctx.connectionRefusal = auth.limits.connectionRefusal();
      return ctx;
    },
    maxPayload: config.WS_MAX_PAYLOAD_BYTES,
    keepAlive: { pingMs: config.WS_PING_INTERVAL_MS, pongWaitMs: config.WS_PONG_TIMEOUT_MS },
    log,
  });
  endpoint = ws;

  let nextApp: NextApp | undefined;
  /**
   * Next being prepared: the server listens first (Next needs the port), and prepares Next on the first
   * page request or WEB_PREPARE_DELAY_MS later (`web()`), so a page request can come before it is ready.
   */
  let nextReady: Promise<NextApp> | undefined;
  let prepareNext: (() => Promise<NextApp>) | undefined;
  let announceNext: ((ready: Promise<NextApp>) => void) | undefined;
  const nextStarted = new Promise<NextApp>((resolve) => (announceNext = resolve));
  const web = (): Promise<NextApp> | undefined => {
    if (!nextReady && prepareNext) {
      nextReady = prepareNext();
      nextReady.catch(() => undefined); // a failure reaches the caller through webReady, not as unhandled meanwhile
      announceNext?.(nextReady);
    }
    return nextReady;
  };
  const server = http.createServer((req, res) => {
    const pathname = (req.url ?? "/").split("?", 1)[0] ?? "/";
    setSecurityHeaders(res, pathname);
    // DNS rebinding: only the host names this server is for, whatever the path (auth/hosts.ts).
    if (!auth.hosts.allows(req.headers.host)) {
      sendText(res, 421, auth.hosts.refusal(req.headers.host));
      return;
    }
    if (pathname === SIGNIN_PATH || pathname === SIGNOUT_PATH) {
      (pathname === SIGNOUT_PATH ? auth.handleSignOut(req, res) : auth.handleSignIn(req, res)).catch((err: unknown) => {
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
      prometheus.serve(req, res);
      return;
    }
    if (pathname === TRPC_HTTP_PATH || pathname.startsWith(`${TRPC_HTTP_PATH}/`)) {
      // PARLEY_ALLOWED_ORIGINS: CORS headers, and preflights answered here (auth/cors.ts).
      if (auth.cors.handle(req, res, auth.proxies.clientOf(req).secure)) return;
      trpcHttp(req, res);
      return;
    }
    const ready = web();
    if (ready) {
      // Until Next is ready, page requests wait for it instead of getting a 404.
      (nextApp ? nextApp.handle(req, res) : ready.then((app) => app.handle(req, res))).catch((err: unknown) => {
        log.error({ err, url: req.url }, "next request failed");
        if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
      });
      return;
    }
    sendJson(res, 404, { error: `no route for ${pathname}` });
  });

  server.on("upgrade", (req, socket, head) => {
    const pathname = (req.url ?? "/").split("?", 1)[0];
    if (!auth.hosts.allows(req.headers.host)) {
      log.debug({ host: req.headers.host }, "upgrade refused: host not allowed (421)");
      rejectUpgrade(socket, 421, "Misdirected Request");
      return;
    }
    if (pathname === TRPC_WS_PATH) {
      // Another site's page must not ride a user's cookie: browsers always send Origin.
      if (!originAllowed(config, req)) {
        log.warn({ origin: req.headers.origin }, "websocket upgrade refused: origin not allowed");
        rejectUpgrade(socket, 403, "Forbidden");
        return;
      }
      // The client's address (behind PARLEY_TRUSTED_PROXIES, the one they name).
      const address = auth.proxies.clientOf(req).address;
      const release = auth.limits.connectionsByAddress.take(address);
      if (!release) {
        // MAX_CONNECTIONS_PER_ADDRESS: no tRPC connection yet, so the retry-after is the HTTP header (whole seconds).
        rejectUpgrade(socket, 429, "Too Many Requests", { "Retry-After": String(Math.ceil(SLOT_RETRY_AFTER_MS / 1_000)) });
        return;
      }
      socket.on("close", release); // also when the handshake fails
      ws.upgrade(req, socket, head);
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
  parts.start(port);
  let prepareTimer: NodeJS.Timeout | undefined;
  if (options.createNext) {
    const createNext = options.createNext;
    prepareNext = () => createNext({ port, log });
    prepareTimer = setTimeout(() => void web(), config.WEB_PREPARE_DELAY_MS);
  }
  const signInUrl = await auth.firstStart(url);
  // Not awaited: WebSocket upgrades and API calls are served from now on; pages wait for Next.
  const webReady = prepareNext
    ? nextStarted.then((app) => {
        nextApp = app;
      })
    : Promise.resolve();
  webReady.catch(() => undefined); // the caller decides what a failed web app means (server.ts exits)

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      const deadline = Date.now() + config.SHUTDOWN_TIMEOUT_MS;
      clearTimeout(prepareTimer); // a web app nobody asked for yet is not started on the way out
      log.info("shutting down: asking clients to reconnect");
      ws.askToReconnect(connections);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Give clients a moment to leave on their own, then end what remains.
      const drainMs = Math.min(1_000, config.SHUTDOWN_TIMEOUT_MS / 4);
      await Promise.race([closed, new Promise((r) => setTimeout(r, drainMs))]);
      ws.close();
      for (const socket of sockets) socket.destroy();
      await Promise.race([closed, new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now() - 500)))]);
      // Next may still be preparing: close it once it is, within what is left of the deadline.
      if (nextReady) {
        const closed = nextReady.then((app) => app.close());
        await Promise.race([closed, new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())))]).catch(() => undefined);
      }
      await parts.close();
      log.info("shut down");
    })();
    return closing;
  };

  return { url, port, deps, signInUrl, wsServer: ws.server, faults, webReady, close };
}
