// SQLite: memory writes as one synchronous IMMEDIATE transaction on the
// synchronous connection (db.ts SqliteConnection), as the message writer does.
// Prisma's interactive transactions hold SQLite's write lock across turns of
// the event loop, which made concurrent message.post batches wait and retry
// (bench/memory.ts); here nothing else runs while the lock is held. Throws
// SQLITE_BUSY when Prisma's connection holds the lock (the store retries).
import type { MemoryItem } from "../../shared/memory";
import { sqliteTimestamp, type SqliteConnection } from "../db";
import type { MemoryAudience } from "./audience";

export type MemoryChangeType = "created" | "updated" | "deleted";

const CHANGE_SQL = `INSERT INTO "MemoryChange" ("type", "memoryId", "scope", "sessionId", "agentId", "principalId", "authorId", "visibility", "audienceChanged", "createdAt") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING "seq"`;
const TAG_SQL = `INSERT INTO "MemoryTag" ("memorySeq", "tag") VALUES (?, ?)`;

function recordChange(connection: SqliteConnection, type: MemoryChangeType, memoryId: string, a: MemoryAudience, audienceChanged: boolean, stamp: string, kept: number): number {
  const row = connection.statement<unknown[], { seq: number }>(CHANGE_SQL).get(type, memoryId, a.scope, a.sessionId, a.agentId, a.principalId, a.authorId, a.visibility, audienceChanged ? 1 : 0, stamp);
  const seq = row?.seq ?? 0;
  if (seq % 1_000 === 0 && seq > kept) connection.statement(`DELETE FROM "MemoryChange" WHERE "seq" <= ?`).run(seq - kept);
  return seq;
}

/** Insert a memory, its tags and its change; returns the row's seq and the change's. */
export function insertMemorySqlite(
  connection: SqliteConnection,
  memory: Pick<MemoryItem, "id" | "title" | "content" | "metadata" | "tags" | "createdAt">,
  audience: MemoryAudience,
  kept: number,
): { seq: number; change: number } {
  const stamp = sqliteTimestamp(memory.createdAt);
  return connection.immediate(() => {
    const row = connection.statement<unknown[], { seq: number }>(
      `INSERT INTO "Memory" ("id", "title", "content", "metadata", "scope", "sessionId", "agentId", "principalId", "authorId", "visibility", "createdAt", "updatedAt") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING "seq"`,
    ).get(memory.id, memory.title, memory.content, JSON.stringify(memory.metadata), audience.scope, audience.sessionId, audience.agentId, audience.principalId, audience.authorId, audience.visibility, stamp, stamp);
    const seq = row?.seq ?? 0;
    for (const tag of memory.tags) connection.statement(TAG_SQL).run(seq, tag);
    return { seq, change: recordChange(connection, "created", memory.id, audience, false, stamp, kept) };
  });
}

/** Write a memory's new state (every changeable column), its tags when given, and its change. */
export function updateMemorySqlite(
  connection: SqliteConnection,
  seq: number,
  after: Pick<MemoryItem, "id" | "title" | "content" | "metadata" | "visibility" | "updatedAt">,
  tags: string[] | null,
  textChanged: boolean,
  audience: MemoryAudience,
  audienceChanged: boolean,
  kept: number,
): number {
  const stamp = sqliteTimestamp(after.updatedAt);
  return connection.immediate(() => {
    // A changed text drops its vector (it is embedded again); the FTS triggers re-index title and content.
    const clear = textChanged ? `, "embedding" = NULL, "embeddingModel" = NULL, "embeddedAt" = NULL, "embedAttempts" = 0, "embedError" = NULL` : "";
    connection.statement(`UPDATE "Memory" SET "title" = ?, "content" = ?, "metadata" = ?, "visibility" = ?, "updatedAt" = ?${clear} WHERE "seq" = ?`).run(
      after.title,
      after.content,
      JSON.stringify(after.metadata),
      after.visibility,
      stamp,
      seq,
    );
    if (tags) {
      connection.statement(`DELETE FROM "MemoryTag" WHERE "memorySeq" = ?`).run(seq);
      for (const tag of tags) connection.statement(TAG_SQL).run(seq, tag);
    }
    return recordChange(connection, "updated", after.id, audience, audienceChanged, stamp, kept);
  });
}

export function deleteMemorySqlite(connection: SqliteConnection, seq: number, memoryId: string, audience: MemoryAudience, kept: number): number {
  return connection.immediate(() => {
    // The write connection does not enforce foreign keys: the tags go explicitly.
    connection.statement(`DELETE FROM "MemoryTag" WHERE "memorySeq" = ?`).run(seq);
    connection.statement(`DELETE FROM "Memory" WHERE "seq" = ?`).run(seq);
    return recordChange(connection, "deleted", memoryId, audience, false, sqliteTimestamp(new Date()), kept);
  });
}
