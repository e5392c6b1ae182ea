// Ranking memories: by their words (always), on each database's own full-text
// index, and fused with the vector ranking when there is one.
//   SQLite      FTS5 `MemoryText`, bm25 with the title weighing 2 and the content 1
//   PostgreSQL  generated tsvector `searchVector` (title weight A, content B), GIN, ts_rank_cd
// Both stem English words, so "shipping" finds "ship". Any query word may
// match; more, rarer and title words rank higher.
import { Prisma } from "../../generated/prisma/client";
import type { Db } from "../db";
import { ftsMatchExpression, MARK_CLOSE, MARK_OPEN, tsQueryText } from "../search/terms";

export interface Ranked {
  seq: number;
  /** Higher is better (bm25 negated on SQLite, ts_rank_cd on PostgreSQL). */
  score: number;
}

const MEMORY_JOIN = Prisma.sql`JOIN "Memory" m ON m."seq" = "MemoryText".rowid`;

/** The best `limit` memories matching any of `terms` among those `where` (on alias `m`) allows, best first. */
export async function rankMemoriesByText(db: Db, postgres: boolean, terms: readonly string[], where: Prisma.Sql, limit: number): Promise<Ranked[]> {
  if (terms.length === 0) return [];
  const rows = postgres
    ? await db.$queryRaw<{ seq: number; score: number }[]>(Prisma.sql`
        SELECT m."seq" AS "seq", ts_rank_cd(m."searchVector", q, 1) AS "score"
        FROM "Memory" m, to_tsquery('english', ${tsQueryText(terms)}) q
        WHERE m."searchVector" @@ q AND ${where}
        ORDER BY "score" DESC, m."seq" DESC LIMIT ${limit}`)
    : await db.$queryRaw<{ seq: number; score: number }[]>(Prisma.sql`
        SELECT m."seq" AS "seq", -bm25("MemoryText", 2.0, 1.0) AS "score"
        FROM "MemoryText" ${MEMORY_JOIN}
        WHERE "MemoryText" MATCH ${ftsMatchExpression(terms)} AND "MemoryText".rowid >= ${await newestMatchesFloor(db, "MemoryText", MEMORY_JOIN, terms, where)} AND ${where}
        ORDER BY "score" DESC, m."seq" DESC LIMIT ${limit}`);
  return rows.map((row) => ({ seq: Number(row.seq), score: Number(row.score) }));
}

/** A word found in more than this share of memories is left out of a query that has rarer words (in stopword-free text, a query's useful words are far rarer). */
export const COMMON_TERM_SHARE = 0.05;
/** How long a word's document count (and the memory count) is reused. */
const TERM_STATS_TTL_MS = 60_000;
const TERM_STATS_ENTRIES = 10_000;

/**
 * Document counts of query words, cached for TERM_STATS_TTL_MS. Ranking a word
 * that most memories contain costs a bm25 evaluation per memory (100 ms at
 * 100,000 memories) and moves the ranking little (its inverse document
 * frequency is near zero), so `rankable` leaves such words out when the query
 * has rarer ones. The counts are the index's own (stemmed) matches.
 */
export class TermStatistics {
  private readonly counts = new Map<string, { docs: number; at: number }>();
  private total: { docs: number; at: number } | null = null;

  constructor(
    private readonly db: Db,
    private readonly postgres: boolean,
  ) {}

  /** `terms` without the common ones, unless every one is common (then all of them). */
  async rankable(terms: readonly string[]): Promise<string[]> {
    if (terms.length <= 1) return [...terms];
    const total = await this.memoryCount();
    if (total < 1_000) return [...terms];
    const rare: string[] = [];
    for (const term of terms) if ((await this.documents(term)) <= total * COMMON_TERM_SHARE) rare.push(term);
    return rare.length > 0 ? rare : [...terms];
  }

  private async memoryCount(): Promise<number> {
    const now = performance.now();
    if (this.total && now - this.total.at < TERM_STATS_TTL_MS) return this.total.docs;
    const docs = await this.db.memory.count();
    this.total = { docs, at: now };
    return docs;
  }

  private async documents(term: string): Promise<number> {
    const now = performance.now();
    const cached = this.counts.get(term);
    if (cached && now - cached.at < TERM_STATS_TTL_MS) return cached.docs;
    // Counted only up to the threshold (+1): past it, how many more does not matter.
    const enough = Math.floor((await this.memoryCount()) * COMMON_TERM_SHARE) + 1;
    const rows = this.postgres
      ? await this.db.$queryRaw<{ docs: number }[]>(
          Prisma.sql`SELECT count(*)::int AS "docs" FROM (SELECT 1 FROM "Memory" WHERE "searchVector" @@ to_tsquery('english', ${term}) LIMIT ${enough}) AS matches`,
        )
      : await this.db.$queryRaw<{ docs: number }[]>(
          Prisma.sql`SELECT count(*) AS "docs" FROM (SELECT 1 FROM "MemoryText" WHERE "MemoryText" MATCH ${ftsMatchExpression([term])} LIMIT ${enough})`,
        );
    const docs = Number(rows[0]?.docs ?? 0);
    this.counts.delete(term);
    this.counts.set(term, { docs, at: now });
    if (this.counts.size > TERM_STATS_ENTRIES) this.counts.delete(this.counts.keys().next().value ?? "");
    return docs;
  }
}

