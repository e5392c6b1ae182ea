// The session change log: append (inside the writer's transaction), read
// after a seq, and the resumable stream that `session.events` serves.
import { tracked, type TrackedEnvelope } from "@trpc/server";
import superjson, { type SuperJSONResult } from "superjson";
import type { Prisma, Visibility } from "../../generated/prisma/client";
import { runIdOf } from "../../shared/chat";
import type { ChatStreamEvent, SessionEvent, SessionEventEnvelope } from "../../shared/events";
import { channel, type Bus, type Channel } from "../bus/bus";
import type { Db } from "../db";
import { SubscriptionLane } from "../wire";
import { BoundedQueue } from "./bounded-queue";
import type { DirectSink } from "./connections";

/**
 * What the session channel carries: persisted envelopes, and the ephemeral
 * chat text of running answers (`seq: null`: never persisted, never resumed
 * from; a subscriber re-synchronises it with a snapshot).
 */
export type SessionChannelMessage = SessionEventEnvelope | { seq: null; event: ChatStreamEvent };

export const sessionChannel = (sessionId: string): Channel<SessionChannelMessage> =>
  channel<SessionChannelMessage>(`session:${sessionId}`);

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

type Tx = Prisma.TransactionClient;

/**
 * Write `event` to the session's log at `seq`, inside the writer's
 * transaction. The writer takes `seq` by incrementing `Session.lastEventSeq`
 * in the same transaction, so seqs are unique and gap-free, and publishes the
 * returned envelope only after the transaction commits.
 */
export async function writeSessionEvent(
  tx: Tx,
  sessionId: string,
  seq: number,
  event: SessionEvent,
): Promise<SessionEventEnvelope> {
  await tx.sessionEvent.create({
    data: { sessionId, seq, type: event.type, payload: superjson.serialize(event) as unknown as Prisma.InputJsonValue },
  });
  return { seq, event };
}

/** What a subscriber gets in place of an event it may not see (ids stay consecutive). */
const HIDDEN: SessionEvent = { type: "stream.hidden" };

const BACKFILL_PAGE = 500;

/** Persisted events with seq in (afterSeq, untilSeq], oldest first, one page. */
export async function readSessionEvents(
  db: Db,
  sessionId: string,
  afterSeq: number,
  limit = BACKFILL_PAGE,
): Promise<SessionEventEnvelope[]> {
  const rows = await db.sessionEvent.findMany({
    where: { sessionId, seq: { gt: afterSeq } },
    orderBy: { seq: "asc" },
    take: limit,
  });
  return rows.map((row) => ({
    seq: row.seq,
    event: superjson.deserialize<SessionEvent>(row.payload as unknown as SuperJSONResult),
  }));
}

export interface SessionStreamOptions {
  db: Db;
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
   * Issue 6: whether this subscriber may see a message (auth/policy.ts
   * canSeeMessage). Events about messages it may not see, and the chat text of
   * answers it may not see, are skipped; its cursor still advances past them,
   * so resuming stays exact. Default: everything.
   */
  canSee?: (message: { visibility: Visibility; authorId: string | null }) => boolean;
  /**
   * The subscriber's WebSocket, for the direct path: while the stream is
   * caught up and nothing is queued, live events are written straight to it
   * (ConnectionRegistry.directSink; null or absent: always through tRPC).
   */
  direct?: DirectSink | null;
}

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

/**
 * The resumable stream: subscribe to the bus first (so nothing published
 * during back-fill is missed), back-fill everything after the client's cursor
 * from the database, then follow the live queue. Live events at or below the
 * cursor are skipped; a live event that skips ahead, or a queue overflow,
 * makes the stream read the gap from the database. The database is the truth,
 * so the client sees every persisted event exactly once, in seq order.
 */
