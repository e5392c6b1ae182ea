// Group commit for `message.post`. Each transaction costs about a millisecond
// whatever it holds, so one per message caps SQLite at a few hundred writes/s.
// Posts that arrive while a transaction is in flight wait and are then written
// together: per session, one counter update takes k seqs, one insert writes the
// k messages and one the k events (in SQL, see takeSeqs below). Each caller still
// resolves only after the transaction holding its message has committed, and
// gets the same errors it would alone (NOT_FOUND for its own missing session).
// Idempotency: a post whose `clientKey` is already stored in its session (or
// repeated within one batch) resolves with that message; nothing is written.
import type { z } from "zod";
import { Prisma, type Message } from "../../generated/prisma/client";
import type { SessionEventEnvelope } from "../../shared/events";
import type { messagePostInput } from "../../shared/schemas";
import superjson from "superjson";
import type { Bus } from "../bus/bus";
import type { Db } from "../db";
import { isUniqueViolation, sessionNotFound } from "./errors";
import { newId } from "./ids";
import { sessionChannel } from "./session-events";

type PostInput = z.output<typeof messagePostInput>;

interface Pending {
  input: PostInput;
  authorId: string | null;
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

export class MessageWriter {
  private queue: Pending[] = [];
  private writing = false;

  constructor(
    private readonly db: Db,
    private readonly bus: Bus,
  ) {}

  post(input: PostInput, authorId: string | null = null): Promise<Message> {
    return new Promise((resolve, reject) => {
      this.queue.push({ input, authorId, resolve, reject });
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
          const published = await this.writeWithKeyRetries(batch);
          for (const { sessionId, envelope } of published) this.bus.publish(sessionChannel(sessionId), envelope);
        } catch (error) {
          for (const item of batch) item.reject(error);
        }
      }
    } finally {
      this.writing = false;
    }
  }

  private async writeWithKeyRetries(batch: Pending[]) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.write(batch);
      } catch (error) {
        // The transaction rolled back: nothing of this batch was written, so writing it again is safe.
        const keyed = batch.some((item) => item.input.clientKey !== undefined);
        if (!keyed || !isUniqueViolation(error) || attempt >= KEY_RACE_RETRIES) throw error;
      }
    }
  }

  /** Write one batch in one transaction; resolves or rejects every item; returns envelopes to publish in order. */
  private async write(batch: Pending[]): Promise<{ sessionId: string; envelope: SessionEventEnvelope }[]> {
    const bySession = new Map<string, Pending[]>();
    for (const item of batch) {
      const list = bySession.get(item.input.sessionId) ?? [];
      list.push(item);
      bySession.set(item.input.sessionId, list);
    }
    const outcome = await this.db.$transaction(async (tx) => {
      const written: { item: Pending; message: Message; envelope: SessionEventEnvelope }[] = [];
      const replayed: { item: Pending; message: Message }[] = [];
      const missing: Pending[] = [];
      for (const [sessionId, allItems] of bySession) {
        // Keys already stored answer with their message; of a key repeated in
        // this batch, the first post is written and the others answer with it.
        const keys = [...new Set(allItems.flatMap((item) => (item.input.clientKey ? [item.input.clientKey] : [])))];
        const byKey = new Map<string, Message>();
        if (keys.length > 0) {
          const stored = await tx.message.findMany({ where: { sessionId, clientKey: { in: keys } } });
          for (const message of stored) if (message.clientKey) byKey.set(message.clientKey, message);
        }
        const items: Pending[] = [];
        const repeats: Pending[] = [];
        const claimed = new Set<string>();
        for (const item of allItems) {
          const key = item.input.clientKey;
          if (key !== undefined && (byKey.has(key) || claimed.has(key))) {
            repeats.push(item);
            continue;
          }
          if (key !== undefined) claimed.add(key);
          items.push(item);
        }
        const k = items.length;
        if (k === 0) {
          replay(repeats, byKey, replayed);
          continue;
        }
        const now = new Date();
        const counters = await takeSeqs(tx, sessionId, k, now);
        if (!counters) {
          missing.push(...allItems);
          continue;
        }
        const firstSeq = counters.lastSeq - k + 1;
        const firstEventSeq = counters.lastEventSeq - k + 1;
        const messages = items.map(
          ({ input, authorId }, i): Message => ({
            id: newId(),
            sessionId,
            seq: firstSeq + i,
            role: input.role,
            author: input.author,
            content: input.content,
            visibility: input.visibility,
            status: "complete",
            metadata: input.metadata ?? {},
            parentId: null,
            authorId,
            clientKey: input.clientKey ?? null,
            // Distinct Date objects: superjson records shared references
            // (referentialEqualities), which the stored encoding must not carry.
            createdAt: new Date(now),
            updatedAt: new Date(now),
          }),
        );
        const envelopes = messages.map((message, i): SessionEventEnvelope => ({
          seq: firstEventSeq + i,
          event: { type: "message.created", message },
        }));
        await insertMessages(tx, messages);
        await insertEvents(tx, sessionId, envelopes, now);
        messages.forEach((message, i) => {
          const item = items[i];
          const envelope = envelopes[i];
          if (item && envelope) written.push({ item, message, envelope });
          if (message.clientKey) byKey.set(message.clientKey, message);
        });
        replay(repeats, byKey, replayed);
      }
      return { written, replayed, missing };
    });
    for (const item of outcome.missing) item.reject(sessionNotFound(item.input.sessionId));
    for (const { item, message } of outcome.written) item.resolve(message);
    for (const { item, message } of outcome.replayed) item.resolve(message);
    return outcome.written.map((w) => ({ sessionId: w.message.sessionId, envelope: w.envelope }));
  }
}

