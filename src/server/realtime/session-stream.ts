// The `session.events` stream of one subscriber: the hub's live deliveries,
// the session log's back-fill and catch-up, and the running answers'
// snapshots, decided by a SessionSubscription (subscription.ts) and sent one
// of two ways:
// - frames (a WebSocket, the default): each event is written to the
//   connection as a complete frame (frames.ts). The tRPC procedure only
//   authorizes, binds the lane (one probe yielded through tRPC) and keeps the
//   subscription open; while caught up with nothing queued, the hub's
//   delivery writes the frame straight away.
// - yields (SSE, or WS_DIRECT_FANOUT=off): each event is yielded as
//   tracked(id, event) and tRPC sends it.
// Both ways run the same decisions in the same order, so the bytes a client
// receives are the same (tests/direct-fanout.test.ts).
//
// Order of work: authorize; subscribe to the hub (so nothing published during
// the back-fill is missed); read the session's last seq; send stream.reset if
// the client's lastEventId cannot be ours; back-fill after the cursor; send
// snapshots of running answers; then follow the live queue. A live event that
// skips ahead, a queue overflow, or a bus resync makes the stream catch up
// from the log: the database is the truth, so every persisted event reaches
// the client exactly once, in seq order.
import { tracked, type TrackedEnvelope } from "@trpc/server";
import type { SessionEvent } from "../../shared/events";
import type { HubStats } from "../metrics/hub-stats";
import { BoundedQueue } from "../services/bounded-queue";
import { LOG_PAGE, type SessionLog } from "../services/session-log";
import type { Connection } from "./connection";
import { Lane } from "./frames";
import { Delivery, type Hub, type HubSubscriber } from "./hub";
import { factsOf, HIDDEN, SEE_EVERYTHING, SessionSubscription, type ActiveRunSource, type MessageFilter } from "./subscription";

type Tracked = TrackedEnvelope<SessionEvent>;

export interface SessionStreamOptions {
  sessionId: string;
  lastEventId: string | null | undefined;
  /** Ends the stream (tRPC's stop, or lost access: auth/stream-guard.ts). */
  signal: AbortSignal | undefined;
  /**
   * Runs first, before the stream subscribes or reads anything: rejects to
   * refuse the stream (NOT_FOUND, FORBIDDEN: what the subscriber gets), or
   * resolves to what this subscriber may see.
   */
  authorize: () => Promise<MessageFilter>;
  /** The subscriber's WebSocket connection (backpressure, and frames); null over SSE. */
  connection: Connection | null;
}

/** Builds the session streams of one server. */
export class SessionStreams {
  constructor(
    readonly deps: {
      hub: Hub;
      log: SessionLog;
      runs: ActiveRunSource;
      stats: HubStats;
      /** SUBSCRIBER_QUEUE_LIMIT: live events a slow subscriber may have queued before it catches up from the log. */
      queueLimit: number;
      /** WS_DIRECT_FANOUT: frames on WebSockets (else every event is yielded through tRPC). */
      frames: boolean;
    },
  ) {}

  /** Session streams subscribed to the hub now (tests wait on it). */
  get subscriberCount(): number {
    return this.deps.hub.subscriberCount;
  }

  open(options: SessionStreamOptions): AsyncGenerator<Tracked, void, unknown> {
    return new SessionStream(this, options).run();
  }
}

/** A slow subscriber gets one larger delta instead of many queued ones. */
function mergeDeltas(last: Delivery, next: Delivery): Delivery | null {
  const a = last.message;
  const b = next.message;
  if (a.seq !== null || b.seq !== null || a.event.type !== "chat.delta" || b.event.type !== "chat.delta") return null;
  if (a.event.runId !== b.event.runId || a.event.offset + a.event.text.length !== b.event.offset) return null;
  return new Delivery({ seq: null, event: { ...a.event, text: a.event.text + b.event.text } }, last.receivedAt);
}

/**
 * One subscriber's stream. An idle server holds thousands, so its state
 * lives in fields (allocated when first needed) and its logic in methods,
 * not in per-stream closures; `authorize` is dropped once it has run.
 */
