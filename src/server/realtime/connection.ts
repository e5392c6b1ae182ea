// WebSocket connections: each open socket as a Connection, the registry of
// them (who, since when, from where, which subscriptions, how much was sent,
// how much is still buffered), and the one way bytes leave for a client.
//
// A Connection is what tRPC's WebSocket handler is given instead of the raw
// socket (app.ts): it has the part of a `ws` WebSocket that handler uses, and
// every message tRPC sends passes through `send`, where it is counted and
// held to the connection's bounds. The hub writes complete frames through
// `writeFrame`, under the same bounds and counters. Nothing of `ws` is
// replaced: the socket stays as `ws` made it.
//
// Bounds (WS_SOFT_BUFFER_BYTES, WS_MAX_BUFFER_BYTES): below the soft bound a
// connection is `writable`; streams that find it full wait for `drained`
// (their live items then queue, bounded, and are re-read from the database
// later). Past the hard bound the next send drops the connection; its client
// reconnects and resumes from its tracked ids.
//
// Hot path: `writeFrame` adds to counters, observes at most one latency, and
// corks the TCP socket for the rest of the current burst of publishes. No
// allocation per frame.
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import type { WebSocket } from "ws";
import type { Principal } from "../auth/principal";
import type { HubStats } from "../metrics/hub-stats";
import type { FaultInjector, Outbound } from "./faults";
import { ATTACH_ONLY, textFramePayloadLength } from "./frames";

/** Close code sent by system.disconnect; clients reconnect (and resume their streams). */
export const OPERATOR_DISCONNECT_CODE = 4000;

/** Backpressure bounds per connection (see the top of this file). */
export interface BufferBounds {
  softBytes: number;
  hardBytes: number;
}

/** How often a stream waiting for `drained` looks at the socket again. */
const DRAINED_POLL_MS = 10;

/** A listener as `ws` takes it. */
type SocketListener = Parameters<WebSocket["on"]>[1];

/**
 * The part of a `ws` WebSocket that tRPC 11's WebSocket handler and its
 * keep-alive use (@trpc/server adapters/ws.ts): `send` of encoded messages,
 * `on`/`once` for message, error and close, `close`, `terminate`, `readyState`.
 */
export interface TrpcSocket {
  readonly readyState: number;
  send(data: string | Uint8Array): void;
  on(event: string, listener: SocketListener): unknown;
  once(event: string, listener: SocketListener): unknown;
  close(code?: number, reason?: string): void;
  terminate(): void;
}

/** One open WebSocket connection. */
export class Connection implements TrpcSocket, Outbound {
  /** The tRPC context's connectionId; null until tRPC created the context. */
  id: string | null = null;
  principal: Principal | null = null;
  /** Epoch ms (a number, not a Date: one object less per connection); list() makes the Date. */
  readonly connectedAt = Date.now();
  messagesIn = 0;
  messagesOut = 0;
  bytesOut = 0;
  /** The procedure of each active subscription, one entry each (a few per connection: cheaper than a Map); null: none yet. */
  subscriptions: string[] | null = null;
  /** The session each active subscription reads, one entry each (as `subscriptions`); null: none. */
  sessions: string[] | null = null;
  /** Corked until the end of the current burst of frames. */
  corked = false;
  /** The current burst started behind bytes still waiting in this process (HubStats.heldFrames). */
  private held = false;
  /** Where bytes go: this connection itself, or a fault injector in front of it (PARLEY_FAULTS). */
  private readonly out: Outbound;

  constructor(
    private readonly registry: ConnectionRegistry,
    readonly socket: WebSocket,
    /** The TCP socket under `socket` (the upgrade request's). */
    readonly stream: Duplex,
    readonly clientAddress: string | undefined,
    faults: FaultInjector | null,
    /** The upgrade request's User-Agent (at most 300 characters), if any. */
    readonly userAgent: string | null = null,
  ) {
    this.out = faults ? faults.outbound(socket, this) : this;
  }

  get readyState(): number {
    return this.socket.readyState;
  }

  /** A message tRPC sends: counted and held to the bounds like a frame; a lane probe's ATTACH_ONLY is not sent. */
  send(data: string | Uint8Array): void {
    if (data === ATTACH_ONLY) return;
    const bytes = typeof data === "string" ? Buffer.byteLength(data) : data.byteLength;
    if (this.registry.admit(this, bytes)) this.out.text(data);
  }

  on(event: string, listener: SocketListener): this {
    this.socket.on(event, listener);
    return this;
  }

  once(event: string, listener: SocketListener): this {
    this.socket.once(event, listener);
    return this;
  }

  close(code?: number, reason?: string): void {
    this.socket.close(code, reason);
  }

  terminate(): void {
    this.socket.terminate();
  }

  /** True while the socket is open and has less than the soft bound queued. */
  writable(): boolean {
    return this.socket.readyState === this.socket.OPEN && this.socket.bufferedAmount < this.registry.bounds.softBytes;
  }

