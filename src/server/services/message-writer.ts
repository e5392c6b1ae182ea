// Group commit for `message.post`. Each transaction costs about a millisecond
// whatever it holds, so one per message caps SQLite at a few hundred writes/s.
// Posts that arrive while a transaction is in flight wait and are then written
// together: per session, one counter update takes k message seqs, one insert
// writes the k messages, and the session log appends their k events. Each caller still
// resolves only after the transaction holding its message has committed, and
// gets the same errors it would alone (NOT_FOUND for its own missing session).
// Idempotency: a post whose `clientKey` is already stored in its session (or
// repeated within one batch) resolves with that message; nothing is written.
import type { z } from "zod";
import { Prisma, type Message } from "../../generated/prisma/client";
import type { SessionEvent, SessionEventEnvelope } from "../../shared/events";
import type { messagePostInput } from "../../shared/schemas";
import { placeholders, rowsOf, sqliteTimestamp, type Db, type SqliteConnection, type Storage } from "../db";
import { isSqliteBusy, isUniqueViolation, sessionNotFound } from "./errors";
import { newId } from "./ids";
import type { SessionLog } from "./session-log";

type PostInput = z.output<typeof messagePostInput>;

/**
 * Who posts a message: the principal's id (its `private` messages stay
 * visible to it; null for no stored principal) and the name people see as
 * the author. The poster's own `author` label is kept apart (`authorLabel`).
 */
export interface Poster {
  id: string | null;
  name: string;
}

interface Pending {
  input: PostInput;
  poster: Poster;
  resolve: (message: Message) => void;
  reject: (error: unknown) => void;
}

/** Most messages written in one transaction; more wait for the next one. */
const MAX_BATCH = 256;
/**
 * Times a batch is written again after a unique-constraint failure on a
 * clientKey: another writer (another instance, or chat.send) stored the key
 * between our read and our insert; the next attempt reads it and returns it.
 */
const KEY_RACE_RETRIES = 3;
/** SQLite: while Prisma's connection holds the write lock, try again this often, for at most this long. */
const BUSY_RETRY_MS = 2;
const BUSY_GIVE_UP_MS = 10_000;

export class MessageWriter {
  private queue: Pending[] = [];
  private writing = false;

  constructor(
    private readonly storage: Storage,
    private readonly log: SessionLog,
  ) {}

