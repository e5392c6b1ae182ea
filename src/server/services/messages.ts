// Messages: post (seq assigned in the insert's transaction) and list by seq.
import { TRPCError } from "@trpc/server";
import type { z } from "zod";
import type { Prisma } from "../../generated/prisma/client";
import type { messageListInput, messagePostInput } from "../../shared/schemas";
import { inSession, sessionNotFound } from "./errors";
import { sessionChannel, writeSessionEvent } from "./session-events";
import type { ServiceDeps } from "./sessions";

export interface MessageLimits {
  /** MESSAGE_MAX_BYTES. */
  maxContentBytes: number;
}

export async function postMessage(
  { db, bus }: ServiceDeps,
  limits: MessageLimits,
  input: z.output<typeof messagePostInput>,
) {
  const bytes = Buffer.byteLength(input.content, "utf8");
  if (bytes > limits.maxContentBytes) {
    throw new TRPCError({
      code: "PAYLOAD_TOO_LARGE",
      message: `content is ${bytes} bytes; the limit is ${limits.maxContentBytes} bytes (MESSAGE_MAX_BYTES)`,
    });
  }
  const { message, envelope } = await inSession(input.sessionId, () =>
    db.$transaction(async (tx) => {
      // One update takes both numbers: the row lock (SQLite: the write lock)
      // serialises concurrent writers, so seqs are unique and gap-free.
      const counters = await tx.session.update({
        where: { id: input.sessionId },
        data: { lastSeq: { increment: 1 }, lastEventSeq: { increment: 1 } },
        select: { lastSeq: true, lastEventSeq: true },
      });
      const message = await tx.message.create({
        data: {
          sessionId: input.sessionId,
          seq: counters.lastSeq,
          role: input.role,
          author: input.author,
          content: input.content,
          visibility: input.visibility,
          metadata: input.metadata ?? {},
        },
      });
      const envelope = await writeSessionEvent(tx, input.sessionId, counters.lastEventSeq, {
        type: "message.created",
        message,
      });
      return { message, envelope };
    }),
  );
  bus.publish(sessionChannel(input.sessionId), envelope);
  return message;
}

/** A page of messages, oldest first. */
export async function listMessages({ db }: ServiceDeps, input: z.output<typeof messageListInput>) {
  const exists = await db.session.findUnique({ where: { id: input.sessionId }, select: { id: true } });
  if (!exists) throw sessionNotFound(input.sessionId);
  const where: Prisma.MessageWhereInput = { sessionId: input.sessionId };
  if (input.beforeSeq !== undefined) {
    // The newest page before `beforeSeq`: read descending, return ascending.
    where.seq = { lt: input.beforeSeq };
    const rows = await db.message.findMany({ where, orderBy: { seq: "desc" }, take: input.limit });
    return { items: rows.reverse() };
  }
  if (input.afterSeq !== undefined) where.seq = { gt: input.afterSeq };
  const items = await db.message.findMany({ where, orderBy: { seq: "asc" }, take: input.limit });
  return { items };
}
