// The registry of open WebSocket connections: who, since when, from where,
// which subscriptions, how much was sent, how much is still buffered. It is
// attached to each socket on 'connection' (before tRPC's handler) and bound
// to the tRPC context when tRPC creates it (once per connection).
//
// Hot path: the wrapped `socket.send` adds to counters and, when a fan-out
// stamp is pending, observes one latency. No allocation per send.
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import type { WebSocket } from "ws";
import type { Principal } from "../context";
import type { HubStats } from "../metrics/hub-stats";
import type { PublishStamps } from "../metrics/instrument";
import { NO_FRAME, textFramePayloadLength } from "../wire";

/** Close code sent by system.disconnect; clients reconnect (and resume their streams). */
export const OPERATOR_DISCONNECT_CODE = 4000;

/**
 * Backpressure bounds per connection (WS_SOFT_BUFFER_BYTES, WS_MAX_BUFFER_BYTES).
 * Past the soft bound, resumable streams stop pulling from their queues (so
 * chat deltas merge and persisted events are re-read from the database later
 * instead of piling up in memory); past the hard bound the connection is
 * dropped and its client reconnects and resumes from its tracked ids.
 */
export interface BufferBounds {
  softBytes: number;
  hardBytes: number;
}

const WRITABLE_POLL_MS = 10;

/**
 * A WebSocket connection as the direct fan-out path sees it (see
 * SubscriptionLane in wire.ts): is there room, and send one complete frame.
 */
export interface DirectSink {
  /** True while the socket has less than the soft bound queued and is open. */
  writable(): boolean;
  /** Send a complete WebSocket text frame (wire.ts `textFrame`); `published` is the bus message it carries (for the fan-out latency metric). */
  send(frame: Buffer, published: object): void;
}

/** A connection as a subscription's fan-out metric sees it. */
export interface FanoutObserver {
  /** A value published at `publishedAt` (performance.now(); 0: unknown) is about to be sent: the next write observes it. */
  observeFanout(publishedAt: number): void;
}

/** One open connection; it is also the connection's DirectSink and FanoutObserver (no objects per subscription). */
class ConnectionRecord implements DirectSink, FanoutObserver {
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
  /** Publish time of a value a subscription just yielded; the next send observes it. */
  pendingFanoutAt = 0;
  /** Corked by the direct path until the end of the current burst of publishes. */
  corked = false;

  /** The socket's own `send` (or the fault injector's), which `write` calls after counting. */
  readonly rawSend: (data: unknown, options?: unknown, cb?: unknown) => void;

  constructor(
    private readonly registry: ConnectionRegistry,
    readonly socket: WebSocket,
    /** The TCP socket under `socket` (the upgrade request's). */
    readonly stream: Duplex,
    readonly clientAddress: string | undefined,
  ) {
    this.rawSend = socket.send.bind(socket) as (data: unknown, options?: unknown, cb?: unknown) => void;
  }

  /** The socket's instrumented `send` (bound once per connection; see ConnectionRegistry.write). */
  write(data: unknown, options?: unknown, cb?: unknown): void {
    this.registry.write(this, data, options, cb);
  }

  writable(): boolean {
    return this.socket.readyState === this.socket.OPEN && this.socket.bufferedAmount < this.registry.softBytes;
  }

  send(frame: Buffer, published: object): void {
    this.registry.sendDirect(this, frame, published);
  }

  observeFanout(publishedAt: number): void {
    if (publishedAt !== 0) this.pendingFanoutAt = publishedAt;
  }
}

export interface ConnectionInfo {
  connectionId: string;
  principal: Principal;
  connectedAt: Date;
  clientAddress: string | null;
  subscriptions: { procedure: string; count: number }[];
  messagesIn: number;
  messagesOut: number;
  bytesOut: number;
  /** Bytes queued in the socket, not yet handed to the OS. */
  bufferedAmount: number;
}

export class ConnectionRegistry {
  private readonly bySocket = new Map<WebSocket, ConnectionRecord>();
  /** The upgrade request is what both the 'connection' event and tRPC's createContext see. */
  private readonly byRequest = new WeakMap<IncomingMessage, ConnectionRecord>();
  private readonly byId = new Map<string, ConnectionRecord>();
  private readonly graceTimers = new Set<NodeJS.Timeout>();