class SessionStream implements HubSubscriber {
  private readonly sessionId: string;
  private readonly lastEventId: string | null | undefined;
  private readonly signal: AbortSignal | undefined;
  private readonly connection: Connection | null;
  private authorize: SessionStreamOptions["authorize"] | null;
  private sub: SessionSubscription | null = null;
  private readonly queue: BoundedQueue<Delivery>;
  /** Frames: the subscription's place on its WebSocket; null when events are yielded. */
  private readonly lane: Lane | null;
  /** On while the stream waits, caught up, on an empty queue: the hub's delivery writes the frame itself. */
  private direct = false;
  /** `signal.aborted`, as a plain flag for the per-event check. */
  private stopped = false;
  /** The first back-fill is done: later catch-ups are re-reads (HubStats). */
  private backfilled = false;

  constructor(
    private readonly streams: SessionStreams,
    options: SessionStreamOptions,
  ) {
    // Copied, not kept: `authorize` (and what it holds) is dropped once it has run.
    this.sessionId = options.sessionId;
    this.lastEventId = options.lastEventId;
    this.signal = options.signal;
    this.connection = options.connection;
    this.authorize = options.authorize;
    this.queue = new BoundedQueue<Delivery>(streams.deps.queueLimit, mergeDeltas);
    this.lane = options.connection && streams.deps.frames ? new Lane() : null;
  }

  /** The abort listener (an object listener: no closure per stream): stop, and end a pending `take`. */
  handleEvent(): void {
    this.stopped = true;
    this.queue.close();
  }

  receive(delivery: Delivery): void {
    if (this.direct) {
      if (this.deliverNow(delivery)) return;
      this.direct = false; // the stream's loop takes over from the queue
    }
    this.queue.push(delivery);
  }

  resync(): void {
    this.direct = false;
    this.queue.invalidate();
  }

  async *run(): AsyncGenerator<Tracked, void, unknown> {
    const { hub, log, runs } = this.streams.deps;
    const { sessionId, signal, lastEventId } = this;
    const authorize = this.authorize;
    this.authorize = null;
    const filter = authorize ? await authorize() : SEE_EVERYTHING;
    const sub = (this.sub = new SessionSubscription(filter, runs, sessionId));
    this.stopped = signal?.aborted ?? false;
    signal?.addEventListener("abort", this, { once: true });
    const unsubscribe = hub.subscribe(sessionId, this);
    const { queue, lane } = this;
    try {
      const lastEventSeq = await log.lastSeq(sessionId);
      if (lastEventSeq === null) return;
      // The back-fill below reads up to it: the hub's position check need not look for it on the bus.
      hub.observed(sessionId, lastEventSeq);
      // The lane learns its subscription id first (a probe that sends nothing).
      if (lane) yield tracked(sub.cursorId, lane.probe);
      const reset = sub.start(lastEventId, lastEventSeq);
      if (reset) {
        const out = this.send("0", reset, 0);
        if (out) yield out;
      }
      yield* this.catchUp();
      yield* this.snapshots();
      while (!this.stopped) {
        const draining = this.connection?.drained(signal);
        if (draining) await draining;
        // Caught up with nothing queued: everything before has been sent, so
        // live events may now be written as they arrive, in order.
        this.direct = lane !== null && queue.idle;
        const next = await queue.take();
        this.direct = false;
        if (next.kind === "closed") return;
        if (next.kind === "overflow") {
          // Chat deltas were dropped with the queue: snapshots re-synchronise the text.
          yield* this.catchUp();
          yield* this.snapshots();
          continue;
        }
        const delivery = next.value;
        const { message } = delivery;
        if (message.seq === null) {
          const decision = sub.chat(message.event);
          if (decision === "snapshot" && message.event.type === "chat.delta") {
            yield* this.snapshots(message.event.runId);
          } else if (decision !== "skip") {
            const out = decision === "send" ? this.sendLive(delivery, sub.cursorId, false) : this.send(sub.cursorId, sub.trimmed ?? HIDDEN, delivery.receivedAt);
            if (out) yield out;
          }
          continue;
        }
        const decision = sub.persisted(message.seq, message.event, delivery.seqId);
        if (decision === "catch-up") {
          // Published out of order or missed: the log has everything up to it.
          yield* this.catchUp();
        } else if (decision !== "skip") {
          const out = this.sendLive(delivery, sub.cursorId, decision === "hide");
          if (out) yield out;
        }
      }
    } finally {
      signal?.removeEventListener("abort", this);
      unsubscribe();
      queue.close();
    }
  }