  post(input: PostInput, poster: Poster): Promise<Message> {
    return new Promise((resolve, reject) => {
      this.queue.push({ input, poster, resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.queue.length > 0) {
        // Let the event loop take in what has arrived first. With SQLite the
        // driver is synchronous, so a whole transaction can run inside one
        // turn of the loop: without this pause no other post ever arrives
        // while one is being written, and every batch holds one message.
        await new Promise((resolve) => setImmediate(resolve));
        const batch = this.queue.splice(0, MAX_BATCH);
        try {
          const published = await this.writeWithRetries(batch);
          for (const { sessionId, envelopes } of published) this.log.publish(sessionId, envelopes);
        } catch (error) {
          for (const item of batch) item.reject(error);
        }
      }
    } finally {
      this.writing = false;
    }
  }

  private async writeWithRetries(batch: Pending[]) {
    const busySince = performance.now();
    for (let keyRaces = 0; ; ) {
      try {
        return await this.write(batch);
      } catch (error) {
        // The transaction rolled back: nothing of this batch was written, so writing it again is safe.
        if (isSqliteBusy(error) && performance.now() - busySince < BUSY_GIVE_UP_MS) {
          await new Promise((resolve) => setTimeout(resolve, BUSY_RETRY_MS));
          continue;
        }
        const keyed = batch.some((item) => item.input.clientKey !== undefined);
        if (!keyed || !isUniqueViolation(error) || keyRaces++ >= KEY_RACE_RETRIES) throw error;
      }
    }
  }

  /** Write one batch in one transaction; resolves or rejects every item; returns envelopes to publish in order. */
  private async write(batch: Pending[]): Promise<{ sessionId: string; envelopes: SessionEventEnvelope[] }[]> {
    const bySession = new Map<string, Pending[]>();
    for (const item of batch) {
      const list = bySession.get(item.input.sessionId) ?? [];
      list.push(item);
      bySession.set(item.input.sessionId, list);
    }
    const now = new Date();
    const { sqlite, db } = this.storage;
    const outcomes = sqlite ? writeOnSqlite(sqlite, this.log, bySession, now) : await writeThroughPrisma(db, this.log, bySession, now);
    // Repeated keys answer with the message stored under them: written in
    // this batch, or read now (after the commit) by the id the batch found.
    const byKey = new Map<string, Message>();
    const storedIds = new Map<string, string>();
    for (const outcome of outcomes) {
      for (const { message } of outcome.written) if (message.clientKey) byKey.set(message.clientKey, message);
      for (const [key, id] of outcome.storedIds) storedIds.set(key, id);
    }
    const unread = [...storedIds].filter(([key]) => !byKey.has(key)).map(([, id]) => id);
    if (unread.length > 0) {
      for (const message of await this.storage.db.message.findMany({ where: { id: { in: unread } } })) {
        if (message.clientKey) byKey.set(message.clientKey, message);
      }
    }
    for (const outcome of outcomes) {
      for (const item of outcome.missing) item.reject(sessionNotFound(item.input.sessionId));
      for (const { item, message } of outcome.written) item.resolve(message);
      for (const item of outcome.repeats) {
        const message = byKey.get(item.input.clientKey ?? "");
        if (message) item.resolve(message);
        else item.reject(new Error(`clientKey ${item.input.clientKey}: the message stored under it is gone`));
      }
    }
    return outcomes.flatMap((outcome) => (outcome.envelopes.length > 0 ? [{ sessionId: outcome.sessionId, envelopes: outcome.envelopes }] : []));
  }
}

/** What a batch did in one session. */
interface SessionOutcome {
  sessionId: string;
  written: { item: Pending; message: Message }[];
  /** The written messages' `message.created` events, as the session log appended them. */
  envelopes: SessionEventEnvelope[];
  /** Posts whose clientKey is stored (storedIds) or written earlier in the batch. */
  repeats: Pending[];
  /** Posts to a session that does not exist. */
  missing: Pending[];
  /** Ids of the messages already stored under this batch's keys. */
  storedIds: Map<string, string>;
}

/** Per-session steps shared by both databases (the database steps differ; see writeOnSqlite, writeThroughPrisma). */
const plan = {
  keys(items: Pending[]): string[] {
    return [...new Set(items.flatMap((item) => (item.input.clientKey ? [item.input.clientKey] : [])))];
  },

  /** Of a key already stored, or repeated in the batch, only the first new post is written. */
  split(items: Pending[], stored: Map<string, string>): { toWrite: Pending[]; repeats: Pending[] } {
    const toWrite: Pending[] = [];
    const repeats: Pending[] = [];
    const claimed = new Set<string>();
    for (const item of items) {
      const key = item.input.clientKey;
      if (key !== undefined && (stored.has(key) || claimed.has(key))) {
        repeats.push(item);
        continue;
      }
      if (key !== undefined) claimed.add(key);
      toWrite.push(item);
    }
    return { toWrite, repeats };
  },

  /** The messages, given the session's `lastSeq` after taking k message seqs. */
  messages(sessionId: string, items: Pending[], lastSeq: number, now: Date): SessionOutcome["written"] {
    const k = items.length;
    return items.map((item, i) => {
      const { input, poster } = item;
      const message: Message = {
        id: newId(),
        sessionId,
        seq: lastSeq - k + 1 + i,
        role: input.role,
        author: poster.name,
        authorLabel: authorLabel(input.author, poster),
        content: input.content,
        visibility: input.visibility,
        status: "complete",
        metadata: input.metadata ?? {},
        parentId: null,
        authorId: poster.id,
        clientKey: input.clientKey ?? null,
        // Distinct Date objects: superjson records shared references
        // (referentialEqualities), which the stored encoding must not carry.
        createdAt: new Date(now),
        updatedAt: new Date(now),
      };
      return { item, message };
    });
  },

  events(written: SessionOutcome["written"]): SessionEvent[] {
    return written.map(({ message }) => ({ type: "message.created", message }));
  },
};

/** The poster's label, unless it only repeats the name already shown. */
export function authorLabel(label: string | undefined, poster: Poster): string | null {
  return label === undefined || label === poster.name ? null : label;
}


// The batch's message statements are SQL rather than Prisma's model API, whose
// query compiler costs ~0.3 ms per inserted row (12 ms of 14 for a batch of
// 20). Both variants write the same columns the same way, and append the
// events through the session log; tests/message-writer.test.ts reads what they
// write back through Prisma, on SQLite and on PostgreSQL.

/**
 * SQLite: the whole batch in one synchronous IMMEDIATE transaction on the
 * synchronous connection (db.ts SqliteConnection), with prepared statements:
 * ~1 ms for 20 posts, against ~4 ms through Prisma's raw queries. Nothing
 * else runs meanwhile. Throws SQLITE_BUSY when Prisma's connection holds the
 * write lock (the caller retries).
 */
function writeOnSqlite(sqlite: SqliteConnection, log: SessionLog, bySession: Map<string, Pending[]>, now: Date): SessionOutcome[] {
  const stamp = sqliteTimestamp(now);
  return sqlite.immediate((): SessionOutcome[] =>
    [...bySession].map(([sessionId, items]) => {
      const keys = plan.keys(items);
      const storedIds = new Map<string, string>();
      if (keys.length > 0) {
        const rows = sqlite
          .statement<unknown[], { id: string; clientKey: string }>(
            `SELECT "id", "clientKey" FROM "Message" WHERE "sessionId" = ? AND "clientKey" IN (${placeholders(keys.length)})`,
          )
          .all(sessionId, ...keys);
        for (const row of rows) storedIds.set(row.clientKey, row.id);
      }
      const { toWrite, repeats } = plan.split(items, storedIds);
      const k = toWrite.length;
      if (k === 0) return { sessionId, written: [], envelopes: [], repeats, missing: [], storedIds };
      const taken = sqlite.statement<[number, string], { lastSeq: number }>(TAKE_MESSAGE_SEQS_SQL).get(k, sessionId);
      if (!taken) return { sessionId, written: [], envelopes: [], repeats: [], missing: items, storedIds };
      const written = plan.messages(sessionId, toWrite, taken.lastSeq, now);
      sqlite.statement(`INSERT INTO "Message" (${MESSAGE_COLUMNS}) VALUES ${rowsOf(k, 15)}`).run(
        written.flatMap(({ message: m }) => [m.id, m.sessionId, m.seq, m.role, m.author, m.authorLabel, m.content, m.visibility, m.status, JSON.stringify(m.metadata), m.parentId, m.authorId, m.clientKey, stamp, stamp]),
      );
      const envelopes = log.appendOnSqlite(sqlite, sessionId, plan.events(written), now) ?? [];
      return { sessionId, written, envelopes, repeats, missing: [], storedIds };
    }),
  );
}

const TAKE_MESSAGE_SEQS_SQL = `UPDATE "Session" SET "lastSeq" = "lastSeq" + ? WHERE "id" = ? RETURNING "lastSeq"`;

const MESSAGE_COLUMNS = `"id", "sessionId", "seq", "role", "author", "authorLabel", "content", "visibility", "status", "metadata", "parentId", "authorId", "clientKey", "createdAt", "updatedAt"`;

/**
 * PostgreSQL: the same statements as raw queries in a Prisma interactive
 * transaction (Prisma.sql writes `$n` placeholders; the pg adapter converts
 * Dates; parameters take their column's type).
 */
async function writeThroughPrisma(db: Db, log: SessionLog, bySession: Map<string, Pending[]>, now: Date): Promise<SessionOutcome[]> {
  return db.$transaction(async (tx) => {
    const outcomes: SessionOutcome[] = [];
    for (const [sessionId, items] of bySession) {
      const keys = plan.keys(items);
      const storedIds = new Map<string, string>();
      if (keys.length > 0) {
        const stored = await tx.message.findMany({ where: { sessionId, clientKey: { in: keys } }, select: { id: true, clientKey: true } });
        for (const row of stored) if (row.clientKey) storedIds.set(row.clientKey, row.id);
      }
      const { toWrite, repeats } = plan.split(items, storedIds);
      const k = toWrite.length;
      if (k === 0) {
        outcomes.push({ sessionId, written: [], envelopes: [], repeats, missing: [], storedIds });
        continue;
      }
      const [taken] = await tx.$queryRaw<{ lastSeq: number }[]>(Prisma.sql`
        UPDATE "Session" SET "lastSeq" = "lastSeq" + ${k} WHERE "id" = ${sessionId} RETURNING "lastSeq"`);
      if (!taken) {
        outcomes.push({ sessionId, written: [], envelopes: [], repeats: [], missing: items, storedIds });
        continue;
      }
      const written = plan.messages(sessionId, toWrite, taken.lastSeq, now);
      const messageRows = written.map(
        ({ message: m }) =>
          Prisma.sql`(${m.id}, ${m.sessionId}, ${m.seq}, ${m.role}, ${m.author}, ${m.authorLabel}, ${m.content}, ${m.visibility}, ${m.status}, ${JSON.stringify(m.metadata)}, ${m.parentId}, ${m.authorId}, ${m.clientKey}, ${now}, ${now})`,
      );
      await tx.$executeRaw(Prisma.sql`INSERT INTO "Message" (${Prisma.raw(MESSAGE_COLUMNS)}) VALUES ${Prisma.join(messageRows)}`);
      const envelopes = await log.append(tx, sessionId, plan.events(written));
      outcomes.push({ sessionId, written, envelopes, repeats, missing: [], storedIds });
    }
    return outcomes;
  });
}
