// Embedding off the write path: stored and edited memories are queued, sent
// to the embeddings provider in batches, and their vectors written back (and
// into the vector index, here and, over the bus, on every instance). A failed
// batch is retried after 1 s, 2 s, 4 s, ... (at most 5 min) up to
// EMBEDDINGS_MAX_ATTEMPTS per memory; its reason is kept in Memory.embedError.
// At start, every memory without a vector of the configured model is queued.
// Query vectors for recall are computed here too, with a short timeout, a
// small cache, and a pause after a failure so recall stays fast by text alone.
import type { Logger } from "pino";
import { Prisma } from "../../generated/prisma/client";
import { channel, type Bus } from "../bus/bus";
import type { Db } from "../db";
import type { Config } from "../env";
import { memoryChannel } from "./changes";
import { createEmbeddingsProvider, EmbeddingsError, vectorFromBytes, vectorToBytes, type EmbeddingsProvider } from "./embeddings";
import { VectorIndex } from "./vectors";

/** Another instance wrote a memory's vector: load it. */
const vectorChannel = channel<{ seq: number; model: string }>("memory-vectors");

const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 300_000;
/** After a failed query embedding, recall skips the provider this long. */
const QUERY_PAUSE_MS = 5_000;
const QUERY_CACHE_ENTRIES = 256;
/** Rows read per page when loading vectors at start. */
const LOAD_PAGE = 2_000;

export interface EmbedderOptions {
  db: Db;
  bus: Bus;
  log: Logger;
  provider: EmbeddingsProvider;
  batchSize: number;
  maxAttempts: number;
  queryTimeoutMs: number;
}

/** A batch that failed: how many memories, why, and which attempt it was. */
export interface EmbeddingFailure {
  count: number;
  reason: string;
  attempt: number;
}

/** The embedder EMBEDDINGS_PROVIDER configures, or null (text ranking only). Started and closed by its owner (compose.ts). */
export function createEmbedder(config: Config, deps: Pick<EmbedderOptions, "db" | "bus" | "log">): Embedder | null {
  const provider = createEmbeddingsProvider(config);
  if (!provider) return null;
  return new Embedder({
    ...deps,
    provider,
    batchSize: config.EMBEDDINGS_BATCH_SIZE,
    maxAttempts: config.EMBEDDINGS_MAX_ATTEMPTS,
    queryTimeoutMs: config.EMBEDDINGS_QUERY_TIMEOUT_MS,
  });
}

/** What embedding a recall query came to: a vector, or why there is none. */
export type QueryVector = { vector: Float32Array } | { unavailable: string };

export class Embedder {
  /** The vectors of the embedded memories, on this instance. */
  readonly index = new VectorIndex();
  private readonly pending = new Set<number>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private readonly controller = new AbortController();
  private readonly stopListening: () => void;
  private readonly failureListeners = new Set<(failure: EmbeddingFailure) => void>();
  private readonly queryCache = new Map<string, Float32Array>();
  private queryPausedUntil = 0;
  private queryPauseReason = "";
  private closed = false;
  /** Resolves once the vectors stored before start are in the index. */
  loaded: Promise<void> = Promise.resolve();

  constructor(private readonly options: EmbedderOptions) {
    const stopVectors = options.bus.subscribe(vectorChannel, (message) => {
      if (message.model === options.provider.model) void this.loadOne(message.seq);
    });
    // Deleted memories leave the index on every instance.
    const stopChanges = options.bus.subscribe(memoryChannel, (change) => {
      if (change.type === "deleted") this.forget(change.memorySeq);
    });
    this.stopListening = () => {
      stopVectors();
      stopChanges();
    };
  }

  /** Called with each failed batch (the memory feature publishes memory.error). */
  onFailure(listener: (failure: EmbeddingFailure) => void): () => void {
    this.failureListeners.add(listener);
    return () => this.failureListeners.delete(listener);
  }

  get model(): string {
    return this.options.provider.model;
  }

  /** Load every stored vector of the model into the index, and queue the memories without one. */
  start(): void {
    this.loaded = this.loadAll().catch((error: unknown) => this.options.log.error({ err: error }, "could not load memory vectors"));
  }

  /** Queue a memory whose text changed (its old vector, if any, is dropped at once). */
  enqueue(seq: number): void {
    if (this.closed) return;
    this.index.delete(seq);
    this.pending.add(seq);
    this.schedule(0);
  }

  /** A memory was deleted. */
  forget(seq: number): void {
    this.pending.delete(seq);
    this.index.delete(seq);
  }

  /** Memories waiting to be embedded (for tests and figures). */
  get queued(): number {
    return this.pending.size;
  }

  /** Resolves when nothing is queued or running (tests). */
  async idle(): Promise<void> {
    while (!this.closed && (this.pending.size > 0 || this.running)) {
      await (this.running ?? new Promise((resolve) => setTimeout(resolve, 10)));
    }
  }

