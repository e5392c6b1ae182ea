// The session change log. Every change of a session (a message created or
// updated, the session updated) is appended here, inside the transaction of
// the write that makes it, with the session's next event seq; the writer
// publishes the returned envelopes on the session channel once that
// transaction has committed; readers resume from it by seq. This file is the
// one place of that rule.
//
// Contract:
// - Seqs are per session, start at 1, and are unique and gap-free: they are
//   taken by incrementing `Session.lastEventSeq` in the writer's transaction,
//   so a rolled-back write takes none.
// - `publish` must be called after the commit, never before: a subscriber
//   that reads the log on seeing a message must find the event there.
// - The session channel delivers at most once, in publish order per
//   publisher (bus.ts); every persisted message carries its seq, so a
//   subscriber detects a gap by itself and reads it with `readAfter`.
// - Chat text of running answers (`seq: null`) is never persisted; a
//   subscriber re-synchronises it from the run (a snapshot).
import type { Message, Prisma } from "../../generated/prisma/client";
import type { ChatStreamEvent, SessionEvent, SessionEventEnvelope } from "../../shared/events";
import superjson, { type SuperJSONResult } from "superjson";
import { channel, type Bus, type Channel } from "../bus/bus";
import { rowsOf, sqliteTimestamp, type SqliteConnection, type Storage } from "../db";

/** What the session channel carries: persisted envelopes, and the ephemeral chat text of running answers. */
export type SessionChannelMessage = SessionEventEnvelope | { seq: null; event: ChatStreamEvent };

export const sessionChannel = (sessionId: string): Channel<SessionChannelMessage> => channel<SessionChannelMessage>(`session:${sessionId}`);

type Tx = Prisma.TransactionClient;

/** Most events `readAfter` returns by default (one back-fill page). */
export const LOG_PAGE = 500;

/** Sessions per query of `lastSeqs` (well under SQLite's bound on parameters). */
const LAST_SEQS_CHUNK = 500;

const TAKE_EVENT_SEQS_SQL = `UPDATE "Session" SET "lastEventSeq" = "lastEventSeq" + ?, "updatedAt" = ? WHERE "id" = ? RETURNING "lastEventSeq"`;
const EVENT_COLUMNS = `"sessionId", "seq", "type", "payload", "createdAt"`;

export class SessionLog {
  constructor(
    private readonly storage: Storage,
    private readonly bus: Bus,
  ) {}

  /**
   * Inside `tx`: take the session's next `events.length` seqs and insert the
   * events at them, in order. Returns the envelopes to `publish` once `tx`
   * has committed. Throws Prisma's record-not-found (P2025) when the session
   * does not exist (services/errors.ts `inSession` makes it NOT_FOUND).
   */
  async append(tx: Tx, sessionId: string, events: readonly SessionEvent[]): Promise<SessionEventEnvelope[]> {
    const last = await this.takeSeqs(tx, sessionId, events.length);
    const envelopes = events.map((event, i) => ({ seq: last - events.length + 1 + i, event }));
    await this.insert(tx, sessionId, envelopes);
    return envelopes;
  }

  /**
   * `append` for one event that must be built after its seq is taken: a
   * `session.updated` carries the session row as it is then (its
   * `lastEventSeq` is this event's seq).
   */
  async appendBuilt<E extends SessionEvent>(tx: Tx, sessionId: string, build: () => Promise<E>): Promise<{ seq: number; event: E }> {
    const seq = await this.takeSeqs(tx, sessionId, 1);
    const envelope = { seq, event: await build() };
    await this.insert(tx, sessionId, [envelope]);
    return envelope;
  }

  /**
   * `append` inside a transaction of the synchronous SQLite connection (the
   * message writer's group commit). Null when the session does not exist
   * (nothing is written).
   */
  appendOnSqlite(sqlite: SqliteConnection, sessionId: string, events: readonly SessionEvent[], now: Date): SessionEventEnvelope[] | null {
    const stamp = sqliteTimestamp(now);
    const taken = sqlite.statement<[number, string, string], { lastEventSeq: number }>(TAKE_EVENT_SEQS_SQL).get(events.length, stamp, sessionId);
    if (!taken) return null;
    const envelopes = events.map((event, i) => ({ seq: taken.lastEventSeq - events.length + 1 + i, event }));
    sqlite
      .statement(`INSERT INTO "SessionEvent" (${EVENT_COLUMNS}) VALUES ${rowsOf(envelopes.length, 5)}`)
      .run(envelopes.flatMap((e) => [sessionId, e.seq, e.event.type, JSON.stringify(encodeSessionEvent(e.event)), stamp]));
    return envelopes;
  }

  /**
   * Inside `tx`: rewrite the stored events about message `messageId`
   * (`message.created`, `message.updated`) with `redact` applied to their
   * message, so a replay no longer carries what was deleted. Their seqs and
   * types stay: resuming is unchanged.
   */
  async redactMessage(tx: Tx, sessionId: string, messageId: string, redact: (message: Message) => Message): Promise<number> {
    const rows =
      this.storage.dialect === "sqlite"
        ? await tx.$queryRawUnsafe<{ seq: number; payload: string }[]>(
            `SELECT "seq", "payload" FROM "SessionEvent" WHERE "sessionId" = ? AND "type" IN ('message.created', 'message.updated') AND json_extract("payload", '$.json.message.id') = ?`,
            sessionId,
            messageId,
          )
        : await tx.$queryRawUnsafe<{ seq: number; payload: unknown }[]>(
            `SELECT "seq", "payload" FROM "SessionEvent" WHERE "sessionId" = $1 AND "type" IN ('message.created', 'message.updated') AND "payload"->'json'->'message'->>'id' = $2`,
            sessionId,
            messageId,
          );
    for (const row of rows) {
      const stored = (typeof row.payload === "string" ? JSON.parse(row.payload) : row.payload) as SuperJSONResult;
      const event = superjson.deserialize<SessionEvent>(stored);
      if (event.type !== "message.created" && event.type !== "message.updated") continue;
      const payload = encodeSessionEvent({ ...event, message: redact(event.message) }) as unknown as Prisma.InputJsonValue;
      await tx.sessionEvent.update({ where: { sessionId_seq: { sessionId, seq: Number(row.seq) } }, data: { payload } });
    }
    return rows.length;
  }

