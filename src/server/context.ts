// One request context for HTTP and WebSocket calls. The WS context is made
// once per connection from the upgrade request (headers) and the client's
// connectionParams; it never throws (a throw here makes clients reconnect in
// a loop), so principals are resolved here and enforced in middleware.
import type { IncomingMessage } from "node:http";
import type { Logger } from "pino";
import type { Bus } from "./bus/bus";
import type { ChatRunRegistry } from "./chat/runs";
import type { Db } from "./db";
import type { Config } from "./env";
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
}

export type Transport = "http" | "ws";

/**
 * Who is calling. Until authentication lands (issue 6) every caller is an
 * anonymous principal, one per connection; code that needs an identity
 * (presence, addressed events, authorship) reads it from here.
 */
export interface Principal {
  id: string;
  kind: "anonymous" | "user" | "agent" | "app" | "admin";
  name: string;
}

export interface Context extends ServerDeps {
  transport: Transport;
  /** Per WebSocket connection, or per HTTP request. */
  connectionId: string;
  clientAddress: string | undefined;
  principal: Principal;
}

let nextConnection = 0;

/** A display name from connectionParams: trimmed, at most 64 characters; "anonymous" otherwise. */
function displayName(name: string | undefined): string {
  const trimmed = name?.trim().slice(0, 64);
  return trimmed ? trimmed : "anonymous";
}

export function createContextFactory(deps: ServerDeps) {
  return function createContext(
    transport: Transport,
    req: IncomingMessage,
    /** WS connectionParams; `name` is the display name until authentication exists. */
    connectionParams?: Record<string, string | undefined> | null,
  ): Context {
    const connectionId = `${transport}-${(++nextConnection).toString(36)}`;
    return {
      ...deps,
      transport,
      connectionId,
      clientAddress: req.socket.remoteAddress,
      principal: { id: `anonymous:${connectionId}`, kind: "anonymous", name: displayName(connectionParams?.name) },
      log: deps.log.child({ connectionId }),
    };
  };
}
