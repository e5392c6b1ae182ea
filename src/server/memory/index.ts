// The memory feature, built once per server (compose.ts): the store, recall,
// the change stream, the typed agent events it emits, and the memories a chat
// run is given as context. The embedder (embedder.ts, with its vector index)
// is built, started and closed beside it and handed in.
import type { TrackedEnvelope } from "@trpc/server";
import type { Logger } from "pino";
import type { z } from "zod";
import type { MemoryEvent, MemoryItem, memoryEventsInput, memoryListInput, memoryRecallInput, memoryStoreInput, memoryUpdateInput, RecallHit, RecallResult } from "../../shared/memory";
import type { Principal } from "../auth/principal";
import type { Bus } from "../bus/bus";
import type { Storage } from "../db";
import type { Config } from "../env";
import { MemoryActivity, type AgentEventSink } from "./activity";
import { resolveScope } from "./audience";
import type { Embedder } from "./embedder";
import { memoryEventStream } from "./events";
import { TermStatistics } from "./ranking";
import { recallMemories } from "./recall";
import { MemoryStore, type MemoryCaller } from "./store";
import { VectorIndex } from "./vectors";

export type { MemoryCaller } from "./store";
export type { AgentEventSink } from "./activity";

export interface MemoryDeps {
  storage: Storage;
  bus: Bus;
  log: Logger;
  config: Config;
  agentEvents: AgentEventSink;
  /** EMBEDDINGS_PROVIDER's embedder (embedder.ts createEmbedder), or null: text ranking only. */
  embedder: Embedder | null;
}

/** A run's memory context: what the provider is told, and what the run's metadata records. */
export interface MemoryContext {
  /** A system turn listing the memories, or null when there are none. */
  text: string | null;
  ids: string[];
}

/** The least cosine similarity at which a memory found by meaning alone is relevant to an assistant. */
export const CONTEXT_MIN_SIMILARITY = 0.5;

/** Characters of one memory quoted into a run's context at most. */
const CONTEXT_MEMORY_CHARS = 1_000;

export class MemoryService {
  readonly store: MemoryStore;
  /** The embedder's vectors (empty without one). */
  readonly index: VectorIndex;
  readonly embedder: Embedder | null;
  private readonly postgres: boolean;
  private readonly terms: TermStatistics;
  private readonly activity: MemoryActivity;
  private readonly stopHearingFailures: () => void;

  constructor(private readonly deps: MemoryDeps) {
    const { config, storage, bus } = deps;
    const { db } = storage;
    const log = deps.log.child({ component: "memory" });
    this.postgres = storage.dialect === "postgres";
    this.terms = new TermStatistics(db, this.postgres);
    this.activity = new MemoryActivity(deps.agentEvents, log);
    const { embedder } = deps;
    this.embedder = embedder;
    this.index = embedder?.index ?? new VectorIndex();
    this.stopHearingFailures =
      embedder?.onFailure(({ count, reason, attempt }) => this.activity.failed("parley", { operation: "embed", message: reason, count, attempt })) ?? (() => undefined);
    this.store = new MemoryStore({
      storage,
      bus,
      log,
      limits: { maxBytes: config.MEMORY_MAX_BYTES, writesPerMinute: config.MEMORY_WRITES_PER_MINUTE, changesKept: config.MEMORY_EVENTS_MAX_COUNT },
      embeddingModel: embedder?.model ?? null,
      onText: (seq) => embedder?.enqueue(seq),
    });
    log.info({ embeddings: embedder?.model ?? "off" }, "memory ready");
  }

  /** Publishes what is pending of its agent events (before the event log closes). */
  close(): void {
    this.stopHearingFailures();
    this.activity.flush();
  }

  /** memory.recall, and its memory.recall event (figures only). */
  async recall(caller: MemoryCaller, input: z.output<typeof memoryRecallInput>): Promise<RecallResult> {
    try {
      const { figures, ...result } = await recallMemories(
        { db: this.deps.storage.db, postgres: this.postgres, store: this.store, embedder: this.embedder, index: this.index, terms: this.terms },
        caller,
        input,
      );
      this.activity.recalled(caller.principal.id, input.scope?.kind === "session" ? input.scope.sessionId : null, {
        namespace: input.scope?.kind ?? "all",
        mode: result.mode,
        count: figures.count,
        durationMs: result.tookMs,
        textMs: figures.textMs,
        vectorMs: figures.vectorMs,
      });
      return result;
    } catch (error) {
      this.activity.failed(caller.principal.id, { operation: "recall", message: error instanceof Error ? error.message : "recall failed" });
      throw error;
    }
  }

