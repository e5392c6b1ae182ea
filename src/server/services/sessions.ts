// Sessions: create, update (title, metadata, archive), read and list.
// Every change is appended to the session's event log and published.
import type { z } from "zod";
import type { Prisma } from "../../generated/prisma/client";
import { sessionListCursorAfter, type sessionCreateInput, type sessionListInput, type sessionUpdateInput } from "../../shared/schemas";
import { textContains, type Db, type Storage } from "../db";
import { inSession, sessionNotFound } from "./errors";
import type { SessionLog } from "./session-log";

export interface ServiceDeps {
  db: Db;
  storage: Storage;
  sessionLog: SessionLog;
}

/** `ownerId`: the creating principal when it is stored; null otherwise (only admins read such sessions). */
export async function createSession({ db }: ServiceDeps, input: z.output<typeof sessionCreateInput>, ownerId: string | null = null) {
  return db.session.create({ data: { title: input.title, metadata: input.metadata ?? {}, ownerId } });
}

/**
 * A session with its message count; `lastSeq` is the seq of its last message.
 * `visibleMessages` restricts the count to what the caller may see.
 */
export async function getSession({ db }: ServiceDeps, id: string, visibleMessages: Prisma.MessageWhereInput = {}) {
  const session = await db.session.findUnique({ where: { id }, include: { _count: { select: { messages: { where: visibleMessages } } } } });
  if (!session) throw sessionNotFound(id);
  const { _count, ...rest } = session;
  return { ...rest, messageCount: _count.messages };
}

export async function updateSession({ db, sessionLog }: ServiceDeps, input: z.output<typeof sessionUpdateInput>) {
  const data: Prisma.SessionUpdateInput = {};
  if (input.title !== undefined) data.title = input.title;
  if (input.metadata !== undefined) data.metadata = input.metadata;
  if (input.archived !== undefined) data.archivedAt = input.archived ? new Date() : null;
  const envelope = await inSession(input.id, () =>
    db.$transaction((tx) =>
      sessionLog.appendBuilt(tx, input.id, async () => ({
        type: "session.updated" as const,
        session: await tx.session.update({ where: { id: input.id }, data }),
      })),
    ),
  );
  sessionLog.publish(input.id, [envelope]);
  return envelope.event.session;
}

/**
 * Most recently active first (ties by id); `nextCursor` continues the listing
 * after the last session of this page. Keyset paging on (updatedAt, id): a
 * session left alone appears exactly once over all pages; one updated while a
 * client pages moves to the top and is not repeated (it was listed already, or
 * it shows at the top of the next listing).
 */
export async function listSessions(
  { db, storage }: ServiceDeps,
  input: z.output<typeof sessionListInput>,
  /** Only sessions the caller may read (auth/policy.ts readableSessionsWhere). */
  readable: Prisma.SessionWhereInput = {},
) {
  const where: Prisma.SessionWhereInput = { AND: [readable] };
  if (!input.includeArchived) where.archivedAt = null;
  if (input.search) where.title = textContains(storage.dialect, input.search);
  if (input.cursor) {
    const { updatedAt, id } = input.cursor;
    where.OR = [{ updatedAt: { lt: updatedAt } }, { updatedAt, id: { lt: id } }];
  }
  const rows = await db.session.findMany({
    where,
    orderBy: [{ updatedAt: "desc" }, { id: "desc" }],
    take: input.limit + 1,
  });
  const items = rows.slice(0, input.limit);
  const last = items.at(-1);
  return {
    items,
    nextCursor: rows.length > input.limit && last ? sessionListCursorAfter(last) : null,
  };
}
