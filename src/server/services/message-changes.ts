// Editing and deleting a message: the change and its session event
// (`message.updated`, `message.deleted`) in one transaction, published after
// the commit (session-log.ts), so every open stream applies it and a resume
// replays it at its seq. An edit keeps the earlier text in `metadata.edits`;
// a delete removes the row and empties the earlier events about it.
import { TRPCError } from "@trpc/server";
import type { z } from "zod";
import type { Message, Prisma } from "../../generated/prisma/client";
import { editsOf, MESSAGE_EDITS_KEPT, type MessageEdit, type messageUpdateInput } from "../../shared/schemas";
import type { Db } from "../db";
import { objectOf } from "../chat/run-execution";
import type { MessageLimits } from "./messages";
import type { SessionLog } from "./session-log";

export interface MessageChangeDeps {
  db: Db;
  sessionLog: SessionLog;
}

/** Who changes a message, and whether the rules (auth/policy.ts mayChangeMessage) allow it. */
export interface MessageEditor {
  id: string | null;
  name: string;
  mayChange: (message: Message) => boolean;
  /** Whether the editor may see the message at all (otherwise NOT_FOUND, as if it did not exist). */
  maySee: (message: Message) => boolean;
}

/** The message, if `editor` may change it: NOT_FOUND when it cannot see it, FORBIDDEN when it sees but may not change it, CONFLICT while it streams. */
async function changeable(db: Db | Prisma.TransactionClient, id: string, editor: MessageEditor): Promise<Message> {
  const message = await db.message.findUnique({ where: { id } });
  if (!message || !editor.maySee(message)) throw new TRPCError({ code: "NOT_FOUND", message: `message ${id} does not exist` });
  if (!editor.mayChange(message)) {
    throw new TRPCError({
      code: "FORBIDDEN",
      message: `message ${id} is not yours; only its author (with write access), the session's owner and admins may change it`,
    });
  }
  if (message.status === "streaming") {
    throw new TRPCError({ code: "CONFLICT", message: `message ${id} is still streaming; stop its run (chat.stop) first` });
  }
  return message;
}

/** The session lookup the caller needs (its access) before `editMessage` / `deleteMessage`. */
export async function sessionOfMessage(db: Db, id: string): Promise<string> {
  const message = await db.message.findUnique({ where: { id }, select: { sessionId: true } });
  if (!message) throw new TRPCError({ code: "NOT_FOUND", message: `message ${id} does not exist` });
  return message.sessionId;
}

export async function editMessage(
  { db, sessionLog }: MessageChangeDeps,
  limits: MessageLimits,
  input: z.output<typeof messageUpdateInput>,
  editor: MessageEditor,
): Promise<Message> {
  const bytes = Buffer.byteLength(input.content, "utf8");
  if (bytes > limits.maxContentBytes) {
    throw new TRPCError({ code: "PAYLOAD_TOO_LARGE", message: `content is ${bytes} bytes; the limit is ${limits.maxContentBytes} bytes (MESSAGE_MAX_BYTES)` });
  }
  const before = await changeable(db, input.id, editor);
  if (before.content === input.content) return before;
  const { message, envelopes } = await db.$transaction(async (tx) => {
    const current = await changeable(tx, input.id, editor);
    const edit: MessageEdit = { content: current.content, editedAt: new Date().toISOString(), editorId: editor.id, editorName: editor.name };
    const edits = [...editsOf(current.metadata), edit].slice(-MESSAGE_EDITS_KEPT);
    const metadata = { ...objectOf(current.metadata), edits } as Prisma.InputJsonObject;
    const message = await tx.message.update({ where: { id: current.id }, data: { content: input.content, metadata } });
    return { message, envelopes: await sessionLog.append(tx, message.sessionId, [{ type: "message.updated", message }]) };
  });
  sessionLog.publish(message.sessionId, envelopes);
  return message;
}

/** What remains of a deleted message in events: who, where and when, never what. */
export function redacted(message: Message): Message {
  const { edits: _edits, ...kept } = objectOf(message.metadata);
  const metadata = { ...kept, deleted: true };
  return { ...message, content: "", metadata };
}

export async function deleteMessage({ db, sessionLog }: MessageChangeDeps, id: string, editor: MessageEditor): Promise<{ id: string; sessionId: string }> {
  await changeable(db, id, editor);
  const { message, envelopes } = await db.$transaction(async (tx) => {
    const current = await changeable(tx, id, editor);
    await tx.message.delete({ where: { id } });
    await sessionLog.redactMessage(tx, current.sessionId, id, redacted);
    return { message: current, envelopes: await sessionLog.append(tx, current.sessionId, [{ type: "message.deleted", message: redacted(current) }]) };
  });
  sessionLog.publish(message.sessionId, envelopes);
  return { id: message.id, sessionId: message.sessionId };
}