export async function* sessionEventStream(
  opts: SessionStreamOptions,
): AsyncGenerator<TrackedEnvelope<SessionEvent>, void, unknown> {
  const { db, bus, sessionId, signal } = opts;
  const canSee = opts.canSee ?? (() => true);
  /** Streaming answers whose message.created this stream has read, and whether the subscriber may see them. */
  const streamingAudience = new Map<string, boolean>();
  const shown = (event: SessionEvent) => {
    if (event.type !== "message.created" && event.type !== "message.updated") return true;
    const visible = canSee(event.message);
    if (event.message.status === "streaming") streamingAudience.set(event.message.id, visible);
    else streamingAudience.delete(event.message.id);
    return visible;
  };
  /** A running answer's audience; unknown (not read here, not running here) counts as not visible. */
  const runVisible = (runId: string, messageId: string) => {
    if (!opts.canSee) return true;
    const known = streamingAudience.get(messageId);
    if (known !== undefined) return known;
    const run = opts.chatRuns?.activeRuns(sessionId).find((r) => r.runId === runId);
    return run !== undefined && canSee({ visibility: run.visibility ?? "public", authorId: run.authorId ?? null });
  };
  const queue = new BoundedQueue<StreamItem>(opts.queueLimit, mergeChatDeltas);
  // The direct path (see the loop below): on while the generator waits on an empty queue.
  const sink = opts.direct ?? null;
  const probe: SessionEvent = { type: "stream.hidden" };
  const lane = sink ? new SubscriptionLane(probe) : null;
  let direct = false;
  /** `signal.aborted`, kept as a plain flag for the per-event check of the direct path. */
  let stopped = signal?.aborted ?? false;
  signal?.addEventListener("abort", () => (stopped = true), { once: true });
  let deliverDirect: (message: SessionChannelMessage) => boolean = () => false;
  const unsubscribe = bus.subscribe(
    sessionChannel(sessionId),
    (message) => {
      if (direct) {
        if (deliverDirect(message)) return;
        direct = false; // the generator takes over from the queue
      }
      queue.push(message.seq === null ? { kind: "chat", event: message.event } : { kind: "persisted", envelope: message });
    },
    // The bus may have lost messages (Redis was down, or not yet subscribed):
    // handled like an overflow, so the stream re-reads the gap from the database.
    {
      onResync: () => {
        direct = false;
        queue.invalidate();
      },
    },
  );
  try {
    const session = await db.session.findUnique({ where: { id: sessionId }, select: { lastEventSeq: true } });
    if (!session) return;

    let cursor = 0;
    if (opts.lastEventId != null) {
      const parsed = parseEventId(opts.lastEventId);
      if (parsed === null || parsed > session.lastEventSeq) {
        const reason =
          parsed === null
            ? `lastEventId "${opts.lastEventId}" is not an event id of this stream`
            : `lastEventId ${parsed} is ahead of this session's stream (last event ${session.lastEventSeq}); the database may have been reset`;
        yield tracked("0", { type: "stream.reset", reason, lastEventSeq: session.lastEventSeq } satisfies SessionEvent);
      } else {
        cursor = parsed;
      }
    }

    // Back-fill (also used to close gaps): read pages until caught up.
    // Chat: how much of each running answer's text this subscriber holds.
    // Chat events are tracked with the current cursor (the last persisted
    // event sent), so a resume re-reads persisted events and gets a snapshot.
    const covered = new Map<string, number>();
    const finishedRuns = new Set<string>();
    const observe = (event: SessionEvent) => {
      if (event.type !== "message.updated" || event.message.status === "streaming") return;
      const runId = runIdOf(event.message);
      if (!runId) return;
      covered.delete(runId);
      finishedRuns.add(runId);
      if (finishedRuns.size > FINISHED_RUNS_REMEMBERED) {
        const oldest = finishedRuns.values().next().value;
        if (oldest !== undefined) finishedRuns.delete(oldest);
      }
    };
    /** One snapshot per active run whose message.created this subscriber has seen (optionally one run only). */
    function* snapshots(onlyRunId?: string): Generator<TrackedEnvelope<SessionEvent>> {
      for (const run of opts.chatRuns?.activeRuns(sessionId) ?? []) {
        if (onlyRunId !== undefined && run.runId !== onlyRunId) continue;
        // Not seen yet: its message.created and every delta are still queued.
        if (run.createdEventSeq > cursor || finishedRuns.has(run.runId)) continue;
        if (!canSee({ visibility: run.visibility ?? "public", authorId: run.authorId ?? null })) continue;
        covered.set(run.runId, run.text.length);
        yield tracked(String(cursor), {
          type: "chat.snapshot",
          runId: run.runId,
          messageId: run.messageId,
          offset: 0,
          text: run.text,
        } satisfies SessionEvent);
      }
    }
    /** A live delta, trimmed to what the subscriber lacks; a gap is closed with a snapshot. */
    function* chatDelta(event: ChatStreamEvent): Generator<TrackedEnvelope<SessionEvent>> {
      if (event.type !== "chat.delta" || finishedRuns.has(event.runId) || !runVisible(event.runId, event.messageId)) return;
      const have = covered.get(event.runId) ?? 0;
      const end = event.offset + event.text.length;
      if (end <= have) return;
      if (event.offset > have) {
        yield* snapshots(event.runId);
        return;
      }
      covered.set(event.runId, end);
      const text = event.text.slice(have - event.offset);
      yield tracked(String(cursor), { ...event, offset: have, text } satisfies SessionEvent);
    }

    async function* catchUp(): AsyncGenerator<TrackedEnvelope<SessionEvent>> {
      for (;;) {
        const page = await readSessionEvents(db, sessionId, cursor);
        for (const envelope of page) {
          // A long back-fill respects backpressure too (it never pushes past the soft bound).
          const draining = opts.writable?.(signal);
          if (draining) await draining;
          cursor = envelope.seq;
          observe(envelope.event);
          yield tracked(String(envelope.seq), shown(envelope.event) ? envelope.event : HIDDEN);
        }
        if (page.length < BACKFILL_PAGE || signal?.aborted) return;
      }
    }

    /**
     * The direct path: the bus listener writes the next live event straight
     * to the subscriber's socket (one frame per event and subscription id,
     * shared by all subscribers), skipping this generator and tRPC's
     * per-subscription loop. It handles the common case only: the next seq, a
     * chat delta that continues exactly what the subscriber has, room in the
     * socket. Anything else returns false: the item goes to the queue and
     * this generator handles it as before (gaps, snapshots, backpressure).
     */
    deliverDirect = (message) => {
      if (!sink || !lane || stopped || !sink.writable()) return false;
      if (message.seq === null) {
        const event = message.event;
        if (event.type !== "chat.delta") return false;
        if (finishedRuns.has(event.runId) || !runVisible(event.runId, event.messageId)) return true;
        const have = covered.get(event.runId) ?? 0;
        if (event.offset + event.text.length <= have) return true;
        if (event.offset !== have) return false;
        covered.set(event.runId, have + event.text.length);
        sink.send(lane.frame(String(cursor), event), message);
        return true;
      }
      if (message.seq <= cursor) return true;
      if (message.seq !== cursor + 1) return false;
      cursor = message.seq;
      observe(message.event);
      sink.send(lane.frame(String(message.seq), shown(message.event) ? message.event : HIDDEN), message);
      return true;
    };

    yield* catchUp();
    yield* snapshots();
    while (!signal?.aborted) {
      const draining = opts.writable?.(signal);
      if (draining) await draining;
      // Caught up with nothing queued: everything this generator yielded has
      // been sent (it only resumes when tRPC asks for the next value), so live
      // events may now go straight to the socket, in order. The first time,
      // the lane learns its subscription id from a probe that sends nothing.
      if (lane && queue.idle) {
        if (!lane.bound) yield tracked(String(cursor), probe);
        direct = lane.bound && queue.idle;
      }
      const next = await queue.take(signal);
      direct = false;
      if (next.kind === "closed") return;
      if (next.kind === "overflow") {
        // Chat deltas were dropped with the queue: snapshots re-synchronise the text.
        yield* catchUp();
        yield* snapshots();
        continue;
      }
      if (next.value.kind === "chat") {
        yield* chatDelta(next.value.event);
        continue;
      }
      const envelope = next.value.envelope;
      if (envelope.seq <= cursor) continue;
      if (envelope.seq > cursor + 1) {
        // Published out of order or missed: the database has everything up to it.
        yield* catchUp();
        continue;
      }
      cursor = envelope.seq;
      observe(envelope.event);
      yield tracked(String(envelope.seq), shown(envelope.event) ? envelope.event : HIDDEN);
    }
  } finally {
    unsubscribe();
    queue.close();
  }
}