  /** Connections dropped for exceeding the hard buffer bound. */
  slowConsumerDrops = 0;
  /** Frames sent by the direct fan-out path (the rest go through tRPC's subscription loop). */
  directFrames = 0;
  /** Connections corked by the direct path, uncorked together once the current burst is written. */
  private corked: ConnectionRecord[] = [];
  private readonly uncorkAll = () => {
    const records = this.corked;
    this.corked = [];
    for (const record of records) {
      record.corked = false;
      record.stream.uncork();
    }
  };
  /** The last bus message a direct send looked up, and its publish stamp (one lookup per publish, not per subscriber). */
  private lastPublished: object | null = null;
  private lastPublishedAt = 0;

  constructor(
    private readonly stats: HubStats,
    private readonly log: Logger,
    private readonly bounds: BufferBounds = { softBytes: 1024 * 1024, hardBytes: 8 * 1024 * 1024 },
    /** Publish stamps (for fan-out latency of direct sends); null turns the direct path off (fault injection, WS_DIRECT_FANOUT=off). */
    private readonly direct: { stamps: PublishStamps } | null = null,
  ) {}

  /**
   * The direct fan-out sink of a WebSocket connection; null for HTTP/SSE ids,
   * closed connections, and when the direct path is off.
   */
  directSink(connectionId: string): DirectSink | null {
    if (!this.direct) return null;
    return this.byId.get(connectionId) ?? null;
  }

  /** The soft buffer bound (DirectSink.writable of a record). */
  get softBytes(): number {
    return this.bounds.softBytes;
  }

  /** DirectSink.send of `record` (the direct path is on: directSink handed the record out). */
  sendDirect(record: ConnectionRecord, frame: Buffer, published: object): void {
    if (!this.direct) return;
    this.directFrames++;
    if (published !== this.lastPublished) {
      this.lastPublished = published;
      this.lastPublishedAt = this.direct.stamps.of(published);
    }
    if (this.lastPublishedAt !== 0) record.pendingFanoutAt = this.lastPublishedAt;
    if (!this.admit(record, textFramePayloadLength(frame))) return;
    // Publishes come in bursts (a group commit publishes its batch in one
    // loop): cork the TCP socket until the burst is over, so every frame
    // of the burst leaves in one write instead of one system call each.
    if (!record.corked) {
      record.corked = true;
      record.stream.cork();
      if (this.corked.push(record) === 1) queueMicrotask(this.uncorkAll);
    }
    // The frame is complete and the same for every subscriber: written as it
    // is, not framed again per socket by `ws`. Safe beside `ws`'s own writes:
    // without permessage-deflate (off on this server) or Blob data its
    // sender writes each frame at once, never from a queue, so whole frames
    // interleave in call order.
    record.stream.write(frame);
  }

  /** `writable` for one connection (a stream's backpressure check). */
  writableFor(connectionId: string): (signal?: AbortSignal) => Promise<void> | null {
    return (signal) => this.writable(connectionId, signal);
  }

  /**
   * null when `connectionId`'s socket has less than the soft bound queued (and
   * for HTTP/SSE ids and closed connections): the caller goes on without
   * awaiting, so the common case costs nothing per event. Otherwise a promise
   * that resolves when it drains below the bound, or when `signal` aborts.
   */
  writable(connectionId: string, signal?: AbortSignal): Promise<void> | null {
    const socket = this.byId.get(connectionId)?.socket;
    if (!socket || socket.bufferedAmount < this.bounds.softBytes) return null;
    return new Promise((resolve) => {
      const check = () => {
        if (signal?.aborted || socket.readyState !== socket.OPEN || socket.bufferedAmount < this.bounds.softBytes) resolve();
        else setTimeout(check, WRITABLE_POLL_MS).unref();
      };
      check();
    });
  }

  /** Open connections, including those whose context is not created yet. */
  get size(): number {
    return this.bySocket.size;
  }

  /** Call on the WebSocketServer's 'connection', before tRPC's handler. */
  attach(socket: WebSocket, req: IncomingMessage): void {
    const record = new ConnectionRecord(this, socket, req.socket, req.socket.remoteAddress);
    this.bySocket.set(socket, record);
    this.byRequest.set(req, record);
    // Replaces the instance's send: counts frames and bytes, observes fan-out latency (ConnectionRecord.write).
    socket.send = record.write.bind(record) as WebSocket["send"];
    socket.on("message", () => {
      record.messagesIn++;
      this.stats.messagesIn++;
    });
    // `on`, not `once`: 'close' comes once, and once() adds a wrapper and a bound function per socket.
    socket.on("close", () => {
      this.bySocket.delete(socket);
      if (record.id) this.byId.delete(record.id);
    });
  }

