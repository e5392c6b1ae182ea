// The session change log: append (inside the writer's transaction), read
// after a seq, and the resumable stream that `session.events` serves.
import { tracked, type TrackedEnvelope } from "@trpc/server";
import type { Visibility } from "../../generated/prisma/client";
import { runIdOf } from "../../shared/chat";
import type { ChatStreamEvent, SessionEvent, SessionEventEnvelope } from "../../shared/events";
import type { Bus } from "../bus/bus";
import { SubscriptionLane } from "../wire";
import { BoundedQueue } from "./bounded-queue";
import type { DirectSink } from "./connections";
import { LOG_PAGE, sessionChannel, type SessionChannelMessage, type SessionLog, type StoredSessionEvent } from "./session-log";

/** What a late subscriber needs to show a running answer. */
export interface ActiveRunSnapshot {
  runId: string;
  messageId: string;
  /** The session event seq of the assistant message's `message.created`. */
  createdEventSeq: number;
  /** The text so far. */
  text: string;
  /** Issue 6: the answer's audience (inherited from its question), for per-subscriber filtering. */
  visibility?: Visibility;
  authorId?: string | null;
}

/** Where the stream reads running answers from (the chat run registry). */
export interface ActiveRunSource {
  activeRuns(sessionId: string): ActiveRunSnapshot[];
}

/** What a subscriber gets in place of an event it may not see (ids stay consecutive). */
const HIDDEN: SessionEvent = { type: "stream.hidden" };

/**
 * What a stream's visibility check and run tracking read of an event: fields
 * that JSON keeps as they are (no dates), so they can be read from the stored
 * encoding without decoding it. Every SessionEvent is one.
 */
interface EventFacts {
  type: string;
  message?: { id: string; visibility: Visibility; authorId: string | null; status: string; metadata: unknown };
}

const VISIBILITIES: readonly string[] = ["public", "private", "agent_only"] satisfies Visibility[];

function isVisibility(value: unknown): value is Visibility {
  return typeof value === "string" && VISIBILITIES.includes(value);
}

/** What visibility and run tracking read of a stored event, straight from its stored JSON (the same there as in the event); else the decoded event. */
function factsOfStored(stored: StoredSessionEvent): EventFacts {
  return factsOf(stored.stored.json) ?? stored.event;
}

/** `json` as EventFacts, or null when it does not have their shape (the caller decodes instead). */
function factsOf(json: unknown): EventFacts | null {
  if (typeof json !== "object" || json === null || !("type" in json) || typeof json.type !== "string") return null;
  if (!("message" in json)) return { type: json.type };
  const m = json.message;
  if (typeof m !== "object" || m === null) return null;
  if (!("id" in m) || !("visibility" in m) || !("authorId" in m) || !("status" in m) || !("metadata" in m)) return null;
  const { id, visibility, authorId, status, metadata } = m;
  if (typeof id !== "string" || !isVisibility(visibility) || typeof status !== "string") return null;
  if (authorId !== null && typeof authorId !== "string") return null;
  return { type: json.type, message: { id, visibility, authorId, status, metadata } };
}

export interface SessionStreamOptions {
  log: SessionLog;
  bus: Bus;
  sessionId: string;
  lastEventId: string | null | undefined;
  signal: AbortSignal | undefined;
  /** Live events a slow subscriber may have queued before it is re-synchronised from the database. */
  queueLimit: number;
  /** Running chat answers, for snapshots on (re)connect; without it, chat deltas are still streamed. */
  chatRuns?: ActiveRunSource;
  /**
   * Resolves when the subscriber's connection can take more (backpressure).
   * While it waits, live items stay in the bounded queue: chat deltas merge,
   * and an overflow is re-read from the database once the client drains.
   */
  writable?: (signal: AbortSignal | undefined) => Promise<void> | null;
  /**
   * Issue 6: runs first, before the stream subscribes or reads anything. It
   * rejects to refuse the stream (the error, e.g. NOT_FOUND or FORBIDDEN, is
   * what the subscriber gets), or resolves to whether this subscriber may see
   * a message (auth/policy.ts canSeeMessage; undefined: everything). Events
   * about messages it may not see, and the chat text of answers it may not
   * see, are skipped; its cursor still advances past them, so resuming stays
   * exact. Default: everything.
   */
  authorize?: () => Promise<MessageFilter | undefined>;
  /**
   * The subscriber's WebSocket, for the direct path: while the stream is
   * caught up and nothing is queued, live events are written straight to it
   * (ConnectionRegistry.directSink; null or absent: always through tRPC).
   */
  direct?: DirectSink | null;
}

/** Whether a subscriber may see a message (see SessionStreamOptions.authorize). */
export type MessageFilter = (message: { visibility: Visibility; authorId: string | null }) => boolean;

