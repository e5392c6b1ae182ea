// The built-in retrieval assistant: no network, no model. It answers by
// finding the messages that best match the question (this session first, then
// every other session's public messages) and streams a short answer quoting
// and linking them, or says plainly that nothing matched. Deterministic: the
// same data and question give the same answer, chunk for chunk.
import type { Prisma } from "../../../generated/prisma/client";
import { BUILTIN_MODEL } from "../../../shared/chat";
import type { Db } from "../../db";
import type { ChatProvider, CompletionChunk, CompletionRequest } from "./provider";

export interface BuiltinOptions {
  db: Db;
  /** Pause between streamed chunks (CHAT_BUILTIN_CHUNK_DELAY_MS). */
  chunkDelayMs: number;
}

/** Messages considered per search (newest first), so a huge history costs a bounded scan. */
const CANDIDATE_LIMIT = 2_000;
const MAX_RESULTS = 3;
const MAX_TERMS = 12;
const EXCERPT_CHARS = 200;

const STOPWORDS = new Set(
  (
    "the and for are but not you your with this that what when where which who whom why how was were has have had " +
    "did does doing done can could should would will shall may might must about into from than then them they their " +
    "there here its it's our ours out over under again also just only very any all some such more most other each " +
    "say said says tell told know ask asked please any anything something someone message messages session one two"
  ).split(" "),
);

/** The search terms of a question: lower-case words of 3+ letters or digits, no stopwords, first MAX_TERMS. */
export function searchTerms(question: string): string[] {
  const words = question.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  const terms: string[] = [];
  for (const word of words) {
    if (word.length < 3 || STOPWORDS.has(word) || terms.includes(word)) continue;
    terms.push(word);
    if (terms.length === MAX_TERMS) break;
  }
  return terms;
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
    const intro = "Parley's built-in retrieval assistant (not a language model) searched this session's messages and the public messages of other sessions.";
    const terms = searchTerms(question);
    if (terms.length === 0) {
      return `${intro}\n\nYour question has no words to search for. Ask about a topic, a name or a phrase that appears in the messages.`;
    }
    const matches = await this.search(request.sessionId, request.questionMessageId, terms, request.scope ?? {});
    if (matches.length === 0) {
      return `${intro}\n\nNothing matched ${terms.map((t) => `"${t}"`).join(", ")}.`;
    }
    const lines = matches.map((m, i) => {
      const where = m.sessionId === request.sessionId ? "in this session" : `in "${m.sessionTitle}"`;
      return `${i + 1}. ${m.author} ${where} ([message ${m.seq}](/s/${m.sessionId}#seq-${m.seq})):\n   > ${excerpt(m.content, m.firstTerm)}`;
    });
    const noun = matches.length === 1 ? "message matches" : "messages match";
    return `${intro}\n\n${matches.length} ${noun} your question:\n\n${lines.join("\n")}`;
  }

  /** `scope`: only messages the asker may read. */
  private async search(sessionId: string, questionMessageId: string, terms: string[], scope: Prisma.MessageWhereInput): Promise<Match[]> {
    const rows = await this.options.db.message.findMany({
      where: {
        id: { not: questionMessageId },
        role: { not: "assistant" },
        status: "complete",
        OR: terms.map((term) => ({ content: { contains: term } })),
        AND: [
          {
            OR: [
              { sessionId },
              { visibility: "public", session: { archivedAt: null } },
            ],
          },
          scope,
        ],
      },
      orderBy: [{ createdAt: "desc" }, { id: "desc" }],
      take: CANDIDATE_LIMIT,
      select: { id: true, sessionId: true, seq: true, author: true, content: true, session: { select: { title: true } } },
    });
    const matches: Match[] = [];
    for (const row of rows) {
      const lower = row.content.toLowerCase();
      const found = terms.filter((term) => lower.includes(term));
      if (found.length === 0) continue;
      matches.push({
        id: row.id,
        sessionId: row.sessionId,
        sessionTitle: row.session.title,
        seq: row.seq,
        author: row.author,
        content: row.content,
        score: found.length,
        firstTerm: found[0] ?? terms[0] ?? "",
      });
    }
    matches.sort(
      (a, b) =>
        b.score - a.score ||
        Number(b.sessionId === sessionId) - Number(a.sessionId === sessionId) ||
        (a.sessionId === b.sessionId ? b.seq - a.seq : a.sessionId < b.sessionId ? -1 : 1),
    );
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
