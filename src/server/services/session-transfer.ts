// Exporting a session (the messages the caller may see, as JSON that imports
// back losslessly, or as Markdown) and importing one into a new session the
// importer owns: messages keep their order, roles, authors' names, labels,
// visibility, status, metadata, times and answer-to-question links; their
// `message.created` events go to the new session's log in the same
// transaction. Imported messages are the importer's (`authorId`), their
// metadata says where they came from, and no run id carries over (chat.run and
// chat.stop find answers by it).
import { randomUUID } from "node:crypto";
import { TRPCError } from "@trpc/server";
import type { z } from "zod";
import type { Message, Prisma } from "../../generated/prisma/client";
import { SESSION_EXPORT_FORMAT, type ExportedMessage, type SessionExport, type sessionImportInput } from "../../shared/transfer";
import type { Db } from "../db";
import { objectOf } from "../chat/run-execution";
import type { SessionLog } from "./session-log";
import { sessionNotFound } from "./errors";

export interface TransferDeps {
  db: Db;
  sessionLog: SessionLog;
}

/** Stored JSON as the export's JSON objects (Prisma's JsonValue and zod's JSON type are the same values, typed apart). */
const jsonObjectOf = (value: Prisma.JsonValue) => objectOf(value) as ExportedMessage["metadata"];

/** A file name from a title: letters, digits and dashes. */
function fileStem(title: string): string {
  return title.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 60) || "session";
}

export async function exportSession(db: Db, sessionId: string, visibleMessages: Prisma.MessageWhereInput): Promise<SessionExport> {
  const session = await db.session.findUnique({ where: { id: sessionId } });
  if (!session) throw sessionNotFound(sessionId);
  const rows = await db.message.findMany({ where: { sessionId, AND: [visibleMessages] }, orderBy: { seq: "asc" } });
  return {
    format: SESSION_EXPORT_FORMAT,
    exportedAt: new Date().toISOString(),
    session: {
      id: session.id,
      title: session.title,
      metadata: jsonObjectOf(session.metadata),
      createdAt: session.createdAt.toISOString(),
      archivedAt: session.archivedAt?.toISOString() ?? null,
    },
    messages: rows.map(exportedMessage),
  };
}

function exportedMessage(m: Message): ExportedMessage {
  return {
    id: m.id,
    seq: m.seq,
    role: m.role,
    author: m.author,
    authorLabel: m.authorLabel,
    content: m.content,
    visibility: m.visibility,
    status: m.status,
    metadata: jsonObjectOf(m.metadata),
    parentId: m.parentId,
    authorId: m.authorId,
    createdAt: m.createdAt.toISOString(),
    updatedAt: m.updatedAt.toISOString(),
  };
}

/** The export as a file: its name, type and text. */
export function exportFile(data: SessionExport, format: "json" | "markdown"): { filename: string; mimeType: string; text: string } {
  const stem = fileStem(data.session.title);
  if (format === "json") return { filename: `${stem}.parley.json`, mimeType: "application/json", text: `${JSON.stringify(data, null, 2)}\n` };
  return { filename: `${stem}.md`, mimeType: "text/markdown", text: markdownOf(data) };
}

function markdownOf(data: SessionExport): string {
  const lines = [`# ${data.session.title}`, "", `_Exported from Parley on ${data.exportedAt} · ${data.messages.length} messages_`, ""];
  for (const m of data.messages) {
    const label = m.authorLabel ? ` “${m.authorLabel}”` : "";
    const notes = [m.role, m.createdAt, m.visibility !== "public" ? m.visibility.replace("_", " ") : null, m.status !== "complete" ? m.status : null]
      .filter(Boolean)
      .join(" · ");
    lines.push("---", "", `**${m.author}**${label} · ${notes}`, "", m.content, "");
  }
  return lines.join("\n");
}

/** A new session, owned by `ownerId`, holding the export's messages. */
export async function importSession(
  { db, sessionLog }: TransferDeps,
  input: z.output<typeof sessionImportInput>,
  importer: { id: string | null; maxContentBytes: number },
) {
  const { data } = input;
  const ids = new Map<string, string>();
  for (const [i, m] of data.messages.entries()) {
    if (ids.has(m.id)) throw new TRPCError({ code: "BAD_REQUEST", message: `data.messages.${i}.id: ${m.id} appears twice` });
    const bytes = Buffer.byteLength(m.content, "utf8");
    if (bytes > importer.maxContentBytes) {
      throw new TRPCError({ code: "PAYLOAD_TOO_LARGE", message: `data.messages.${i}.content is ${bytes} bytes; the limit is ${importer.maxContentBytes} (MESSAGE_MAX_BYTES)` });
    }
    ids.set(m.id, `imp${randomUUID().replaceAll("-", "").slice(0, 22)}`);
  }
  const ordered = [...data.messages].sort((a, b) => a.seq - b.seq);
  const { session, envelopes } = await db.$transaction(async (tx) => {
    const session = await tx.session.create({
      data: {
        title: input.title ?? data.session.title,
        metadata: { ...data.session.metadata, importedFrom: { sessionId: data.session.id, exportedAt: data.exportedAt } },
        ownerId: importer.id,
        lastSeq: ordered.length,
      },
    });
    const rows: Prisma.MessageCreateManyInput[] = ordered.map((m, i) => {
      const { runId, ...metadata } = m.metadata;
      return {
        id: ids.get(m.id)!,
        sessionId: session.id,
        seq: i + 1,
        role: m.role,
        author: m.author,
        authorLabel: m.authorLabel,
        content: m.content,
        visibility: m.visibility,
        // Nothing streams into an imported answer.
        status: m.status === "streaming" ? "stopped" : m.status,
        metadata: { ...metadata, importedFrom: { messageId: m.id, authorId: m.authorId, ...(runId !== undefined ? { runId } : {}) } },
        parentId: m.parentId ? (ids.get(m.parentId) ?? null) : null,
        authorId: importer.id,
        createdAt: new Date(m.createdAt),
        updatedAt: new Date(m.updatedAt),
      };
    });
    if (rows.length > 0) await tx.message.createMany({ data: rows });
    const stored = await tx.message.findMany({ where: { sessionId: session.id }, orderBy: { seq: "asc" } });
    const envelopes = stored.length > 0 ? await sessionLog.append(tx, session.id, stored.map((message) => ({ type: "message.created" as const, message }))) : [];
    return { session, envelopes };
  });
  sessionLog.publish(session.id, envelopes);
  return { sessionId: session.id, title: session.title, messageCount: envelopes.length };
}
