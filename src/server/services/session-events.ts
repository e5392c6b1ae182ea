// The session change log: append (inside the writer's transaction), read
// after a seq, and the resumable stream that `session.events` serves.
import { tracked, type TrackedEnvelope } from "@trpc/server";
import superjson, { type SuperJSONResult } from "superjson";
import type { Prisma } from "../../generated/prisma/client";
import type { SessionEvent, SessionEventEnvelope } from "../../shared/events";
import { channel, type Bus, type Channel } from "../bus/bus";
import type { Db } from "../db";
import { BoundedQueue } from "./bounded-queue";

export const sessionChannel = (sessionId: string): Channel<SessionEventEnvelope> =>
  channel<SessionEventEnvelope>(`session:${sessionId}`);

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
}

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
  const queue = new BoundedQueue<SessionEventEnvelope>(opts.queueLimit);
  const unsubscribe = bus.subscribe(sessionChannel(sessionId), (envelope) => queue.push(envelope));
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
    async function* catchUp(): AsyncGenerator<TrackedEnvelope<SessionEvent>> {
      for (;;) {
        const page = await readSessionEvents(db, sessionId, cursor);
        for (const envelope of page) {
          cursor = envelope.seq;
          yield tracked(String(envelope.seq), envelope.event);
        }
        if (page.length < BACKFILL_PAGE || signal?.aborted) return;
      }
    }

    yield* catchUp();
    while (!signal?.aborted) {
      const next = await queue.take(signal);
      if (next.kind === "closed") return;
      if (next.kind === "overflow") {
        yield* catchUp();
        continue;
      }
      const envelope = next.value;
      if (envelope.seq <= cursor) continue;
      if (envelope.seq > cursor + 1) {
        // Published out of order or missed: the database has everything up to it.
        yield* catchUp();
        continue;
      }
      cursor = envelope.seq;
      yield tracked(String(envelope.seq), envelope.event);
    }
  } finally {
    unsubscribe();
    queue.close();
  }
}