type ChatDelta = Extract<ChatStreamEvent, { type: "chat.delta" }>;

/** One queued item: a persisted envelope, or an ephemeral chat delta. */
type StreamItem = { kind: "persisted"; envelope: SessionEventEnvelope } | { kind: "chat"; event: ChatStreamEvent };

/** A slow subscriber gets one larger delta instead of many queued ones. */
function mergeChatDeltas(last: StreamItem, next: StreamItem): StreamItem | null {
  if (last.kind !== "chat" || next.kind !== "chat") return null;
  const a = last.event;
  const b = next.event;
  if (a.type !== "chat.delta" || b.type !== "chat.delta" || a.runId !== b.runId || a.offset + a.text.length !== b.offset) return null;
  return { kind: "chat", event: { ...a, text: a.text + b.text } };
}

/** Finished runs a stream remembers (to ignore their late deltas). */
const FINISHED_RUNS_REMEMBERED = 256;

/** Parse a resume id: a non-negative integer, or null when it cannot be one. */
function parseEventId(id: string): number | null {
  if (!/^\d{1,15}$/.test(id)) return null;
  return Number(id);
}

/** No filter: one shared function rather than one per stream. */
const SEE_EVERYTHING: MessageFilter = () => true;

/**
 * The resumable stream: subscribe to the bus first (so nothing published
 * during back-fill is missed), back-fill everything after the client's cursor
 * from the database, then follow the live queue. Live events at or below the
 * cursor are skipped; a live event that skips ahead, or a queue overflow,
 * makes the stream read the gap from the database. The database is the truth,
 * so the client sees every persisted event exactly once, in seq order.
 */
export function sessionEventStream(opts: SessionStreamOptions): AsyncGenerator<TrackedEnvelope<SessionEvent>, void, unknown> {
  return new SessionEventStream(opts).events();
}

/**
 * One subscriber's stream. An idle server holds one of these per subscriber
 * (issue #9: thousands per instance), so its state lives in fields, allocated
 * when first needed, and its logic in methods, not in per-stream closures. It
 * copies what it needs from the options and keeps no reference to them, so
 * `authorize` is dropped once it has run.
 */
class SessionEventStream {
  private readonly log: SessionLog;
  private readonly bus: Bus;
  private readonly sessionId: string;
  private readonly lastEventId: string | null | undefined;
  private readonly signal: AbortSignal | undefined;
  private readonly chatRuns: ActiveRunSource | undefined;
  private readonly writable: SessionStreamOptions["writable"];
  private authorize: SessionStreamOptions["authorize"] | null;
  private canSee: MessageFilter = SEE_EVERYTHING;
  /** Streaming answers whose message.created this stream has read, and whether the subscriber may see them. */
  private streamingAudience: Map<string, boolean> | null = null;
  private readonly queue: BoundedQueue<StreamItem>;
  /** The direct path (see `events`): on while the generator waits on an empty queue. */
  private readonly sink: DirectSink | null;
  private readonly lane: SubscriptionLane | null;
  private readonly probe: SessionEvent = { type: "stream.hidden" };
  private direct = false;
  /** `signal.aborted`, kept as a plain flag for the per-event check of the direct path. */
  private stopped = false;
  /** The last persisted event sent (or skipped past). */
  private cursor = 0;
  /** Chat: how much of each running answer's text this subscriber holds. */
  private covered: Map<string, number> | null = null;
  /** Runs that finished (to ignore their late deltas); at most FINISHED_RUNS_REMEMBERED. */
  private finishedRuns: Set<string> | null = null;

  constructor(opts: SessionStreamOptions) {
    this.log = opts.log;
    this.bus = opts.bus;
    this.sessionId = opts.sessionId;
    this.lastEventId = opts.lastEventId;
    this.signal = opts.signal;
    this.chatRuns = opts.chatRuns;
    this.writable = opts.writable;
    this.authorize = opts.authorize ?? null;
    this.queue = new BoundedQueue<StreamItem>(opts.queueLimit, mergeChatDeltas);
    this.sink = opts.direct ?? null;
    this.lane = this.sink ? new SubscriptionLane(this.probe) : null;
  }

  /** The abort listener on `opts.signal` (an object listener, so no closure per stream): stop, and end a pending `take`. */
  handleEvent(): void {
    this.stopped = true;
    this.queue.close();
  }

  private shown(event: EventFacts): boolean {
    if ((event.type !== "message.created" && event.type !== "message.updated") || !event.message) return true;
    const visible = this.canSee(event.message);
    if (event.message.status === "streaming") (this.streamingAudience ??= new Map()).set(event.message.id, visible);
    else this.streamingAudience?.delete(event.message.id);
    return visible;
  }