/** At most this many matches are scored per query (SQLite); past it, the newest ones. */
export const SCORED_MATCHES_MAX = 2_000;

/**
 * SQLite: the smallest rowid among the newest SCORED_MATCHES_MAX rows of the
 * full-text table `fts` (joined to its rows by `join`) that match any of
 * `terms` and pass `where`, the caller's own filter (0 when fewer do). FTS5
 * walks its document lists by rowid without scoring, so this costs a row
 * look-up per match visited, and the scored query, bounded below by it,
 * scores at most SCORED_MATCHES_MAX rows: bm25 for every match of a word in
 * half of 100,000 memories took 240 ms. A query matching more of what the
 * caller may read ranks the newest of those matches.
 */
export async function newestMatchesFloor(db: Db, fts: "MemoryText" | "MessageText", join: Prisma.Sql, terms: readonly string[], where: Prisma.Sql): Promise<number> {
  const table = Prisma.raw(`"${fts}"`);
  const rows = await db.$queryRaw<{ floor: number }[]>(
    Prisma.sql`SELECT ${table}.rowid AS "floor" FROM ${table} ${join} WHERE ${table} MATCH ${ftsMatchExpression(terms)} AND ${where}
      ORDER BY ${table}.rowid DESC LIMIT 1 OFFSET ${SCORED_MATCHES_MAX - 1}`,
  );
  return Number(rows[0]?.floor ?? 0);
}

/** Words of a passage around the matches, at most. */
const PASSAGE_WORDS = 24;

/** The best passage of each memory with the matched words marked (MARK_OPEN/MARK_CLOSE), by seq. */
export async function markedPassages(db: Db, postgres: boolean, terms: readonly string[], seqs: readonly number[]): Promise<Map<number, string>> {
  if (terms.length === 0 || seqs.length === 0) return new Map();
  const rows = postgres
    ? await db.$queryRaw<{ seq: number; marked: string }[]>(Prisma.sql`
        SELECT m."seq" AS "seq",
          ts_headline('english', coalesce(m."title" || ': ', '') || m."content", to_tsquery('english', ${tsQueryText(terms)}),
            ${`StartSel=${MARK_OPEN}, StopSel=${MARK_CLOSE}, MaxWords=${PASSAGE_WORDS}, MinWords=${PASSAGE_WORDS / 2}, MaxFragments=1, FragmentDelimiter=" … "`}) AS "marked"
        FROM "Memory" m WHERE m."seq" IN (${Prisma.join(seqs)})`)
    : await db.$queryRaw<{ seq: number; marked: string }[]>(Prisma.sql`
        SELECT rowid AS "seq", snippet("MemoryText", -1, ${MARK_OPEN}, ${MARK_CLOSE}, '…', ${PASSAGE_WORDS}) AS "marked"
        FROM "MemoryText" WHERE "MemoryText" MATCH ${ftsMatchExpression(terms)} AND rowid IN (${Prisma.join(seqs)})`);
  return new Map(rows.map((row) => [Number(row.seq), row.marked]));
}

/** Reciprocal rank fusion's constant: ranks past the first few count for less, never for nothing. */
export const RRF_K = 60;

export interface Fused {
  seq: number;
  score: number;
  textRank: number | null;
  vectorRank: number | null;
}

/**
 * Reciprocal rank fusion: each ranking adds 1 / (RRF_K + rank) to the items it
 * ranks, so an item high in either list, or present in both, rises. Ties by
 * text rank, then newest. Scores of different rankings never need comparing.
 */
export function fuseRankings(text: readonly Ranked[], vector: readonly Ranked[]): Fused[] {
  const fused = new Map<number, Fused>();
  const add = (list: readonly Ranked[], key: "textRank" | "vectorRank") => {
    list.forEach((item, index) => {
      const entry = fused.get(item.seq) ?? { seq: item.seq, score: 0, textRank: null, vectorRank: null };
      entry.score += 1 / (RRF_K + index + 1);
      entry[key] = index + 1;
      fused.set(item.seq, entry);
    });
  };
  add(text, "textRank");
  add(vector, "vectorRank");
  return [...fused.values()].sort(
    (a, b) => b.score - a.score || (a.textRank ?? Infinity) - (b.textRank ?? Infinity) || b.seq - a.seq,
  );
}
