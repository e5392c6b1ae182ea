// memory.recall: the memories the caller may read, ranked for a query. Text
// ranking always; with embeddings configured (and reachable within
// EMBEDDINGS_QUERY_TIMEOUT_MS) vector similarity too, fused by reciprocal rank.
// Only memories the caller may read are ranked, compared or returned.
import type { z } from "zod";
import { Prisma } from "../../generated/prisma/client";
import type { memoryRecallInput, RecallHit, RecallResult } from "../../shared/memory";
import type { Db } from "../db";
import { parseMarked, plainHighlight, queryTerms } from "../search/terms";
import { readableMemorySql, resolveScope, scopeFilterSql } from "./audience";
import type { Embedder } from "./embedder";
import { fuseRankings, markedPassages, rankMemoriesByText, type Ranked, type TermStatistics } from "./ranking";
import { memorySelect, type MemoryCaller, type MemoryStore } from "./store";
import type { VectorIndex } from "./vectors";

/** Each ranking is read this deep (times the limit, at least this many) before fusing. */
const DEPTH_FACTOR = 4;
const DEPTH_MIN = 40;
/** Vector neighbours compared per wanted result before the readable ones are kept. */
const VECTOR_OVERFETCH = 4;

export interface RecallDeps {
  db: Db;
  postgres: boolean;
  store: MemoryStore;
  embedder: Embedder | null;
  index: VectorIndex;
  terms: TermStatistics;
}

/** What one recall did, for the memory.recall event (no content). */
export interface RecallFigures {
  count: number;
  textMs: number;
  vectorMs: number | null;
}

export async function recallMemories(
  deps: RecallDeps,
  caller: MemoryCaller,
  input: z.output<typeof memoryRecallInput>,
): Promise<RecallResult & { figures: RecallFigures }> {
  const started = performance.now();
  const { db, postgres } = deps;
  const terms = queryTerms(input.query);
  const scope = input.scope ? resolveScope(caller.principal, input.scope) : null;
  const tag = input.tag === undefined ? Prisma.empty : Prisma.sql` AND m."seq" IN (SELECT "memorySeq" FROM "MemoryTag" WHERE "tag" = ${input.tag})`;
  const allowed = Prisma.sql`${readableMemorySql(caller.principal)} AND ${scopeFilterSql(scope)}${tag}`;
  const depth = Math.max(DEPTH_MIN, input.limit * DEPTH_FACTOR);

  let vectorUnavailable: string | null = null;
  const wantsVector = input.mode !== "text" && input.query.trim().length > 0;
  if (wantsVector && !deps.embedder) vectorUnavailable = input.mode === "hybrid" ? "no embeddings provider is configured (EMBEDDINGS_PROVIDER)" : null;
  // The query's vector travels while the text ranking runs.
  const queryVector = wantsVector && deps.embedder ? deps.embedder.queryVector(input.query) : null;

  const textStarted = performance.now();
  const plan = await deps.terms.plan(terms);
  const text = await rankMemoriesByText(db, postgres, plan, allowed, depth);
  const textMs = performance.now() - textStarted;

  let vector: (Ranked & { similarity: number })[] = [];
  let vectorMs: number | null = null;
  if (queryVector) {
    const vectorStarted = performance.now();
    const answer = await queryVector;
    if ("unavailable" in answer) vectorUnavailable = answer.unavailable;
    else {
      const near = deps.index.nearest(answer.vector, depth * VECTOR_OVERFETCH);
      const readable = near.length === 0 ? new Set<number>() : await readableSeqs(db, allowed, near.map((n) => n.seq));
      vector = near.filter((n) => readable.has(n.seq)).slice(0, depth).map((n) => ({ seq: n.seq, score: n.similarity, similarity: n.similarity }));
    }
    vectorMs = performance.now() - vectorStarted;
  }

  const fused = fuseRankings(text, vector).slice(0, input.limit);
  const seqs = fused.map((f) => f.seq);
  const [rows, marked] = await Promise.all([
    seqs.length === 0 ? [] : db.memory.findMany({ where: { seq: { in: seqs } }, select: memorySelect }),
    // The words it was matched by (not the common ones left out: marking them costs a look-up in their long lists).
    markedPassages(db, postgres, plan.terms, fused.filter((f) => f.textRank !== null).map((f) => f.seq)),
  ]);
  const bySeq = new Map(rows.map((row) => [row.seq, row]));
  const similarity = new Map(vector.map((v) => [v.seq, v.similarity]));
  const items: RecallHit[] = [];
  for (const hit of fused) {
    const row = bySeq.get(hit.seq);
    if (!row) continue; // deleted meanwhile
    const passage = marked.get(hit.seq);
    const { highlight, matched } = passage ? parseMarked(passage) : { highlight: plainHighlight(row.content), matched: [] };
    items.push({
      memory: deps.store.item(row),
      score: round(hit.score),
      textRank: hit.textRank,
      vectorRank: hit.vectorRank,
      similarity: similarity.has(hit.seq) ? round(similarity.get(hit.seq) ?? 0) : null,
      matched,
      highlight,
    });
  }
  const tookMs = round(performance.now() - started);
  return {
    items,
    mode: vector.length > 0 || (queryVector !== null && vectorUnavailable === null) ? "hybrid" : "text",
    vectorUnavailable,
    tookMs,
    figures: { count: items.length, textMs: round(textMs), vectorMs: vectorMs === null ? null : round(vectorMs) },
  };
}

/** Which of `seqs` pass `allowed` (alias `m`). */
async function readableSeqs(db: Db, allowed: Prisma.Sql, seqs: readonly number[]): Promise<Set<number>> {
  const rows = await db.$queryRaw<{ seq: number }[]>(Prisma.sql`SELECT m."seq" AS "seq" FROM "Memory" m WHERE m."seq" IN (${Prisma.join(seqs)}) AND ${allowed}`);
  return new Set(rows.map((row) => Number(row.seq)));
}

const round = (n: number) => Math.round(n * 10_000) / 10_000;