  /** A running answer's audience; unknown (not read here, not running here) counts as not visible. */
  private runVisible(runId: string, messageId: string): boolean {
    if (this.canSee === SEE_EVERYTHING) return true;
    const known = this.streamingAudience?.get(messageId);
    if (known !== undefined) return known;
    const run = this.chatRuns?.activeRuns(this.sessionId).find((r) => r.runId === runId);
    return run !== undefined && this.canSee({ visibility: run.visibility ?? "public", authorId: run.authorId ?? null });
  }

  private observe(event: EventFacts): void {
    if (event.type !== "message.updated" || !event.message || event.message.status === "streaming") return;
    const runId = runIdOf(event.message);
    if (!runId) return;
    this.covered?.delete(runId);
    const finishedRuns = (this.finishedRuns ??= new Set());
    finishedRuns.add(runId);
    if (finishedRuns.size > FINISHED_RUNS_REMEMBERED) {
      const oldest = finishedRuns.values().next().value;
      if (oldest !== undefined) finishedRuns.delete(oldest);
    }
  }

  private finished(runId: string): boolean {
    return this.finishedRuns?.has(runId) ?? false;
  }

  /** A bus message: straight to the socket on the direct path, else into the queue. */
  private receive(message: SessionChannelMessage): void {
    if (this.direct) {
      if (this.deliverDirect(message)) return;
      this.direct = false; // the generator takes over from the queue
    }
    this.queue.push(message.seq === null ? { kind: "chat", event: message.event } : { kind: "persisted", envelope: message });
  }

  /**
   * The bus may have lost messages (Redis was down, or not yet subscribed):
   * handled like an overflow, so the stream re-reads the gap from the database.
   */
  private resync(): void {
    this.direct = false;
    this.queue.invalidate();
  }

  async *events(): AsyncGenerator<TrackedEnvelope<SessionEvent>, void, unknown> {
    const { log, bus, sessionId, signal } = this;
    const queue = this.queue;
    const authorize = this.authorize;
    this.authorize = null;
    if (authorize) this.canSee = (await authorize()) ?? SEE_EVERYTHING;
    this.stopped = signal?.aborted ?? false;
    signal?.addEventListener("abort", this, { once: true });
    const unsubscribe = bus.subscribe(sessionChannel(sessionId), (message) => this.receive(message), { onResync: this.resync.bind(this) });
    try {
      const lastEventSeq = await log.lastSeq(sessionId);
      if (lastEventSeq === null) return;
      const session = { lastEventSeq };

      if (this.lastEventId != null) {
        const parsed = parseEventId(this.lastEventId);
        if (parsed === null || parsed > session.lastEventSeq) {
          const reason =
            parsed === null
              ? `lastEventId "${this.lastEventId}" is not an event id of this stream`
              : `lastEventId ${parsed} is ahead of this session's stream (last event ${session.lastEventSeq}); the database may have been reset`;
          yield tracked("0", { type: "stream.reset", reason, lastEventSeq: session.lastEventSeq } satisfies SessionEvent);
        } else {
          this.cursor = parsed;
        }
      }

      // The lane learns its subscription id first (a probe that sends
      // nothing), so the back-fill can go straight to the socket too.
      const lane = this.lane;
      if (lane && !lane.bound) yield tracked(String(this.cursor), this.probe);

      // Back-fill (also used to close gaps): read pages until caught up.
      // Chat events are tracked with the current cursor (the last persisted
      // event sent), so a resume re-reads persisted events and gets a snapshot.
      yield* this.catchUp();
      yield* this.snapshots();
      while (!signal?.aborted) {
        const draining = this.writable?.(signal);
        if (draining) await draining;
        // Caught up with nothing queued: everything this generator yielded has
        // been sent (it only resumes when tRPC asks for the next value), so live
        // events may now go straight to the socket, in order.
        this.direct = lane !== null && lane.bound && queue.idle;
        // An abort closes the queue (handleEvent), which ends this wait.
        const next = await queue.take();
        this.direct = false;
        if (next.kind === "closed") return;
        if (next.kind === "overflow") {
          // Chat deltas were dropped with the queue: snapshots re-synchronise the text.
          yield* this.catchUp();
          yield* this.snapshots();
          continue;
        }
        if (next.value.kind === "chat") {
          yield* this.chatDelta(next.value.event);
          continue;
        }
        const envelope = next.value.envelope;
        if (envelope.seq <= this.cursor) continue;
        if (envelope.seq > this.cursor + 1) {
          // Published out of order or missed: the database has everything up to it.
          yield* this.catchUp();
          continue;
        }
        yield tracked(String(envelope.seq), this.advance(envelope.seq, envelope.event) ? envelope.event : HIDDEN);
      }
    } finally {
      signal?.removeEventListener("abort", this);
      unsubscribe();
      queue.close();
    }
  }

