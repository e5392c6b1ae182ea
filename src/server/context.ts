// One request context for HTTP and WebSocket calls. The WS context is made
// once per connection from the upgrade request (headers) and the client's
// connectionParams; it never throws (a throw here makes clients reconnect in
// a loop), so principals are resolved here and enforced in middleware.
import type { IncomingMessage } from "node:http";
import type { TRPCError } from "@trpc/server";
import type { Logger } from "pino";
import type { Auth } from "./auth";
import type { Principal } from "./auth/principal";
import type { Bus } from "./bus/bus";
import type { ChatRunRegistry } from "./chat/runs";
import type { Db } from "./db";
import type { Config } from "./env";
import type { MemoryService } from "./memory";
import type { LiveDeps } from "./metrics";

/** Live figures of the running server, read by health and (later) metrics. */
export interface ServerRuntime {
  version: string;
  startedAt: Date;
  /** Open WebSocket connections. */
  connectionCount(): number;
}

/** What a running server shares with every call (LiveDeps: metrics, connections, presence, agent events; issue 4). */
export interface ServerDeps extends LiveDeps {
  config: Config;
  db: Db;
  bus: Bus;
  log: Logger;
  runtime: ServerRuntime;
  /** Chat runs (issue 3): server-owned answer streams, their limits and providers. */
  chat: ChatRunRegistry;
  /** Authentication, live revocation and limits (issue 6). */
  auth: Auth;
  /** Memories: store, recall, changes (src/server/memory). */
  memory: MemoryService;
}

export type Transport = "http" | "ws";

/** Who is calling (issue 6): see auth/principal.ts. */
export type { Principal } from "./auth/principal";

export interface Context extends ServerDeps {
  transport: Transport;
  /** Per WebSocket connection, or per HTTP request. */
  connectionId: string;
  clientAddress: string | undefined;
  principal: Principal;
  /** Why presented credentials were refused (UNAUTHORIZED says it); null otherwise. */
  authProblem: string | null;
  /** Key of the per-connection rate limit: the WS connection, or the HTTP keep-alive socket. */
  rateKey: string;
  /** Set when this WS connection is over a limit (connections per principal): every call is refused with it (TOO_MANY_REQUESTS). */
  connectionRefusal: TRPCError | null;
  /** Per subscription: aborted when the caller's access ends (revocation); routers pass it instead of `signal`. */
  streamSignal?: AbortSignal;
}

let nextConnection = 0;

export function createContextFactory(deps: ServerDeps) {
  /**
   * Never throws: an unauthenticated caller gets an anonymous principal and
   * is refused by the procedure kinds (trpc.ts), not here.
   */
  return async function createContext(
    transport: Transport,
    req: IncomingMessage,
    /** WS connectionParams: `token` authenticates, `name` is a display name. */
    connectionParams?: Record<string, unknown> | null,
  ): Promise<Context> {
    const connectionId = `${transport}-${(++nextConnection).toString(36)}`;
    const { principal, problem } = await deps.auth.authenticate(transport, connectionId, req, connectionParams);
    // `log` stays the server's logger: a pino child per connection costs ~0.5 KiB on an idle
    // server holding thousands (issue #9), so what logs for a call names the connection itself.
    return {
      ...deps,
      transport,
      connectionId,
      clientAddress: req.socket.remoteAddress,
      principal,
      authProblem: problem,
      rateKey: transport === "ws" ? connectionId : `http:${req.socket.remoteAddress}:${req.socket.remotePort}`,
      connectionRefusal: null,
    };
  };
}