  /**
   * null when the connection can take more (or is closed): the caller goes
   * on without awaiting, so the common case costs nothing. Otherwise a
   * promise that resolves when the socket drains below the soft bound, closes,
   * or `signal` aborts.
   */
  drained(signal: AbortSignal | undefined): Promise<void> | null {
    const { socket } = this;
    const soft = this.registry.bounds.softBytes;
    if (socket.readyState !== socket.OPEN || socket.bufferedAmount < soft) return null;
    return new Promise((resolve) => {
      const check = () => {
        if (signal?.aborted || socket.readyState !== socket.OPEN || socket.bufferedAmount < soft) resolve();
        else setTimeout(check, DRAINED_POLL_MS).unref();
      };
      check();
    });
  }

  /**
   * Write one complete frame (frames.ts) built by the hub. `receivedAt`
   * (performance.now() when the bus delivered what it carries; 0 for a
   * back-fill) times the fan-out of live deliveries only.
   */
  writeFrame(frame: Buffer, receivedAt: number): void {
    const { registry, socket } = this;
    // A closed socket takes nothing (its TCP stream may be destroyed already).
    if (socket.readyState !== socket.OPEN || !registry.admit(this, textFramePayloadLength(frame))) return;
    registry.directFrames++;
    if (receivedAt !== 0) registry.stats.fanout.observe(performance.now() - receivedAt);
    this.out.frame(frame);
  }

  /** Outbound: a text message, framed by `ws`. */
  text(data: string | Uint8Array): void {
    this.socket.send(data);
  }

  /**
   * Outbound: a complete frame, written to the TCP socket as it is (it is the
   * same for every subscriber: not framed again per socket by `ws`). Safe
   * beside `ws`'s own writes: without permessage-deflate (off on this
   * server) or Blob data its sender writes each frame at once, never from a
   * queue, so whole frames interleave in call order.
   */
  frame(frame: Buffer): void {
    if (!this.corked) {
      // Bytes still waiting in this process when a burst starts: its frames wait behind them (a slow reader's cost).
      this.held = this.stream.writableLength > 0;
      // Publishes come in bursts (a group commit publishes its batch in one
      // loop): cork the TCP socket until the burst is over, so every frame of
      // the burst leaves in one write instead of one system call each.
      this.corked = true;
      this.stream.cork();
      this.registry.uncorkLater(this);
    }
    if (this.held) {
      this.registry.stats.heldFrames++;
      this.registry.stats.heldBytes += frame.length;
    }
    this.stream.write(frame);
  }
}

export interface ConnectionInfo {
  connectionId: string;
  principal: Principal;
  connectedAt: Date;
  clientAddress: string | null;
  userAgent: string | null;
  subscriptions: { procedure: string; count: number }[];
  /** The sessions its subscriptions read (session.events, chat.run, ...), each once. */
  sessions: string[];
  messagesIn: number;
  messagesOut: number;
  bytesOut: number;
  /** Bytes queued in the socket, not yet handed to the OS. */
  bufferedAmount: number;
}

export class ConnectionRegistry {
  private readonly bySocket = new Map<WebSocket, Connection>();
  private readonly byId = new Map<string, Connection>();
  private readonly graceTimers = new Set<NodeJS.Timeout>();
  /** Connections corked during the current burst, uncorked together once it is written. */
  private corked: Connection[] = [];
  private readonly uncorkAll = () => {
    const connections = this.corked;
    this.corked = [];
    for (const connection of connections) {
      connection.corked = false;
      connection.stream.uncork();
    }
  };

  /** Connections dropped for exceeding the hard buffer bound. */
  slowConsumerDrops = 0;
  /** Frames the hub wrote directly (the rest went through tRPC's subscription loop). */
  directFrames = 0;

  constructor(
    readonly stats: HubStats,
    private readonly log: Logger,
    readonly bounds: BufferBounds = { softBytes: 1024 * 1024, hardBytes: 8 * 1024 * 1024 },
    /** PARLEY_FAULTS: every connection's bytes pass through it. */
    private readonly faults: FaultInjector | null = null,
  ) {}

  /** Open connections, including those whose context is not created yet. */
  get size(): number {
    return this.bySocket.size;
  }

  /** A new WebSocket (the server's 'connection' event): its Connection, to hand to tRPC's handler. */
  open(socket: WebSocket, req: IncomingMessage): Connection {
    const agent = req.headers["user-agent"];
    const connection = new Connection(this, socket, req.socket, req.socket.remoteAddress, this.faults, agent ? agent.slice(0, 300) : null);
    this.bySocket.set(socket, connection);
    socket.on("message", () => {
      connection.messagesIn++;
      this.stats.messagesIn++;
    });
    // `on`, not `once`: 'close' comes once, and once() adds a wrapper and a bound function per socket.
    socket.on("close", () => {
      this.bySocket.delete(socket);
      if (connection.id) this.byId.delete(connection.id);
    });
    return connection;
  }

  /** From the WS createContext: the connection's id and principal. */
  bind(connection: Connection, connectionId: string, principal: Principal): void {
    connection.id = connectionId;
    connection.principal = principal;
    if (this.bySocket.has(connection.socket)) this.byId.set(connectionId, connection);
  }

