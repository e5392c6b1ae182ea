// Messages: post (seq assigned in the insert's transaction, see
// message-writer.ts) and list by seq.
import { TRPCError } from "@trpc/server";
import type { z } from "zod";
import type { Prisma } from "../../generated/prisma/client";
import type { messageListInput, messagePostInput } from "../../shared/schemas";
import type { Db } from "../db";
import { sessionNotFound } from "./errors";
import type { MessageWriter, Poster } from "./message-writer";

export interface MessageLimits {
  /** MESSAGE_MAX_BYTES. */
  maxContentBytes: number;
}

export async function postMessage(
  writer: MessageWriter,
  limits: MessageLimits,
  input: z.output<typeof messagePostInput>,
  /** The posting principal: its id (private messages are visible to it) and its name, shown as the author. */
  poster: Poster,
) {
  const bytes = Buffer.byteLength(input.content, "utf8");
  if (bytes > limits.maxContentBytes) {
    throw new TRPCError({
      code: "PAYLOAD_TOO_LARGE",
      message: `content is ${bytes} bytes; the limit is ${limits.maxContentBytes} bytes (MESSAGE_MAX_BYTES)`,
    });
  }
  // Committed (possibly together with concurrent posts) and published when this resolves.
  return writer.post(input, poster);
}

/** A page of messages, oldest first. */
export async function listMessages(
  { db }: { db: Db },
  input: z.output<typeof messageListInput>,
  /** Only messages the caller may see (auth/policy.ts visibleMessagesWhere). */
  visible: Prisma.MessageWhereInput = {},
) {
  const exists = await db.session.findUnique({ where: { id: input.sessionId }, select: { id: true } });
  if (!exists) throw sessionNotFound(input.sessionId);
  const where: Prisma.MessageWhereInput = { sessionId: input.sessionId, AND: [visible] };
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
