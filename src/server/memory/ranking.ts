// Ranking memories: by their words (always), on each database's own full-text
// index, and fused with the vector ranking when there is one.
//   SQLite      FTS5 `MemoryText`, bm25 with the title weighing 2 and the content 1
//   PostgreSQL  generated tsvector `searchVector` (title weight A, content B), GIN, ts_rank_cd
// Both stem English words, so "shipping" finds "ship". Any query word may
// match; more, rarer and title words rank higher.
//
// Bounds (docs/memory.md has the measurements): a query ranks at most the
// newest SCORED_MATCHES_MAX matches the caller may read, read newest first
// and cut before any ranking function runs; words in more than
// COMMON_TERM_SHARE of memories are left out when rarer ones remain; and on
// SQLite, where bm25 counts every memory holding each ranked word on every
// query, words held by more than RANKED_POSTINGS_MAX memories together are
// ranked without bm25 (memories holding all of them first, then any, newest
// first).
import { Prisma } from "../../generated/prisma/client";
import type { Db } from "../db";
import { ftsMatchExpression, MARK_CLOSE, MARK_OPEN, tsQueryText } from "../search/terms";

export interface Ranked {
  seq: number;
  /** Higher is better (bm25 negated on SQLite, ts_rank_cd on PostgreSQL; when not scored, the number of words for a memory holding them all, else 1). */
  score: number;
}

/** What a query's words become: the words matched (any of them) and ranked, and whether a ranking function scores them. */
export interface TextQuery {
  terms: string[];
  /** False when bm25 would cost too much (SQLite; see RANKED_POSTINGS_MAX): memories holding every word first, then any, newest first. */
  scored: boolean;
}

/** At most this many matches are ranked per query: the newest the caller may read. */
export const SCORED_MATCHES_MAX = 2_000;

/**
 * SQLite: the most memories the ranked words may hold together for bm25 to
 * score them. FTS5's bm25 counts the memories holding each word on every
 * query (a walk of each word's whole list, about 80 ns a memory here), so a
 * query of words most memories hold would cost time in proportion to the
 * store, however few matches are then scored.
 */
export const RANKED_POSTINGS_MAX = 20_000;

const MEMORY_JOIN = Prisma.sql`JOIN "Memory" m ON m."seq" = "MemoryText".rowid`;

/** The best `limit` memories matching any of `query.terms` among those `where` (on alias `m`) allows, best first. */
export async function rankMemoriesByText(db: Db, postgres: boolean, query: TextQuery, where: Prisma.Sql, limit: number): Promise<Ranked[]> {
  if (query.terms.length === 0) return [];
  if (!postgres && !query.scored) return rankByWordsHeld(db, query.terms, where, limit);
  const rows = await db.$queryRaw<{ seq: number; score: number }[]>(scoredRankingSql(postgres, query.terms, where, limit));
  return rows.map((row) => ({ seq: Number(row.seq), score: Number(row.score) }));
}

/**
 * The ranking query (columns `seq`, `score`): the newest SCORED_MATCHES_MAX
 * matches `where` allows, cut in a subquery, then scored (ts_rank_cd, bm25)
 * and the best `limit` kept.
 */
export function scoredRankingSql(postgres: boolean, terms: readonly string[], where: Prisma.Sql, limit: number): Prisma.Sql {
  return postgres
    ? Prisma.sql`
        SELECT c."seq" AS "seq", ts_rank_cd(c."searchVector", q, 1) AS "score"
        FROM (SELECT m."seq", m."searchVector" FROM "Memory" m
              WHERE m."searchVector" @@ to_tsquery('english', ${tsQueryText(terms)}) AND ${where}
              ORDER BY m."seq" DESC LIMIT ${SCORED_MATCHES_MAX}) c,
          to_tsquery('english', ${tsQueryText(terms)}) q
        ORDER BY "score" DESC, c."seq" DESC LIMIT ${limit}`
    : Prisma.sql`
        SELECT "seq", "score" FROM (
          SELECT m."seq" AS "seq", -bm25("MemoryText", 2.0, 1.0) AS "score"
          FROM "MemoryText" ${MEMORY_JOIN}
          WHERE "MemoryText" MATCH ${ftsMatchExpression(terms)} AND ${where}
          ORDER BY "MemoryText".rowid DESC LIMIT ${SCORED_MATCHES_MAX})
        ORDER BY "score" DESC, "seq" DESC LIMIT ${limit}`;
}

