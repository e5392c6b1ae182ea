// Memory and search: inputs (validated by the server, typed for clients), the
// shapes the procedures return and the events `memory.events` streams. A
// memory has a scope (global, a session, an agent or a principal) and a
// visibility with the rules of messages (src/server/memory/audience.ts).
import { z } from "zod";
import type { Memory, MemoryScope, Visibility } from "../generated/prisma/client";
import { idSchema, metadataSchema, visibilities } from "./schemas";

export const memoryScopes = ["global", "session", "agent", "principal"] as const satisfies readonly MemoryScope[];

/** Tags a memory may carry. */
export const MEMORY_TAGS_MAX = 20;
/** The longest recall or search query (characters). */
export const SEARCH_QUERY_MAX_CHARS = 1_000;
/** The most results one recall returns. */
export const RECALL_LIMIT_MAX = 50;
/** The most results one message.search page holds, and how deep paging goes. */
export const SEARCH_LIMIT_MAX = 50;
export const SEARCH_DEPTH_MAX = 1_000;

/** A tag: a letter or digit, then letters, digits, `_ . : -`; at most 48 characters; stored lower-case. */
export const memoryTagSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,47}$/, "must start with a letter or digit and hold only letters, digits, _ . : - (at most 48)")
  .transform((tag) => tag.toLowerCase());

/**
 * Where a memory belongs. `principal` without an id is the caller itself
 * (only for signed-in principals: with authentication off, callers are not stored).
 */
export const memoryScopeSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("global") }),
  z.object({ kind: z.literal("session"), sessionId: idSchema }),
  z.object({ kind: z.literal("agent"), agentId: idSchema }),
  z.object({ kind: z.literal("principal"), principalId: idSchema.optional() }),
]);
export type MemoryScopeInput = z.input<typeof memoryScopeSchema>;

export const memoryStoreInput = z.object({
  /** Size-limited by MEMORY_MAX_BYTES (UTF-8). */
  content: z.string().min(1, "must not be empty"),
  title: z.string().trim().max(200, "must be at most 200 characters").optional(),
  tags: z.array(memoryTagSchema).max(MEMORY_TAGS_MAX, `at most ${MEMORY_TAGS_MAX} tags`).default([]),
  metadata: metadataSchema.optional(),
  /** Default: global. */
  scope: memoryScopeSchema.default({ kind: "global" }),
  visibility: z.enum(visibilities).default("public"),
});

/** Change content, title (null clears it), tags (replaced), metadata (replaced) or visibility. Scope does not change. */
export const memoryUpdateInput = z.object({
  id: idSchema,
  content: z.string().min(1, "must not be empty").optional(),
  title: z.string().trim().max(200, "must be at most 200 characters").nullable().optional(),
  tags: z.array(memoryTagSchema).max(MEMORY_TAGS_MAX, `at most ${MEMORY_TAGS_MAX} tags`).optional(),
  metadata: metadataSchema.optional(),
  visibility: z.enum(visibilities).optional(),
});

export const memoryIdInput = z.object({ id: idSchema });

/** A keyset cursor: the `nextCursor` of the previous page. */
const seqCursor = z.string().regex(/^\d{1,15}$/, "must be a nextCursor returned by the previous page").transform(Number);

export const memoryListInput = z.object({
  /** Only memories of this scope (`principal` without an id: the caller's). */
  scope: memoryScopeSchema.optional(),
  /** Only memories with this tag. */
  tag: memoryTagSchema.optional(),
  cursor: seqCursor.nullish(),
  limit: z.number().int().min(1).max(100).default(20),
});

/** `auto`: hybrid when embeddings are configured and reachable, else text. */
export const recallModes = ["auto", "text", "hybrid"] as const;
export type RecallMode = (typeof recallModes)[number];

export const memoryRecallInput = z.object({
  query: z.string().max(SEARCH_QUERY_MAX_CHARS, `must be at most ${SEARCH_QUERY_MAX_CHARS} characters`),
  scope: memoryScopeSchema.optional(),
  tag: memoryTagSchema.optional(),
  limit: z.number().int().min(1).max(RECALL_LIMIT_MAX).default(10),
  mode: z.enum(recallModes).default("auto"),
});

export const memoryEventsInput = z.object({
  /** Resume after this change (set by tRPC clients on reconnect). Without it: live changes only. */
  lastEventId: z.string().max(32).nullish(),
  /** Only changes of memories in this scope. */
  scope: memoryScopeSchema.optional(),
});

/** An opaque `nextCursor` of message.search (a result offset). */
const searchCursor = z.string().regex(/^\d{1,4}$/, "must be a nextCursor returned by message.search").transform(Number);

export const messageSearchInput = z.object({
  query: z.string().max(SEARCH_QUERY_MAX_CHARS, `must be at most ${SEARCH_QUERY_MAX_CHARS} characters`),
  /** Only this session's messages. */
  sessionId: idSchema.optional(),
  limit: z.number().int().min(1).max(SEARCH_LIMIT_MAX).default(20),
  cursor: searchCursor.nullish(),
});

/** A memory as the API shows it. */
export type MemoryItem = Pick<Memory, "id" | "title" | "content" | "metadata" | "authorId" | "visibility" | "createdAt" | "updatedAt"> & {
  tags: string[];
  scope: { kind: MemoryScope; sessionId: string | null; agentId: string | null; principalId: string | null };
  /** Whether a vector of the current embeddings model is stored (recallable by meaning). */
  embedded: boolean;
};

/** Text with the matched words marked: consecutive pieces, `match` on the words the query found. */
export type Highlight = { text: string; match: boolean }[];

/** One recalled memory, with why it ranked where it did. */
export interface RecallHit {
  memory: MemoryItem;
  /** The fused score (reciprocal rank fusion of the rankings it appears in); higher is better. */
  score: number;
  /** 1-based rank in the full-text ranking, null when no word matched. */
  textRank: number | null;
  /** 1-based rank by vector similarity, null when not compared. */
  vectorRank: number | null;
  /** Cosine similarity to the query, when compared. */
  similarity: number | null;
  /** The query's words found in it (stemmed forms as written in the memory). */
  matched: string[];
  /** The best passage with those words marked (title, then content). */
  highlight: Highlight;
}

export interface RecallResult {
  items: RecallHit[];
  /** What ranked this answer. */
  mode: "text" | "hybrid";
  /** Why vector similarity was not used although asked for or configured (server down, timeout); null otherwise. */
  vectorUnavailable: string | null;
  tookMs: number;
}

/** What `memory.events` streams, each tracked with its change seq. */
export type MemoryEvent =
  | { type: "memory.created" | "memory.updated"; memory: MemoryItem }
  | { type: "memory.deleted"; id: string }
  /** The memory changed so that this subscriber may no longer see it: drop it. */
  | { type: "memory.hidden"; id: string };

/** One message.search hit. */
export interface MessageSearchHit {
  messageId: string;
  sessionId: string;
  sessionTitle: string;
  seq: number;
  /** Who posted it (the principal's name), and the label the poster gave beside it, if any. */
  author: string;
  authorLabel: string | null;
  role: string;
  visibility: Visibility;
  createdAt: Date;
  /** Where the web UI shows it: `/s/<sessionId>#seq-<seq>`. */
  link: string;
  score: number;
  matched: string[];
  highlight: Highlight;
}
