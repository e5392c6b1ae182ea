// The built-in retrieval assistant: no network, no model. It answers by
// finding the memories and messages that best match the question, ranked by
// the full-text index (message search, search/messages.ts) and, for memories,
// by meaning too when embeddings are configured (memory recall): this
// session's messages first, then every other session's public messages, and
// the public memories of global scope and of this session. It streams a short
// answer quoting and linking them, or says plainly that nothing matched.
// Deterministic: the same data and question give the same answer, chunk for chunk.
import { Prisma } from "../../../generated/prisma/client";
import { BUILTIN_MODEL } from "../../../shared/chat";
import type { RecallHit } from "../../../shared/memory";
import type { Db } from "../../db";
import type { MemoryService } from "../../memory";
import { rankMessagesByText } from "../../search/messages";
import { queryTerms } from "../../search/terms";
import type { ChatProvider, CompletionChunk, CompletionRequest } from "./provider";

export interface BuiltinOptions {
  db: Db;
  /** Pause between streamed chunks (CHAT_BUILTIN_CHUNK_DELAY_MS). */
  chunkDelayMs: number;
  /** PostgreSQL (its full-text index), else SQLite. */
  postgres: boolean;
  /** Memories to quote; without it, messages only. */
  memory?: MemoryService;
}

/** Messages ranked per search before the asker's scope is applied, so a huge history costs a bounded read. */
const CANDIDATE_LIMIT = 200;
const MAX_RESULTS = 3;
const MAX_MEMORIES = 3;
const MAX_TERMS = 12;
const EXCERPT_CHARS = 200;

/** Words of a question that say nothing about its topic here. */
const QUESTION_WORDS = new Set(["message", "messages", "session", "one", "two"]);

/** The search terms of a question: lower-case words of 3+ letters or digits, no stopwords, first MAX_TERMS. */
export function searchTerms(question: string): string[] {
  return queryTerms(question).filter((word) => word.length >= 3 && !QUESTION_WORDS.has(word)).slice(0, MAX_TERMS);
}

function excerpt(content: string, term: string): string {
  const flat = content.replace(/\s+/g, " ").trim();
  if (flat.length <= EXCERPT_CHARS) return flat;
  const at = Math.max(0, flat.toLowerCase().indexOf(term) - 60);
  const piece = flat.slice(at, at + EXCERPT_CHARS);
  return `${at > 0 ? "…" : ""}${piece}${at + EXCERPT_CHARS < flat.length ? "…" : ""}`;
}

interface Match {
  id: string;
  sessionId: string;
  sessionTitle: string;
  seq: number;
  author: string;
  content: string;
  /** Position in the ranking (0 is best). */
  score: number;
  firstTerm: string;
}

export class BuiltinRetrievalProvider implements ChatProvider {
  readonly id = "builtin" as const;
  readonly defaultModel = BUILTIN_MODEL;
  readonly readsDatabase = true;

  constructor(private readonly options: BuiltinOptions) {}

  listModels(): Promise<string[]> {
    return Promise.resolve([BUILTIN_MODEL]);
  }

