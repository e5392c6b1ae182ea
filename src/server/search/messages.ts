// message.search: messages ranked by their words across every session the
// caller may read, with the visibility rules of message.list and
// session.events (auth/policy.ts visibleMessagesWhere, restated in SQL below),
// highlighted, with links to where they are. The same machinery as memory
// recall: SQLite FTS5 `MessageText` (bm25), PostgreSQL's generated
// `searchVector` (ts_rank_cd). The built-in assistant ranks its candidates here too.
import type { z } from "zod";
import { Prisma } from "../../generated/prisma/client";
import { SEARCH_DEPTH_MAX, type MessageSearchHit, type messageSearchInput } from "../../shared/memory";
import { isAdmin, type Principal } from "../auth/principal";
import type { Db, Storage } from "../db";
import { SCORED_MATCHES_MAX } from "../memory/ranking";
import { ftsMatchExpression, MARK_CLOSE, MARK_OPEN, parseMarked, plainHighlight, queryTerms, tsQueryText } from "./terms";

/**
 * SQL condition on the message table aliased `msg`: the messages `principal`
 * may see (visibleMessagesWhere's rule: a readable session, then public,
 * private to its author and the session owner, agent_only to agents).
 */
export function visibleMessageSql(principal: Principal): Prisma.Sql {
  if (isAdmin(principal)) return Prisma.sql`1 = 1`;
  if (!principal.stored) return Prisma.sql`1 = 0`;
  const me = principal.id;
  const owned = Prisma.sql`msg."sessionId" IN (SELECT "id" FROM "Session" WHERE "ownerId" = ${me})`;
  const member = Prisma.sql`msg."sessionId" IN (SELECT "sessionId" FROM "SessionMember" WHERE "principalId" = ${me})`;
  const agentOnly = principal.role === "agent" ? Prisma.sql` OR msg."visibility" = 'agent_only'` : Prisma.empty;
  return Prisma.sql`((${owned} OR ${member})
    AND (msg."visibility" = 'public' OR (msg."visibility" = 'private' AND (msg."authorId" = ${me} OR ${owned}))${agentOnly}))`;
}

const MESSAGE_JOIN = Prisma.sql`JOIN "Message" msg ON msg.rowid = "MessageText".rowid`;

export interface RankedMessage {
  id: string;
  rowKey: number;
  score: number;
}

/**
 * Messages matching any of `terms` that `where` (on alias `msg`) allows,
 * best first: `limit` of them after skipping `offset`. Streaming answers are
 * left out (their text is not final). At most the newest SCORED_MATCHES_MAX
 * matches are ranked, cut before the ranking function runs (memory/ranking.ts).
 */
export async function rankMessagesByText(
  db: Db,
  postgres: boolean,
  terms: readonly string[],
  where: Prisma.Sql,
  limit: number,
  offset = 0,
): Promise<RankedMessage[]> {
  if (terms.length === 0) return [];
  const searchable = Prisma.sql`msg."status" <> 'streaming' AND ${where}`;
  const rows = postgres
    ? await db.$queryRaw<{ id: string; rowKey: number; score: number }[]>(Prisma.sql`
        SELECT c."id" AS "id", 0 AS "rowKey", ts_rank_cd(c."searchVector", q, 1) AS "score"
        FROM (SELECT msg."id", msg."createdAt", msg."searchVector" FROM "Message" msg
              WHERE msg."searchVector" @@ to_tsquery('english', ${tsQueryText(terms)}) AND ${searchable}
              ORDER BY msg."createdAt" DESC, msg."id" DESC LIMIT ${SCORED_MATCHES_MAX}) c,
          to_tsquery('english', ${tsQueryText(terms)}) q
        ORDER BY "score" DESC, c."createdAt" DESC, c."id" DESC LIMIT ${limit} OFFSET ${offset}`)
    : await db.$queryRaw<{ id: string; rowKey: number; score: number }[]>(Prisma.sql`
        SELECT "id", "rowKey", "score", "createdAt" FROM (
          SELECT msg."id" AS "id", msg.rowid AS "rowKey", -bm25("MessageText") AS "score", msg."createdAt" AS "createdAt"
          FROM "MessageText" ${MESSAGE_JOIN}
          WHERE "MessageText" MATCH ${ftsMatchExpression(terms)} AND ${searchable}
          ORDER BY "MessageText".rowid DESC LIMIT ${SCORED_MATCHES_MAX})
        ORDER BY "score" DESC, "createdAt" DESC, "id" DESC LIMIT ${limit} OFFSET ${offset}`);
  return rows.map((row) => ({ id: row.id, rowKey: Number(row.rowKey), score: Number(row.score) }));
}