  /**
   * Every frame sent on `record`'s socket through `ws` (its instrumented
   * `send`): admitted (counted, or the connection dropped) like a direct send.
   */
  write(record: ConnectionRecord, data: unknown, options?: unknown, cb?: unknown): void {
    // A subscription lane's probe (wire.ts): nothing to send.
    if (data === NO_FRAME) return;
    const bytes = typeof data === "string" ? Buffer.byteLength(data) : ArrayBuffer.isView(data) ? data.byteLength : 0;
    if (this.admit(record, bytes)) record.rawSend(data, options, cb);
  }

  /**
   * Before a frame of `bytes` payload goes out on `record`: false (and the
   * connection dropped) when its backlog is past the hard bound; otherwise
   * counts the frame and observes the fan-out latency of what it carries.
   */
  private admit(record: ConnectionRecord, bytes: number): boolean {
    const { socket } = record;
    const { stats, bounds } = this;
    if (socket.bufferedAmount > bounds.hardBytes) {
      // The peer stopped reading: drop it rather than grow without bound. A
      // close frame would queue behind the backlog, so terminate.
      if (socket.readyState === socket.OPEN) {
        this.slowConsumerDrops++;
        this.log.warn({ connectionId: record.id, bufferedBytes: socket.bufferedAmount, limit: bounds.hardBytes }, "dropping a slow consumer (WS_MAX_BUFFER_BYTES)");
        socket.terminate();
      }
      return false;
    }
    record.messagesOut++;
    stats.messagesOut++;
    record.bytesOut += bytes;
    stats.bytesOut += bytes;
    if (record.pendingFanoutAt !== 0) {
      stats.fanout.observe(performance.now() - record.pendingFanoutAt);
      record.pendingFanoutAt = 0;
    }
    return true;
  }

  /** Call from the WS createContext: ties the connection of `req` to the context's id and principal. */
  bind(req: IncomingMessage, connectionId: string, principal: Principal): void {
    const record = this.byRequest.get(req);
    if (!record) return;
    record.id = connectionId;
    record.principal = principal;
    this.byId.set(connectionId, record);
  }

  /** A subscription started on `connectionId` (no-op for HTTP/SSE ids). Returns the connection, for the fan-out metric. */
  subscriptionOpened(connectionId: string, path: string): FanoutObserver | null {
    const record = this.byId.get(connectionId);
    if (!record) return null;
    if (record.subscriptions) record.subscriptions.push(path);
    else record.subscriptions = [path];
    return record;
  }

  subscriptionClosed(connectionId: string, path: string): void {
    const subscriptions = this.byId.get(connectionId)?.subscriptions;
    const index = subscriptions?.lastIndexOf(path) ?? -1;
    if (index >= 0) subscriptions?.splice(index, 1);
  }

  list(): ConnectionInfo[] {
    const out: ConnectionInfo[] = [];
    for (const record of this.byId.values()) {
      if (!record.id || !record.principal) continue;
      out.push({
        connectionId: record.id,
        principal: record.principal,
        connectedAt: new Date(record.connectedAt),
        clientAddress: record.clientAddress ?? null,
        subscriptions: countSubscriptions(record.subscriptions),
        messagesIn: record.messagesIn,
        messagesOut: record.messagesOut,
        bytesOut: record.bytesOut,
        bufferedAmount: record.socket.bufferedAmount,
      });
    }
    return out.sort((a, b) => a.connectedAt.getTime() - b.connectedAt.getTime());
  }

  /** Close one connection with OPERATOR_DISCONNECT_CODE; false when it is not open. */
  disconnect(connectionId: string, reason: string): boolean {
    const record = this.byId.get(connectionId);
    if (!record) return false;
    this.log.info({ connectionId, principal: record.principal?.id, reason }, "closing connection on request");
    record.socket.close(OPERATOR_DISCONNECT_CODE, reason.slice(0, 120));
    // A peer that never answers the close handshake is cut after a grace period.
    const timer = setTimeout(() => {
      this.graceTimers.delete(timer);
      if (record.socket.readyState !== record.socket.CLOSED) record.socket.terminate();
    }, 5_000);
    timer.unref();
    this.graceTimers.add(timer);
    return true;
  }

  close(): void {
    for (const timer of this.graceTimers) clearTimeout(timer);
    this.graceTimers.clear();
  }
}

/** One entry per procedure, with its count, in order of first opening. */
function countSubscriptions(paths: readonly string[] | null): { procedure: string; count: number }[] {
  const counts = new Map<string, number>();
  for (const path of paths ?? []) counts.set(path, (counts.get(path) ?? 0) + 1);
  return [...counts].map(([procedure, count]) => ({ procedure, count }));
}