/**
 * SQLite, without bm25: the memories `where` allows holding every one of
 * `terms`, newest first, then those holding any, newest first; `limit` in all.
 * Two walks of the word lists from their newest end, each stopping after
 * `limit` rows (counting which of several words each candidate holds would
 * look each word up per candidate, and FTS5 look-ups by rowid are slow).
 */
async function rankByWordsHeld(db: Db, terms: readonly string[], where: Prisma.Sql, limit: number): Promise<Ranked[]> {
  const newest = (expression: string, count: number) =>
    db.$queryRaw<{ seq: number }[]>(Prisma.sql`
      SELECT m."seq" AS "seq" FROM "MemoryText" ${MEMORY_JOIN}
      WHERE "MemoryText" MATCH ${expression} AND ${where}
      ORDER BY "MemoryText".rowid DESC LIMIT ${count}`);
  const ranked: Ranked[] = terms.length > 1 ? (await newest(ftsMatchExpression(terms, "AND"), limit)).map((row) => ({ seq: Number(row.seq), score: terms.length })) : [];
  // Fewer than `limit` hold every word, so all of those are in `ranked`: skip them among the newest holding any.
  if (ranked.length < limit) {
    const holdAll = new Set(ranked.map((r) => r.seq));
    for (const row of await newest(ftsMatchExpression(terms), limit + ranked.length)) {
      if (ranked.length === limit) break;
      if (!holdAll.has(Number(row.seq))) ranked.push({ seq: Number(row.seq), score: 1 });
    }
  }
  return ranked;
}

/** A word found in more than this share of memories is left out of a query that has rarer words (in stopword-free text, a query's useful words are far rarer). */
export const COMMON_TERM_SHARE = 0.05;
/** How long a word's document count (and the memory count) is reused. */
const TERM_STATS_TTL_MS = 60_000;
const TERM_STATS_ENTRIES = 10_000;

/**
 * Document counts of query words, cached for TERM_STATS_TTL_MS, and what a
 * query's words become (`plan`). A word most memories hold moves a ranking
 * little (its inverse document frequency is near zero) but widens the match to
 * most of the store, so it is left out when the query has rarer words. The
 * counts are the index's own (stemmed) matches, counted only as far as a rule
 * needs.
 */
export class TermStatistics {
  private readonly counts = new Map<string, { docs: number; at: number }>();
  private total: { docs: number; at: number } | null = null;

  constructor(
    private readonly db: Db,
    private readonly postgres: boolean,
    /** RANKED_POSTINGS_MAX (smaller in tests, to reach the unscored path with few memories). */
    private readonly postingsMax = RANKED_POSTINGS_MAX,
  ) {}

  /** `terms` without the common ones (unless every one is common), and whether bm25 may score them (SQLite). */
  async plan(terms: readonly string[]): Promise<TextQuery> {
    const total = terms.length === 0 ? 0 : await this.memoryCount();
    const small = total < 1_000;
    if (small && total * terms.length <= this.postingsMax) return { terms: [...terms], scored: true };
    const docs = new Map<string, number>();
    for (const term of terms) docs.set(term, await this.documents(term));
    const rare = terms.length > 1 && !small ? terms.filter((term) => (docs.get(term) ?? 0) <= total * COMMON_TERM_SHARE) : [];
    const kept = rare.length > 0 ? rare : [...terms];
    const postings = kept.reduce((sum, term) => sum + (docs.get(term) ?? 0), 0);
    return { terms: kept, scored: this.postgres || postings <= this.postingsMax };
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
    // Counted only past both rules' thresholds (+1): how many more does not matter.
    const enough = Math.max(Math.floor((await this.memoryCount()) * COMMON_TERM_SHARE), this.postingsMax) + 1;
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
