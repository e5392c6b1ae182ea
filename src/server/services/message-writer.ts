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
import type { Message } from "../../generated/prisma/client";
import type { SessionEvent, SessionEventEnvelope } from "../../shared/events";
import type { messagePostInput } from "../../shared/schemas";
import { placeholders, rowsOf, sqliteTimestamp, type PostgresConnection, type PostgresQueries, type SqliteConnection, type Storage } from "../db";
import { isSqliteBusy, isUniqueViolation, sessionNotFound } from "./errors";
import { newId } from "./ids";
import { encodeSessionEvent, type SessionLog } from "./session-log";

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
    const { sqlite, postgres } = this.storage;
    const outcomes = sqlite ? writeOnSqlite(sqlite, this.log, bySession, now) : postgres ? await writeOnPostgres(postgres, bySession, now) : unreachableStorage();
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


// The batch's statements are SQL on the writer's own connection rather than
// Prisma's model API, whose query compiler costs ~0.3 ms per inserted row (12
// ms of 14 for a batch of 20), and whose interactive transaction on
// PostgreSQL made a batch six round trips. Both variants write the same
// columns the same way; tests/message-writer.test.ts reads what they write
// back through Prisma, on SQLite and on PostgreSQL.

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
 * PostgreSQL: each session's part of the batch is one prepared statement on
 * the writer's pg pool (db.ts PostgresConnection), one round trip: it takes
 * the k message seqs and the k event seqs from the session row, inserts the
 * messages and appends their `message.created` events (the session log's
 * contract: seqs taken in the writing statement, published after it commits).
 * The rows travel as arrays (unnest), so the SQL text, and the prepared
 * statement, is the same for every batch size. The event payloads are encoded
 * before the seqs are known, with each message's position in the batch as its
 * seq, which the statement replaces with the seq it takes. A batch over
 * several sessions runs in one transaction, so that a failure (a clientKey
 * race) leaves nothing written and the batch can be written again.
 */
async function writeOnPostgres(postgres: PostgresConnection, bySession: Map<string, Pending[]>, now: Date): Promise<SessionOutcome[]> {
  const writeAll = async (queries: PostgresQueries) => {
    const outcomes: SessionOutcome[] = [];
    for (const [sessionId, items] of bySession) outcomes.push(await writeSessionOnPostgres(queries, sessionId, items, now));
    return outcomes;
  };
  return bySession.size === 1 ? writeAll(postgres) : postgres.transaction(writeAll);
}

async function writeSessionOnPostgres(queries: PostgresQueries, sessionId: string, items: Pending[], now: Date): Promise<SessionOutcome> {
  const keys = plan.keys(items);
  const storedIds = new Map<string, string>();
  if (keys.length > 0) {
    const rows = await queries.query<{ id: string; clientKey: string }>(
      "parley_message_keys",
      `SELECT "id", "clientKey" FROM "Message" WHERE "sessionId" = $1 AND "clientKey" = ANY($2::text[])`,
      [sessionId, keys],
    );
    for (const row of rows) storedIds.set(row.clientKey, row.id);
  }
  const { toWrite, repeats } = plan.split(items, storedIds);
  const k = toWrite.length;
  if (k === 0) return { sessionId, written: [], envelopes: [], repeats, missing: [], storedIds };
  // Seqs 1..k for now (their position in the batch); the statement adds the session's base.
  const written = plan.messages(sessionId, toWrite, k, now);
  const events = plan.events(written);
  const column = <T>(pick: (m: Message) => T) => written.map(({ message }) => pick(message));
  const [taken] = await queries.query<{ lastSeq: number; lastEventSeq: number }>("parley_message_batch", WRITE_BATCH_PG_SQL, [
    sessionId,
    k,
    now.toISOString(),
    column((m) => m.id),
    column((m) => m.role),
    column((m) => m.author),
    column((m) => m.authorLabel),
    column((m) => m.content),
    column((m) => m.visibility),
    column((m) => JSON.stringify(m.metadata)),
    column((m) => m.authorId),
    column((m) => m.clientKey),
    events.map((event) => JSON.stringify(encodeSessionEvent(event))),
  ]);
  if (!taken) return { sessionId, written: [], envelopes: [], repeats: [], missing: items, storedIds };
  for (const { message } of written) message.seq += taken.lastSeq - k;
  const envelopes = events.map((event, i) => ({ seq: taken.lastEventSeq - k + 1 + i, event }));
  return { sessionId, written, envelopes, repeats, missing: [], storedIds };
}

/**
 * $1 session, $2 k, $3 the time (UTC ISO text: the columns are timestamps
 * without a zone, in UTC as Prisma writes them), $4..$12 the messages'
 * columns as arrays, $13 the events' payloads with provisional seqs. Returns
 * the session's last message and event seqs after the batch; no row when the
 * session does not exist (then nothing is written).
 */
const WRITE_BATCH_PG_SQL = `
WITH taken AS (
  UPDATE "Session" SET "lastSeq" = "lastSeq" + $2, "lastEventSeq" = "lastEventSeq" + $2, "updatedAt" = $3::timestamp(3)
  WHERE "id" = $1 RETURNING "lastSeq", "lastEventSeq"
), batch AS (
  SELECT r.*, taken."lastSeq" - $2 + r."ord" AS "seq", taken."lastEventSeq" - $2 + r."ord" AS "eventSeq"
  FROM taken, unnest($4::text[], $5::"MessageRole"[], $6::text[], $7::text[], $8::text[], $9::"Visibility"[], $10::jsonb[], $11::text[], $12::text[], $13::jsonb[])
    WITH ORDINALITY AS r("id", "role", "author", "authorLabel", "content", "visibility", "metadata", "authorId", "clientKey", "payload", "ord")
), messages AS (
  INSERT INTO "Message" (${MESSAGE_COLUMNS})
  SELECT "id", $1, "seq", "role", "author", "authorLabel", "content", "visibility", 'complete', "metadata", NULL, "authorId", "clientKey", $3::timestamp(3), $3::timestamp(3) FROM batch
), events AS (
  INSERT INTO "SessionEvent" ("sessionId", "seq", "type", "payload", "createdAt")
  SELECT $1, "eventSeq", 'message.created', jsonb_set("payload", '{json,message,seq}', to_jsonb("seq")), $3::timestamp(3) FROM batch
)
SELECT "lastSeq", "lastEventSeq" FROM taken`;

function unreachableStorage(): never {
  throw new Error("Storage has neither a SQLite nor a PostgreSQL writer connection (db.ts openStorage makes one of them)");
}