  /** The open connection with this id; null for HTTP/SSE ids and closed connections. */
  get(connectionId: string): Connection | null {
    return this.byId.get(connectionId) ?? null;
  }

  /**
   * Before a message of `bytes` payload goes out on `connection`: false (and
   * the connection dropped) when its backlog is past the hard bound;
   * otherwise counts it.
   */
  admit(connection: Connection, bytes: number): boolean {
    const { socket } = connection;
    if (socket.bufferedAmount > this.bounds.hardBytes) {
      // The peer stopped reading: drop it rather than grow without bound. A
      // close frame would queue behind the backlog, so terminate.
      if (socket.readyState === socket.OPEN) {
        this.slowConsumerDrops++;
        this.log.warn({ connectionId: connection.id, bufferedBytes: socket.bufferedAmount, limit: this.bounds.hardBytes }, "dropping a slow consumer (WS_MAX_BUFFER_BYTES)");
        socket.terminate();
      }
      return false;
    }
    connection.messagesOut++;
    connection.bytesOut += bytes;
    this.stats.messagesOut++;
    this.stats.bytesOut += bytes;
    return true;
  }

  /** `connection` was corked for the current burst: uncork it with the others once the burst is written. */
  uncorkLater(connection: Connection): void {
    if (this.corked.push(connection) === 1) queueMicrotask(this.uncorkAll);
  }

  /** A subscription started (WebSocket or SSE): counted by procedure, and listed on its connection (WebSocket). */
  subscriptionOpened(connectionId: string, path: string): void {
    this.stats.subscriptionOpened(path);
    const connection = this.byId.get(connectionId);
    if (!connection) return;
    if (connection.subscriptions) connection.subscriptions.push(path);
    else connection.subscriptions = [path];
  }

  subscriptionClosed(connectionId: string, path: string): void {
    this.stats.subscriptionClosed(path);
    const subscriptions = this.byId.get(connectionId)?.subscriptions;
    const index = subscriptions?.lastIndexOf(path) ?? -1;
    if (index >= 0) subscriptions?.splice(index, 1);
  }

  sessionOpened(connectionId: string, sessionId: string): void {
    const connection = this.byId.get(connectionId);
    if (!connection) return;
    if (connection.sessions) connection.sessions.push(sessionId);
    else connection.sessions = [sessionId];
  }

  sessionClosed(connectionId: string, sessionId: string): void {
    const sessions = this.byId.get(connectionId)?.sessions;
    const index = sessions?.lastIndexOf(sessionId) ?? -1;
    if (index >= 0) sessions?.splice(index, 1);
  }

  list(): ConnectionInfo[] {
    const out: ConnectionInfo[] = [];
    for (const connection of this.byId.values()) {
      if (!connection.id || !connection.principal) continue;
      out.push({
        connectionId: connection.id,
        principal: connection.principal,
        connectedAt: new Date(connection.connectedAt),
        clientAddress: connection.clientAddress ?? null,
        userAgent: connection.userAgent,
        subscriptions: countSubscriptions(connection.subscriptions),
        sessions: [...new Set(connection.sessions)],
        messagesIn: connection.messagesIn,
        messagesOut: connection.messagesOut,
        bytesOut: connection.bytesOut,
        bufferedAmount: connection.socket.bufferedAmount,
      });
    }
    return out.sort((a, b) => a.connectedAt.getTime() - b.connectedAt.getTime());
  }

  /** Send `message` (already encoded) to every open connection: the shutdown's reconnect notice. */
  broadcast(message: string): void {
    for (const connection of this.bySocket.values()) {
      if (connection.readyState === connection.socket.OPEN) connection.send(message);
    }
  }

  /** Close one connection with OPERATOR_DISCONNECT_CODE; false when it is not open. */
  disconnect(connectionId: string, reason: string): boolean {
    const connection = this.byId.get(connectionId);
    if (!connection) return false;
    this.log.info({ connectionId, principal: connection.principal?.id, reason }, "closing connection on request");
    connection.close(OPERATOR_DISCONNECT_CODE, reason.slice(0, 120));
    // A peer that never answers the close handshake is cut after a grace period.
    const timer = setTimeout(() => {
      this.graceTimers.delete(timer);
      if (connection.socket.readyState !== connection.socket.CLOSED) connection.terminate();
    }, 5_000);
    timer.unref();
    this.graceTimers.add(timer);
    return true;
  }

  close(): void {
    for (const timer of this.graceTimers) clearTimeout(timer);
    this.graceTimers.clear();
    this.faults?.close();
  }
}

/** One entry per procedure, with its count, in order of first opening. */
function countSubscriptions(paths: readonly string[] | null): { procedure: string; count: number }[] {
  const counts = new Map<string, number>();
  for (const path of paths ?? []) counts.set(path, (counts.get(path) ?? 0) + 1);
  return [...counts].map(([procedure, count]) => ({ procedure, count }));
}
