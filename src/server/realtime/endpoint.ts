// The WebSocket endpoint: `ws` in noServer mode. app.ts hands it each
// upgrade it accepts (after its own checks); every socket is opened as a
// Connection (connection.ts) and given to tRPC's WebSocket handler, which
// reads and answers the client's calls through it. Shutdown asks every client
// to reconnect (tRPC's reconnect notice), then ends what remains.
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { AnyRouter, inferRouterContext } from "@trpc/server";
import { getWSConnectionHandler } from "@trpc/server/adapters/ws";
import type { Logger } from "pino";
import { WebSocketServer, type WebSocket } from "ws";
import { Connection, type ConnectionRegistry } from "./connection";
import { wireEncoder } from "./frames";

export interface WebSocketEndpointOptions<TRouter extends AnyRouter> {
  router: TRouter;
  connections: ConnectionRegistry;
  /**
   * The context of a new connection (once per connection; it must not throw:
   * a throw makes clients reconnect in a loop). `connection` is null only if
   * tRPC handed over something else than a Connection, which it does not.
   */
  createContext: (req: IncomingMessage, connection: Connection | null, connectionParams: Record<string, unknown> | null) => Promise<inferRouterContext<TRouter>>;
  /** WS_MAX_PAYLOAD_BYTES: a bigger frame closes the socket. */
  maxPayload: number;
  /** WS_PING_INTERVAL_MS and WS_PONG_TIMEOUT_MS: tRPC's keep-alive. */
  keepAlive: { pingMs: number; pongWaitMs: number };
  log: Logger;
}

export class WebSocketEndpoint<TRouter extends AnyRouter> {
  /** The `ws` server (its `clients` are the open sockets). */
  readonly server: WebSocketServer;

  constructor(options: WebSocketEndpointOptions<TRouter>) {
    const { connections, log } = options;
    this.server = new WebSocketServer({ noServer: true, maxPayload: options.maxPayload });
    const onConnection = getWSConnectionHandler<TRouter>({
      wss: this.server,
      router: options.router,
      experimental_encoder: wireEncoder,
      createContext: ({ req, res, info }) => options.createContext(req, res instanceof Connection ? res : null, info.connectionParams),
      keepAlive: { enabled: true, ...options.keepAlive },
    });
    this.server.on("connection", (socket: WebSocket, req: IncomingMessage) => {
      // A frame over maxPayload or a protocol error closes only this socket.
      socket.on("error", (err) => log.warn({ err: err.message }, "websocket closed on error"));
      // The handler uses only the socket surface a Connection has (TrpcSocket).
      onConnection(connections.open(socket, req), req);
    });
  }

  /** Open sockets. */
  get size(): number {
    return this.server.clients.size;
  }

  /** Complete an upgrade app.ts accepted. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.server.handleUpgrade(req, socket, head, (ws) => this.server.emit("connection", ws, req));
  }

  /** Shutdown, first: every client is asked to reconnect (to another instance, or to this one once back). */
  askToReconnect(connections: ConnectionRegistry): void {
    connections.broadcast(wireEncoder.encode({ id: null, method: "reconnect" }) as string);
  }

  /** Shutdown, last: end what is still open. */
  close(): void {
    for (const client of this.server.clients) client.terminate();
    this.server.close();
  }
}
