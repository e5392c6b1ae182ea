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
 * `visibleMessages` (auth/policy.ts visibleMessagesWhere) restricts both to
 * what the caller may see: a count of visible messages beside the seq of the
 * last message of all would tell how many are hidden from it.
 */
export async function getSession({ db }: ServiceDeps, id: string, visibleMessages: Prisma.MessageWhereInput = {}) {
  const session = await db.session.findUnique({
    where: { id },
    include: {
      _count: { select: { messages: { where: visibleMessages } } },
      owner: { select: { id: true, name: true, displayName: true, avatarColor: true } },
    },
  });
  if (!session) throw sessionNotFound(id);
  const { _count, ...rest } = session;
  const [visible] = await withVisibleLastSeq(db, [rest], visibleMessages);
  return { ...(visible ?? rest), messageCount: _count.messages };
}

/**
 * `sessions` with `lastSeq` lowered to the seq of the last message the caller
 * may see (0 for none), unless `visibleMessages` restricts nothing (`{}`:
 * admins, PARLEY_AUTH=off). One grouped query for all of them.
 */
async function withVisibleLastSeq<S extends { id: string; lastSeq: number }>(db: Db, sessions: S[], visibleMessages: Prisma.MessageWhereInput): Promise<S[]> {
  if (Object.keys(visibleMessages).length === 0 || sessions.length === 0) return sessions;
  const last = await db.message.groupBy({
    by: ["sessionId"],
    where: { sessionId: { in: sessions.map((s) => s.id) }, AND: [visibleMessages] },
    _max: { seq: true },
  });
  const bySession = new Map(last.map((row) => [row.sessionId, row._max.seq ?? 0]));
  return sessions.map((s) => ({ ...s, lastSeq: bySession.get(s.id) ?? 0 }));
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
  /** The messages the caller may see: `lastSeq` counts only those (see getSession). */
  visibleMessages: Prisma.MessageWhereInput = {},
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
  const page = rows.slice(0, input.limit);
  const last = page.at(-1);
  const items = await withVisibleLastSeq(db, page, visibleMessages);
  return {
    items,
    nextCursor: rows.length > input.limit && last ? sessionListCursorAfter(last) : null,
  };
}