  /** The query's vector within EMBEDDINGS_QUERY_TIMEOUT_MS, or why not (down, slow, paused after a failure). */
  async queryVector(query: string): Promise<QueryVector> {
    const cached = this.queryCache.get(query);
    if (cached) return { vector: cached };
    const now = Date.now();
    if (now < this.queryPausedUntil) return { unavailable: this.queryPauseReason };
    try {
      const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.options.queryTimeoutMs)]);
      const [vector] = await this.options.provider.embed([query], signal);
      if (!vector) return { unavailable: "the embeddings server returned no vector" };
      this.queryCache.set(query, vector);
      if (this.queryCache.size > QUERY_CACHE_ENTRIES) this.queryCache.delete(this.queryCache.keys().next().value ?? "");
      return { vector };
    } catch (error) {
      const reason = error instanceof EmbeddingsError ? error.message : `query embedding failed: ${error instanceof Error ? error.message : String(error)}`;
      this.queryPausedUntil = Date.now() + QUERY_PAUSE_MS;
      this.queryPauseReason = `${reason} (vector ranking paused for ${QUERY_PAUSE_MS / 1000} s)`;
      return { unavailable: reason };
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopListening();
    if (this.timer) clearTimeout(this.timer);
    this.controller.abort();
    await this.running?.catch(() => undefined);
    await this.loaded;
  }

  private schedule(delayMs: number): void {
    if (this.closed || this.timer || this.running) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.runBatch().finally(() => {
        this.running = null;
        if (this.pending.size > 0) this.schedule(0);
      });
    }, delayMs);
    this.timer.unref();
  }

  private async runBatch(): Promise<void> {
    const { db, provider, batchSize, maxAttempts, log } = this.options;
    const { index } = this;
    const seqs = [...this.pending].slice(0, batchSize);
    for (const seq of seqs) this.pending.delete(seq);
    const rows = await db.memory.findMany({
      where: { seq: { in: seqs }, embedAttempts: { lt: maxAttempts }, OR: [{ embeddingModel: null }, { embeddingModel: { not: provider.model } }] },
      select: { seq: true, title: true, content: true, embedAttempts: true },
    });
    if (rows.length === 0) return;
    let vectors: Float32Array[];
    try {
      vectors = await provider.embed(rows.map(embeddingText), this.controller.signal);
    } catch (error) {
      if (this.closed) return;
      const reason = error instanceof Error ? error.message : String(error);
      const attempt = Math.max(...rows.map((r) => r.embedAttempts)) + 1;
      log.warn({ count: rows.length, attempt, reason }, "embedding memories failed; will retry");
      await db.$executeRaw`UPDATE "Memory" SET "embedAttempts" = "embedAttempts" + 1, "embedError" = ${reason.slice(0, 500)} WHERE "seq" IN (${Prisma.join(rows.map((r) => r.seq))})`;
      for (const listener of this.failureListeners) listener({ count: rows.length, reason, attempt });
      if (attempt < maxAttempts) {
        const retry = rows.map((r) => r.seq);
        setTimeout(() => {
          for (const seq of retry) this.pending.add(seq);
          this.schedule(0);
        }, Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (attempt - 1))).unref();
      }
      return;
    }
    const embeddedAt = new Date();
    for (const [i, row] of rows.entries()) {
      const vector = vectors[i];
      if (!vector) continue;
      // Raw, so `updatedAt` stays the time of the last edit; only if the text is still what was embedded.
      const written = await db.$executeRaw`UPDATE "Memory" SET "embedding" = ${vectorToBytes(vector)}, "embeddingModel" = ${provider.model},
        "embeddedAt" = ${embeddedAt}, "embedAttempts" = 0, "embedError" = NULL
        WHERE "seq" = ${row.seq} AND "content" = ${row.content} AND ("title" = ${row.title} OR ("title" IS NULL AND ${row.title === null}))`;
      if (written === 0) continue;
      if (!index.set(row.seq, vector)) log.warn({ seq: row.seq, length: vector.length, expected: index.width }, "embedding length differs from the index's; not searchable by meaning");
      this.options.bus.publish(vectorChannel, { seq: row.seq, model: provider.model });
    }
  }

  private async loadOne(seq: number): Promise<void> {
    if (this.index.has(seq)) return;
    const row = await this.options.db.memory.findUnique({ where: { seq }, select: { embedding: true, embeddingModel: true } });
    if (row?.embedding && row.embeddingModel === this.model) this.index.set(seq, vectorFromBytes(row.embedding));
  }

  private async loadAll(): Promise<void> {
    const { db, maxAttempts } = this.options;
    let after = 0;
    for (;;) {
      if (this.closed) return;
      const rows = await db.memory.findMany({
        where: { seq: { gt: after } },
        orderBy: { seq: "asc" },
        take: LOAD_PAGE,
        select: { seq: true, embedding: true, embeddingModel: true, embedAttempts: true },
      });
      for (const row of rows) {
        if (row.embedding && row.embeddingModel === this.model) this.index.set(row.seq, vectorFromBytes(row.embedding));
        else if (row.embedAttempts < maxAttempts) this.pending.add(row.seq);
      }
      const last = rows.at(-1);
      if (!last || rows.length < LOAD_PAGE) break;
      after = last.seq;
    }
    if (this.pending.size > 0) this.schedule(0);
  }
}

/** What is embedded of a memory: its title and content. */
function embeddingText(row: { title: string | null; content: string }): string {
  return row.title ? `${row.title}\n${row.content}` : row.content;
}