  /** Publish appended envelopes on the session channel, in seq order: only after their transaction committed. */
  publish(sessionId: string, envelopes: readonly SessionEventEnvelope[]): void {
    const to = sessionChannel(sessionId);
    for (const envelope of envelopes) this.bus.publish(to, envelope);
  }

  /** Publish a running answer's text (never persisted; see the contract above). */
  publishText(sessionId: string, event: ChatStreamEvent): void {
    this.bus.publish(sessionChannel(sessionId), { seq: null, event });
  }

  /**
   * Persisted events with seq after `afterSeq`, oldest first, at most
   * `limit`. On SQLite read on the synchronous connection, with each event's
   * stored JSON text (a back-fill frames it without encoding it again).
   */
  async readAfter(sessionId: string, afterSeq: number, limit = LOG_PAGE): Promise<StoredSessionEvent[]> {
    const { sqlite, db } = this.storage;
    if (sqlite) {
      return sqlite
        .statement<[string, number, number], { seq: number; payload: string }>(
          `SELECT "seq", "payload" FROM "SessionEvent" WHERE "sessionId" = ? AND "seq" > ? ORDER BY "seq" LIMIT ?`,
        )
        .all(sessionId, afterSeq, limit)
        .map((row) => new StoredSessionEvent(row.seq, JSON.parse(row.payload) as SuperJSONResult, row.payload));
    }
    const rows = await db.sessionEvent.findMany({
      where: { sessionId, seq: { gt: afterSeq } },
      orderBy: { seq: "asc" },
      take: limit,
      select: { seq: true, payload: true },
    });
    return rows.map((row) => new StoredSessionEvent(row.seq, row.payload as unknown as SuperJSONResult));
  }

  /** The session's last event seq; null when the session does not exist. */
  async lastSeq(sessionId: string): Promise<number | null> {
    const { sqlite, db } = this.storage;
    if (!sqlite) return (await db.session.findUnique({ where: { id: sessionId }, select: { lastEventSeq: true } }))?.lastEventSeq ?? null;
    return sqlite.statement<[string], { lastEventSeq: number }>(`SELECT "lastEventSeq" FROM "Session" WHERE "id" = ?`).get(sessionId)?.lastEventSeq ?? null;
  }

  /** The last event seq of each of `sessionIds` that exists: one query per LAST_SEQS_CHUNK sessions (the hub's position check). */
  async lastSeqs(sessionIds: readonly string[]): Promise<Map<string, number>> {
    const { sqlite, db } = this.storage;
    const out = new Map<string, number>();
    for (let i = 0; i < sessionIds.length; i += LAST_SEQS_CHUNK) {
      const chunk = sessionIds.slice(i, i + LAST_SEQS_CHUNK);
      // SQLite: one prepared statement whatever the count (the ids as one JSON array).
      const rows = sqlite
        ? sqlite
            .statement<[string], { id: string; lastEventSeq: number }>(`SELECT "id", "lastEventSeq" FROM "Session" WHERE "id" IN (SELECT "value" FROM json_each(?))`)
            .all(JSON.stringify(chunk))
        : await db.session.findMany({ where: { id: { in: chunk } }, select: { id: true, lastEventSeq: true } });
      for (const row of rows) out.set(row.id, row.lastEventSeq);
    }
    return out;
  }

  private async takeSeqs(tx: Tx, sessionId: string, count: number): Promise<number> {
    const session = await tx.session.update({ where: { id: sessionId }, data: { lastEventSeq: { increment: count } }, select: { lastEventSeq: true } });
    return session.lastEventSeq;
  }

  private async insert(tx: Tx, sessionId: string, envelopes: readonly SessionEventEnvelope[]): Promise<void> {
    await tx.sessionEvent.createMany({
      data: envelopes.map(({ seq, event }) => ({ sessionId, seq, type: event.type, payload: encodeSessionEvent(event) as unknown as Prisma.InputJsonValue })),
    });
  }
}

/** How an event is stored: its superjson encoding (dates and the like survive). */
export function encodeSessionEvent(event: SessionEvent): SuperJSONResult {
  return superjson.serialize(event);
}

/**
 * A persisted event as read back, with its stored encoding (a back-fill
 * frames it without encoding it again). The event itself is decoded only when
 * asked for: visibility checks read `facts` from the stored JSON instead.
 */
export class StoredSessionEvent implements SessionEventEnvelope {
  private decoded: SessionEvent | null = null;

  constructor(
    readonly seq: number,
    readonly stored: SuperJSONResult,
    /** Its JSON text as stored (SQLite), spliced into frames as it is. */
    readonly storedText?: string,
  ) {}

  get event(): SessionEvent {
    return (this.decoded ??= superjson.deserialize<SessionEvent>(this.stored));
  }
}