  /**
   * The hub's delivery while caught up: write the frame now. It handles the
   * common case only (the next seq, a delta that continues what the
   * subscriber holds, room in the socket); anything else returns false and
   * goes to the queue, for the stream's loop.
   */
  private deliverNow(delivery: Delivery): boolean {
    const { lane, sub, connection } = this;
    if (!lane || !sub || !connection || this.stopped || !connection.writable()) return false;
    const { message } = delivery;
    if (message.seq === null) {
      const decision = sub.chat(message.event);
      if (decision === "skip") return true;
      if (decision === "snapshot") return false;
      const frame = decision === "send" ? delivery.frame(lane, sub.cursorId, false) : lane.frame(sub.cursorId, sub.trimmed ?? HIDDEN);
      connection.writeFrame(frame, delivery.receivedAt);
      return true;
    }
    const decision = sub.persisted(message.seq, message.event, delivery.seqId);
    if (decision === "skip") return true;
    if (decision === "catch-up") return false;
    connection.writeFrame(delivery.frame(lane, sub.cursorId, decision === "hide"), delivery.receivedAt);
    return true;
  }

  /** A live delivery: its shared frame on the lane, or the value to yield. */
  private sendLive(delivery: Delivery, id: string, hidden: boolean): Tracked | null {
    const { lane, connection } = this;
    if (lane && connection) {
      connection.writeFrame(delivery.frame(lane, id, hidden), delivery.receivedAt);
      return null;
    }
    this.streams.deps.stats.deliveredLive(delivery.receivedAt);
    return tracked(id, delivery.event(hidden));
  }

  /** One event of this subscriber's own (a reset, a snapshot, a trimmed delta): its frame on the lane, or the value to yield. */
  private send(id: string, event: SessionEvent, receivedAt: number): Tracked | null {
    const { lane, connection } = this;
    if (lane && connection) {
      connection.writeFrame(lane.frame(id, event), receivedAt);
      return null;
    }
    if (receivedAt !== 0) this.streams.deps.stats.deliveredLive(receivedAt);
    return tracked(id, event);
  }

  /** Snapshots of the running answers this subscriber has seen the start of (optionally of one run). */
  private *snapshots(onlyRunId?: string): Generator<Tracked> {
    if (!this.sub) return;
    for (const snapshot of this.sub.snapshots(onlyRunId)) {
      const out = this.send(this.sub.cursorId, snapshot, 0);
      if (out) yield out;
    }
  }

  /**
   * Read the log after the cursor, page by page, until caught up. Frames
   * respect backpressure between events (a long back-fill never pushes past
   * the soft bound); yields wait for tRPC to ask for the next value anyway.
   */
  private async *catchUp(): AsyncGenerator<Tracked> {
    const { sub, lane, sessionId, signal, connection } = this;
    if (!sub) return;
    const { log, hub, stats } = this.streams.deps;
    const reread = this.backfilled;
    this.backfilled = true;
    if (reread) stats.sessionRereads++;
    for (;;) {
      const page = await log.readAfter(sessionId, sub.position);
      const last = page.at(-1);
      if (last) hub.observed(sessionId, last.seq);
      if (reread) stats.sessionRereadEvents += page.length;
      for (const row of page) {
        const draining = connection?.drained(signal);
        if (draining) await draining;
        if (this.stopped) return;
        const visible = sub.backfilled(row.seq, factsOf(row.stored.json) ?? row.event);
        const id = sub.cursorId;
        if (lane && connection) {
          const frame = visible ? (lane.frameFromStored(id, row.stored, row.storedText) ?? lane.frame(id, row.event)) : lane.frame(id, HIDDEN);
          connection.writeFrame(frame, 0);
        } else {
          yield tracked(id, visible ? row.event : HIDDEN);
        }
      }
      if (page.length < LOG_PAGE || this.stopped) return;
    }
  }
}
