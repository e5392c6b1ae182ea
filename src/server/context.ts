// One request context for HTTP and WebSocket calls. The WS context is made
// once per connection from the upgrade request (headers) and the client's
// connectionParams; it never throws (a throw here makes clients reconnect in
// a loop), so principals are resolved here and enforced in middleware.
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { TRPCError } from "@trpc/server";
import type { Logger } from "pino";
import type { Auth } from "./auth";
import type { Principal } from "./auth/principal";
import { addressKey } from "./auth/proxies";
import type { Bus } from "./bus/bus";
import type { ChatRunRegistry } from "./chat/runs";
import type { ClusterConnections } from "./cluster/connections";
import type { ClusterMembers } from "./cluster/members";
import type { ClusterMetrics } from "./cluster/metrics";
import type { Db, Storage } from "./db";
import type { Config } from "./env";
import type { MemoryService } from "./memory";
import type { MetricsCollector } from "./metrics/collector";
import type { HubStats } from "./metrics/hub-stats";
import type { Connection, ConnectionRegistry } from "./realtime/connection";
import type { SessionStreams } from "./realtime/session-stream";
import type { AgentEventLog } from "./services/agent-events";
import type { ServerRuntime } from "./services/health";
import type { MessageWriter } from "./services/message-writer";
import type { PresenceTracker } from "./services/presence";
import type { SessionLog } from "./services/session-log";

/** What a running server shares with every call: the parts compose.ts builds. */
export interface ServerDeps {
  config: Config;
  db: Db;
  /** The database's dialect and, on SQLite, its synchronous connection (db.ts). */
  storage: Storage;
  bus: Bus;
  log: Logger;
  runtime: ServerRuntime;
  /** Appends session changes with their seqs, publishes them after commit, reads them back. */
  sessionLog: SessionLog;
  /** message.post's group commit. */
  messages: MessageWriter;
  /** `session.events` streams: the hub's deliveries, the log's back-fill, frames or yields. */
  sessionStreams: SessionStreams;
  /** Chat runs: server-owned answer streams, their limits and providers. */
  chat: ChatRunRegistry;
  /** Authentication, live revocation and limits. */
  auth: Auth;
  /** The hub's counters (fan-out latency of live deliveries, traffic, subscriptions). */
  stats: HubStats;
  metrics: MetricsCollector;
  /** Open WebSocket connections of this instance. */
  connections: ConnectionRegistry;
  presence: PresenceTracker;
  agentEvents: AgentEventLog;
  /** The other instances, with a shared bus (REDIS_URL): who is up, every instance's connections and metrics. */
  cluster: { members: ClusterMembers; connections: ClusterConnections; metrics: ClusterMetrics };
  /** Memories: store, recall and their live changes (src/server/memory). */
  memory: MemoryService;
}

export type Transport = "http" | "ws";

export interface Context extends ServerDeps {
  transport: Transport;
  /** Per WebSocket connection, or per HTTP request. */
  connectionId: string;
  /** The WebSocket connection of this call; null over HTTP (and SSE). */
  connection: Connection | null;
  /** The client's address (behind PARLEY_TRUSTED_PROXIES, the one they name). */
  clientAddress: string;
  principal: Principal;
  /** Why presented credentials were refused (UNAUTHORIZED says it); null otherwise. */
  authProblem: string | null;
  /** Key of the per-connection rate limit: the WS connection, or the HTTP keep-alive socket (behind a trusted proxy: the client's address). */
  rateKey: string;
  /** Set when this WS connection is over a limit (connections per principal): every call is refused with it (TOO_MANY_REQUESTS). */
  connectionRefusal: TRPCError | null;
}

/** Makes the calls' contexts of one server. */
export function createContextFactory(deps: ServerDeps) {
  // Connection ids: a tag of this server (ids of two instances never meet), then a count.
  const tag = randomBytes(3).toString("hex");
  let nextConnection = 0;
  /**
   * Never throws: an unauthenticated caller gets an anonymous principal and
   * is refused by the procedure kinds (trpc.ts), not here.
   */
  return async function createContext(
    transport: Transport,
    req: IncomingMessage,
    /** WS connectionParams: `token` authenticates, `name` is a display name. */
    connectionParams?: Record<string, unknown> | null,
    connection: Connection | null = null,
  ): Promise<Context> {
    const connectionId = `${transport}-${tag}-${(++nextConnection).toString(36)}`;
    const { principal, problem } = await deps.auth.authenticate(transport, connectionId, req, connectionParams);
    const client = deps.auth.proxies.clientOf(req);
    // `log` stays the server's logger: a pino child per connection costs ~0.5 KiB on an idle
    // server holding thousands, so what logs for a call names the connection itself.
    return {
      ...deps,
      transport,
      connectionId,
      connection,
      clientAddress: client.address,
      principal,
      authProblem: problem,
      // Behind a trusted proxy one TCP connection carries many clients' requests: key on the client instead.
      rateKey: transport === "ws" ? connectionId : client.viaProxy ? `http:${addressKey(client.address)}` : `http:${req.socket.remoteAddress}:${req.socket.remotePort}`,
      connectionRefusal: null,
    };
  };
}