// The batch's writes in SQL rather than through Prisma's model API: its query
// compiler costs ~0.3 ms per inserted row (measured: 12 ms of 14 for a batch
// of 20), SQL costs a few µs. The statements are the same on SQLite and
// PostgreSQL: quoted identifiers, parameters whose types the columns decide
// (Prisma.sql writes `?` or `$n` for the database), Dates converted by the
// driver adapter as for Prisma's own writes. `tests/message-writer.test.ts`
// reads what they write back through Prisma, on both databases.

type Tx = Prisma.TransactionClient;

/**
 * Take `k` message seqs and `k` event seqs of a session (and mark it
 * updated); the write lock (SQLite) or row lock (PostgreSQL) keeps them
 * unique and gap-free. Null when the session does not exist.
 */
async function takeSeqs(tx: Tx, sessionId: string, k: number, now: Date) {
  const rows = await tx.$queryRaw<{ lastSeq: number; lastEventSeq: number }[]>(Prisma.sql`
    UPDATE "Session" SET "lastSeq" = "lastSeq" + ${k}, "lastEventSeq" = "lastEventSeq" + ${k}, "updatedAt" = ${now}
    WHERE "id" = ${sessionId} RETURNING "lastSeq", "lastEventSeq"`);
  const row = rows[0];
  return row ? { lastSeq: Number(row.lastSeq), lastEventSeq: Number(row.lastEventSeq) } : null;
}

async function insertMessages(tx: Tx, messages: Message[]): Promise<void> {
  const rows = messages.map(
    (m) =>
      Prisma.sql`(${m.id}, ${m.sessionId}, ${m.seq}, ${m.role}, ${m.author}, ${m.content}, ${m.visibility}, ${m.status}, ${JSON.stringify(m.metadata)}, ${m.parentId}, ${m.authorId}, ${m.clientKey}, ${m.createdAt}, ${m.updatedAt})`,
  );
  await tx.$executeRaw(Prisma.sql`
    INSERT INTO "Message" ("id", "sessionId", "seq", "role", "author", "content", "visibility", "status", "metadata", "parentId", "authorId", "clientKey", "createdAt", "updatedAt")
    VALUES ${Prisma.join(rows)}`);
}

async function insertEvents(tx: Tx, sessionId: string, envelopes: SessionEventEnvelope[], now: Date): Promise<void> {
  const rows = envelopes.map((e) => Prisma.sql`(${sessionId}, ${e.seq}, ${e.event.type}, ${JSON.stringify(superjson.serialize(e.event))}, ${now})`);
  await tx.$executeRaw(Prisma.sql`INSERT INTO "SessionEvent" ("sessionId", "seq", "type", "payload", "createdAt") VALUES ${Prisma.join(rows)}`);
}

/** Answer each repeated post with the message stored under its key (every repeat's key is in `byKey`). */
function replay(repeats: Pending[], byKey: Map<string, Message>, out: { item: Pending; message: Message }[]) {
  for (const item of repeats) {
    const message = byKey.get(item.input.clientKey ?? "");
    if (message) out.push({ item, message });
    else item.reject(new Error(`clientKey ${item.input.clientKey}: no stored message (a bug in the message writer)`));
  }
}

const writers = new WeakMap<Db, MessageWriter>();

/** The writer for this database (one per server). */
export function messageWriter(db: Db, bus: Bus): MessageWriter {
  let writer = writers.get(db);
  if (!writer) {
    writer = new MessageWriter(db, bus);
    writers.set(db, writer);
  }
  return writer;
}