  /** One snapshot per active run whose message.created this subscriber has seen (optionally one run only). */
  private *snapshots(onlyRunId?: string): Generator<TrackedEnvelope<SessionEvent>> {
    for (const run of this.chatRuns?.activeRuns(this.sessionId) ?? []) {
      if (onlyRunId !== undefined && run.runId !== onlyRunId) continue;
      // Not seen yet: its message.created and every delta are still queued.
      if (run.createdEventSeq > this.cursor || this.finished(run.runId)) continue;
      if (!this.canSee({ visibility: run.visibility ?? "public", authorId: run.authorId ?? null })) continue;
      (this.covered ??= new Map()).set(run.runId, run.text.length);
      yield tracked(String(this.cursor), {
        type: "chat.snapshot",
        runId: run.runId,
        messageId: run.messageId,
        offset: 0,
        text: run.text,
      } satisfies SessionEvent);
    }
  }

  /** A live delta, trimmed to what the subscriber lacks; a gap is closed with a snapshot. */
  private *chatDelta(event: ChatStreamEvent): Generator<TrackedEnvelope<SessionEvent>> {
    if (event.type !== "chat.delta") return;
    const have = this.deltaStart(event);
    if (have === null) return;
    if (event.offset > have) {
      yield* this.snapshots(event.runId);
      return;
    }
    (this.covered ??= new Map()).set(event.runId, event.offset + event.text.length);
    // An exact continuation is sent as published (one encoding for every subscriber); an overlap is trimmed.
    const delta = event.offset === have ? event : { ...event, offset: have, text: event.text.slice(have - event.offset) };
    yield tracked(String(this.cursor), delta satisfies SessionEvent);
  }

  /**
   * Where the subscriber's copy of a delta's run ends (the offset a delta
   * must continue from); null when the delta brings nothing: a finished or
   * invisible run, or text the subscriber already holds.
   */
  private deltaStart(event: ChatDelta): number | null {
    if (this.finished(event.runId) || !this.runVisible(event.runId, event.messageId)) return null;
    const have = this.covered?.get(event.runId) ?? 0;
    return event.offset + event.text.length <= have ? null : have;
  }

  /** Move the cursor to a persisted event; whether the subscriber may see it (else it gets HIDDEN in its place). */
  private advance(seq: number, facts: EventFacts): boolean {
    this.cursor = seq;
    this.observe(facts);
    return this.shown(facts);
  }

  /**
   * Read pages after the cursor until caught up. On a bound lane the events
   * are written straight to the socket, like live ones on the direct path
   * (everything yielded before has been sent: this generator only runs when
   * tRPC asks for the next value); otherwise they are yielded through tRPC.
   */
  private async *catchUp(): AsyncGenerator<TrackedEnvelope<SessionEvent>> {
    const { log, sessionId, signal, sink, lane } = this;
    for (;;) {
      const page = await log.readAfter(sessionId, this.cursor);
      for (const envelope of page) {
        // A long back-fill respects backpressure too (it never pushes past the soft bound).
        const draining = this.writable?.(signal);
        if (draining) await draining;
        if (this.stopped) return;
        const visible = this.advance(envelope.seq, factsOfStored(envelope));
        if (sink && lane?.bound) {
          const id = String(envelope.seq);
          const frame = visible ? (lane.frameFromStored(id, envelope.stored, envelope.storedText) ?? lane.frame(id, envelope.event)) : lane.frame(id, HIDDEN);
          sink.send(frame, envelope);
        } else yield tracked(String(envelope.seq), visible ? envelope.event : HIDDEN);
      }
      if (page.length < LOG_PAGE || signal?.aborted) return;
    }
  }

  /**
   * The direct path: the bus listener writes the next live event straight
   * to the subscriber's socket (one frame per event and subscription id,
   * shared by all subscribers), skipping this generator and tRPC's
   * per-subscription loop. It handles the common case only: the next seq, a
   * chat delta that continues exactly what the subscriber has, room in the
   * socket. Anything else returns false: the item goes to the queue and
   * the generator handles it as before (gaps, snapshots, backpressure).
   */
  private deliverDirect(message: SessionChannelMessage): boolean {
    const { sink, lane } = this;
    if (!sink || !lane || this.stopped || !sink.writable()) return false;
    if (message.seq === null) {
      const event = message.event;
      if (event.type !== "chat.delta") return false;
      const have = this.deltaStart(event);
      if (have === null) return true;
      if (event.offset !== have) return false;
      (this.covered ??= new Map()).set(event.runId, have + event.text.length);
      sink.send(lane.frame(String(this.cursor), event), message);
      return true;
    }
    if (message.seq <= this.cursor) return true;
    if (message.seq !== this.cursor + 1) return false;
    sink.send(lane.frame(String(message.seq), this.advance(message.seq, message.event) ? message.event : HIDDEN), message);
    return true;
  }
}