/** The best passage of each ranked message, with the matched words marked, by message id. */
async function markedPassages(db: Db, postgres: boolean, terms: readonly string[], ranked: readonly RankedMessage[]): Promise<Map<string, string>> {
  if (ranked.length === 0) return new Map();
  const rows = postgres
    ? await db.$queryRaw<{ id: string; marked: string }[]>(Prisma.sql`
        SELECT msg."id" AS "id", ts_headline('english', msg."content", to_tsquery('english', ${tsQueryText(terms)}),
          ${`StartSel=${MARK_OPEN}, StopSel=${MARK_CLOSE}, MaxWords=30, MinWords=12, MaxFragments=1`}) AS "marked"
        FROM "Message" msg WHERE msg."id" IN (${Prisma.join(ranked.map((r) => r.id))})`)
    : await db.$queryRaw<{ id: string; marked: string }[]>(Prisma.sql`
        SELECT msg."id" AS "id", snippet("MessageText", 0, ${MARK_OPEN}, ${MARK_CLOSE}, '…', 30) AS "marked"
        FROM "MessageText" JOIN "Message" msg ON msg.rowid = "MessageText".rowid
        WHERE "MessageText" MATCH ${ftsMatchExpression(terms)} AND "MessageText".rowid IN (${Prisma.join(ranked.map((r) => r.rowKey))})`);
  return new Map(rows.map((row) => [row.id, row.marked]));
}

/** message.search for `principal`. `nextCursor` is an offset (paging stops at SEARCH_DEPTH_MAX results). */
export async function searchMessages(storage: Storage, principal: Principal, input: z.output<typeof messageSearchInput>) {
  const started = performance.now();
  const { db } = storage;
  const postgres = storage.dialect === "postgres";
  const terms = queryTerms(input.query);
  const offset = input.cursor ?? 0;
  const limit = Math.max(0, Math.min(input.limit, SEARCH_DEPTH_MAX - offset));
  const inSession = input.sessionId === undefined ? Prisma.empty : Prisma.sql` AND msg."sessionId" = ${input.sessionId}`;
  const where = Prisma.sql`${visibleMessageSql(principal)}${inSession}`;
  // One more than asked: whether there is a next page.
  const ranked = limit === 0 ? [] : await rankMessagesByText(db, postgres, terms, where, limit + 1, offset);
  const page = ranked.slice(0, limit);
  const [rows, marked] = await Promise.all([
    page.length === 0
      ? []
      : db.message.findMany({
          where: { id: { in: page.map((r) => r.id) } },
          select: { id: true, sessionId: true, seq: true, author: true, authorLabel: true, role: true, visibility: true, createdAt: true, content: true, session: { select: { title: true } } },
        }),
    markedPassages(db, postgres, terms, page),
  ]);
  const byId = new Map(rows.map((row) => [row.id, row]));
  const items: MessageSearchHit[] = [];
  for (const hit of page) {
    const row = byId.get(hit.id);
    if (!row) continue;
    const passage = marked.get(hit.id);
    const { highlight, matched } = passage ? parseMarked(passage) : { highlight: plainHighlight(row.content), matched: [] };
    items.push({
      messageId: row.id,
      sessionId: row.sessionId,
      sessionTitle: row.session.title,
      seq: row.seq,
      author: row.author,
      authorLabel: row.authorLabel,
      role: row.role,
      visibility: row.visibility,
      createdAt: row.createdAt,
      link: `/s/${row.sessionId}#seq-${row.seq}`,
      score: Math.round(hit.score * 10_000) / 10_000,
      matched,
      highlight,
    });
  }
  const next = offset + page.length;
  return {
    items,
    nextCursor: ranked.length > limit && next < SEARCH_DEPTH_MAX ? String(next) : null,
    terms,
    tookMs: Math.round((performance.now() - started) * 10) / 10,
  };
}