  /** The answer text for `question`, as the stream would produce it. */
  async answer(request: Pick<CompletionRequest, "sessionId" | "questionMessageId" | "scope">, question: string): Promise<string> {
    const intro = this.options.memory
      ? "Parley's built-in retrieval assistant (not a language model) searched this session's messages, the public messages of other sessions and the public memories stored here."
      : "Parley's built-in retrieval assistant (not a language model) searched this session's messages and the public messages of other sessions.";
    const terms = searchTerms(question);
    const memories = await this.recallMemories(request.sessionId, question);
    if (terms.length === 0 && memories.length === 0) {
      return `${intro}\n\nYour question has no words to search for. Ask about a topic, a name or a phrase that appears in the messages.`;
    }
    const matches = await this.search(request.sessionId, request.questionMessageId, terms, request.scope ?? {});
    if (matches.length === 0 && memories.length === 0) {
      return `${intro}\n\nNothing matched ${terms.map((t) => `"${t}"`).join(", ")}.`;
    }
    const parts = [intro];
    if (memories.length > 0) {
      const lines = memories.map((hit, i) => {
        const m = hit.memory;
        return `${i + 1}. ${m.title ? `${m.title} ` : ""}(memory ${m.id}):\n   > ${excerpt(m.content, hit.matched[0] ?? "")}`;
      });
      parts.push(`From memory:\n\n${lines.join("\n")}`);
    }
    if (matches.length > 0) {
      const lines = matches.map((m, i) => {
        const where = m.sessionId === request.sessionId ? "in this session" : `in "${m.sessionTitle}"`;
        return `${i + 1}. ${m.author} ${where} ([message ${m.seq}](/s/${m.sessionId}#seq-${m.seq})):\n   > ${excerpt(m.content, m.firstTerm)}`;
      });
      const noun = matches.length === 1 ? "message matches" : "messages match";
      parts.push(`${matches.length} ${noun} your question:\n\n${lines.join("\n")}`);
    }
    return parts.join("\n\n");
  }

  /** Public memories of global scope and of this session that match the question (by words, or by meaning when embedded). */
  private async recallMemories(sessionId: string, question: string): Promise<RecallHit[]> {
    if (!this.options.memory) return [];
    return this.options.memory.relevantHits({ sessionId, agentId: null, question }, MAX_MEMORIES);
  }

  /**
   * Ranked by the message index among this session's messages and other
   * sessions' public ones (not archived), then kept only inside `scope`
   * (what the asker and the answer's readers may see).
   */
  private async search(sessionId: string, questionMessageId: string, terms: string[], scope: Prisma.MessageWhereInput): Promise<Match[]> {
    const { db, postgres } = this.options;
    const where = Prisma.sql`msg."id" <> ${questionMessageId} AND msg."role" <> 'assistant' AND msg."status" = 'complete'
      AND (msg."sessionId" = ${sessionId} OR (msg."visibility" = 'public' AND msg."sessionId" IN (SELECT "id" FROM "Session" WHERE "archivedAt" IS NULL)))`;
    const ranked = await rankMessagesByText(db, postgres, terms, where, CANDIDATE_LIMIT);
    if (ranked.length === 0) return [];
    const rows = await db.message.findMany({
      where: { id: { in: ranked.map((r) => r.id) }, AND: [scope] },
      select: { id: true, sessionId: true, seq: true, author: true, content: true, session: { select: { title: true } } },
    });
    const byId = new Map(rows.map((row) => [row.id, row]));
    const matches: Match[] = [];
    for (const [rank, hit] of ranked.entries()) {
      const row = byId.get(hit.id);
      if (!row) continue;
      const lower = row.content.toLowerCase();
      matches.push({
        id: row.id,
        sessionId: row.sessionId,
        sessionTitle: row.session.title,
        seq: row.seq,
        author: row.author,
        content: row.content,
        score: rank,
        firstTerm: terms.find((term) => lower.includes(term)) ?? terms[0] ?? "",
      });
    }
    // Best ranked first; among equals this session first (the ranking is deterministic: ties by time, then id).
    matches.sort((a, b) => a.score - b.score || Number(b.sessionId === sessionId) - Number(a.sessionId === sessionId));
    return matches.slice(0, MAX_RESULTS);
  }

  async *stream(request: CompletionRequest): AsyncGenerator<CompletionChunk> {
    const question = [...request.messages].reverse().find((m) => m.role === "user")?.content ?? "";
    const text = await this.answer(request, question);
    // Word-sized chunks (a word with its following whitespace), like tokens.
    const chunks = text.match(/\S+\s*|\s+/g) ?? [];
    for (const chunk of chunks) {
      if (request.signal.aborted) throw request.signal.reason;
      await pause(this.options.chunkDelayMs, request.signal);
      yield { type: "text", text: chunk };
    }
    yield {
      type: "end",
      finishReason: "stop",
      providerFinishReason: null,
      usage: { promptTokens: searchTerms(question).length, completionTokens: chunks.length },
    };
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
