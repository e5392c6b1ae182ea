// Group commit for `message.post`. Each Prisma round trip costs ~0.7 ms here
// (the JS query engine), so one transaction per message caps SQLite at ~300
// writes/s. Posts that arrive while a transaction is in flight wait and are
// then written together: per session, one counter update takes k seqs, one
// insert writes the k messages and one the k events. Each caller still
// resolves only after the transaction holding its message has committed, and
// gets the same errors it would alone (NOT_FOUND for its own missing session).
import type { z } from "zod";
import type { Message, Prisma } from "../../generated/prisma/client";
import type { SessionEventEnvelope } from "../../shared/events";
import type { messagePostInput } from "../../shared/schemas";
import superjson from "superjson";
import type { Bus } from "../bus/bus";
import type { Db } from "../db";
import { sessionNotFound } from "./errors";
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
        const batch = this.queue.splice(0, MAX_BATCH);
        try {
          const published = await this.write(batch);
          for (const { sessionId, envelope } of published) this.bus.publish(sessionChannel(sessionId), envelope);
        } catch (error) {
          for (const item of batch) item.reject(error);
        }
      }
    } finally {
      this.writing = false;
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
      const existing = await tx.session.findMany({ where: { id: { in: [...bySession.keys()] } }, select: { id: true } });
      const found = new Set(existing.map((s) => s.id));
      const written: { item: Pending; message: Message; envelope: SessionEventEnvelope }[] = [];
      const missing: Pending[] = [];
      for (const [sessionId, items] of bySession) {
        if (!found.has(sessionId)) {
          missing.push(...items);
          continue;
        }
        const k = items.length;
        // One update takes k message seqs and k event seqs; the write lock
        // (SQLite) or row lock (PostgreSQL) keeps them unique and gap-free.
        const counters = await tx.session.update({
          where: { id: sessionId },
          data: { lastSeq: { increment: k }, lastEventSeq: { increment: k } },
          select: { lastSeq: true, lastEventSeq: true },
        });
        const firstSeq = counters.lastSeq - k + 1;
        const firstEventSeq = counters.lastEventSeq - k + 1;
        const messages = await tx.message.createManyAndReturn({
          data: items.map(({ input, authorId }, i) => ({
            sessionId,
            authorId,
            seq: firstSeq + i,
            role: input.role,
            author: input.author,
            content: input.content,
            visibility: input.visibility,
            metadata: input.metadata ?? {},
          })),
        });
        messages.sort((a, b) => a.seq - b.seq);
        const envelopes = messages.map((message, i): SessionEventEnvelope => ({
          seq: firstEventSeq + i,
          event: { type: "message.created", message },
        }));
        await tx.sessionEvent.createMany({
          data: envelopes.map((e) => ({
            sessionId,
            seq: e.seq,
            type: e.event.type,
            payload: superjson.serialize(e.event) as unknown as Prisma.InputJsonValue,
          })),
        });
        messages.forEach((message, i) => {
          const item = items[i];
          const envelope = envelopes[i];
          if (item && envelope) written.push({ item, message, envelope });
        });
      }
      return { written, missing };
    });
    for (const item of outcome.missing) item.reject(sessionNotFound(item.input.sessionId));
    for (const { item, message } of outcome.written) item.resolve(message);
    return outcome.written.map((w) => ({ sessionId: w.message.sessionId, envelope: w.envelope }));
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