  /** memory.events: changes to memories the caller may see, tracked by change seq. */
  events(caller: MemoryCaller, input: z.output<typeof memoryEventsInput>, signal: AbortSignal | undefined): AsyncGenerator<TrackedEnvelope<MemoryEvent>, void, unknown> {
    return memoryEventStream({
      db: this.deps.storage.db,
      bus: this.deps.bus,
      store: this.store,
      caller,
      scope: input.scope ? resolveScope(caller.principal, input.scope) : null,
      lastEventId: input.lastEventId,
      signal,
      queueLimit: this.deps.config.SUBSCRIBER_QUEUE_LIMIT,
    });
  }

  /** memory.store (its memory.store event carries figures only). */
  async remember(caller: MemoryCaller, input: z.output<typeof memoryStoreInput>): Promise<MemoryItem> {
    const started = performance.now();
    const memory = await this.store.store(caller, input);
    this.stored(caller, "created", memory, started);
    return memory;
  }

  async update(caller: MemoryCaller, input: z.output<typeof memoryUpdateInput>): Promise<MemoryItem> {
    const started = performance.now();
    const memory = await this.store.update(caller, input);
    this.stored(caller, "updated", memory, started);
    return memory;
  }

  async delete(caller: MemoryCaller, id: string): Promise<{ id: string }> {
    const started = performance.now();
    const deleted = await this.store.delete(caller, id);
    this.stored(caller, "deleted", { id, scope: deleted.scope }, started);
    return { id };
  }

  get(caller: MemoryCaller, id: string): Promise<MemoryItem> {
    return this.store.get(caller, id);
  }

  list(caller: MemoryCaller, input: z.output<typeof memoryListInput>) {
    return this.store.list(caller, input);
  }

  private stored(caller: MemoryCaller, operation: "created" | "updated" | "deleted", memory: Pick<MemoryItem, "id" | "scope"> & { content?: string }, startedAt: number): void {
    this.activity.stored(caller.principal.id, memory.scope.sessionId, {
      key: memory.id,
      namespace: memory.scope.kind,
      operation,
      bytes: memory.content === undefined ? 0 : Buffer.byteLength(memory.content, "utf8"),
      durationMs: performance.now() - startedAt,
    });
  }

  /**
   * What a chat run may be told: the best public memories for the question
   * in the run's scopes (global, the agent's, the session's), the ones every
   * reader of a public answer may read. At most `limit`, each cut to
   * CONTEXT_MEMORY_CHARS.
   */
  async runContext(run: { sessionId: string; agentId: string | null; question: string; limit: number }): Promise<MemoryContext> {
    const hits = await this.relevantHits(run, run.limit);
    if (hits.length === 0) return { text: null, ids: [] };
    const lines = hits.map((hit, i) => {
      const m = hit.memory;
      const content = m.content.length > CONTEXT_MEMORY_CHARS ? `${m.content.slice(0, CONTEXT_MEMORY_CHARS)}…` : m.content;
      return `${i + 1}. ${m.title ? `${m.title}: ` : ""}${content}`;
    });
    return {
      text: `Memories stored in Parley that may help (most relevant first; use them only if they apply):\n${lines.join("\n")}`,
      ids: hits.map((hit) => hit.memory.id),
    };
  }

  /**
   * Recall for an assistant: public memories of global scope, the agent's and
   * the session's that matched a word of the question or are close in meaning
   * (cosine similarity at least CONTEXT_MIN_SIMILARITY: the nearest vectors of
   * an unrelated question are still returned by a plain recall).
   */
  async relevantHits(run: { sessionId: string; agentId: string | null; question: string }, limit: number): Promise<RecallHit[]> {
    if (limit <= 0 || run.question.trim().length === 0) return [];
    const caller: MemoryCaller = { principal: SYSTEM_READER, sessionAccess: () => Promise.reject(new Error("not used by an admin")) };
    const { items } = await this.recall(caller, { query: run.question, limit: Math.min(50, limit * 4), mode: "auto" });
    return items
      .filter((hit) => hit.textRank !== null || (hit.similarity ?? 0) >= CONTEXT_MIN_SIMILARITY)
      .filter(({ memory: m }) => m.visibility === "public")
      .filter(({ memory: m }) => m.scope.kind === "global" || (m.scope.kind === "agent" && m.scope.agentId === run.agentId) || (m.scope.kind === "session" && m.scope.sessionId === run.sessionId))
      .slice(0, limit);
  }


}

/** The server itself reading memories for a run (an admin: `relevantHits` keeps only public ones of the run's scopes). */
const SYSTEM_READER: Principal = { id: "parley:memory-context", kind: "admin", name: "Parley", role: "admin", tokenId: null, stored: false };

